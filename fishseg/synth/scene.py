"""A scene over time: belt, camera, fish riding the belt (alone or in clumps), occluders.

Fish are laid out once on the stretch of belt that will pass through the view during the
video, at a mean density of ``cfg.fish_density`` fish in view. A share of them arrive in
clumps of 2-5 fish that touch and overlap. Each fish rides with the belt (same speed) with
a small smooth jitter in position and angle. Painter's order (z) is fixed per scene, so the
top fish's pixels win in both the image and the labels; occluders (hands, tools) and the
static rails come last and clear the labels under them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fishseg.synth.belt import Belt, belt_view, make_belt
from fishseg.synth.camera import Camera, expose, make_camera
from fishseg.synth.fish import make_fish
from fishseg.synth.occluders import OccluderTrack, make_hand, make_tool
from fishseg.synth.sprite import Canvas, Sprite, paste, sprite_matrix


@dataclass(frozen=True)
class FishTrack:
    """One fish's ride through the view.

    Attributes:
        sprite: the fish.
        x: (T,) float64 centre x per frame (frame pixels), belt motion and jitter included.
        y: (T,) float64 centre y per frame.
        angle: (T,) float64 rotation per frame, degrees counter-clockwise.
        radius: half the sprite's diagonal (for cheap out-of-view tests).
    """

    sprite: Sprite
    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    radius: float


@dataclass(frozen=True)
class Scene:
    """Everything needed to render frames 0..T-1 of one video (or one still, T = 1).

    Attributes:
        width, height: frame size in pixels.
        speed: belt speed in pixels per frame.
        belt: the belt and the rails.
        camera: the camera installation.
        fish: tracks in painter's order (bottom first); fish k has provisional id k + 1.
        occluders: visits of hands and tools.
        shadow: (dx, dy, strength) of the soft shadows (offset per pixel of object height).
    """

    width: int
    height: int
    speed: float
    belt: Belt
    camera: Camera
    fish: list[FishTrack]
    occluders: list[OccluderTrack]
    shadow: tuple[float, float, float]


def _lengths(rng: np.random.Generator, cfg, width: int, n: int) -> np.ndarray:
    """(n,) fish lengths in pixels, log-uniform-ish between min and max, skewed to small."""
    lo, hi = cfg.min_length * width, cfg.max_length * width
    return lo * (hi / lo) ** (rng.random(n) ** 1.6)


def _jitter(rng: np.random.Generator, n: int, step: float) -> np.ndarray:
    """(n,) float64 smooth random walk starting at 0, pulled back towards 0."""
    out = np.zeros(n)
    for t in range(1, n):
        out[t] = 0.9 * out[t - 1] + rng.normal(0, step)
    return out


def _layout(rng: np.random.Generator, cfg, width: int, y_range, span: tuple[float, float]):
    """Fish placements on the belt: list of (x, y, angle, length, flat) at frame 0, in z order."""
    x_lo, x_hi = span
    mean_clump = 3.2
    per_object = (1 - cfg.clump_prob) + cfg.clump_prob * mean_clump
    n_obj = rng.poisson(cfg.fish_density * (x_hi - x_lo) / width / per_object)
    y0, y1 = y_range
    objects = []
    for _ in range(n_obj):
        cx, cy = rng.uniform(x_lo, x_hi), rng.uniform(y0 + 0.05 * (y1 - y0), y1 - 0.05 * (y1 - y0))
        if rng.random() < cfg.clump_prob:
            k = int(rng.choice([2, 3, 4, 5], p=[0.3, 0.35, 0.2, 0.15]))
            base = _lengths(rng, cfg, width, 1)[0]
            lens = np.clip(base * rng.uniform(0.6, 1.3, k), cfg.min_length * width, cfg.max_length * width)
            common = rng.uniform(0, 360)
            pts = [(cx, cy)]
            for j in range(1, k):
                px, py = pts[int(rng.integers(len(pts)))]
                d = rng.uniform(0.15, 0.45) * (lens[j] + lens[j - 1]) / 2
                a = rng.uniform(0, 2 * np.pi)
                pts.append((px + d * np.cos(a), py + d * np.sin(a)))
            members = []
            for j in range(k):
                ang = common + rng.normal(0, 40) if rng.random() < 0.6 else rng.uniform(0, 360)
                members.append((pts[j][0], pts[j][1], ang, lens[j], rng.random() < cfg.flatfish_prob))
        else:
            members = [(cx, cy, rng.uniform(0, 360), _lengths(rng, cfg, width, 1)[0],
                        rng.random() < cfg.flatfish_prob)]
        objects.append((rng.random(), members))
    objects.sort(key=lambda o: o[0])
    return [m for _, ms in objects for m in ms]


def _occluders(rng, cfg, width, height, frames, stills) -> list[OccluderTrack]:
    """Hand and tool visits: in a video one may start on any frame with ``cfg.occluder_prob``."""
    out = []
    busy_until = -1
    p = min(1.0, cfg.occluder_prob * 6) if stills else cfg.occluder_prob
    t0 = -int(rng.integers(0, 30)) if not stills else 0
    for t in range(t0, frames):
        if t <= busy_until or rng.random() >= p:
            continue
        dur = 1 if stills else int(rng.integers(20, 60))
        start = t if not stills else 0
        size = height * rng.uniform(0.2, 0.35)
        reach = 1.5 * max(width, height)
        maker = make_hand if rng.random() < 0.6 else make_tool
        sprite, tip = maker(rng, size, reach)
        edge = rng.choice(["top", "bottom", "left", "right"], p=[0.35, 0.35, 0.15, 0.15])
        tx, ty = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        # The visit points from the edge inwards (angle of the sprite's +x on screen).
        outward = {"top": (tx, -0.3 * size), "bottom": (tx, height + 0.3 * size),
                   "left": (-0.3 * size, ty), "right": (width + 0.3 * size, ty)}[edge]
        enter = np.array(outward, np.float64)
        target = np.array([tx, ty], np.float64)
        if edge in ("top", "bottom"):
            target[1] = rng.uniform(0.1, 0.5) * height if edge == "top" else rng.uniform(0.5, 0.9) * height
        else:
            target[0] = rng.uniform(0.05, 0.35) * width if edge == "left" else rng.uniform(0.65, 0.95) * width
        d = target - enter
        angle = float(np.degrees(np.arctan2(-d[1], d[0])) + rng.normal(0, 12))
        if stills:
            enter = target - 0.01 * d  # a still shows it already reaching in
        out.append(OccluderTrack(sprite, tip, start, dur, enter, target, angle))
        busy_until = start + dur + int(rng.integers(5, 40))
    return out


def make_scene(rng: np.random.Generator, cfg, width: int, height: int, frames: int,
               still: bool = False) -> Scene:
    """Draw a random scene of ``frames`` frames (``still=True``: one independent frame).

    Args:
        rng: random generator (the only source of randomness).
        cfg: :class:`fishseg.config.SynthConfig`.
        width, height: frame size in pixels.
        frames: number of frames the fish tracks cover.
        still: a single frame (belt travel 0, occluders more likely).
    """
    speed = cfg.belt_speed * width * (rng.uniform(0.6, 1.4) if still else 1.0)
    travel = speed * (frames - 1)
    belt = make_belt(rng, width, height, travel)
    camera = make_camera(rng, cfg, width, height, speed)
    margin = cfg.max_length * width * 0.6
    layout = _layout(rng, cfg, width, belt.y_range, (-travel - margin, width + margin))
    t = np.arange(frames, dtype=np.float64)
    fish = []
    for x0, y0, a0, length, flat in layout:
        sprite = make_fish(rng, length, flat)
        if not still and not np.any((x0 + speed * t > -length) & (x0 + speed * t < width + length)):
            continue
        spin = rng.normal(0, 0.08)
        x = x0 + speed * t + _jitter(rng, frames, 0.25)
        y = y0 + _jitter(rng, frames, 0.25)
        ang = a0 + spin * t + _jitter(rng, frames, 0.3)
        h, w = sprite.mask.shape
        fish.append(FishTrack(sprite, x, y, ang, 0.5 * float(np.hypot(h, w))))
    occ = _occluders(rng, cfg, width, height, frames, still)
    a = rng.uniform(0, 2 * np.pi)
    r = rng.uniform(0.25, 0.8)
    shadow = (r * np.cos(a), r * np.sin(a), cfg.shadow_strength * rng.uniform(0.6, 1.3))
    return Scene(width, height, speed, belt, camera, fish, occ, shadow)


def render_frame(scene: Scene, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render frame ``t`` of ``scene`` as the camera records it (before compression).

    Args:
        scene: the scene.
        t: frame index.
        rng: generator for this frame's sensor noise.

    Returns:
        (image, labels): (H, W, 3) uint8 RGB and (H, W) int32 provisional fish ids
        (k + 1 for ``scene.fish[k]``, 0 = belt, rails, occluders, overlays).
    """
    w, h = scene.width, scene.height
    canvas = Canvas(belt_view(scene.belt, scene.speed * t, w), np.zeros((h, w), np.float32),
                    np.zeros((h, w), np.int32))
    for k, f in enumerate(scene.fish):
        x, y = f.x[t], f.y[t]
        if x < -f.radius or x > w + f.radius or y < -f.radius or y > h + f.radius:
            continue
        paste(canvas, f.sprite, sprite_matrix(f.sprite, x, y, f.angle[t]), k + 1, scene.shadow)
    for o in scene.occluders:
        pose = o.pose(t)
        if pose is not None:
            paste(canvas, o.sprite, sprite_matrix(o.sprite, *pose), 0, scene.shadow)
    belt = scene.belt
    canvas.labels[belt.rail_alpha >= 0.5] = 0
    overlay = (belt.rail_alpha, belt.rail_rgb) if belt.rail_alpha.any() else None
    # the burned-in timestamp is not part of the scene: a fish under it stays whole in the
    # mask, as an annotator would draw it
    image, _ = expose(scene.camera, canvas.rgb, canvas.gloss, t, rng, overlay)
    return image, canvas.labels
