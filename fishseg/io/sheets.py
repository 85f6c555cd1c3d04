"""Contact sheets: small pictures in a grid, each with a caption (picked frames, fish)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np


def contact_sheet(thumbs: Sequence[np.ndarray], captions: Sequence[str], *,
                  columns: int = 6) -> np.ndarray:
    """Thumbnails in a grid, each with its caption.

    Args:
        thumbs: (h_i, w_i, 3) uint8 RGB images, of one size or not (frames of videos
            of other shapes): each is centred in a cell of the largest height and width,
            on the sheet's dark grey, with its caption along the cell's bottom.
        captions: one line of text per thumbnail.
        columns: thumbnails per row.

    Returns:
        (rows * (h + 4), columns * (w + 4), 3) uint8 RGB; h, w the largest thumbnail
        height and width.
    """
    from fishseg.io.export import _text

    h = max(im.shape[0] for im in thumbs)
    w = max(im.shape[1] for im in thumbs)
    cols = min(columns, len(thumbs))
    rows = math.ceil(len(thumbs) / cols)
    sheet = np.full((rows * (h + 4), cols * (w + 4), 3), 32, np.uint8)
    for k, (im, cap) in enumerate(zip(thumbs, captions)):
        tile = np.full((h, w, 3), 32, np.uint8)
        ih, iw = im.shape[:2]
        ty, tx = (h - ih) // 2, (w - iw) // 2
        tile[ty:ty + ih, tx:tx + iw] = im
        _text(tile, cap, (4, h - 6), 0.4)
        y, x = (k // cols) * (h + 4) + 2, (k % cols) * (w + 4) + 2
        sheet[y:y + h, x:x + w] = tile
    return sheet


def fit_tile(img: np.ndarray, size: int) -> np.ndarray:
    """``img`` scaled to fit a ``size`` x ``size`` tile, centred on dark grey."""
    h, w = img.shape[:2]
    f = size / max(h, w)
    small = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    tile = np.full((size, size, 3), 48, np.uint8)
    y, x = (size - small.shape[0]) // 2, (size - small.shape[1]) // 2
    tile[y:y + small.shape[0], x:x + small.shape[1]] = small
    return tile
