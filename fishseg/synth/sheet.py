"""Contact sheets: frames next to their coloured masks, to judge the generator by eye.

Run ``python -m fishseg.synth.sheet`` to rebuild ``docs/synth_contact_sheet.png`` (six
frames of a 720p video, seed 1) and ``docs/synth_stills_sheet.png`` (six stills, seed 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def colour_labels(labels: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
    """Colour instance ids (a stable colour per id), optionally over a dimmed image.

    Args:
        labels: (H, W) integer ids, 0 = background.
        image: optional (H, W, 3) uint8 RGB shown dimmed under the colours.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    ids = labels.astype(np.int64)
    hue = (ids * 47) % 180
    hsv = np.stack([hue, np.full_like(hue, 200), np.full_like(hue, 255)], -1).astype(np.uint8)
    col = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    bg = (image // 3) if image is not None else np.zeros_like(col)
    out = np.where((ids > 0)[..., None], col, bg)
    # Thin dark boundaries between different ids make touching fish visible.
    edge = np.zeros(ids.shape, bool)
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[1:, :] |= ids[1:, :] != ids[:-1, :]
    out[edge & (ids > 0)] = 0
    return out.astype(np.uint8)


def contact_sheet(images: np.ndarray, labels: np.ndarray, cols: int = 2, tile_width: int = 640) -> np.ndarray:
    """A grid of (frame | coloured mask) pairs.

    Args:
        images: (N, H, W, 3) uint8 RGB.
        labels: (N, H, W) integer ids.
        cols: pairs per row.
        tile_width: width of each frame tile in pixels.

    Returns:
        (rows * th, cols * 2 * tile_width, 3) uint8 RGB sheet.
    """
    n, h, w, _ = images.shape
    th = int(round(h * tile_width / w))
    rows = -(-n // cols)
    sheet = np.full((rows * th, cols * 2 * tile_width, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        img = cv2.resize(images[i], (tile_width, th), interpolation=cv2.INTER_AREA)
        lab = cv2.resize(labels[i].astype(np.int32), (tile_width, th), interpolation=cv2.INTER_NEAREST)
        y, x = r * th, c * 2 * tile_width
        sheet[y:y + th, x:x + tile_width] = img
        sheet[y:y + th, x + tile_width:x + 2 * tile_width] = colour_labels(lab, img)
        sheet[y:y + th, x + 2 * tile_width - 2:x + 2 * tile_width] = 255
    return sheet


def main(argv=None) -> None:
    """Rebuild the contact sheets in ``docs/``."""
    from fishseg.synth.render import render_frames

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs", help="folder for the sheets")
    ap.add_argument("--frames", type=int, default=60, help="video length to sample from")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = render_frames(args.frames, seed=1)
    pick = np.linspace(0, args.frames - 1, 6).round().astype(int)
    sheet = contact_sheet(images[pick], labels[pick])
    cv2.imwrite(str(out / "synth_contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    images, labels = render_frames(6, seed=2, stills=True)
    sheet = contact_sheet(images, labels)
    cv2.imwrite(str(out / "synth_stills_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
