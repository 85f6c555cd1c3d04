"""The conveyor belt: a long textured strip that slides through the view, and static side rails.

The belt runs left to right (+x). Its texture is drawn once, long enough for the whole
video (view width plus the distance travelled), and each frame is a sub-pixel crop of it.
Belts differ in colour (grey, green, blue, dark rubber, pale PVC) and build: plain rubber,
ribbed (cleats across the belt), slatted (steel or plastic slats with dark gaps) or modular
plastic (a brick pattern of modules). All carry grime, wear streaks along the running
direction, splice seams, wet patches, scales and small bits of debris (not fish).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fishseg.synth.noise import fractal_noise, jitter_colour, smooth_noise, smoothstep

BELT_COLOURS = {
    "grey": (0.50, 0.51, 0.52),
    "dark rubber": (0.17, 0.17, 0.18),
    "green": (0.26, 0.44, 0.33),
    "blue": (0.22, 0.36, 0.55),
    "pale": (0.72, 0.73, 0.71),
    "steel": (0.45, 0.47, 0.50),
}
BUILDS = ("plain", "ribbed", "slatted", "modular")


@dataclass(frozen=True)
class Belt:
    """A belt texture and the static parts of the view.

    Attributes:
        texture: (H, Wt, 3) float32 RGB in [0, 1], Wt >= W; the frame at offset o shows
            columns [Wt - W - o, Wt - o) so the belt content moves to +x as o grows.
        rail_alpha: (H, W) float32 cover of static side rails / guards (1 = rail).
        rail_rgb: (H, W, 3) float32 colour of the rails.
        y_range: (top, bottom) rows between which fish centres may lie.
    """

    texture: np.ndarray
    rail_alpha: np.ndarray
    rail_rgb: np.ndarray
    y_range: tuple[float, float]


def _profile(x: np.ndarray, period: float, build: str, rng: np.random.Generator) -> np.ndarray:
    """Brightness multiplier (Wt,) across the running direction for ribs, slats or module joints."""
    ph = (x / period) % 1.0
    if build == "ribbed":
        w = rng.uniform(0.08, 0.2)
        rib = smoothstep(0, w * 0.3, ph) * (1 - smoothstep(w * 0.7, w, ph))
        return 1 + 0.25 * rib * (ph < w * 0.5) - 0.25 * rib * (ph >= w * 0.5) + 0.1 * rib
    gap = rng.uniform(0.03, 0.08)
    dark = 1 - smoothstep(0, gap, ph) * (1 - smoothstep(1 - gap * 0.5, 1, ph))
    return 1 - 0.65 * dark + 0.06 * np.cos(2 * np.pi * ph)


def make_belt(rng: np.random.Generator, width: int, height: int, travel: float) -> Belt:
    """Draw a random belt for a view of ``width`` x ``height`` pixels.

    Args:
        rng: random generator.
        width, height: frame size in pixels.
        travel: how far (pixels) the belt moves during the video (0 for a still).

    Returns:
        The :class:`Belt`.
    """
    wt = width + int(np.ceil(travel)) + 4
    shape = (height, wt)
    colour_name = rng.choice(list(BELT_COLOURS))
    base = jitter_colour(rng, BELT_COLOURS[colour_name], 0.15)
    build = rng.choice(BUILDS, p=[0.3, 0.25, 0.25, 0.2])
    x = np.arange(wt, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)
    tex = np.empty((height, wt, 3), np.float32)
    tex[:] = base
    shade = np.ones(shape, np.float32)
    period = width * rng.uniform(0.03, 0.12)
    if build != "plain":
        shade *= _profile(x, period, build, rng)[None, :]
    if build == "modular":
        rows = height * rng.uniform(0.08, 0.2)
        row_i = np.floor(y / rows).astype(int)
        stagger = (row_i % 2) * period / 2
        ph = ((x[None, :] + stagger[:, None]) / period) % 1.0
        shade = 1 - 0.45 * (1 - smoothstep(0, 0.05, ph) * (1 - smoothstep(0.97, 1, ph)))
        ry = (y / rows) % 1.0
        shade *= (1 - 0.4 * (1 - smoothstep(0, 0.04, ry)))[:, None]
        # hinge holes
        shade *= 1 - 0.3 * (np.abs(((x[None, :] + stagger[:, None]) % (period / 3)) - period / 6) < period * 0.02) * (ry < 0.1)[:, None]
    # Grime, wear streaks along the running direction, and low-frequency dirt stains.
    grime = fractal_noise(rng, shape, (3, 12, 60), (0.5, 0.6, 1.0))
    shade *= 1 + rng.uniform(0.06, 0.14) * grime
    wear = smooth_noise(rng, shape, rng.uniform(2, 6), aspect=rng.uniform(30, 80))
    shade *= 1 + rng.uniform(0.03, 0.1) * wear
    tex *= shade[..., None]
    dirt_col = jitter_colour(rng, (0.32, 0.27, 0.18), 0.2)
    stain = smoothstep(0.3, 2.5, smooth_noise(rng, shape, width * rng.uniform(0.03, 0.1)))
    stain *= rng.uniform(0.1, 0.35)
    tex = tex * (1 - stain[..., None]) + dirt_col * stain[..., None] * shade[..., None]
    # Splice seams across the belt (a darker strip with a row of clips).
    n_seams = rng.poisson(wt / (width * 1.5))
    for _ in range(n_seams):
        sx = rng.uniform(0, wt)
        tilt = rng.uniform(-0.3, 0.3)
        xs = sx + tilt * (y - height / 2)
        d = np.abs(x[None, :] - xs[:, None])
        tex *= (1 - 0.25 * (d < width * 0.004))[..., None]
        clip_col = (0.6, 0.6, 0.62)
        for cy in np.arange(rng.uniform(0, 20), height, rng.uniform(12, 30)):
            cx = sx + tilt * (cy - height / 2)
            cv2.circle(tex, (int(cx), int(cy)), max(1, width // 500), clip_col, -1, cv2.LINE_AA)
    # Wet patches (darker, slightly glossy) and fish scales / specks of debris.
    wet = smoothstep(0.5, 1.5, smooth_noise(rng, shape, width * 0.05))
    tex *= (1 - 0.25 * wet)[..., None]
    n_bits = rng.poisson(wt * height / 4000)
    if n_bits:
        bx = rng.uniform(0, wt, n_bits).astype(int)
        by = rng.uniform(0, height, n_bits).astype(int)
        kind = rng.random(n_bits)
        for i in range(n_bits):
            if kind[i] < 0.6:  # scale glint
                col = (0.85, 0.87, 0.9)
                r = 1
            else:  # weed, shell grit, shrimp bits
                col = tuple(float(c) for c in jitter_colour(rng, (0.45, 0.35, 0.25), 0.4))
                r = int(rng.integers(1, max(2, width // 250)))
            cv2.ellipse(tex, (int(bx[i]), int(by[i])), (r + int(rng.integers(0, 3)), r),
                        float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
    tex = np.clip(tex, 0, 1)

    # Static side rails (steel guards or painted boards) at the top and/or bottom.
    rail_alpha = np.zeros((height, width), np.float32)
    rail_rgb = np.zeros((height, width, 3), np.float32)
    top, bottom = 0.0, float(height)
    rail_col = jitter_colour(rng, rng.choice([(0.6, 0.62, 0.64), (0.3, 0.32, 0.35), (0.55, 0.5, 0.2), (0.2, 0.35, 0.5)]), 0.1)
    rail_tex = (1 + 0.08 * fractal_noise(rng, (height, width), (2, 20), aspect=4))[..., None] * rail_col
    for edge in ("top", "bottom"):
        if rng.random() < 0.45:
            depth = height * rng.uniform(0.03, 0.1)
            slope = rng.uniform(-0.03, 0.03)
            edge_y = depth + slope * (np.arange(width) - width / 2)
            rows = np.arange(height, dtype=np.float32)[:, None]
            if edge == "top":
                a = np.clip(edge_y[None, :] - rows + 0.5, 0, 1)
                top = float(depth)
            else:
                a = np.clip(rows - (height - edge_y[None, :]) + 0.5, 0, 1)
                bottom = float(height - depth)
            lip = np.exp(-((rows - (edge_y[None, :] if edge == "top" else height - edge_y[None, :])) / 2.0) ** 2)
            rail_alpha = np.maximum(rail_alpha, a)
            rail_rgb += (a * (1 + 0.4 * lip))[..., None] * rail_tex
    rail_rgb = np.clip(rail_rgb, 0, 1).astype(np.float32)
    return Belt(texture=tex.astype(np.float32), rail_alpha=rail_alpha.astype(np.float32),
                rail_rgb=rail_rgb, y_range=(top, bottom))


def belt_view(belt: Belt, offset: float, width: int) -> np.ndarray:
    """The belt as seen in the frame after it moved ``offset`` pixels to +x.

    Returns:
        (H, W) -> (H, width, 3) float32 RGB, a new array (bilinear sub-pixel shift).
    """
    wt = belt.texture.shape[1]
    start = wt - width - 2 - offset
    m = np.array([[1, 0, start], [0, 1, 0]], np.float64)
    return cv2.warpAffine(belt.texture, m, (width, belt.texture.shape[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
