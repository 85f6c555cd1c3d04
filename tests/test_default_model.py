"""The bundled default model on synthetic data it never saw (training used seed 101).

The bounds are the accuracy the bundle must keep (docs/accuracy.md has the full
held-out numbers, on more frames): a rebuilt or changed default model that falls below
them fails here.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from fishseg.config import SynthConfig
from fishseg.io.images import read_labels
from fishseg.metrics import count_scores, instance_scores, map_scores, true_count_range
from fishseg.model.bundle import DEFAULT_MODEL, load_model
from fishseg.pipeline import segment_video
from fishseg.synth import render_frames, synthesize

pytestmark = pytest.mark.slow

# Regression guards: measured 2026-11-25 on the bundled default, the mean of two
# networks' maps (fg IoU 0.953, edge F1 0.710, AP@0.5 0.340 on these 6 stills; count MAE
# 1.93 (with slivers as don't care, as for every count in docs/accuracy.md) and 19
# distinct fish for 16 on the video), with a margin. (Its first network alone, the
# default until then: 0.948, 0.645, 0.313; 2.07 and 21.)
# They are NOT all the targets of the issues (edge F1 0.70 on the full held-out set,
# count MAE 0.5, distinct fish within 10%): docs/accuracy.md says what is missing.
FG_IOU_MIN = 0.93
EDGE_F1_MIN = 0.67
AP50_MIN = 0.30
COUNT_MAE_MAX = 2.4
DISTINCT_ERR_MAX = 0.3


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_bundle_is_small_and_self_describing(model):
    assert DEFAULT_MODEL.stat().st_size < 8e6
    # two networks, whose maps are averaged; each says how it was trained
    assert len(model.networks) == 2 and model.meta["settings_from"] == 1
    assert model.meta["combined_from"][0] == model.networks[0].checksum
    for net in model.networks:
        assert net.meta["separation_tuning"]["after"]["ap50"] > 0 and net.meta["val_scores"]
    # the separation settings are those the second network's training tuned
    assert model.cfg.separate == model.networks[1].cfg.separate
    assert len(model.checksum) == 64 and model.checksum == load_model().checksum


def test_maps_on_heldout_stills(model):
    images, labels = render_frames(6, 909, SynthConfig(), stills=True)
    fg, edge = model.predict_maps(images)
    s = map_scores(np.asarray(fg), np.asarray(edge), labels)
    assert s["fg_iou"] >= FG_IOU_MIN, s
    assert s["edge_f1"] >= EDGE_F1_MIN, s
    pred = model.segment(images)
    assert instance_scores(labels, pred, (0.5,))[0.5]["ap"] >= AP50_MIN


def test_counts_on_a_heldout_video(model, tmp_path):
    meta = synthesize(tmp_path / "in", frames=30, seed=2026, progress=False)
    s = segment_video(tmp_path / "in" / "video.mp4", tmp_path / "out", model=model,
                      progress=False, overlay=False)
    with open(tmp_path / "out" / "counts.csv", newline="") as f:
        found = [int(r["fish_in_view"]) for r in csv.DictReader(f)]
    sure, possible = true_count_range(np.stack(
        [read_labels(p) for p in sorted((tmp_path / "in" / "masks").glob("*.png"))]))
    err = count_scores(sure, found, true_max=possible)   # slivers don't care, as the docs
    assert err["mae"] <= COUNT_MAE_MAX, (sure.tolist(), possible.tolist(), found)
    assert abs(s["distinct_fish"] - meta["fish_count"]) <= DISTINCT_ERR_MAX * meta["fish_count"]


def test_bundled_models_by_name(model, tmp_path, monkeypatch):
    from fishseg.model.bundle import BundleError, is_bundled_name

    fast = load_model("fast")
    assert fast.cfg.model.features == (16, 32, 128) and model.cfg.model.features == (32, 64, 256)
    assert load_model("default").checksum == model.checksum
    assert fast.cfg.separate.area_width == 1280 and model.cfg.separate.area_width == 1120
    images, labels = render_frames(4, 909, SynthConfig(), stills=True)
    fg, edge = fast.predict_maps(images)
    assert map_scores(np.asarray(fg), np.asarray(edge), labels)["fg_iou"] >= 0.85
    # a file of that name in the working folder is a file, not the bundled model
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast").write_text("not a model")
    assert not is_bundled_name("fast") and is_bundled_name("default")
    with pytest.raises(BundleError, match="fast"):
        load_model("fast")


def test_demo_video_counts(model, tmp_path):
    """The demo's video (60 frames, seed 2026, 8 fish): per-frame count MAE within the
    pipeline issue's 0.5 (0.35 measured: with tails joined to their fish,
    ``separate.tail_ratio`` stored in the bundle, and a glove hovering over the belt in
    frames 50-59 not counted as it does not ride the belt, ``track.off_belt_share``; 0.52
    with the glove, 1.00 with the tails cut off too). Distinct fish: 7 for 8, a pile of
    three fish found as one in frames 0-11 (docs/accuracy.md)."""
    assert model.cfg.separate.tail_ratio > 0
    meta = synthesize(tmp_path / "in", frames=60, seed=2026, progress=False)
    s = segment_video(tmp_path / "in" / "video.mp4", tmp_path / "out", model=model,
                      progress=False, overlay=False)
    assert abs(s["distinct_fish"] - meta["fish_count"]) <= 1, s
    assert s["tracks_off_belt"] >= 1  # the glove
    with open(tmp_path / "out" / "counts.csv", newline="") as f:
        found = [int(r["fish_in_view"]) for r in csv.DictReader(f)]
    sure, possible = true_count_range(np.stack(
        [read_labels(p) for p in sorted((tmp_path / "in" / "masks").glob("*.png"))]))
    assert count_scores(sure, found, true_max=possible)["mae"] <= 0.5
    assert found[50:] == [3] * 10  # the glove is not a fish
    # the tracks themselves (0.903 IDF1, no id switch measured; fishseg score-tracks)
    from fishseg.track_metrics import score_outputs

    t = score_outputs(tmp_path / "in" / "masks", tmp_path / "out")
    assert t["id_switches"] == 0 and t["idf1"] >= 0.85 and t["frames"] == 60
