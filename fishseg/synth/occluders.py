"""Occluders: a gloved hand or a tool reaching over the belt. They are not fish.

An occluder is a :class:`~fishseg.synth.sprite.Sprite` pointing to +x whose far end (arm,
sleeve or handle) is long enough to stay outside the frame while its tip is inside. It is
pasted with label 0, so it hides the fish beneath it in the masks as well as in the image.
:class:`OccluderTrack` moves it in from a frame edge, lets it hover and pulls it back out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fishseg.synth.noise import jitter_colour, smooth_noise
from fishseg.synth.sprite import Sprite

GLOVES = ((0.85, 0.40, 0.10), (0.90, 0.75, 0.15), (0.15, 0.35, 0.65), (0.20, 0.45, 0.25),
          (0.12, 0.12, 0.13), (0.85, 0.85, 0.80))
SLEEVES = ((0.90, 0.55, 0.10), (0.85, 0.80, 0.20), (0.20, 0.25, 0.35), (0.70, 0.15, 0.10))
HANDLES = ((0.55, 0.38, 0.20), (0.65, 0.66, 0.68), (0.15, 0.30, 0.70), (0.75, 0.15, 0.12))


def _finish(rng, col_img: np.ndarray, mask: np.ndarray, gloss: float, height: float) -> Sprite:
    """Shade a flat-coloured drawing (rubber folds, dirt) and pack it as a premultiplied sprite."""
    h, w = mask.shape
    shade = 1 + 0.12 * smooth_noise(rng, (h, w), max(min(h, w) / 8, 2))
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    rim = np.clip(dist / max(float(dist.max()) * 0.5, 1.0), 0, 1)
    shade *= 0.7 + 0.3 * np.sqrt(rim)
    alpha = mask.astype(np.float32)
    rgb = np.clip(col_img * shade[..., None], 0, 1) * alpha[..., None]
    g = (gloss * rim * (smooth_noise(rng, (h, w), max(min(h, w) / 10, 2)) > 0.8)).astype(np.float32)
    return Sprite(rgb=rgb.astype(np.float32), alpha=alpha, mask=mask, gloss=g * alpha, height=height)


def make_hand(rng: np.random.Generator, size: float, reach: float) -> tuple[Sprite, np.ndarray]:
    """A gloved hand (fingers towards +x) on a sleeved arm ``reach`` pixels long.

    Args:
        rng: random generator.
        size: hand length in pixels (palm plus fingers).
        reach: arm length in pixels behind the palm.

    Returns:
        (sprite, tip): the sprite and (2,) float64 offset of the fingertips from its centre.
    """
    s = float(size)
    w_img, h_img = int(reach + 1.2 * s), int(1.3 * s) + 4
    ox, oy = reach, h_img / 2  # palm centre
    mask = np.zeros((h_img, w_img), np.uint8)
    col = np.zeros((h_img, w_img, 3), np.float32)
    glove = tuple(map(float, jitter_colour(rng, GLOVES[rng.integers(len(GLOVES))], 0.1)))
    sleeve = tuple(map(float, jitter_colour(rng, SLEEVES[rng.integers(len(SLEEVES))], 0.1)))
    # Sleeve, then palm, fingers (slightly curled and spread) and thumb.
    sw = 0.42 * s
    cv2.rectangle(col, (0, int(oy - sw)), (int(ox - 0.2 * s), int(oy + sw)), sleeve, -1)
    cv2.rectangle(mask, (0, int(oy - sw)), (int(ox - 0.2 * s), int(oy + sw)), 1, -1)
    parts = [((int(ox), int(oy)), (int(0.32 * s), int(0.3 * s)), 0.0)]
    spread = rng.uniform(0.0, 0.25)
    for i, dy in enumerate((-0.21, -0.07, 0.07, 0.21)):
        ang = (dy * spread * 4)
        ln = s * (0.5 + 0.08 * (i in (1, 2))) * rng.uniform(0.75, 1.0)
        x1, y1 = ox + 0.25 * s, oy + dy * s
        x2, y2 = x1 + ln * np.cos(ang), y1 + ln * np.sin(ang)
        for img, val in ((col, glove), (mask, 1)):
            cv2.line(img, (int(x1), int(y1)), (int(x2), int(y2)), val, max(2, int(0.13 * s)), cv2.LINE_8)
    th = rng.choice([-1, 1])
    for img, val in ((col, glove), (mask, 1)):
        cv2.ellipse(img, parts[0][0], parts[0][1], 0, 0, 360, val, -1, cv2.LINE_8)
        cv2.line(img, (int(ox), int(oy + th * 0.2 * s)), (int(ox + 0.35 * s), int(oy + th * 0.48 * s)),
                 val, max(2, int(0.14 * s)), cv2.LINE_8)
    sprite = _finish(rng, col, mask, 0.6, height=0.35 * s)
    tip = np.array([ox + 0.8 * s, oy]) - np.array(sprite.center)
    return sprite, tip


def make_tool(rng: np.random.Generator, size: float, reach: float) -> tuple[Sprite, np.ndarray]:
    """A shovel, rake or hook (head towards +x) on a handle ``reach`` pixels long.

    Returns:
        (sprite, tip): the sprite and (2,) float64 offset of the head's tip from its centre.
    """
    s = float(size)
    w_img, h_img = int(reach + s) + 4, int(s) + 4
    oy = h_img / 2
    mask = np.zeros((h_img, w_img), np.uint8)
    col = np.zeros((h_img, w_img, 3), np.float32)
    handle = tuple(map(float, jitter_colour(rng, HANDLES[rng.integers(len(HANDLES))], 0.1)))
    metal = tuple(map(float, jitter_colour(rng, (0.62, 0.64, 0.66), 0.1)))
    hw = max(2, int(0.07 * s))
    kind = rng.choice(["shovel", "rake", "hook"])
    for img, val in ((col, handle), (mask, 1)):
        cv2.line(img, (0, int(oy)), (int(reach), int(oy)), val, hw, cv2.LINE_8)
    x0 = reach
    if kind == "shovel":
        poly = np.array([[x0, oy - 0.15 * s], [x0 + 0.9 * s, oy - 0.45 * s],
                         [x0 + 0.95 * s, oy + 0.45 * s], [x0, oy + 0.15 * s]], np.int32)
        for img, val in ((col, metal), (mask, 1)):
            cv2.fillPoly(img, [poly], val)
        tip_x = x0 + 0.95 * s
    elif kind == "rake":
        for img, val in ((col, metal), (mask, 1)):
            cv2.line(img, (int(x0), int(oy - 0.45 * s)), (int(x0), int(oy + 0.45 * s)), val, hw)
            for ty in np.linspace(-0.42, 0.42, 7):
                cv2.line(img, (int(x0), int(oy + ty * s)), (int(x0 + 0.3 * s), int(oy + ty * s)), val, max(2, hw // 2))
        tip_x = x0 + 0.3 * s
    else:
        for img, val in ((col, metal), (mask, 1)):
            cv2.ellipse(img, (int(x0 + 0.2 * s), int(oy - 0.2 * s)), (int(0.2 * s), int(0.2 * s)),
                        0, -90, 200, val, max(2, hw // 2))
        tip_x = x0 + 0.4 * s
    sprite = _finish(rng, col, mask, 0.8, height=0.3 * s)
    tip = np.array([tip_x, oy]) - np.array(sprite.center)
    return sprite, tip


@dataclass(frozen=True)
class OccluderTrack:
    """An occluder's visit: it enters at ``start``, stays ``duration`` frames, then is gone.

    Attributes:
        sprite: the hand or tool.
        tip: (2,) float64 offset of its tip from the sprite centre (sprite pixels).
        start: first frame of the visit.
        duration: frames of the visit.
        enter: (2,) float64 frame point outside the view where the tip starts and ends.
        target: (2,) float64 frame point the tip reaches (and wanders around).
        angle: rotation in degrees (counter-clockwise) pointing the sprite along its path.
    """

    sprite: Sprite
    tip: np.ndarray
    start: int
    duration: int
    enter: np.ndarray
    target: np.ndarray
    angle: float

    def pose(self, t: int) -> tuple[float, float, float] | None:
        """(x, y, angle) of the sprite centre at frame ``t``, or None when not in the visit."""
        k = t - self.start
        if k < 0 or k >= self.duration:
            return None
        p = k / max(self.duration - 1, 1)
        reach = min(1.0, p / 0.3, (1 - p) / 0.3)
        reach = reach * reach * (3 - 2 * reach)
        wob = 0.03 * np.sin(k * 0.4) * np.linalg.norm(self.target - self.enter)
        tip = self.enter + reach * (self.target - self.enter)
        a = np.deg2rad(self.angle)
        tip = tip + wob * np.array([np.sin(a), np.cos(a)])
        rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        c = tip - rot @ self.tip
        return float(c[0]), float(c[1]), self.angle
