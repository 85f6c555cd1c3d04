"""Exports from a background thread: same files, errors and aborts reach the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fishseg.io.background import BackgroundExport
from fishseg.io.export import ExportWriter
from fishseg.io.images import read_labels
from fishseg.tracking import Track


def frames(n, h=24, w=32):
    out = []
    for i in range(n):
        lab = np.zeros((h, w), np.int32)
        lab[2 + i % 5:10 + i % 5, 3:15] = 1
        if i % 2:
            lab[14:20, 18:30] = 2
        out.append(lab)
    return out


def test_same_files_as_the_plain_writer(tmp_path):
    labs = frames(9)
    rgb = np.full((24, 32, 3), 90, np.uint8)
    tracks = [Track(id=1, frames=list(range(9)), areas=[96] * 9, lengths=[12.0] * 9,
                    widths=[8.0] * 9, edge=[False] * 9, centroids=[(6.0, 9.0)] * 9),
              Track(id=2, frames=[1, 3, 5, 7], areas=[72] * 4, lengths=[12.0] * 4,
                    widths=[6.0] * 4, edge=[False] * 4, centroids=[(17.0, 24.0)] * 4)]
    for name, background in (("plain", False), ("thread", True)):
        w = ExportWriter(tmp_path / name, input_name="v.mp4", fps=5.0, width=32, height=24,
                         overlay=True)
        if background:
            w = BackgroundExport(w, max_pending=2)
        with w:
            for i, lab in enumerate(labs):
                w.add_frame(i, lab, rgb)
            w.finish(tracks, seconds=1.0)
    for f in ["instances.json", "counts.csv", "fish.csv", "summary.json", "overlay.mp4",
              *[f"masks/frame_{i:06d}.png" for i in range(9)]]:
        assert (tmp_path / "plain" / f).read_bytes() == (tmp_path / "thread" / f).read_bytes(), f
    assert np.array_equal(read_labels(tmp_path / "thread" / "masks" / "frame_000003.png"), labs[3])
    assert not list((tmp_path / "thread").glob(".instances.*"))   # spool files gone


def test_a_write_error_in_the_thread_reaches_the_caller(tmp_path):
    bad = np.zeros((10, 10), np.int32)   # not the writer's 24x32
    with pytest.raises(ValueError, match="frame 2 labels are"):
        with BackgroundExport(ExportWriter(tmp_path / "o", input_name="v", fps=1.0, width=32,
                                           height=24)) as w:
            w.add_frame(0, frames(1)[0])
            w.add_frame(1, frames(2)[1])
            w.add_frame(2, bad)
            for i in range(3, 50):       # raised here at the latest, or by finish()
                w.add_frame(i, frames(1)[0])
            w.finish([])
    assert not (tmp_path / "o" / "summary.json").exists()
    assert not list((tmp_path / "o").glob(".instances.*"))
    assert (tmp_path / "o" / "masks" / "frame_000001.png").exists()   # written files stay


def test_leaving_the_block_early_writes_no_summary(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with BackgroundExport(ExportWriter(tmp_path / "o", input_name="v", fps=1.0, width=32,
                                           height=24)) as w:
            w.add_frame(0, frames(1)[0])
            raise KeyboardInterrupt
    assert not (tmp_path / "o" / "summary.json").exists()
    assert not list((tmp_path / "o").glob(".instances.*"))
    assert not w._thread.is_alive()


class SlowWriter:
    """An ExportWriter stand-in whose writes wait for a signal."""

    out_dir = "slow"

    def __init__(self):
        self.go = threading.Event()
        self.written = []

    def add_frame(self, i, lab, frame=None, time_s=None, left_out=None, left_out_ids=None):
        self.go.wait()
        self.written.append(i)

    def abort(self):
        pass

    def finish(self, tracks, **kw):
        return {"frames": len(self.written)}


def test_the_queue_is_bounded_and_order_kept():
    slow = SlowWriter()
    w = BackgroundExport(slow, max_pending=3)
    for i in range(4):                   # 1 in the writer + 3 waiting
        w.add_frame(i, None)
    blocked = threading.Thread(target=w.add_frame, args=(4, None))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()            # a fifth frame waits for room
    slow.go.set()
    blocked.join(5)
    assert not blocked.is_alive()
    assert w.finish([]) == {"frames": 5} and slow.written == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        BackgroundExport(slow, max_pending=0)
