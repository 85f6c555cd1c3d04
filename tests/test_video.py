"""Video decode/encode: round trips, batches, and the errors a user can cause."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from fishseg.io.images import write_image
from fishseg.io.video import FrameReader, VideoError, VideoWriter, frame_times, probe

H, W = 96, 160


def frame(i, rng=None):
    """Frame i: grey level and a bright bar position encode i; optional noise."""
    f = np.full((H, W, 3), 30 + 5 * i, np.uint8)
    f[:, 6 * i: 6 * i + 12] = (230, 90, 40)
    if rng is not None:
        f = np.clip(f.astype(int) + rng.integers(-25, 25, f.shape), 0, 255).astype(np.uint8)
    return f


def write(path, n, noise=False, crf=18):
    rng = np.random.default_rng(0) if noise else None
    with VideoWriter(path, 10.0, W, H, crf=crf) as w:
        for i in range(n):
            w.write(frame(i, rng))
    return path


def bar_of(f):
    """Which frame this is, from the centre of its bar (columns 6i .. 6i+11)."""
    diff = f[:, :, 0].mean(axis=0) - f[:, :, 2].mean(axis=0)
    return int(round((np.flatnonzero(diff > 100).mean() - 5.5) / 6))


def test_roundtrip_batches_in_order(tmp_path):
    p = write(tmp_path / "v.mp4", 23)
    info = probe(p)
    assert (info.frames, info.fps, info.width, info.height) == (23, 10.0, W, H)
    with FrameReader(p, 5) as r:
        batches = list(r)
    assert [len(i) for i, _ in batches] == [5, 5, 5, 5, 3]
    idx = np.concatenate([i for i, _ in batches])
    frames = np.concatenate([f for _, f in batches])
    assert idx.tolist() == list(range(23)) and frames.dtype == np.uint8
    assert frames.shape == (23, H, W, 3)
    assert [bar_of(f) for f in frames] == list(range(23))  # RGB order, right frame
    assert np.abs(frames.astype(int) - np.stack([frame(i) for i in range(23)])).mean() < 4
    assert r.errors == [] and r.frames_read == 23
    late = np.concatenate([i for i, _ in FrameReader(p, 4, start=19)])
    assert late.tolist() == [19, 20, 21, 22]


def test_opencv_and_browser_can_read_what_we_write(tmp_path):
    p = write(tmp_path / "v.mp4", 7)
    cap = cv2.VideoCapture(str(p))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    ok, f = cap.read()
    assert ok and f.shape == (H, W, 3)
    with av.open(str(p)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
    assert [q.name for q in tmp_path.iterdir()] == ["v.mp4"]  # no temp file left


def test_writer_is_atomic_on_error(tmp_path):
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "x.mp4", 10, W, H) as w:
        w.write(frame(0))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_text_file_named_mp4(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("these are not frames\n" * 20)
    with pytest.raises(VideoError, match=r"notes\.mp4.*not a video"):
        FrameReader(p, 4)


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match=r"nothere\.mp4: not found"):
        probe(tmp_path / "nothere.mp4")


def test_zero_frame_video(tmp_path):
    p = write(tmp_path / "empty.mp4", 0)
    with pytest.raises(VideoError, match=r"empty\.mp4.*zero frames"):
        FrameReader(p, 4)


def test_truncated_video_reports_frames_read(tmp_path):
    p = write(tmp_path / "cut.mp4", 30, noise=True)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    r = FrameReader(p, 4)
    got = []
    with pytest.raises(VideoError, match=r"cut\.mp4: frame (\d+) failed to decode \(\1 of 30 "
                                          r"frames read") as e:
        for idx, _ in r:
            got.extend(idx.tolist())
    assert 0 < len(got) < 30 and got == list(range(len(got)))
    assert f"frame {len(got)} failed" in str(e.value)
    # "skip" keeps the good frames and records the failure instead of raising
    r = FrameReader(p, 4, on_error="skip")
    assert sum(len(i) for i, _ in r) == len(got) and len(r.errors) == 1


def test_grey_16bit_video(tmp_path):
    p = tmp_path / "grey.mkv"
    with av.open(str(p), "w", format="matroska") as c:
        s = c.add_stream("ffv1", rate=Fraction(5))
        s.width, s.height, s.pix_fmt = W, H, "gray16le"
        for i in range(4):
            g = (np.arange(W, dtype=np.uint16)[None].repeat(H, 0) * 400 + i).astype(np.uint16)
            for pk in s.encode(av.VideoFrame.from_ndarray(g, format="gray16le")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    (idx, f), = list(FrameReader(p, 8))
    assert idx.tolist() == [0, 1, 2, 3] and f.shape == (4, H, W, 3) and f.dtype == np.uint8
    assert (f[..., 0] == f[..., 1]).all() and (f[..., 1] == f[..., 2]).all()
    assert (np.diff(f[0, 0, :, 0].astype(int)) >= 0).all() and f[0, 0, -1, 0] > 200


def test_writer_takes_grey_frames(tmp_path):
    p = tmp_path / "g.mp4"
    with VideoWriter(p, 5, W, H) as w:
        w.write(np.full((2, H, W), 128, np.uint8))
    (idx, f), = list(FrameReader(p, 4))
    assert len(idx) == 2 and abs(int(f.mean()) - 128) <= 3


def test_image_folder_with_a_broken_file(tmp_path):
    d = tmp_path / "imgs"
    names = ["f_1.png", "f_2.png", "f_3.png", "f_10.png"]  # natural order: 10 is last
    for i, n in enumerate(names):
        write_image(d / n, frame(i))
    (d / "f_3.png").write_bytes(b"\x89PNG broken")
    (d / "readme.txt").write_text("not an image")
    info = probe(d, fps=2.5)
    assert (info.frames, info.fps, info.width, info.height) == (4, 2.5, W, H)
    r = FrameReader(d, 2, fps=2.5)
    batches = list(r)
    idx = np.concatenate([i for i, _ in batches]).tolist()
    assert idx == [0, 1, 3]
    assert [bar_of(f) for _, b in batches for f in b] == [0, 1, 3]
    assert len(r.errors) == 1 and r.errors[0].index == 2 and "f_3.png" in r.errors[0].message
    with pytest.raises(VideoError, match=r"f_3\.png"):
        list(FrameReader(d, 2, on_error="raise"))
    # a list of files is a video too, in the order given
    files = [d / "f_10.png", d / "f_1.png"]
    assert [bar_of(f) for _, b in FrameReader(files, 4) for f in b] == [3, 0]


def test_image_folder_with_an_image_of_another_size(tmp_path):
    """A folder is one camera's frames: an image of another size is skipped, and the
    message names it, both sizes, and what to do instead."""
    d = tmp_path / "imgs"
    write_image(d / "a.png", frame(0))
    write_image(d / "b.png", np.zeros((50, 70, 3), np.uint8))
    write_image(d / "c.png", frame(2))
    r = FrameReader(d, 4)
    assert [bar_of(f) for _, b in r for f in b] == [0, 2]
    assert len(r.errors) == 1 and r.errors[0].index == 1
    msg = r.errors[0].message
    assert "b.png" in msg and "70x50" in msg and f"{W}x{H}" in msg and "inputs of their own" in msg


def test_early_close_stops_the_thread(tmp_path):
    p = write(tmp_path / "v.mp4", 20)
    r = FrameReader(p, 2, prefetch=1)
    for _ in r:
        break
    r.close()
    assert not r._thread.is_alive()


def test_every_nth_frame(tmp_path):
    p = write(tmp_path / "v.mp4", 23)
    r = FrameReader(p, 3, step=4)
    assert r.frames_wanted == 6
    batches = list(r)
    idx = np.concatenate([i for i, _ in batches])
    assert idx.tolist() == [0, 4, 8, 12, 16, 20] and [len(i) for i, _ in batches] == [3, 3]
    assert [bar_of(f) for _, b in batches for f in b] == idx.tolist()  # the right pixels
    assert r.frames_read == 6 and r.errors == []
    late = FrameReader(p, 8, start=5, step=7)
    assert late.frames_wanted == 3
    assert [bar_of(f) for _, b in late for f in b] == [5, 12, 19]
    # image folders: the source's frame numbers, and broken files are skipped as before
    d = tmp_path / "imgs"
    for i in range(7):
        write_image(d / f"f_{i}.png", frame(i))
    (d / "f_2.png").write_bytes(b"\x89PNG broken")
    r = FrameReader(d, 4, step=2)
    assert [i for b, _ in r for i in b.tolist()] == [0, 4, 6]
    assert [e.index for e in r.errors] == [2]
    with pytest.raises(ValueError, match="step must be >= 1"):
        FrameReader(p, 4, step=0)


def test_every_nth_frame_of_a_truncated_video_still_reports_it(tmp_path):
    p = write(tmp_path / "cut.mp4", 30, noise=True)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    got = []
    with pytest.raises(VideoError, match=r"cut\.mp4: frame (\d+) failed to decode \(\1 of 30"):
        for idx, _ in FrameReader(p, 4, step=3):
            got.extend(idx.tolist())
    assert got and got == list(range(0, 3 * len(got), 3))


def test_concat_videos_keeps_every_frame_in_order(tmp_path):
    from fishseg.io.video import concat_videos

    parts, i = [], 0
    for k, n in enumerate([2, 8, 1, 3, 8]):  # short parts start their decode times earlier
        with VideoWriter(tmp_path / f"p{k}.mp4", 10.0, W, H, crf=18) as w:
            for _ in range(n):
                w.write(frame(i))
                i += 1
        parts.append(tmp_path / f"p{k}.mp4")
    out = concat_videos(parts, tmp_path / "all.mp4")
    info = probe(out)
    assert (info.frames, info.width, info.height) == (22, W, H)
    assert info.fps == pytest.approx(10.0, rel=1e-3)  # decode-time bumps: a tick or two
    got = np.concatenate([f for _, f in FrameReader(out, 8)])
    assert [bar_of(f) for f in got] == list(range(22))
    with av.open(str(out)) as c:  # plays for as long as its frames: 2.2 s
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and abs(float(s.duration * s.time_base) - 2.2) < 0.15


def test_stop_before_a_frame(tmp_path):
    p = write(tmp_path / "v.mp4", 23)
    r = FrameReader(p, 4, start=5, step=3, stop=15)
    assert r.frames_wanted == 4
    assert [bar_of(f) for _, b in r for f in b] == [5, 8, 11, 14]
    assert r.errors == []
    # stopping before the damage of a truncated video is no error; past it, it is
    cut = write(tmp_path / "cut.mp4", 30, noise=True)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    assert [i for b, _ in FrameReader(cut, 4, stop=3) for i in b.tolist()] == [0, 1, 2]
    with pytest.raises(VideoError, match="failed to decode"):
        list(FrameReader(cut, 4, stop=29))
    d = tmp_path / "imgs"
    for i in range(6):
        write_image(d / f"f_{i}.png", frame(i))
    assert [i for b, _ in FrameReader(d, 4, stop=4) for i in b.tolist()] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="must be after start"):
        FrameReader(p, 4, start=5, stop=5)


# frame k at 40 ms steps, with frames dropped after frames 2 and 5 (a recorder under load)
VFR_TIMES = [0.0, 0.04, 0.08, 0.2, 0.24, 0.28, 0.48, 0.52, 0.56, 0.6]


def test_frame_times_of_a_variable_frame_rate_video(tmp_path, write_vfr):
    frames = np.stack([frame(i) for i in range(10)])
    path = write_vfr(tmp_path / "vfr.mp4", frames, VFR_TIMES)
    with FrameReader(path, 4, timestamps=True) as r:
        got = [(i, t, bar_of(f)) for idx, ts, b in r for i, t, f in zip(idx, ts, b)]
    assert [i for i, _, _ in got] == list(range(10)) == [k for _, _, k in got]
    assert np.allclose([t for _, t, _ in got], VFR_TIMES, atol=1e-6)
    # index / (the container's average rate) would put frame 6 at 0.38 s, not at 0.48 s
    assert abs(6 / probe(path).fps - VFR_TIMES[6]) > 0.05
    # every 3rd frame from frame 1: the skipped frames still move the clock
    with FrameReader(path, 2, start=1, step=3, timestamps=True) as r:
        got = [(int(i), float(t)) for idx, ts, _ in r for i, t in zip(idx, ts)]
    assert got == [(i, pytest.approx(VFR_TIMES[i], abs=1e-6)) for i in (1, 4, 7)]
    # without timestamps=True the batches are (indices, frames), as before
    assert [len(x) for x in FrameReader(path, 5)] == [2, 2]


def test_frame_times_when_pyav_decodes(tmp_path, write_vfr, monkeypatch):
    """A file OpenCV cannot open is decoded by PyAV: the same times."""
    frames = np.stack([frame(i) for i in range(10)])
    path = write_vfr(tmp_path / "vfr.mp4", frames, [t + 3.5 for t in VFR_TIMES])

    class Closed:
        def __init__(self, *a):
            pass

        def isOpened(self):  # noqa: N802 - OpenCV's name
            return False

        def release(self):
            pass

    monkeypatch.setattr(cv2, "VideoCapture", Closed)
    with FrameReader(path, 4, timestamps=True) as r:
        got = [(bar_of(f), t) for _, ts, b in r for t, f in zip(ts, b)]
    # times from the stream's first frame, wherever the container's clock starts
    assert [k for k, _ in got] == list(range(10))
    assert np.allclose([t for _, t in got], VFR_TIMES, atol=1e-6)


def test_frame_times_of_images_and_of_missing_timestamps(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"f{i}.png", frame(i))
    with FrameReader(tmp_path, 8, fps=4.0, timestamps=True) as r:
        (idx, ts, _), = list(r)
    assert idx.tolist() == [0, 1, 2] and ts.tolist() == [0.0, 0.25, 0.5]
    # the rule for stamps that are missing or do not move on: 1 / fps after the last one
    clock = FrameReader(tmp_path, 1, fps=4.0)._clock()
    got = [clock(t) for t in (10.0, 10.5, None, 10.5, float("nan"), 10.2, 12.0)]
    assert got == [0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0]


def test_frame_times_from_the_packets(tmp_path, write_vfr):
    """frame_times reads the same times from the packets, without decoding, and stops
    reading past a time it was asked for."""
    frames = np.stack([frame(i % 20) for i in range(60)])
    times = [0.1 * i + (0.5 if i >= 30 else 0.0) for i in range(60)]  # a 0.6 s gap
    path = write_vfr(tmp_path / "vfr.mp4", frames, times)
    assert np.allclose(frame_times(path), times, atol=1e-9)
    part = frame_times(path, until_s=1.0)
    assert 11 <= len(part) < 60 and np.allclose(part, times[:len(part)], atol=1e-9)
    for i in range(2):
        write_image(tmp_path / "imgs" / f"f{i}.png", frame(i))
    (tmp_path / "notes.mp4").write_text("not a video")
    assert frame_times(tmp_path / "imgs") is None and frame_times(tmp_path / "notes.mp4") is None
