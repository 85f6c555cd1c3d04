"""A cheap CCTV camera under fluorescent tubes: light, highlights, flicker, blur and noise.

:func:`make_camera` draws the fixed properties of one installation (uneven lighting with
tube hot spots and vignetting, white balance, contrast, lens softness, flicker and
rolling-shutter banding, sensor noise level, an optional timestamp overlay);
:func:`expose` turns one composed scene frame (linear colour plus a gloss map) into the
8-bit RGB image the sensor delivers, before compression.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import cv2
import numpy as np

from fishseg.synth.noise import smooth_noise


@dataclass(frozen=True)
class Camera:
    """Fixed properties of one camera installation.

    Attributes:
        light: (H, W) float32 illumination multiplier (tube hot spots, vignetting).
        white: (3,) float32 RGB gains (fluorescent colour cast).
        gamma: tone curve exponent applied to [0, 1] values.
        contrast: gain around mid grey after the tone curve.
        highlight: strength of specular highlights on wet surfaces.
        flicker: relative amplitude of the global brightness oscillation.
        flicker_freq: oscillation frequency, cycles per frame (aliased 100/120 Hz).
        flicker_phase: phase of the oscillation, radians.
        band_amp: amplitude of the rolling-shutter bands.
        band_period: vertical period of the bands in pixels.
        band_speed: drift of the bands per frame, fraction of a period.
        blur_px: motion blur length along x, pixels (0 = none).
        lens_sigma: Gaussian lens softness, pixels.
        noise_sigma: sensor noise std, grey levels.
        stamp: timestamp overlay origin (x, y) and text scale, or None.
        start: timestamp of frame 0.
        fps: frame rate (advances the timestamp).
    """

    light: np.ndarray
    white: np.ndarray
    gamma: float
    contrast: float
    highlight: float
    flicker: float
    flicker_freq: float
    flicker_phase: float
    band_amp: float
    band_period: float
    band_speed: float
    blur_px: float
    lens_sigma: float
    noise_sigma: float
    stamp: tuple[int, int, float] | None
    start: datetime.datetime
    fps: float


def make_camera(rng: np.random.Generator, cfg, width: int, height: int, belt_px: float) -> Camera:
    """Draw a random camera installation.

    Args:
        rng: random generator.
        cfg: :class:`fishseg.config.SynthConfig` (flicker, noise_sigma, motion_blur,
            highlight_strength, fps).
        width, height: frame size in pixels.
        belt_px: belt speed in pixels per frame (sets the motion blur length).
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # Fluorescent tubes above the belt: elongated bright ridges plus a smooth falloff.
    light = np.full((height, width), rng.uniform(0.75, 1.0), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        ang = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(-0.2, 1.2) * width, rng.uniform(-0.2, 1.2) * height
        d = np.abs(np.cos(ang) * (yy - cy) - np.sin(ang) * (xx - cx)) / max(width, height)
        light += rng.uniform(0.1, 0.35) * np.exp(-((d / rng.uniform(0.15, 0.4)) ** 2))
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
    light *= 1 - rng.uniform(0.1, 0.35) * r2 / 2
    light *= 1 + 0.06 * smooth_noise(rng, (height, width), max(width, height) / 4)
    white = np.array([rng.uniform(0.88, 1.05), rng.uniform(0.97, 1.08), rng.uniform(0.85, 1.1)], np.float32)
    exposure = rng.uniform(0.15, 0.6)
    stamp = None
    if rng.random() < 0.6:
        scale = max(height / 720 * rng.uniform(0.6, 0.9), 0.3)
        stamp = (int(width * 0.02), int(height * 0.06), float(scale))
    start = datetime.datetime(2014, 1, 1) + datetime.timedelta(seconds=int(rng.integers(0, 3 * 365 * 86400)))
    return Camera(
        light=np.clip(light, 0.2, 1.6),
        white=white,
        gamma=float(rng.uniform(0.8, 1.1)),
        contrast=float(rng.uniform(0.85, 1.2)),
        highlight=float(cfg.highlight_strength * rng.uniform(0.6, 1.4)),
        flicker=float(cfg.flicker * rng.uniform(0.5, 1.5)),
        flicker_freq=float(rng.uniform(0.05, 0.45)),
        flicker_phase=float(rng.uniform(0, 2 * np.pi)),
        band_amp=float(cfg.flicker * rng.uniform(0.0, 0.6)),
        band_period=float(height * rng.uniform(0.3, 1.2)),
        band_speed=float(rng.uniform(-0.15, 0.15)),
        blur_px=float(belt_px * exposure) if cfg.motion_blur else 0.0,
        lens_sigma=float(rng.uniform(0.4, 1.1) * height / 720),
        noise_sigma=float(cfg.noise_sigma * rng.uniform(0.6, 1.4)),
        stamp=stamp,
        start=start,
        fps=float(cfg.fps),
    )


def _tone_lut(cam: Camera) -> np.ndarray:
    """(256,) float32 grey levels for scene values 0..1.5 in steps of 1/170."""
    x = np.arange(256, dtype=np.float32) / 170.0
    y = np.where(x > 0.85, 0.85 + 0.15 * np.tanh((x - 0.85) / 0.15), x)
    y = np.power(np.clip(y, 0, 1), cam.gamma)
    y = 0.5 + cam.contrast * (y - 0.5)
    return (np.clip(y, 0, 1) * 255).astype(np.float32)


def expose(cam: Camera, rgb: np.ndarray, gloss: np.ndarray, t: int,
           rng: np.random.Generator, overlay=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Turn a composed frame into the camera's 8-bit image.

    Args:
        cam: the camera.
        rgb: (H, W, 3) float32 scene colour in [0, 1] (belt and fish, moving layer).
        gloss: (H, W) float32 specular strength of the visible surfaces.
        t: frame index (flicker phase, banding, timestamp).
        rng: random generator for this frame's sensor noise.
        overlay: optional (alpha (H, W) float32, rgb (H, W, 3) float32) of objects that do
            not move with the belt (rails, hands, tools): composited after motion blur.

    Returns:
        (image, cover): (H, W, 3) uint8 RGB, and (H, W) bool pixels covered by the
        timestamp overlay, or None (the masks keep fish under the text whole).
    """
    h, w = gloss.shape
    light3 = cv2.merge([cam.light, cam.light, cam.light])
    img = cv2.multiply(rgb, light3)
    # Specular highlights: wet skin reflects the tubes, brightest where the light is.
    spec = cv2.multiply(gloss, cv2.multiply(cam.light, cam.light), scale=cam.highlight)
    img = cv2.add(img, cv2.merge([spec, spec, spec]))
    if cam.blur_px >= 1.5:
        k = int(round(cam.blur_px)) | 1
        img = cv2.blur(img, (k, 1))
    if overlay is not None:
        a, orgb = overlay
        rows_hit = np.flatnonzero(a.any(1))
        a3 = a[rows_hit, :, None]
        img[rows_hit] = img[rows_hit] * (1 - a3) + orgb[rows_hit] * light3[rows_hit] * a3
    # Flicker (global) and rolling-shutter bands (rows), both drifting over time.
    flick = 1 + cam.flicker * np.sin(2 * np.pi * cam.flicker_freq * t + cam.flicker_phase)
    rows = np.arange(h, dtype=np.float32)
    bands = 1 + cam.band_amp * np.sin(2 * np.pi * (rows / cam.band_period + cam.band_speed * t))
    img *= ((flick * bands)[:, None, None] * cam.white).astype(np.float32)
    # Tone curve (soft highlight roll-off, gamma, contrast) as a lookup table on [0, 1.5].
    idx = cv2.convertScaleAbs(img, alpha=170.0)  # uint8 index, 0..255 covers 0..1.5
    img = _tone_lut(cam)[idx]
    if cam.lens_sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), cam.lens_sigma)
    if cam.noise_sigma > 0:
        # Luma-heavy noise, slightly correlated (demosaicing), plus weak chroma noise at
        # half resolution (chroma is subsampled by the encoder anyway).
        n = rng.standard_normal((h, w), dtype=np.float32)
        n = cv2.GaussianBlur(n, (3, 3), 0.6) * (1.6 * cam.noise_sigma)
        c = rng.standard_normal((h // 2, w // 2, 3), dtype=np.float32) * (0.35 * cam.noise_sigma)
        c = cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR)
        img = cv2.add(img, cv2.add(cv2.merge([n, n, n]), c))
    out = np.clip(img, 0, 255).astype(np.uint8)
    cover = None
    if cam.stamp is not None:
        x, y, s = cam.stamp
        when = cam.start + datetime.timedelta(seconds=t / cam.fps)
        text = when.strftime("%d-%m-%Y %H:%M:%S") + "  CAM 2"
        th = max(1, int(round(1.5 * s)))
        m = np.zeros((h, w), np.uint8)
        cv2.putText(m, text, (x + 1, y + 1), cv2.FONT_HERSHEY_SIMPLEX, s, 255, th, cv2.LINE_AA)
        a = (m.astype(np.float32) / 255.0)[..., None]
        out = (out * (1 - a)).astype(np.uint8)  # drop shadow
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, s, (235, 235, 235), th, cv2.LINE_AA)
        cv2.putText(m, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, s, 255, th, cv2.LINE_AA)
        cover = m > 0
    return out, cover
