"""``scripts/eval_counts.py``: videos rendered natively at another size (``--size``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fishseg.config import SynthConfig
from fishseg.synth import synthesize

REPO = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "eval_counts.py"), *args],
                          capture_output=True, text=True, timeout=600)


def test_videos_rendered_at_another_size(tmp_path):
    """With ``--size`` the generated video is the renderer's at that size (its own
    scene: the true fish are those of ``synthesize`` at that size), and perfect maps count
    it exactly."""
    meta = synthesize(tmp_path / "v", frames=6, seed=3, cfg=SynthConfig(width=320, height=192),
                      progress=False)
    r = _run("--oracle", "--size", "320x192", "--videos", "6:3")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "videos rendered at 320x192" in r.stdout
    row = [line for line in r.stdout.splitlines() if line.startswith("| 6, 3 |")]
    assert len(row) == 1
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    assert int(cells[1]) == meta["fish_count"]
    assert float(cells[2].split("/")[0]) <= 0.5   # perfect maps: within the pipeline's bound


def test_malformed_size_is_refused():
    r = _run("--oracle", "--size", "640by360", "--videos", "6:3")
    assert r.returncode != 0 and "640by360" in r.stderr and "WxH" in r.stderr
