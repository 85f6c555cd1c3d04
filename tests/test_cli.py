"""The ``fishseg`` command line: parsing, config overrides and user-facing errors."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from fishseg.cli import main
from fishseg.config import SynthConfig


def test_config_prints_resolved_values(capsys, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 42\n")
    assert main(["config", "--config", str(f), "--set", "separate.min_area=7"]) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["train"]["steps"] == 42 and out["separate"]["min_area"] == 7


def test_unknown_config_key_is_a_clear_error(capsys, tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text("separate:\n  fg_treshold: 0.4\n")
    assert main(["config", "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert "separate.fg_treshold" in err and str(f) in err and "Traceback" not in err


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "fishseg", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("fishseg ")


def test_segment_roi_flag(capsys, tmp_path):
    from fishseg.synth import synthesize

    synthesize(tmp_path / "in", frames=3, seed=3, cfg=SynthConfig(width=160, height=96),
               progress=False)
    video = str(tmp_path / "in" / "video.mp4")
    out = tmp_path / "out"
    assert main(["-q", "segment", video, "--out", str(out), "--model", "fast", "--no-overlay",
                 "--roi", "0,0,500,96"]) == 1
    assert "ROI '0,0,500,96'" in capsys.readouterr().out
    assert main(["-q", "segment", video, "--out", str(out), "--model", "fast", "--no-overlay",
                 "--roi", "0,0,80,96"]) == 0
    summary = json.loads((out / "video" / "summary.json").read_text())
    assert summary["roi"] == "0,0,80,96" and summary["frames"] == 3
