"""Interlaced video: combing measured and removed (fishseg.io.interlace), end to end."""

import json

import numpy as np
import pytest

from fishseg.cli import main
from fishseg.io.interlace import INTERLACED_SCORE, comb_score, deinterlace
from fishseg.io.video import FrameReader, VideoWriter


@pytest.fixture(scope="module")
def belt(tmp_path_factory):
    """Frames of a synthetic belt video (progressive, the belt moving) and the same
    frames interlaced as a DVR records them: even rows of frame t, odd rows of t+1."""
    d = tmp_path_factory.mktemp("belt")
    assert main(["-q", "synth", str(d), "--frames", "13", "--seed", "5", "--width", "320",
                 "--height", "192"]) == 0
    with FrameReader(d / "video.mp4", 16) as r:
        frames = np.concatenate([f for _, f in r])
    inter = frames[:-1].copy()
    inter[:, 1::2] = frames[1:, 1::2]
    return d, frames[:-1], inter


def test_combing_is_found_in_interlaced_frames_only(belt):
    _, prog, inter = belt
    p = [comb_score(f) for f in prog]
    i = [comb_score(f) for f in inter]
    assert max(p) < INTERLACED_SCORE / 10 < INTERLACED_SCORE < min(i)


def test_deinterlacing_removes_the_combs(belt):
    _, prog, inter = belt
    for p, f in zip(prog, inter):
        d = deinterlace(f)
        assert comb_score(d) < INTERLACED_SCORE / 10
        # what is left is frame t (the even field's): far nearer it than the combed frame
        assert np.abs(d.astype(int) - p).mean() < 0.55 * np.abs(f.astype(int) - p).mean()
        assert np.array_equal(d[0::2], f[0::2])          # the even field is kept as it is
        g = f.astype(int)
        np.testing.assert_array_equal(d[1:-1:2], (g[0:-2:2] + g[2::2] + 1) // 2)


def test_segment_says_when_an_input_looks_interlaced(belt, tmp_path, capsys):
    d, _, inter = belt
    video = tmp_path / "dvr.mp4"
    with VideoWriter(video, 25.0, inter.shape[2], inter.shape[1], crf=12) as vw:
        vw.write(inter)
    with FrameReader(video, 4, deinterlace=True) as r:
        out = np.concatenate([f for _, f in r])
    assert min(r.comb_scores) > INTERLACED_SCORE               # measured before
    assert max(comb_score(f) for f in out) < INTERLACED_SCORE  # removed
    base = ["-q", "segment", str(video), "--model", "fast", "--no-overlay", "--no-gallery"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 0
    assert "looks interlaced" in capsys.readouterr().out
    s = json.loads((tmp_path / "a" / "dvr" / "summary.json").read_text())["interlace"]
    assert s["looks_interlaced"] and not s["deinterlaced"] and s["comb_score"] > INTERLACED_SCORE
    assert main(base + ["--out", str(tmp_path / "b"), "--deinterlace"]) == 0
    assert "looks interlaced" not in capsys.readouterr().out
    s = json.loads((tmp_path / "b" / "dvr" / "summary.json").read_text())["interlace"]
    assert s["looks_interlaced"] and s["deinterlaced"]
    # a progressive video: not flagged
    assert main(["-q", "segment", str(d / "video.mp4"), "--model", "fast", "--no-overlay",
                 "--no-gallery", "--out", str(tmp_path / "c")]) == 0
    s = json.loads((tmp_path / "c" / "video" / "summary.json").read_text())["interlace"]
    assert not s["looks_interlaced"]
