"""Target maps (foreground, edge and contact) from instance label images.

The N^4-Fields network learns to predict, for every pixel, whether it is fish
(foreground) and whether it lies on a boundary (edge): between two fish, or between a
fish and the belt. Optionally a third map, **contact**, marks only the boundaries
between two fish (the "touching border" class of cell segmentation): the narrow neck of
a fish before its tail is all edge (both of its fish/belt boundaries are within the
band) but no contact, so markers made from the contact map do not cut tails off. All
maps are derived here from instance labels, vectorised over a batch of frames.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _window(labels, width: int, what: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Checked integer labels and the filter size of a band ``width`` pixels each side."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be an integer array, got {labels.dtype}")
    if width < 1:
        raise ValueError(f"{what} width must be >= 1, got {width}")
    k = 2 * width + 1
    return labels, ((k, k) if labels.ndim == 2 else (1, k, k))


def edge_map(labels: np.ndarray, width: int = 2) -> np.ndarray:
    """Boundary band of an instance label image.

    A pixel is an edge pixel when a pixel with a different label lies within ``width``
    pixels of it (Chebyshev distance) and at least one of the two is fish. The band is
    therefore ``width`` pixels thick on each side of every boundary; the frame border is
    not a boundary.

    Args:
        labels: (H, W) or (B, H, W) integer array, 0 = background.
        width: band half-thickness in pixels (>= 1).

    Returns:
        bool array of the same shape as ``labels``.
    """
    labels, size = _window(labels, width, "edge")
    hi = ndimage.maximum_filter(labels, size=size, mode="nearest")
    lo = ndimage.minimum_filter(labels, size=size, mode="nearest")
    # hi != lo: two labels meet in the window; hi > 0: at least one is fish.
    return (hi != lo) & (hi > 0)


def contact_map(labels: np.ndarray, width: int = 2) -> np.ndarray:
    """Boundary band between two fish (not between a fish and the belt).

    A pixel is a contact pixel when two different non-zero labels lie within ``width``
    pixels of it (Chebyshev distance): fish pixels near another fish, and belt pixels in
    a gap narrower than about ``2 * width`` between two fish.

    Args:
        labels: (H, W) or (B, H, W) integer array, 0 = background.
        width: band half-thickness in pixels (>= 1).

    Returns:
        bool array of the same shape as ``labels``.
    """
    labels, size = _window(labels, width, "contact")
    lab = labels.astype(np.int64)
    top = int(lab.max(initial=0)) + 1   # stands for belt in the minimum (not an extreme
    # of the dtype: scipy's filters overflow on those)
    hi = ndimage.maximum_filter(lab, size=size, mode="nearest")
    lo = ndimage.minimum_filter(np.where(lab > 0, lab, top), size=size, mode="nearest")
    # lo < top: some fish in the window; hi != lo: another, larger fish id too
    return (lo < top) & (hi != lo)


def target_stack(labels: np.ndarray, edge_width: int = 2, contact: bool = False) -> np.ndarray:
    """The network's target maps as channels.

    Args:
        labels: (H, W) integer array, 0 = background.
        edge_width: band half-thickness of the edge (and contact) maps in pixels.
        contact: add the contact map as a third channel.

    Returns:
        (H, W, C) uint8 0/1 maps, C = 2 (fg, edge) or 3 (fg, edge, contact).
    """
    labels = np.asarray(labels)
    maps = [labels > 0, edge_map(labels, edge_width)]
    if contact:
        maps.append(contact_map(labels, edge_width))
    return np.stack(maps, -1).astype(np.uint8)


def target_maps(labels: np.ndarray, edge_width: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and edge targets of instance labels.

    Args:
        labels: (H, W) or (B, H, W) integer array, 0 = background.
        edge_width: band half-thickness of the edge map in pixels.

    Returns:
        ``(fg, edge)``: float32 arrays of ``labels``' shape with values 0 or 1.
    """
    labels = np.asarray(labels)
    return (labels > 0).astype(np.float32), edge_map(labels, edge_width).astype(np.float32)
