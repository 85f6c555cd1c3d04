"""How unsure a model is of a frame: the mean binary entropy of its foreground map.

0 bits where every pixel is surely belt or surely fish, 1 where every pixel is a coin
toss. Frames (and recordings) a model is unsure of are the ones to annotate and train on
(``fishseg pick --prefer uncertain``), and a recording whose mean is far above the
others' shows a belt, light or camera the model has not learnt (``summary.json``
``model_uncertainty``, ``inputs.csv`` ``uncertainty``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


@jax.jit
def _mean_entropy(fg: jax.Array) -> jax.Array:
    """(B, H, W) probabilities -> (B,) float32 mean binary entropy in bits (one fused
    XLA program: 5-6x faster on a CPU than the same operations dispatched one by one)."""
    p = jnp.clip(fg.astype(jnp.float32), 1e-6, 1 - 1e-6)
    h = -(p * jnp.log2(p) + (1 - p) * jnp.log2(1 - p))
    return jnp.mean(h, axis=(1, 2))


def frame_uncertainty(fg) -> np.ndarray:
    """Mean binary entropy per frame, computed where the maps are (device or host).

    Args:
        fg: (B, H, W) or (H, W) float foreground probabilities in [0, 1] (numpy or jax).

    Returns:
        (B,) float64 bits (a single frame gives (1,)).
    """
    p = jnp.asarray(fg, jnp.float32)
    p = p.reshape(-1, *p.shape[-2:]) if p.ndim >= 2 else p.reshape(1, -1, 1)
    return np.asarray(_mean_entropy(p), np.float64)
