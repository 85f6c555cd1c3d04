"""Tuning separation thresholds on annotated frames."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fishseg.config import Config, SeparateConfig
from fishseg.targets import target_maps
from fishseg.tune import score_separation, tune_model, tune_separation


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
    assert m.meta["separation_tuning"]["separate"] == dataclasses.asdict(m.cfg.separate)


def test_shape_errors():
    labels, fg, edge = touching_ellipses(1)
    with pytest.raises(ValueError, match="one shape"):
        tune_separation(fg, edge[:, :-1], labels, SeparateConfig(), progress=False)
