"""Benchmark of the watershed backends on synthetic touching fish.

Prints ms per frame at 720p and 1080p with 10, 25 and 40 fish for skimage (the
reference), cv2.watershed (for comparison only: it floods a uint8 image, has no mask and
marks boundaries -1) and the JAX backend (methods "scan" and "sweep") at two batch sizes,
with the relaxation rounds per frame (cost phase + rank phase, and pointer-jumping
rounds) and the pixel agreement with skimage.

    .venv/bin/python scripts/bench_watershed.py            # full: batches 1 and 64
    .venv/bin/python scripts/bench_watershed.py --quick    # CPU: batches 1 and 4, 2 frames

The JAX timings are of one jitted call on a batch after a warm-up call (compile excluded),
per frame. GPU target: at batch 64, JAX ms/frame <= skimage ms/frame / 10.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from scipy import ndimage

from fishseg.config import SeparateConfig
from fishseg.separate import _maps, _sequential_keep, _thresholds
from fishseg.targets import edge_map
from fishseg.watershed import seeded_watershed, skimage_watershed


def ellipse_maps(rng: np.random.Generator, h: int, w: int, n_fish: int):
    """Instance labels and blurred, noisy (fg, edge) maps of touching ellipses.

    Returns (labels (H, W) int32, fg (H, W) float32, edge (H, W) float32). About half the
    fish are placed against an earlier one so that clumps touch and overlap.
    """
    labels = np.zeros((h, w), np.int32)
    centres = []
    for i in range(1, n_fish + 1):
        length = rng.uniform(0.06, 0.16) * w
        width = length * rng.uniform(0.2, 0.35)
        if centres and rng.random() < 0.5:
            cy, cx, cl = centres[rng.integers(len(centres))]
            ang = rng.uniform(0, 2 * np.pi)
            cy, cx = cy + 0.35 * (cl + length) * np.sin(ang), cx + 0.35 * (cl + length) * np.cos(ang)
        else:
            cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
        centres.append((cy, cx, length))
        t = rng.uniform(0, np.pi)
        r = length / 2 + 1  # only the ellipse's bounding square (whole frames: minutes at 1080p)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
        v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
        inside = (u / (length / 2)) ** 2 + (v / (width / 2)) ** 2 < 1
        labels[y0:y1, x0:x1][inside] = i
    noise = lambda: rng.normal(0, 0.05, (h, w)).astype(np.float32)  # noqa: E731
    fg = ndimage.gaussian_filter((labels > 0).astype(np.float32), 1.5) + noise()
    edge = ndimage.gaussian_filter(edge_map(labels, 2).astype(np.float32), 1.5) * 1.6 + noise()
    return labels, np.clip(fg, 0, 1), np.clip(edge, 0, 1)


def frames(rng, h, w, n_fish, count, cfg):
    """Batched (elevation, markers, mask) as :func:`fishseg.separate.separate` builds them."""
    elev, markers, mask = [], [], []
    structure = ndimage.generate_binary_structure(2, cfg.connectivity)
    for _ in range(count):
        _, fg, edge = ellipse_maps(rng, h, w, n_fish)
        m, cores, e = _maps(fg, edge, *_thresholds(cfg))
        markers.append(_sequential_keep(ndimage.label(cores, structure)[0], cfg.min_marker_area))
        elev.append(e)
        mask.append(m)
    return np.stack(elev), np.stack(markers), np.stack(mask)


def _ms(fn, n_frames: int, repeats: int = 1) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return 1e3 * best / n_frames


def cv2_watershed(elev: np.ndarray, markers: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    img = np.repeat((np.clip(elev, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
    m = np.where(mask, markers, markers.max() + 1).astype(np.int32)  # belt = one more seed
    return cv2.watershed(img, m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batches 1 and 4, skimage/cv2 on 2 frames (CPU)")
    ap.add_argument("--sizes", default="720,1080", help="frame heights (16:9), comma separated")
    ap.add_argument("--fish", default="10,25,40", help="fish per frame, comma separated")
    ap.add_argument("--methods", default="scan,sweep", help="JAX methods to time")
    args = ap.parse_args()
    big = 4 if args.quick else 64
    ref_frames = 2 if args.quick else 8
    cfg = SeparateConfig()
    rng = np.random.default_rng(0)
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), batches 1 and {big}")
    print(f"{'size':>9} {'fish':>4} {'skimage':>8} {'cv2':>7} {'method':>6} "
          f"{'jax b=1':>8} {'jax b=' + str(big):>8} {'rounds c+r/jump':>16} {'agree':>7} {'sk/jax':>7}")
    for h in (int(s) for s in args.sizes.split(",")):
        w = h * 16 // 9
        for n_fish in (int(s) for s in args.fish.split(",")):
            elev, markers, mask = frames(rng, h, w, n_fish, big, cfg)
            k = min(ref_frames, big)
            sk = skimage_watershed(elev[:k], markers[:k], mask[:k])
            t_sk = _ms(lambda: skimage_watershed(elev[:k], markers[:k], mask[:k]), k)
            t_cv = _ms(lambda: [cv2_watershed(*a) for a in zip(elev[:k], markers[:k], mask[:k])], k)
            for method in args.methods.split(","):
                run = lambda b: jax.block_until_ready(seeded_watershed(  # noqa: E731
                    elev[:b], markers[:b], mask[:b], method=method, return_stats=True))
                run(1)
                t1 = _ms(lambda: run(1), 1)
                labels, stats = run(big)
                tb = _ms(lambda: run(big), big)
                agree = float((np.asarray(labels[:k]) == sk).mean())
                st = np.asarray(stats).mean(axis=0)
                rounds = f"{st[0]:.0f}+{st[1]:.0f}/{st[2]:.0f}"
                print(f"{w}x{h:>4} {n_fish:>4} {t_sk:8.1f} {t_cv:7.1f} {method:>6} "
                      f"{t1:8.1f} {tb:8.1f} {rounds:>16} {agree:7.5f} {t_sk / tb:7.2f}", flush=True)


if __name__ == "__main__":
    main()
