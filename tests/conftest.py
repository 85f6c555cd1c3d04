"""Shared test fixtures."""

import jax
import pytest


@pytest.fixture
def exact_float32():
    """Full float32 matrix products and convolutions inside the test.

    On NVIDIA GPUs XLA computes float32 convolutions in TF32 (10-bit mantissa) by
    default, which is right for inference but makes "dense equals patch-by-patch within
    1e-4" a test of rounding, not of the algorithm. On CPUs this changes nothing.
    """
    with jax.default_matmul_precision("float32"):
        yield


@pytest.fixture
def write_vfr():
    """A function ``write(path, frames, times)`` that encodes (N, H, W, 3) uint8 RGB frames
    (even H and W) as an H.264 mp4 whose frames carry the given presentation times
    (seconds, increasing; millisecond time base): a variable-frame-rate file as CCTV
    recorders write them when they drop frames. ``write(..., metadata={...})`` also sets
    container tags (e.g. ``creation_time``)."""
    from fractions import Fraction

    import av
    import numpy as np

    def write(path, frames, times, metadata=None):
        tb = Fraction(1, 1000)
        with av.open(str(path), "w") as c:
            c.metadata.update(metadata or {})
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            s.time_base = s.codec_context.time_base = tb
            s.options = {"crf": "12"}
            for f, t in zip(frames, times, strict=True):
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
                vf.pts, vf.time_base = round(t * 1000), tb
                for p in s.encode(vf):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        return path

    return write
