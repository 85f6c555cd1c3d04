"""The classical baseline: Otsu threshold, distance transform and marker watershed.

This is the pipeline a competent image analyst builds first, with no training:

1. **feature** — how far each pixel's colour lies from the belt's dominant colour
   (``feature: colour``; the per-channel median, so fish brighter *and* darker than the
   belt stand out), or the same for the grey level (``feature: grey``), blurred by a
   Gaussian;
2. **foreground** — Otsu's threshold of the feature (times ``threshold_scale``),
   morphological opening with a disc, holes filled, small objects removed;
3. **markers** — h-maxima regions of the Euclidean distance transform of the foreground (one
   marker per "bump": touching convex fish meet at a neck);
4. **instances** — ``skimage.segmentation.watershed`` of the negated distance transform
   from those markers inside the foreground; fragments below ``min_area`` are dropped.

Its parameters are :class:`fishseg.config.ClassicalConfig`; :func:`tune_classical` picks
them from a small grid on annotated frames, as a careful user would. It fails where textbook
pipelines fail: fish that overlap without a neck, shadows and glare, fish whose colour
is close to the belt's.

Example::

    >>> import numpy as np
    >>> img = np.full((60, 90, 3), 80, np.uint8)
    >>> yy, xx = np.mgrid[:60, :90]
    >>> for cx in (30, 58):
    ...     img[(yy - 30) ** 2 + (xx - cx) ** 2 < 15 ** 2] = (200, 160, 120)
    >>> np.unique(segment_frame(img)).tolist()
    [0, 1, 2]
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.morphology import disk, local_maxima, reconstruction
from skimage.segmentation import watershed
from tqdm import tqdm

from fishseg.config import ClassicalConfig
from fishseg.metrics import instance_scores


def dominant_colour(image: np.ndarray) -> np.ndarray:
    """The belt's colour: the per-channel median (the belt covers most of a frame).

    A histogram mode would be the literal "dominant colour", but on a noisy or textured
    belt the belt's pixels spread over many bins and a large uniform fish wins.

    Args:
        image: (H, W, 3) uint8 RGB frame.

    Returns:
        (3,) float32 RGB colour.
    """
    return np.median(image.reshape(-1, 3)[::3], axis=0).astype(np.float32)


def feature_image(image: np.ndarray, cfg: ClassicalConfig) -> np.ndarray:
    """Per-pixel distance from the belt's dominant colour (or grey level), blurred.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        cfg: the classical settings.

    Returns:
        (H, W) float32, large where the pixel differs from the belt.
    """
    rgb = image.astype(np.float32)
    if cfg.feature == "grey":
        grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        feat = np.abs(grey - np.median(grey))
    else:
        feat = np.sqrt(((rgb - dominant_colour(image)) ** 2).sum(axis=-1))
    if cfg.blur_sigma > 0:
        feat = ndimage.gaussian_filter(feat, cfg.blur_sigma)
    return feat.astype(np.float32)


def foreground_mask(image: np.ndarray, cfg: ClassicalConfig) -> np.ndarray:
    """Otsu foreground, opened, hole-filled, small objects removed.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        cfg: the classical settings.

    Returns:
        (H, W) bool mask of fish.
    """
    feat = feature_image(image, cfg)
    if float(feat.max()) - float(feat.min()) < 1e-3:  # a flat frame: nothing to find
        return np.zeros(feat.shape, bool)
    mask = feat > threshold_otsu(feat) * cfg.threshold_scale
    if cfg.opening_radius > 0:
        mask = ndimage.binary_opening(mask, structure=disk(cfg.opening_radius))
    mask = ndimage.binary_fill_holes(mask)
    return _drop_small(ndimage.label(mask)[0], cfg.min_area) > 0


def _drop_small(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Set labels with fewer than ``min_area`` pixels to 0; (H, W) int in and out."""
    if min_area <= 0 or labels.max() == 0:
        return labels
    area = np.bincount(labels.ravel())
    small = area < min_area
    small[0] = False
    return np.where(small[labels], 0, labels)


def h_maxima_regions(image: np.ndarray, h: float) -> np.ndarray:
    """Regional maxima of the h-maxima transform: one region per peak of dynamic >= h.

    ``skimage.morphology.h_maxima`` keeps every pixel of equal-height maxima that lie
    along a flat ridge (an elongated fish's distance transform has many), so each becomes
    its own marker; the regional maxima of the reconstruction ``rec(image - h, image)``
    instead merge a ridge into one connected plateau.

    Args:
        image: (H, W) float array (here the distance transform).
        h: least dynamic of a kept peak (0: all regional maxima).

    Returns:
        (H, W) bool mask of the marker regions.
    """
    image = np.asarray(image, np.float64)
    if h > 0:
        image = reconstruction(image - h, image, method="dilation")
    return local_maxima(image, connectivity=2).astype(bool)


def segment_frame(image: np.ndarray, cfg: ClassicalConfig | None = None) -> np.ndarray:
    """Instances of one frame by threshold + distance transform + marker watershed.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        cfg: the classical settings (default: :class:`ClassicalConfig`).

    Returns:
        (H, W) int32 instance labels 1..n, 0 = belt.
    """
    cfg = cfg or ClassicalConfig()
    mask = foreground_mask(image, cfg)
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    dist = ndimage.distance_transform_edt(mask)
    markers = ndimage.label(h_maxima_regions(dist, cfg.h) & mask)[0]
    labels = watershed(-dist, markers, mask=mask)
    labels = _drop_small(labels, cfg.min_area)
    # renumber 1..n after dropping
    ids = np.unique(labels)
    lut = np.zeros(int(ids.max()) + 1, np.int32)
    lut[ids[ids > 0]] = np.arange(1, int((ids > 0).sum()) + 1, dtype=np.int32)
    return lut[labels]


def classical_segment(images: np.ndarray, cfg: ClassicalConfig | None = None) -> np.ndarray:
    """:func:`segment_frame` over a batch.

    Args:
        images: (B, H, W, 3) uint8 RGB frames.
        cfg: the classical settings.

    Returns:
        (B, H, W) int32 instance labels, per frame 1..n.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (B, H, W, 3) uint8, got {images.dtype} {images.shape}")
    return np.stack([segment_frame(im, cfg) for im in images]) if len(images) else \
        np.zeros(images.shape[:3], np.int32)


class ClassicalMethod:
    """The classical baseline as a method: ``segment(images) -> labels``.

    Args:
        cfg: the classical settings (default: :class:`ClassicalConfig`).
    """

    name = "classical"

    def __init__(self, cfg: ClassicalConfig | None = None):
        self.cfg = cfg or ClassicalConfig()

    def segment(self, images: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 frames -> (B, H, W) int32 instance labels."""
        return classical_segment(images, self.cfg)


#: the grid :func:`tune_classical` searches (every combination)
TUNE_GRID: dict[str, tuple] = {"feature": ("colour", "grey"), "threshold_scale": (0.7, 1.0, 1.4),
                               "h": (1.5, 3.0, 6.0)}


def tune_classical(samples: Sequence[Any], base: ClassicalConfig | None = None, *,
                   grid: dict[str, tuple] | None = None, max_frames: int = 8,
                   progress: bool = True) -> tuple[ClassicalConfig, list[dict]]:
    """Pick the classical settings with the best AP@0.5 on annotated frames.

    What a competent user does before reporting a baseline: try a small grid of its few
    parameters on the training frames and keep the best.

    Args:
        samples: objects with ``.image`` ((H, W, 3) uint8) and ``.labels`` ((H, W) int).
        base: settings not in the grid (default: :class:`ClassicalConfig`).
        grid: field name -> values to try (default :data:`TUNE_GRID`).
        max_frames: use at most this many frames (evenly spaced).
        progress: tqdm bar over the grid.

    Returns:
        ``(best, table)``: the best settings, and one ``{**settings, "ap50": ...}`` per try.
    """
    base = base or ClassicalConfig()
    grid = grid or TUNE_GRID
    samples = list(samples)
    if not samples:
        raise ValueError("tune_classical: no frames")
    pick = np.unique(np.linspace(0, len(samples) - 1, min(max_frames, len(samples))).round().astype(int))
    frames = [samples[i] for i in pick]
    table, best, best_ap = [], base, -1.0
    combos = list(itertools.product(*grid.values()))
    for values in tqdm(combos, desc="tune classical", disable=not progress):
        cfg = dataclasses.replace(base, **dict(zip(grid, values, strict=True)))
        tp = fp = fn = 0
        for s in frames:
            r = instance_scores(np.asarray(s.labels), segment_frame(np.asarray(s.image), cfg), (0.5,))[0.5]
            tp, fp, fn = tp + r["tp"], fp + r["fp"], fn + r["fn"]
        ap = tp / max(1, tp + fp + fn)
        table.append({**dict(zip(grid, values, strict=True)), "ap50": ap})
        if ap > best_ap:
            best, best_ap = cfg, ap
    return best, table
