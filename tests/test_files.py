"""Result files get the permissions of any file the user writes, not mkstemp's 0600."""

import os
import stat

import numpy as np

from fishseg.io.export import atomic_write
from fishseg.io.files import FILE_MODE
from fishseg.io.images import write_labels
from fishseg.io.video import VideoWriter


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_written_files_are_readable_as_normal_files(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    assert FILE_MODE == 0o666 & ~umask and FILE_MODE & stat.S_IRUSR
    with atomic_write(tmp_path / "a.csv") as f:
        f.write("x\n")
    write_labels(tmp_path / "m.png", np.ones((4, 6), np.int32))
    with VideoWriter(tmp_path / "v.mp4", 5, 32, 24) as w:
        w.write(np.zeros((24, 32, 3), np.uint8))
    for name in ("a.csv", "m.png", "v.mp4"):
        assert _mode(tmp_path / name) == FILE_MODE, name
    assert not list(tmp_path.glob(".*"))
