"""The identity a segment checkpoint is valid for (fishseg.checkpoint.input_identity)."""

from __future__ import annotations

import os

import numpy as np

from fishseg.checkpoint import SAMPLE_BYTES, input_identity, run_key


def test_a_recording_copied_over_with_the_same_size_and_time_is_another_input(tmp_path):
    rng = np.random.default_rng(0)
    a = tmp_path / "cam.mp4"
    data = rng.integers(0, 256, 5 * SAMPLE_BYTES, np.uint8).tobytes()
    a.write_bytes(data)
    st = a.stat()
    key = run_key(a, model="m")
    assert run_key(a, model="m") == key                            # read twice: the same
    # another recording of the same length, its mtime kept (rsync -t, a restored backup)
    for where in (0, len(data) - 1):                               # its header or its index
        other = bytearray(data)
        other[where] ^= 0xFF
        a.write_bytes(bytes(other))
        os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert a.stat().st_size == st.st_size and a.stat().st_mtime_ns == st.st_mtime_ns
        assert run_key(a, model="m") != key
    a.write_bytes(data)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run_key(a, model="m") == key and run_key(a, model="n") != key
    # a file shorter than the samples, and an image folder (size and time per image only)
    (tmp_path / "short.mp4").write_bytes(b"tiny")
    assert len(input_identity(tmp_path / "short.mp4")[0]) == 4
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(3):
        (d / f"{i}.png").write_bytes(bytes([i]) * 10)
    assert [len(x) for x in input_identity(d)] == [3, 3, 3]
