"""Thin boundary lines from an edge-probability map.

An edge map (the model's, or any detector's) is a band a few pixels wide around each
boundary. Boundary benchmarks (BSDS; HED, RCF and Structured Edges report this way)
thin it to one-pixel lines by **non-maximum suppression** before matching it to the
true boundaries: a pixel is kept when its probability is at least that of its two
neighbours across the ridge. This module does that with the ridge direction taken from
the Hessian of the (lightly smoothed) map, so the lines follow the crest of the band
wherever it lies, which a skeleton of the thresholded band does not: the skeleton runs
down the middle of whatever the threshold leaves, and a band that is lopsided, or two
bands that merge, move it off the crest.

- :func:`edge_nms` — (H, W) or (B, H, W) float map -> bool ridge mask.
- :func:`thin_edges` — ridge mask above a probability threshold.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _ridge_one(e: np.ndarray, sigma: float) -> np.ndarray:
    e = e.astype(np.float32, copy=False)
    s = ndimage.gaussian_filter(e, sigma)
    hyy = ndimage.gaussian_filter(e, sigma, order=(2, 0))
    hxx = ndimage.gaussian_filter(e, sigma, order=(0, 2))
    hxy = ndimage.gaussian_filter(e, sigma, order=(1, 1))
    # Across a ridge the curvature is most negative: the eigenvector of the Hessian's
    # smaller eigenvalue, at right angles to the larger one's direction.
    theta = 0.5 * np.arctan2(2.0 * hxy, hxx - hyy) + np.pi / 2
    dy, dx = np.sin(theta), np.cos(theta)
    yy, xx = np.mgrid[0:e.shape[0], 0:e.shape[1]].astype(np.float32)
    ahead = ndimage.map_coordinates(s, [yy + dy, xx + dx], order=1, mode="nearest")
    behind = ndimage.map_coordinates(s, [yy - dy, xx - dx], order=1, mode="nearest")
    return (s > ahead) & (s >= behind)


def edge_nms(edge: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Non-maximum suppression across the ridges of an edge map.

    Args:
        edge: (H, W) or (B, H, W) float edge probability.
        sigma: scale in pixels of the Gaussian derivatives that give the ridge direction.

    Returns:
        bool array of ``edge``'s shape: True where the map, smoothed with ``sigma``, is a
        local maximum across its ridge (compared with the two bilinearly interpolated
        neighbours one pixel away; a tie keeps one side only, so a flat band of any
        width gives one line).
    """
    e = np.asarray(edge)
    if e.ndim not in (2, 3):
        raise ValueError(f"edge map must be (H, W) or (B, H, W), got shape {e.shape}")
    if e.ndim == 2:
        return _ridge_one(e, sigma)
    return np.stack([_ridge_one(x, sigma) for x in e])


def thin_edges(edge: np.ndarray, threshold: float = 0.5, sigma: float = 1.0) -> np.ndarray:
    """One-pixel boundary lines: ridge pixels (:func:`edge_nms`) above ``threshold``.

    Args:
        edge: (H, W) or (B, H, W) float edge probability in [0, 1].
        threshold: probability a ridge must exceed.
        sigma: see :func:`edge_nms`.

    Returns:
        bool array of ``edge``'s shape.
    """
    e = np.asarray(edge)
    return edge_nms(e, sigma) & (e > threshold)
