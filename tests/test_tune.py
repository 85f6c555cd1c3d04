"""Tuning separation thresholds on annotated frames."""

from __future__ import annotations

import numpy as np
import pytest

from fishseg.config import Config, SeparateConfig, to_dict
from fishseg.targets import target_maps
from fishseg.tune import STAGES, score_separation, tune_model, tune_separation


def touching_ellipses(n_frames=3, seed=0):
    """(B, 96, 128) labels: pairs of touching ellipses, and soft maps made from them."""
    rng = np.random.default_rng(seed)
    y, x = np.indices((96, 128))
    labels = np.zeros((n_frames, 96, 128), np.int32)
    for b in range(n_frames):
        k = 0
        for cy, cx in ((30, 30), (30, 90), (70, 60)):
            k += 1
            a, c = rng.uniform(10, 16), rng.uniform(7, 10)
            labels[b][((y - cy) / c) ** 2 + ((x - cx) / a) ** 2 < 1] = k
            k += 1  # a touching neighbour to its right
            labels[b][(labels[b] == 0) & (((y - cy) / c) ** 2 + ((x - cx - 1.9 * a) / a) ** 2 < 1)] = k
    fg, edge = target_maps(labels, 2)
    # soften like a network would: blur-ish scaling, never exactly 0/1
    fg = 0.1 + 0.8 * fg + rng.uniform(-0.05, 0.05, fg.shape).astype(np.float32)
    edge = 0.05 + 0.6 * edge + rng.uniform(-0.05, 0.05, edge.shape).astype(np.float32)
    return labels, fg.astype(np.float32), edge.astype(np.float32)


def test_bad_start_is_repaired():
    labels, fg, edge = touching_ellipses()
    bad = SeparateConfig(backend="skimage", core_fg=0.95, core_edge=0.05, min_area=2000)
    assert score_separation(fg, edge, labels, bad)[0] < 0.2
    best, report = tune_separation(fg, edge, labels, bad, progress=False)
    ap, mae = score_separation(fg, edge, labels, best)
    assert ap >= 0.95 and mae == 0.0
    assert report["after"]["ap50"] == pytest.approx(ap, abs=1e-4)
    assert report["before"]["ap50"] < 0.2 and report["settings_tried"] > 20
    assert best.backend == "skimage"  # what is not searched is kept


def test_good_start_is_kept_when_nothing_is_better():
    labels, fg, edge = touching_ellipses(seed=1)
    start = SeparateConfig(backend="skimage")
    base_ap, _ = score_separation(fg, edge, labels, start)
    best, report = tune_separation(fg, edge, labels, start, progress=False)
    assert score_separation(fg, edge, labels, best)[0] >= base_ap


def necked_fish(n_frames=3):
    """(B, 120, 240) maps of one fish whose narrow caudal peduncle is all edge (the
    watershed cuts the tail off), and the fish's label as one instance."""
    y, x = np.indices((120, 240))
    body = ((y - 60) / 15) ** 2 + ((x - 90) / 50) ** 2 <= 1
    tail = (np.abs(y - 60) <= 8) & (x > 140) & (x <= 170)
    neck = (x >= 136) & (x <= 146)
    fish = (body | tail) & ~(neck & (np.abs(y - 60) > 4))
    fg = fish.astype(np.float32)
    edge = np.zeros_like(fg)
    edge[fish & neck] = 1.0
    ring = fish & ~np.pad(fish, 1)[2:, 1:-1] | fish & ~np.pad(fish, 1)[:-2, 1:-1]
    edge[ring] = 1.0
    rep = lambda a: np.repeat(a[None], n_frames, 0)  # noqa: E731
    return rep(fish.astype(np.int32)), rep(fg), rep(edge), fish, neck, x


def test_tails_are_joined_when_the_truth_says_one_fish():
    labels, fg, edge, fish, neck, x = necked_fish()
    start = SeparateConfig(backend="skimage", min_marker_area=10, min_area=10)
    assert start.tail_ratio == 0 and score_separation(fg, edge, labels, start)[0] == 0.5  # + a tail
    tails = [s for s in STAGES if "tail_ratio" in s]
    assert len(tails) == 1  # searched by default (other stages may find other routes)
    best, _ = tune_separation(fg, edge, labels, start, stages=tails, progress=False)
    assert best.tail_ratio > 0
    assert score_separation(fg, edge, labels, best)[0] == 1.0
    # the same maps, where the truth has two fish touching end to end: kept apart
    two = np.where(fish & (x > 141), 2, labels[0]).astype(np.int32)
    two = np.repeat(two[None], 3, 0)
    best, _ = tune_separation(fg, edge, two, start, stages=tails, progress=False)
    assert best.tail_ratio == 0 and score_separation(fg, edge, two, best)[0] == 1.0


def test_tune_model_stores_settings():
    labels, fg, edge = touching_ellipses(seed=2)

    class Maps:
        cfg = Config(separate=SeparateConfig(backend="skimage", min_area=2000))
        meta: dict = {}
        index = 0

        def predict_maps(self, frame):
            i = self.index
            self.index += 1
            return fg[i][None], edge[i][None]

    m = Maps()
    images = [np.zeros((96, 128, 3), np.uint8)] * 3
    report = tune_model(m, images, list(labels), progress=False)
    assert m.cfg.separate.min_area < 2000 and report["after"]["ap50"] >= 0.95
    assert m.cfg.separate.area_width == fg.shape[-1]     # areas are in these frames' pixels
    assert m.meta["separation_tuning"]["separate"] == to_dict(m.cfg.separate)


def test_shape_errors():
    labels, fg, edge = touching_ellipses(1)
    with pytest.raises(ValueError, match="one shape"):
        tune_separation(fg, edge[:, :-1], labels, SeparateConfig(), progress=False)
