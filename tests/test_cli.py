"""The ``fishseg`` command line: parsing, config overrides and user-facing errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from fishseg.cli import main
from fishseg.config import SynthConfig, to_dict


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


@pytest.mark.parametrize("argv, quiet, debug", [
    (["synth", "o"], False, False),
    (["-q", "synth", "o"], True, False),
    (["synth", "o", "-q"], True, False),            # after the command too, as users type
    (["synth", "o", "--quiet", "--debug"], True, True),
    (["--debug", "segment", "v.mp4", "--out", "o"], False, True),
    (["-q", "segment", "v.mp4", "--out", "o", "--debug"], True, True),
])
def test_global_flags_before_or_after_the_command(argv, quiet, debug):
    from fishseg.cli import build_parser

    args = build_parser().parse_args(argv)
    assert (args.quiet, args.debug) == (quiet, debug)


def test_debug_after_the_command_shows_the_traceback(capsys, tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text("separate:\n  fg_treshold: 0.4\n")
    with pytest.raises(Exception, match="fg_treshold"):
        main(["config", "--config", str(f), "--debug"])
    assert main(["config", "--config", str(f)]) == 2


def test_segment_roi_flag(capsys, tmp_path):
    from fishseg.synth import synthesize

    synthesize(tmp_path / "in", frames=3, seed=3, cfg=SynthConfig(width=160, height=96),
               progress=False)
    video = str(tmp_path / "in" / "video.mp4")
    out = tmp_path / "out"
    assert main(["-q", "segment", video, "--out", str(out), "--model", "fast", "--no-overlay",
                 "--roi", "0,0,500,96"]) == 1
    printed = capsys.readouterr().out
    assert "ROI '0,0,500,96'" in printed and str(out / "inputs.csv") in printed
    with open(out / "inputs.csv", newline="") as f:
        (row,) = csv.DictReader(f)
    assert (row["output"], row["status"], row["frames"]) == ("video", "failed", "")
    assert "ROI" in row["message"]
    assert main(["-q", "segment", video, "--out", str(out), "--model", "fast", "--no-overlay",
                 "--roi", "0,0,80,96"]) == 0
    summary = json.loads((out / "video" / "summary.json").read_text())
    assert summary["roi"] == "0,0,80,96" and summary["frames"] == 3
    with open(out / "inputs.csv", newline="") as f:
        (row,) = csv.DictReader(f)
    assert (row["output"], row["status"], row["frames"]) == ("video", "done", "3")
    assert row["distinct_fish"] == str(summary["distinct_fish"])


def test_segment_frame_step_flag(capsys, tmp_path):
    from fishseg.synth import synthesize

    synthesize(tmp_path / "in", frames=5, seed=3, cfg=SynthConfig(width=160, height=96),
               progress=False)
    video = str(tmp_path / "in" / "video.mp4")
    out = tmp_path / "out"
    with_step = ["-q", "segment", video, "--out", str(out), "--model", "fast", "--no-overlay",
                 "--frame-step"]
    with pytest.raises(SystemExit) as e:  # argparse: a usage error, status 2
        main(with_step + ["0"])
    assert e.value.code == 2
    assert "--frame-step: must be 1 or more, got 0" in capsys.readouterr().err
    assert not out.exists()
    assert main(with_step + ["2"]) == 0
    summary = json.loads((out / "video" / "summary.json").read_text())
    assert summary["frames"] == 3 and summary["frame_step"] == 2
    with open(out / "video" / "counts.csv", newline="") as f:
        assert [int(r["frame"]) for r in csv.DictReader(f)] == [0, 2, 4]
    with open(out / "all_fish.csv", newline="") as f:  # the batch's fish, one input here
        assert len(list(csv.DictReader(f))) == summary["distinct_fish"]
    assert "fish of all inputs:" in capsys.readouterr().out


def test_tune_writes_a_model_with_the_tuned_separation(capsys, tmp_path):
    from fishseg.model.bundle import load_model

    main(["-q", "synth", str(tmp_path / "d"), "--stills", "3", "--seed", "4",
          "--width", "320", "--height", "180"])
    out = tmp_path / "tuned.fishseg"
    assert main(["-q", "tune", "--model", "fast", "--data", str(tmp_path / "d"),
                 "--out", str(out), "--set", "model.extra_widths=[160]"]) == 0
    printed = capsys.readouterr().out
    assert "separation tuned on 3 frames" in printed and str(out) in printed
    tuned, base = load_model(out), load_model("fast")
    report = tuned.meta["separation_tuning"]
    assert report["frames"] == 3 and report["after"]["ap50"] >= report["before"]["ap50"]
    assert to_dict(tuned.cfg.separate) == report["separate"]   # as the JSON holds them
    assert tuned.cfg.separate.area_width == 320
    assert tuned.cfg.model.extra_widths == (160,)          # the override travels with it
    assert all(np.array_equal(a, b) for a, b in zip(tuned.arrays().values(),
                                                    base.arrays().values()))  # same weights


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("1:30", 90.0), ("01:00:05.5", 3605.5),
                                           ("0.2", 0.2)])
def test_times_of_day(text, seconds):
    from fishseg.cli import _time_of_day

    assert _time_of_day(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1:75", "abc", "1::2", "-5", "1:2:3:4"])
def test_bad_times_are_usage_errors(text, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["segment", "x.mp4", "--out", str(tmp_path), "--start", text])
    assert e.value.code == 2 and "--start" in capsys.readouterr().err


def test_clock_times_on_the_command_line(capsys, tmp_path):
    from datetime import datetime, timezone

    from fishseg.cli import _recording_start, _time_of_day

    assert _time_of_day("2026-11-24T05:42") == datetime(2026, 11, 24, 5, 42)
    assert _time_of_day("2026-11-24T05:42:10Z") == datetime(2026, 11, 24, 5, 42, 10,
                                                            tzinfo=timezone.utc)
    assert _recording_start("auto") == "auto" and _recording_start("none") == "none"
    assert _recording_start("2026-11-24 05:30") == datetime(2026, 11, 24, 5, 30)
    for flag, text in (("--start", "2026-13-01T00:00"), ("--recording-start", "yesterday")):
        with pytest.raises(SystemExit) as e:
            main(["segment", "x.mp4", "--out", str(tmp_path), flag, text])
        err = capsys.readouterr().err
        assert e.value.code == 2 and flag in err and repr(text) in err


def test_quiet_evaluate_still_prints_its_results(tmp_path, capsys):
    """``-q`` hides the progress bars only: the results table is what was asked for
    (it printed nothing at all before)."""
    data = tmp_path / "stills"
    assert main(["-q", "synth", str(data), "--stills", "1", "--seed", "1005", "--width", "320",
                 "--height", "192"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--data", str(data), "--method", "classical", "-q"]) == 0
    out, err = capsys.readouterr()
    assert "classical on" in out and "| classical |" in out and "AP@0.5" in out
    assert "%|" not in err  # and no bar


def test_evaluate_applies_set_to_the_models_settings(tmp_path):
    """``fishseg evaluate --set separate.*`` changes how the model separates (it was
    ignored before: evaluate used the settings stored in the bundle)."""
    data = tmp_path / "stills"
    assert main(["-q", "synth", str(data), "--stills", "2", "--seed", "1005", "--width", "640",
                 "--height", "360"]) == 0
    runs = {}
    for name, extra in (("stored", []), ("no_fg", ["--set", "separate.fg_threshold=1.0"])):
        out = tmp_path / f"{name}.json"
        assert main(["-q", "evaluate", "--data", str(data), "--model", "fast", "--json", str(out),
                     *extra]) == 0
        runs[name] = json.loads(out.read_text())
    true_mean = runs["stored"]["counts"]["true_total"] / runs["stored"]["frames"]
    assert runs["stored"]["summary"]["ap50"] > 0
    # nothing is foreground at fg > 1.0: every fish is missed
    assert runs["no_fg"]["summary"]["ap50"] == 0
    assert runs["no_fg"]["counts"]["pred_total"] == 0
    assert runs["no_fg"]["summary"]["count_mae"] == pytest.approx(true_mean)
