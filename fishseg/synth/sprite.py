"""Sprites: small layered images (colour, opacity, hard mask, gloss) and pasting them.

A :class:`Sprite` is drawn once in its own coordinates (fish or occluder) and pasted into
every frame with an affine transform (rotation about its centre, then translation).
Pasting warps only the sprite's bounding box in the frame, so its cost scales with the
sprite, not the frame. The hard mask is warped with nearest-neighbour interpolation and is
exactly the set of pixels the label image receives; colour and opacity are warped
bilinearly, so edges in the image are anti-aliased while the label stays a hard shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Sprite:
    """One object drawn in its own frame of reference.

    Attributes:
        rgb: (h, w, 3) float32 colour in [0, 1], premultiplied by ``alpha``.
        alpha: (h, w) float32 opacity in [0, 1] (0 outside the object; fins may be < 1).
        mask: (h, w) uint8, 1 on the object's hard shape, else 0.
        gloss: (h, w) float32 specular strength in [0, 1] (wet, shiny surfaces),
            premultiplied by ``alpha``.
        height: how far the object stands above the belt, in pixels (sets its shadow).
        kind: what it is (a fish's palette: ``"cod"``, ``"plaice"``, ``"blind"`` for a
            flatfish's white blind side, ...; recorded in meta.json as the truth of how
            each fish looks).
        length: a fish's length along its centre curve, snout to tail tip, in pixels
            (its total length straightened: the truth for :mod:`fishseg.midline`); 0
            for other objects.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    mask: np.ndarray
    gloss: np.ndarray
    height: float
    kind: str = ""
    length: float = 0.0

    @property
    def center(self) -> tuple[float, float]:
        """(x, y) of the sprite centre in its own pixel coordinates."""
        h, w = self.mask.shape
        return (w - 1) / 2.0, (h - 1) / 2.0


@dataclass
class Canvas:
    """The frame being composed.

    Attributes:
        rgb: (H, W, 3) float32 colour in [0, 1].
        gloss: (H, W) float32 specular strength of the topmost surface.
        labels: (H, W) int32 instance ids (0 = belt or occluder).
    """

    rgb: np.ndarray
    gloss: np.ndarray
    labels: np.ndarray


def sprite_matrix(sprite: Sprite, x: float, y: float, angle_deg: float) -> np.ndarray:
    """Affine (2, 3) float64 matrix mapping sprite pixels to frame pixels.

    The sprite centre lands on frame point (x, y), rotated by ``angle_deg`` (counter-clockwise
    on screen).
    """
    cx, cy = sprite.center
    m = cv2.getRotationMatrix2D((cx, cy), angle_deg, 1.0)
    m[0, 2] += x - cx
    m[1, 2] += y - cy
    return m


def _roi(sprite: Sprite, m: np.ndarray, shape: tuple[int, int], pad: int):
    """Integer frame box (x0, y0, x1, y1) covering the warped sprite plus ``pad``, clipped."""
    h, w = sprite.mask.shape
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
    x0 = max(int(np.floor(corners[:, 0].min())) - pad, 0)
    y0 = max(int(np.floor(corners[:, 1].min())) - pad, 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + pad + 1, shape[1])
    y1 = min(int(np.ceil(corners[:, 1].max())) + pad + 1, shape[0])
    return x0, y0, x1, y1


def _warp(img: np.ndarray, m: np.ndarray, box, interp: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    mm = m.copy()
    mm[0, 2] -= x0
    mm[1, 2] -= y0
    return cv2.warpAffine(img, mm, (x1 - x0, y1 - y0), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def paste(canvas: Canvas, sprite: Sprite, m: np.ndarray, label: int,
          shadow: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> int:
    """Composite ``sprite`` over ``canvas`` in place (painter's order: later pastes win).

    First darkens the canvas by the sprite's soft shadow, then blends its colour by its
    opacity and writes ``label`` (0 for occluders) on its hard mask.

    Args:
        canvas: frame being composed; modified in place.
        sprite: the object.
        m: (2, 3) affine sprite->frame matrix (see :func:`sprite_matrix`).
        label: id written into ``canvas.labels`` on the sprite's hard mask.
        shadow: (dx, dy, strength): shadow offset per pixel of sprite height and darkness.

    Returns:
        Number of frame pixels given ``label`` (the sprite's visible hard area right now).
    """
    shape = canvas.labels.shape
    sdx, sdy, strength = shadow
    if strength > 0 and sprite.height > 0:
        off_x, off_y = sdx * sprite.height, sdy * sprite.height
        sigma = 0.6 + 0.5 * sprite.height
        pad = int(3 * sigma) + 2
        ms = m.copy()
        ms[0, 2] += off_x
        ms[1, 2] += off_y
        box = _roi(sprite, ms, shape, pad)
        if box[2] > box[0] and box[3] > box[1]:
            sh = _warp(sprite.alpha, ms, box, cv2.INTER_LINEAR)
            sh = cv2.GaussianBlur(sh, (0, 0), sigma)
            x0, y0, x1, y1 = box
            canvas.rgb[y0:y1, x0:x1] *= (1.0 - strength * sh)[..., None]
    box = _roi(sprite, m, shape, 1)
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return 0
    rgb = _warp(sprite.rgb, m, box, cv2.INTER_LINEAR)
    alpha = _warp(sprite.alpha, m, box, cv2.INTER_LINEAR)
    gloss = _warp(sprite.gloss, m, box, cv2.INTER_LINEAR)
    hard = _warp(sprite.mask, m, box, cv2.INTER_NEAREST).astype(bool)
    region = canvas.rgb[y0:y1, x0:x1]
    region *= (1.0 - alpha)[..., None]
    region += rgb
    g = canvas.gloss[y0:y1, x0:x1]
    g *= 1.0 - alpha
    g += gloss
    canvas.labels[y0:y1, x0:x1][hard] = label
    return int(hard.sum())
