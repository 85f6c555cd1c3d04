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


# A tiny model trained in seconds on 3 stills of 320x180 (seed 1): what the tests of the
# Ray engine hand to their workers by path.
TINY_MODEL = {"model": {"features": [4, 8, 16], "code_dim": 4, "processing_width": 160},
              "train": {"steps": 20, "batch_size": 32, "eval_every": 10, "warmup_steps": 3,
                        "learning_rate": 3e-3, "patches_per_image": 200},
              "dictionary": {"size": 64, "samples": 600, "kmeans_iters": 5}}


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """Path of a real (tiny, quickly trained) model bundle, :data:`TINY_MODEL`."""
    from fishseg.config import SynthConfig, from_dict
    from fishseg.io.datasets import Sample
    from fishseg.synth import render_frames
    from fishseg.train import train_on_samples

    images, labels = render_frames(3, 1, cfg=SynthConfig(width=320, height=180), stills=True)
    samples = [Sample(f"s{i}", im, lb) for i, (im, lb) in enumerate(zip(images, labels, strict=True))]
    return train_on_samples(samples, from_dict(TINY_MODEL),
                            tmp_path_factory.mktemp("model") / "tiny.fishseg", progress=False)
