"""``fishseg demo`` (the README's main job) end to end, at a reduced size."""

from __future__ import annotations

import json

import pytest

from fishseg.cli import main


@pytest.mark.slow
def test_demo_runs_on_the_bundled_model(tmp_path, capsys):
    args = ["-q", "demo", "--out", str(tmp_path / "d"), "--frames", "6", "--width", "640",
            "--height", "360"]
    assert main(args) == 0
    out = capsys.readouterr().out
    dest = tmp_path / "d" / "segmented" / "video"
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["frames"] == 6 and summary["model_checksum"]
    assert (dest / "overlay.mp4").stat().st_size > 0 and len(list((dest / "masks").glob("*.png"))) == 6
    assert "distinct fish" in out and str(dest / "overlay.mp4") in out
    assert "IDF1" in out
    assert str(dest / "fish.html") in out and (dest / "fish.html").is_file()
    # --model: the same generated video (reused, not generated again) through another model
    from fishseg.model.bundle import load_model

    default_sum = summary["model_checksum"]
    assert main(args + ["--model", "fast"]) == 0
    out = capsys.readouterr().out
    assert "generating" not in out and "with fast" in out
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["model_checksum"] == load_model("fast").checksum != default_sum
