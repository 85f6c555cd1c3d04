"""Fish sprites: outlines from a smooth centre curve, fins, colours and wet skin.

Seen from above on a belt, a roundfish lies on its side: we see its lateral profile, a
dark back and a pale belly (countershading), dorsal fins along the back, an anal fin
along the belly, a tail fin and a pectoral fin on the flank. A flatfish lies flat: an
oval body with a fringe of fin all round, a small tail, seen from its mottled eyed side
or its white blind side. Bodies may be bent (dead fish curl); the whole outline follows
the bent centre curve. Sizes are in pixels; the caller picks them.
"""

from __future__ import annotations

import cv2
import numpy as np

from fishseg.synth.noise import jitter_colour, smooth_noise, smoothstep
from fishseg.synth.sprite import Sprite

# (back, belly, pattern colour, pattern, mottling, gloss): RGB in [0, 1].
ROUND_PALETTES = {
    "silver": ((0.36, 0.43, 0.50), (0.86, 0.88, 0.90), (0.25, 0.30, 0.35), "none", 0.06, 0.85),
    "cod": ((0.45, 0.40, 0.26), (0.84, 0.82, 0.72), (0.30, 0.26, 0.16), "spots", 0.22, 0.45),
    "haddock": ((0.32, 0.33, 0.36), (0.86, 0.86, 0.86), (0.08, 0.08, 0.09), "blotch", 0.08, 0.6),
    "gurnard": ((0.72, 0.30, 0.22), (0.93, 0.78, 0.68), (0.55, 0.20, 0.15), "none", 0.12, 0.55),
    "mackerel": ((0.16, 0.36, 0.36), (0.88, 0.89, 0.88), (0.05, 0.10, 0.10), "stripes", 0.05, 0.8),
    "dogfish": ((0.55, 0.48, 0.38), (0.85, 0.80, 0.70), (0.25, 0.20, 0.15), "spots", 0.15, 0.3),
    "dark": ((0.22, 0.22, 0.24), (0.70, 0.68, 0.64), (0.12, 0.12, 0.12), "none", 0.18, 0.45),
}
FLAT_PALETTES = {
    "plaice": ((0.44, 0.38, 0.26), (0.44, 0.38, 0.26), (0.88, 0.45, 0.15), "spots", 0.25, 0.35),
    "dab": ((0.58, 0.50, 0.38), (0.58, 0.50, 0.38), (0.40, 0.33, 0.24), "spots", 0.35, 0.3),
    "sole": ((0.36, 0.29, 0.21), (0.36, 0.29, 0.21), (0.24, 0.19, 0.13), "none", 0.3, 0.3),
    "blind": ((0.90, 0.88, 0.84), (0.90, 0.88, 0.84), (0.80, 0.76, 0.74), "none", 0.05, 0.4),
}


def _centre(u: np.ndarray, length: float, b2: float, b3: float) -> np.ndarray:
    """Centre curve y(u) in pixels for u in [0, 1] (bend b2: C-shape, b3: S-shape)."""
    d = u - 0.5
    return length * (b2 * (d * d - 0.25) + b3 * d ** 3)


def _frame(u: np.ndarray, length: float, b2: float, b3: float):
    """Points (N, 2) on the centre curve and unit normals (N, 2) at parameters u (N,)."""
    x = u * length
    y = _centre(u, length, b2, b3)
    dy = length * (2 * b2 * (u - 0.5) + 3 * b3 * (u - 0.5) ** 2)
    t = np.stack([np.full_like(u, length), dy], 1)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    return np.stack([x, y], 1), np.stack([-t[:, 1], t[:, 0]], 1)


def _offset(u, s, length, b2, b3) -> np.ndarray:
    """Points (N, 2) at centre-curve parameter u (N,) and signed normal offset s (N,) px."""
    p, n = _frame(np.asarray(u, np.float64), length, b2, b3)
    return p + n * np.asarray(s, np.float64)[:, None]


def _fin(u0, u1, base, height, side, length, b2, b3, n=24, shape=(0.35, 0.9)):
    """Polygon (M, 2) of a fin on one edge: base half-width fn ``base(u)``, peak ``height``."""
    u = np.linspace(u0, u1, n)
    t = (u - u0) / (u1 - u0)
    prof = t ** shape[0] * (1 - t) ** shape[1]
    prof = height * prof / max(prof.max(), 1e-6)
    inner = _offset(u, side * 0.85 * base(u), length, b2, b3)
    outer = _offset(u, side * (base(u) + prof), length, b2, b3)
    return np.concatenate([inner, outer[::-1]])


def make_fish(rng: np.random.Generator, length: float, flat: bool) -> Sprite:
    """Draw one fish of about ``length`` pixels, nose to tail tip, pointing to +x.

    Args:
        rng: random generator (all choices: shape, bend, colours, textures).
        length: fish length in pixels (>= 8).
        flat: a flatfish (oval, fringe fins) instead of a roundfish.

    Returns:
        The fish as a :class:`~fishseg.synth.sprite.Sprite` (hard mask = body, fins, tail).
    """
    L = float(max(length, 8.0))
    side = float(rng.choice([-1.0, 1.0]))  # which edge is the back (dorsal side)
    if flat:
        depth = L * rng.uniform(0.42, 0.62)
        ub = rng.uniform(0.86, 0.9)
        a_exp, b_exp, ped = rng.uniform(0.55, 0.8), rng.uniform(0.6, 0.9), 0.12
        bend = rng.normal(0, 0.04), rng.normal(0, 0.03)
    else:
        depth = L * rng.uniform(0.14, 0.26)
        ub = rng.uniform(0.78, 0.86)
        a_exp, b_exp, ped = rng.uniform(0.35, 0.6), rng.uniform(0.9, 1.5), rng.uniform(0.1, 0.2)
        if rng.random() < 0.35:  # a curled fish
            bend = rng.normal(0, 0.35), rng.normal(0, 0.4)
        else:
            bend = rng.normal(0, 0.05), rng.normal(0, 0.05)
    b2, b3 = float(bend[0]), float(bend[1])
    half = depth / 2
    f_norm = (a_exp / (a_exp + b_exp)) ** a_exp * (b_exp / (a_exp + b_exp)) ** b_exp

    def width(u):
        u = np.asarray(u, np.float64)
        s = np.clip(u / ub, 0, 1)
        f = s ** a_exp * (1 - s) ** b_exp / f_norm
        blend = smoothstep(0.55, 1.0, s)
        w = half * ((1 - blend) * f + blend * np.maximum(f, ped))
        return np.where(u > ub, half * ped, w)

    # Outline polygons (local coordinates: x along the fish, y across).
    u = np.linspace(0, ub, 96)
    body = np.concatenate([_offset(u, width(u), L, b2, b3), _offset(u[::-1], -width(u[::-1]), L, b2, b3)])
    span = half * (rng.uniform(0.3, 0.5) if flat else rng.uniform(0.7, 1.25))
    fork = rng.uniform(0.0, 0.1) if not flat else rng.uniform(-0.03, 0.02)
    tu = np.array([ub - 0.01, ub + 0.4 * (1 - ub), 1.0, 1.0 - fork, 1.0, ub + 0.4 * (1 - ub), ub - 0.01])
    ts = np.array([ped * half, 0.55 * span, span, 0.0, -span, -0.55 * span, -ped * half])
    tail = _offset(tu, ts, L, b2, b3)
    fins = []
    if flat:
        h = depth * rng.uniform(0.07, 0.12)
        fins.append(_fin(0.06, ub - 0.02, width, h, 1, L, b2, b3, 48, (0.15, 0.25)))
        fins.append(_fin(0.22, ub - 0.02, width, h, -1, L, b2, b3, 40, (0.15, 0.25)))
    else:
        n_dorsal = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
        edges = np.linspace(0.28, 0.78, n_dorsal + 1)
        for i in range(n_dorsal):
            fins.append(_fin(edges[i] + 0.01, edges[i + 1] - 0.02, width,
                             half * rng.uniform(0.25, 0.6), side, L, b2, b3))
        fins.append(_fin(rng.uniform(0.5, 0.6), 0.76, width, half * rng.uniform(0.2, 0.4),
                         -side, L, b2, b3))
    pts = np.concatenate([body, tail] + fins)
    pad = 3
    lo = pts.min(0) - pad
    size = np.ceil(pts.max(0) - lo + pad).astype(int) + 1
    w_s, h_s = int(size[0]), int(size[1])

    def raster(poly, img, val=1):
        q = np.round((poly - lo) * 16).astype(np.int32)
        cv2.fillPoly(img, [q], val, lineType=cv2.LINE_8, shift=4)

    body_m = np.zeros((h_s, w_s), np.uint8)
    raster(body, body_m)
    fin_m = np.zeros_like(body_m)
    raster(tail, fin_m)
    for f in fins:
        raster(f, fin_m)
    fin_only = (fin_m > 0) & (body_m == 0)
    mask = ((body_m > 0) | fin_only).astype(np.uint8)

    # Per-pixel body coordinates: u along the fish, v across (-1 belly .. +1 back).
    yy, xx = np.mgrid[0:h_s, 0:w_s].astype(np.float32)
    xl, yl = xx + lo[0], yy + lo[1]
    uu = np.clip(xl / L, 0, 1)
    cy = _centre(uu, L, b2, b3).astype(np.float32)
    wu = np.maximum(width(np.minimum(uu, ub)), 1.0).astype(np.float32)
    v = (yl - cy) / wu * side
    vc = np.clip(v, -1.0, 1.0)

    pal = FLAT_PALETTES if flat else ROUND_PALETTES
    names = list(pal)
    if flat:
        name = rng.choice(names, p=[0.35, 0.25, 0.15, 0.25])
    else:
        name = rng.choice(names)
    back, belly, pcol, pattern, mottle, gloss_lvl = pal[name]
    back, belly, pcol = (jitter_colour(rng, c, 0.12) for c in (back, belly, pcol))
    t = smoothstep(-0.35, 0.6, vc)[..., None] if not flat else 0.5
    rgb = belly * (1 - t) + back * t
    # Mottling at two scales, scale-like fine texture and stronger variation on the back.
    m = smooth_noise(rng, (h_s, w_s), max(depth / 5, 2)) * mottle
    m += smooth_noise(rng, (h_s, w_s), max(depth / 16, 1.5)) * mottle * 0.5
    fine = smooth_noise(rng, (h_s, w_s), 1.2) * 0.04
    rgb = rgb * (1 + (m * (0.4 + 0.6 * (t if flat else t[..., 0])))[..., None] + fine[..., None])
    if pattern == "spots":
        spots = np.zeros((h_s, w_s), np.float32)
        n_spots = int(rng.integers(6, 25) if flat else rng.integers(15, 60))
        for _ in range(n_spots):
            su, sv = rng.uniform(0.1, ub - 0.05), rng.uniform(-0.8, 0.9)
            p = _offset([su], [side * sv * float(width(su))], L, b2, b3)[0] - lo
            r = max(1, int(L * rng.uniform(0.008, 0.03 if flat else 0.012)))
            cv2.circle(spots, (int(p[0]), int(p[1])), r, 1.0, -1, cv2.LINE_AA)
        spots = cv2.GaussianBlur(spots, (0, 0), 0.8) * (1.0 if flat else smoothstep(-0.3, 0.5, vc))
        rgb = rgb * (1 - spots[..., None] * 0.85) + pcol * spots[..., None] * 0.85
    elif pattern == "stripes":
        k = rng.uniform(10, 16)
        wave = np.sin(2 * np.pi * (uu * k + 0.25 * np.sin(vc * 4 + uu * 7)))
        bars = smoothstep(0.2, 0.6, wave) * smoothstep(0.1, 0.45, vc) * smoothstep(0.05, 0.2, uu)
        rgb = rgb * (1 - 0.75 * bars[..., None]) + pcol * 0.75 * bars[..., None]
    elif pattern == "blotch":
        p = _offset([0.3], [side * 0.25 * float(width(0.3))], L, b2, b3)[0] - lo
        cv2.circle(rgb, (int(p[0]), int(p[1])), max(1, int(depth * 0.12)), tuple(map(float, pcol)), -1, cv2.LINE_AA)
    if not flat:
        # Lateral line and gill cover.
        lat = np.exp(-((vc - 0.3 + 0.15 * uu) / max(1.2 / half, 0.04)) ** 2) * smoothstep(0.15, 0.25, uu)
        lat_col = 0.9 if name in ("cod", "dogfish") else 0.55
        rgb = rgb * (1 - 0.5 * lat[..., None]) + lat_col * 0.5 * lat[..., None] * rgb.mean(-1, keepdims=True) * 1.6
        ug = rng.uniform(0.17, 0.24)
        gill = np.exp(-((uu - ug + 0.05 * vc ** 2) * L / max(L * 0.006, 0.7)) ** 2) * (np.abs(vc) < 0.85)
        rgb *= (1 - 0.35 * gill)[..., None]
        rgb *= (0.62 + 0.38 * np.sqrt(np.clip(1 - vc ** 2, 0, 1)))[..., None]  # rounded flank
    else:
        rgb *= (0.85 + 0.15 * np.sqrt(np.clip(1 - vc ** 2, 0, 1)))[..., None]
    # Fins and tail: darker or translucent, with rays.
    rays = 0.9 + 0.1 * np.sin(uu * L / max(L * 0.012, 1.2))
    fin_col = (back * 0.75 + np.float32(0.08)) if name != "blind" else back * 0.95
    fin_rgb = np.broadcast_to(fin_col, rgb.shape) * rays[..., None]
    rgb = np.where(fin_only[..., None], fin_rgb, rgb)
    # Pectoral fin on the flank behind the gill (roundfish only).
    if not flat:
        pu = ug + 0.02
        poly = np.concatenate([_offset(np.linspace(pu, pu + 0.12, 10), side * np.linspace(-0.1, -0.25, 10) * half, L, b2, b3),
                               _offset(np.linspace(pu + 0.12, pu, 10), side * np.linspace(-0.45, -0.2, 10) * half, L, b2, b3)])
        pm = np.zeros((h_s, w_s), np.float32)
        cv2.fillPoly(pm, [np.round((poly - lo) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        rgb = rgb * (1 - 0.5 * pm[..., None]) + fin_col * 0.5 * pm[..., None]
    # Eyes.
    if name != "blind":
        eyes = [(rng.uniform(0.05, 0.09), 0.3)] if not flat else [(0.12, 0.3), (0.1, -0.05)]
        r = max(1.0, L * (rng.uniform(0.018, 0.03) if not flat else 0.018))
        for eu, ev in eyes:
            p = _offset([eu], [side * ev * float(width(eu))], L, b2, b3)[0] - lo
            c = (int(round(p[0] * 16)), int(round(p[1] * 16)))
            iris = (0.75, 0.7, 0.5) if rng.random() < 0.5 else (0.8, 0.8, 0.78)
            cv2.circle(rgb, c, int(r * 16), iris, -1, cv2.LINE_AA, 4)
            cv2.circle(rgb, c, int(r * 0.65 * 16), (0.03, 0.03, 0.03), -1, cv2.LINE_AA, 4)
    rgb = np.clip(rgb * mask[..., None], 0, 1).astype(np.float32)

    # Opacity: fins are thin and partly translucent.
    alpha = mask.astype(np.float32)
    alpha[fin_only] = rng.uniform(0.7, 0.92)
    # Wet sheen: a broken band along the upper flank plus scattered glints.
    band = np.exp(-((vc - rng.uniform(-0.1, 0.4)) / 0.35) ** 2)
    patchy = smoothstep(-0.3, 1.2, smooth_noise(rng, (h_s, w_s), max(depth / 8, 1.5)))
    glints = smoothstep(1.8, 2.8, smooth_noise(rng, (h_s, w_s), 1.5))
    gloss = gloss_lvl * (0.7 * band * patchy + 0.6 * glints) * (body_m > 0)
    gloss = np.clip(gloss, 0, 1).astype(np.float32)
    thickness = depth * (0.08 if flat else 0.25)
    uu = np.linspace(0.0, 1.0, 1001)
    arc = float(np.sum(np.hypot(np.diff(uu * L), np.diff(_centre(uu, L, b2, b3)))))
    return Sprite(rgb=rgb * alpha[..., None], alpha=alpha, mask=mask, gloss=gloss * alpha,
                  height=float(max(thickness, 1.0)), kind=str(name), length=arc)
