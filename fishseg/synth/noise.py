"""Random smooth fields used for textures (grime, mottling, lighting) and small shaping helpers.

All randomness comes from a ``numpy.random.Generator`` passed in by the caller; nothing here
keeps global state, so the same generator state always gives the same field.
"""

from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float,
                 aspect: float = 1.0) -> np.ndarray:
    """Gaussian noise smoothed to a feature size of about ``scale`` pixels.

    Drawn on a coarse grid and resized (bicubic), so the cost is that of the output only.

    Args:
        rng: random generator.
        shape: (H, W) of the output.
        scale: feature size in pixels along y (>= 1).
        aspect: feature size along x is ``scale * aspect`` (streaks for aspect > 1).

    Returns:
        (H, W) float32 field with zero mean and unit standard deviation.
    """
    h, w = shape
    sy = max(float(scale), 1.0)
    sx = max(float(scale) * aspect, 1.0)
    gh = max(int(np.ceil(h / sy)) + 3, 2)
    gw = max(int(np.ceil(w / sx)) + 3, 2)
    g = rng.standard_normal((gh, gw), dtype=np.float32)
    # Resize the coarse grid a little larger than needed, then crop at a random offset so
    # grid-aligned artefacts do not repeat from one field to the next.
    big = cv2.resize(g, (int(gw * sx), int(gh * sy)), interpolation=cv2.INTER_CUBIC)
    oy = int(rng.integers(0, max(big.shape[0] - h, 0) + 1))
    ox = int(rng.integers(0, max(big.shape[1] - w, 0) + 1))
    f = big[oy:oy + h, ox:ox + w]
    if f.shape != (h, w):  # tiny outputs: pad by edge replication
        f = cv2.copyMakeBorder(f, 0, h - f.shape[0], 0, w - f.shape[1], cv2.BORDER_REPLICATE)
    f = f - f.mean()
    sd = f.std()
    return (f / sd if sd > 1e-6 else f).astype(np.float32)


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], scales: tuple[float, ...],
                  weights: tuple[float, ...] | None = None, aspect: float = 1.0) -> np.ndarray:
    """Weighted sum of :func:`smooth_noise` at several feature sizes.

    Returns:
        (H, W) float32 field, unit standard deviation.
    """
    weights = weights or tuple(1.0 for _ in scales)
    f = np.zeros(shape, np.float32)
    for s, wt in zip(scales, weights):
        f += wt * smooth_noise(rng, shape, s, aspect)
    sd = f.std()
    return f / sd if sd > 1e-6 else f


def smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 (x <= a) to 1 (x >= b), elementwise; same shape as ``x``."""
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def jitter_colour(rng: np.random.Generator, rgb, amount: float = 0.08) -> np.ndarray:
    """A colour (3,) float32 with random brightness and per-channel variation, clipped to [0, 1]."""
    c = np.asarray(rgb, np.float32)
    c = c * rng.uniform(1 - amount, 1 + amount) * rng.uniform(1 - amount / 2, 1 + amount / 2, 3)
    return np.clip(c, 0.0, 1.0).astype(np.float32)
