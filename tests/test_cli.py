"""The ``fishseg`` command line: parsing, config overrides and user-facing errors."""

from __future__ import annotations

import subprocess
import sys

import yaml

from fishseg.cli import main


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
