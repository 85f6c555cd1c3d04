"""``scripts/eval_maps.py``: stills rendered natively at another size (``--size``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from fishseg.config import SynthConfig
from fishseg.metrics import map_scores
from fishseg.model.bundle import load_model
from fishseg.synth import render_frames

REPO = Path(__file__).resolve().parents[1]


def test_stills_rendered_at_another_size():
    """The scores printed for ``--size 320x192`` are those of the renderer's stills at
    that size (not of 1280x720 stills resized)."""
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "eval_maps.py"), "fast",
                        "--seed", "5", "--stills", "1", "--size", "320x192"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 stills of seed 5, 320x192" in r.stdout
    row = [line for line in r.stdout.splitlines() if line.startswith("| fast")]
    assert len(row) == 1
    fg_iou, _, _, edge_f1 = (float(c) for c in row[0].strip("|").split("|")[3:7])
    images, labels = render_frames(1, 5, SynthConfig(width=320, height=192), stills=True)
    assert images.shape[1:3] == (192, 320)
    fg, edge = (np.asarray(m) for m in load_model("fast").predict_maps(images))
    s = map_scores(fg, edge, labels)
    assert abs(fg_iou - s["fg_iou"]) < 6e-4 and abs(edge_f1 - s["edge_f1"]) < 6e-4


def test_malformed_size_is_refused():
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "eval_maps.py"), "fast",
                        "--size", "320"], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "'320'" in r.stderr and "WxH" in r.stderr
