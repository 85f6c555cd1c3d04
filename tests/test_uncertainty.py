"""How unsure a model is of a frame (fishseg.uncertainty)."""

import jax.numpy as jnp
import numpy as np
import pytest

from fishseg.uncertainty import frame_uncertainty


def test_known_entropies():
    fg = np.stack([np.zeros((4, 6)), np.ones((4, 6)), np.full((4, 6), 0.5),
                   np.repeat([[0.0, 0.5]], 12, axis=0).reshape(4, 6)]).astype(np.float32)
    got = frame_uncertainty(fg)
    np.testing.assert_allclose(got, [0, 0, 1, 0.5], atol=1e-4)
    assert frame_uncertainty(jnp.asarray(fg[2])).tolist() == pytest.approx([1.0])
    p = 0.1                                             # -(p log p + q log q) at p = 0.1
    h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    assert frame_uncertainty(np.full((3, 3), p, np.float32))[0] == pytest.approx(h, rel=1e-5)
