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
