"""The region of interest: the part of a camera's view where fish are counted.

A CCTV view of a discard belt holds more than the belt: side rails, a wall, a logo or
text burned into the picture, and the arms and gloves of the crew reaching in. A
region of interest (ROI) tells ``fishseg segment`` to look at the belt only:
foreground outside it is dropped before the fish are separated, and a fish cut by the
ROI's border is *partial*, as one cut by the frame's edge (its size is not its own).

An ROI is given either as a rectangle ``"x0,y0,x1,y1"`` in pixels of the input frames
(x1, y1 exclusive), or as a mask image file of the input frames' size (any non-zero
pixel is inside; draw it over a frame grab in any paint program).

- :func:`load_roi` — spec -> (H, W) bool mask for frames of a given size.
- :func:`roi_border` — the pixels of the ROI within ``margin`` of its outside.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage


class RoiError(ValueError):
    """A region of interest that cannot be used; the message names it."""


def _rectangle(spec: str, width: int, height: int) -> np.ndarray:
    try:
        x0, y0, x1, y1 = (int(v) for v in spec.split(","))
    except ValueError:
        raise RoiError(f"ROI {spec!r}: expected x0,y0,x1,y1 (four integers, pixels of the "
                       "input frames) or a mask image file") from None
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise RoiError(f"ROI {spec!r}: the rectangle must lie inside the {width}x{height} "
                       "frames with x0 < x1 and y0 < y1")
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _mask_file(path: Path, width: int, height: int) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RoiError(f"ROI {path}: not a readable image")
    if img.shape[:2] != (height, width):
        raise RoiError(f"ROI {path}: the mask is {img.shape[1]}x{img.shape[0]}, the frames are "
                       f"{width}x{height}; draw it over a frame of this input")
    mask = (img != 0).any(axis=2) if img.ndim == 3 else img != 0
    if not mask.any():
        raise RoiError(f"ROI {path}: the mask is empty (no non-zero pixel)")
    return mask


def load_roi(spec: str | Path | np.ndarray | None, width: int, height: int,
             size: tuple[int, int] | None = None) -> np.ndarray | None:
    """The region of interest as a mask for frames of ``width`` x ``height`` pixels.

    Args:
        spec: ``"x0,y0,x1,y1"`` (pixels of the input frames), a mask image file of the
            input frames' size, an (height, width) bool array, or None (no ROI).
        width: input frame width in pixels.
        height: input frame height in pixels.
        size: (width, height) the frames are processed at, when resized; the mask follows
            (nearest neighbour). Default: the input size.

    Returns:
        (H, W) bool mask at the processed size, True inside; or None.

    Raises:
        RoiError: a malformed rectangle or one outside the frame, an unreadable, empty or
            wrongly sized mask file (the message names the file and both sizes).
    """
    if spec is None:
        return None
    if isinstance(spec, np.ndarray):
        if spec.shape != (height, width):
            raise RoiError(f"ROI mask is {spec.shape[1]}x{spec.shape[0]}, the frames are "
                           f"{width}x{height}")
        mask = spec.astype(bool)
    elif Path(spec).is_file():
        mask = _mask_file(Path(spec), width, height)
    elif "," in str(spec):
        mask = _rectangle(str(spec), width, height)
    else:
        raise RoiError(f"ROI {spec}: no such mask image file (or give x0,y0,x1,y1)")
    if size is not None and tuple(size) != (width, height):
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return mask


def roi_border(roi: np.ndarray, margin: int) -> np.ndarray:
    """ROI pixels within ``margin`` pixels (chessboard distance) of the outside of the ROI.

    The frame's own edge is left to the tracker's ``edge_margin`` test; this adds the
    ROI's inner border where it runs through the frame.

    Args:
        roi: (H, W) bool mask.
        margin: border width in pixels (0: no border).

    Returns:
        (H, W) bool.
    """
    if margin <= 0:
        return np.zeros(roi.shape, bool)
    inner = ndimage.binary_erosion(roi, np.ones((2 * margin + 1,) * 2, bool),
                                   border_value=1)
    return roi & ~inner
