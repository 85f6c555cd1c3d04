"""``scripts/train_default.py``, the recipe of the bundled model, at a tiny size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from fishseg.model.bundle import load_model

REPO = Path(__file__).resolve().parents[1]
TINY = {"synth": {"width": 160, "height": 96},
        "model": {"features": [4, 8, 16], "code_dim": 4, "processing_width": 160},
        "train": {"steps": 4, "batch_size": 16, "eval_every": 2, "warmup_steps": 1,
                  "patches_per_image": 50},
        "dictionary": {"size": 16, "samples": 200, "kmeans_iters": 3}}


def test_recipe_with_empty_belts(tmp_path):
    """``--empty N`` adds N stills without fish (labels all background) to the training
    stills; the model records every still it was trained on."""
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "m.fishseg"
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "train_default.py"),
                        "--stills", "3", "--empty", "2", "--config", str(cfg), "--out", str(out),
                        "--curve", str(tmp_path / "curve.png"), "--workers", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "rendering 2 empty-belt stills (seed 102)" in r.stdout
    frames = load_model(out).meta["frames"]
    assert frames == ["still_0000", "still_0001", "still_0002", "empty_0000", "empty_0001"]
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_recipe_with_stills_of_other_sizes(tmp_path):
    """``--extra-size WxH:N`` adds N stills rendered natively at W x H (their own seeds);
    training takes stills of several sizes together."""
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "m.fishseg"
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "train_default.py"),
                        "--stills", "2", "--extra-size", "120x72:2", "--extra-size", "80x48:1",
                        "--config", str(cfg), "--out", str(out), "--workers", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "rendering 2 stills at 120x72 (seed 103)" in r.stdout
    assert "rendering 1 stills at 80x48 (seed 104)" in r.stdout
    assert load_model(out).meta["frames"] == ["still_0000", "still_0001", "s120x72_0000",
                                              "s120x72_0001", "s80x48_0000"]
    # without --curve the curve stays next to the model (the docs' picture is untouched)
    assert (tmp_path / "m.curve.png").stat().st_size > 0
    assert f"curve: {tmp_path / 'm.curve.png'}" in r.stdout
    bad = subprocess.run([sys.executable, str(REPO / "scripts" / "train_default.py"),
                          "--extra-size", "640by360", "--config", str(cfg), "--out",
                          str(tmp_path / "x.fishseg")], capture_output=True, text=True)
    assert bad.returncode != 0 and "expected WxH:N" in bad.stderr


def test_empty_belt_stills_hold_no_fish_but_a_belt():
    """What ``--empty`` renders: the belt and its fixtures, no fish (all labels 0)."""
    import dataclasses

    from fishseg.config import SynthConfig
    from fishseg.synth import render_frames

    cfg = dataclasses.replace(SynthConfig(width=160, height=96), fish_density=0.0)
    images, labels = render_frames(3, 102, cfg, stills=True)
    assert labels.shape == (3, 96, 160) and not labels.any()
    assert all(im.std() > 5 for im in images)  # a textured belt, not a blank frame
    _, with_fish = render_frames(3, 102, SynthConfig(width=160, height=96), stills=True)
    assert with_fish.any()
