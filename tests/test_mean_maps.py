"""``--mean-with`` of the evaluation scripts: several models' maps averaged
(:func:`fishseg.model.ensemble.load_mean`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from fishseg.config import SynthConfig
from fishseg.model.bundle import FishsegModel, load_model
from fishseg.model.ensemble import EnsembleModel, load_mean
from fishseg.synth import render_frames

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_load_mean_averages_and_gives_the_overrides_to_every_network():
    """``--set`` reaches the mean's settings: inference settings change every network's
    maps, and separation and tracking are the mean's."""
    one = load_mean(["fast"], ["separate.min_area=77"])
    assert isinstance(one, FishsegModel) and one.cfg.separate.min_area == 77
    m = load_mean(["fast", "fast"], ["model.processing_width=320", "model.tta=true",
                                     "separate.min_area=77"])
    assert isinstance(m, EnsembleModel) and len(m.networks) == 2
    assert m.cfg.model.processing_width == 320 and m.cfg.separate.min_area == 77
    frames, _ = render_frames(1, 6, SynthConfig(width=160, height=96), stills=True, workers=1)
    fast = load_model("fast")
    want = np.asarray(fast.predict_stack(frames, tta=True, settings=m.cfg))
    np.testing.assert_array_equal(np.asarray(m.predict_stack(frames)), want)
    assert not np.allclose(want, np.asarray(fast.predict_stack(frames)))   # 320 px, flips


def test_eval_counts_with_the_mean_of_a_model_and_itself():
    """The mean of a model's maps with its own is those maps exactly, so the counts are
    the model's own row."""
    rows = []
    for extra in ([], ["--mean-with", "fast"]):
        r = subprocess.run([sys.executable, str(SCRIPTS / "eval_counts.py"), "--model", "fast",
                            "--size", "192x128", "--videos", "5:3", *extra],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        rows.append([line for line in r.stdout.splitlines() if line.startswith("| 5, 3 |")])
    assert len(rows[0]) == 1 and rows[0] == rows[1]
    assert "averaged with those of fast" in r.stdout


def test_sweep_separation_with_the_mean_of_a_model_and_itself(tmp_path):
    """``sweep_separation.py --mean-with``: same rows as the model alone, for the same
    reason; the maps are cached under the mean's own checksum."""
    tables = []
    for extra in ([], ["--mean-with", "fast"]):
        r = subprocess.run([sys.executable, str(SCRIPTS / "sweep_separation.py"), "--model", "fast",
                            "--videos", "4:3", "--core-edge", "0.2", "0.3", "--cache",
                            str(tmp_path), *extra], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        tables.append([line for line in r.stdout.splitlines() if line.startswith("| 0.")])
    assert len(tables[0]) == 2 and tables[0] == tables[1]
    assert len(list(tmp_path.glob("4_3_*_maps.npz"))) == 2


def test_eval_maps_with_the_mean_of_a_model_and_itself():
    """``eval_maps.py --mean-with``: the model's own scores for a mean with itself (the
    label names both). (That a mean with another model scores otherwise is
    tests/test_ensemble.py's.)"""
    def rows(*extra):
        r = subprocess.run([sys.executable, str(SCRIPTS / "eval_maps.py"), "fast", "--seed", "5",
                            "--stills", "2", *extra], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return [line.split("|")[1:-2] for line in r.stdout.splitlines()
                if line.startswith("| fast")]   # label .. skeleton F1, without the seconds
    alone, itself = rows(), rows("--mean-with", "fast")
    assert len(alone) == 1 and alone[0][0].strip() == "fast"
    assert itself[0][0].strip() == "fast + fast" and itself[0][1:] == alone[0][1:]
