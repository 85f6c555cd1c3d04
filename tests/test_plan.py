"""``fishseg segment --list``: what a batch would do, before it runs."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest

from fishseg import checkpoint
from fishseg.cli import main
from fishseg.config import SynthConfig
from fishseg.plan import plan_inputs, plan_table
from fishseg.synth import synthesize


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    synthesize(d / "src", frames=10, seed=3, cfg=SynthConfig(width=160, height=96),
               progress=False)
    root = d / "export"
    (root / "ch01").mkdir(parents=True)
    for name in ("ch01/cam2_20261124_053000.mp4", "ch01/cam2_20261124_060000.mp4",
                 "ch01/belt.mp4"):
        shutil.copy(d / "src" / "video.mp4", root / name)
    (root / "ch01" / "broken.mp4").write_text("not a video")
    return d, root


def test_what_a_batch_would_do(tree, tmp_path):
    d, root = tree
    out = tmp_path / "out"
    (out / "ch01_cam2_20261124_060000").mkdir(parents=True)          # done before
    (out / "ch01_cam2_20261124_060000" / "summary.json").write_text("{}")
    (out / ".ch01_cam2_20261124_053000.partial").mkdir()          # stopped at frame 6
    checkpoint.save(out / ".ch01_cam2_20261124_053000.partial", "key", {"next_frame": 6}, {})
    haul = dict(start_s=datetime(2026, 11, 24, 5, 30, 0, 100000),
                end_s=datetime(2026, 11, 24, 6, 30))
    plan = {p.output or p.input: p for p in plan_inputs([root, d / "nope"], out, **haul)}
    assert {k: p.status for k, p in plan.items()} == {
        str(d / "nope"): "error", "ch01_belt": "error", "ch01_broken": "error",
        "ch01_cam2_20261124_053000": "resumes", "ch01_cam2_20261124_060000": "complete"}
    p = plan["ch01_cam2_20261124_053000"]
    assert p.recording_start == "2026-11-24T05:30:00 (file name)"
    assert p.length_s == pytest.approx(10 / 25) and "frame 6" in p.detail
    assert "recording's start is unknown" in plan["ch01_belt"].detail
    assert "broken.mp4" in plan["ch01_broken"].detail
    # a window after the first recording: outside it (skipped), not an error
    later = plan_inputs([root], out, start_s=datetime(2026, 11, 24, 5, 40),
                        end_s=datetime(2026, 11, 24, 5, 50))
    assert {p.output: p.status for p in later}["ch01_cam2_20261124_053000"] == "outside window"
    # files a recorder may still be writing
    fresh = plan_inputs([root / "ch01" / "belt.mp4"], out, min_age_s=10 ** 9)
    assert [p.status for p in fresh] == ["too new"]
    # a window in seconds past an input's end fails that input, as segment does
    late = plan_inputs([root / "ch01" / "belt.mp4"], out, start_s=5.0)
    assert [(p.status, p.detail) for p in late] == [
        ("error", "the time window starts at 5 s, after its end")]
    table = plan_table(list(plan.values()))
    assert table.splitlines()[0].split()[:2] == ["status", "output"]
    assert table.splitlines()[-1] == "3 error, 1 resumes, 1 complete"


def test_list_on_the_command_line(tree, tmp_path, capsys):
    _, root = tree
    rc = main(["segment", str(root / "ch01" / "cam2_20261124_053000.mp4"), "--out",
               str(tmp_path / "out"), "--list"])
    text = capsys.readouterr().out
    assert rc == 0 and "to do" in text and "2026-11-24T05:30:00 (file name)" in text
    assert not (tmp_path / "out").exists()                 # nothing written
