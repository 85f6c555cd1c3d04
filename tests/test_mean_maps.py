"""``scripts/mean_maps.py``: several models' maps averaged, for the evaluation scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fishseg.config import SynthConfig
from fishseg.model.bundle import load_model
from fishseg.synth import render_frames

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))
from mean_maps import MeanMaps, load_models  # noqa: E402


@pytest.fixture(scope="module")
def two():
    return load_model("default"), load_model("fast")


def test_the_mean_of_two_models_maps(two):
    a, b = two
    frames, _ = render_frames(2, 5, SynthConfig(width=160, height=96), stills=True, workers=1)
    m = MeanMaps([a, b])
    fg, edge = (np.asarray(x) for x in m.predict_maps(frames))
    fa, ea = (np.asarray(x) for x in a.predict_maps(frames))
    fb, eb = (np.asarray(x) for x in b.predict_maps(frames))
    np.testing.assert_allclose(fg, (fa + fb) / 2, rtol=0, atol=1e-6)
    np.testing.assert_allclose(edge, (ea + eb) / 2, rtol=0, atol=1e-6)
    assert fg.shape == (2, 96, 160) and fg.dtype == np.float32
    assert not np.allclose(fg, fa)   # the two models differ, so the mean is neither
    assert m.cfg.separate == a.cfg.separate and m.checksum not in (a.checksum, b.checksum)
    assert MeanMaps([b, a]).checksum != m.checksum   # the first gives the settings
    with pytest.raises(ValueError, match="at least two"):
        MeanMaps([a])


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
    label names both), other scores for a mean with another model."""
    def rows(*extra):
        r = subprocess.run([sys.executable, str(SCRIPTS / "eval_maps.py"), "fast", "--seed", "5",
                            "--stills", "2", *extra], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return [line.split("|")[1:-2] for line in r.stdout.splitlines()
                if line.startswith("| fast")]   # label .. skeleton F1, without the seconds
    alone, itself, other = rows(), rows("--mean-with", "fast"), rows("--mean-with", "default")
    assert len(alone) == 1 and alone[0][0].strip() == "fast"
    assert itself[0][0].strip() == "fast + fast" and itself[0][1:] == alone[0][1:]
    assert other[0][0].strip() == "fast + default" and other[0][3:] != alone[0][3:]


def test_predict_maps_passes_test_time_flips_on(two):
    a, b = two
    frames, _ = render_frames(1, 6, SynthConfig(width=160, height=96), stills=True, workers=1)
    fg, _ = MeanMaps([a, b]).predict_maps(frames, tta=True)
    fa, _ = a.predict_maps(frames, tta=True)
    fb, _ = b.predict_maps(frames, tta=True)
    np.testing.assert_allclose(np.asarray(fg), (np.asarray(fa) + np.asarray(fb)) / 2, atol=1e-6)


def test_load_models_gives_the_overrides_to_every_network():
    """``--set`` reaches each network's own settings (so inference settings change each
    one's maps) and the mean's (its separation and tracking)."""
    one = load_models("fast", sets=["separate.min_area=77"])
    assert not isinstance(one, MeanMaps) and one.cfg.separate.min_area == 77
    m = load_models("fast", ["default"], ["model.processing_width=320", "separate.min_area=77"])
    assert isinstance(m, MeanMaps) and [x.cfg.model.processing_width for x in m.models] == [320, 320]
    assert m.cfg.model.processing_width == 320 and m.cfg.separate.min_area == 77
