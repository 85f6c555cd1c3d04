"""Rendering many frames: scenes -> raw frames and final instance ids, then compression.

:func:`render_raw` draws the frames as the camera records them (before compression) with
their labels; :func:`render_frames` adds the H.264 round trip so in-memory training data is
exactly what the model sees when it reads the written files.

Randomness: one ``numpy.random.SeedSequence(seed)`` is split into independent streams (the
scene of a video or of each still, and the sensor noise of each frame), so results depend
only on the seed and the configuration.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from fishseg.synth.scene import make_scene, render_frame

GENERATOR_VERSION = "1.0"


def _even(n: int) -> int:
    return max(int(n) - int(n) % 2, 2)


def frame_size(cfg) -> tuple[int, int]:
    """(width, height) actually rendered: the configured size rounded down to even numbers
    (H.264 with 4:2:0 chroma needs even dimensions)."""
    return _even(cfg.width), _even(cfg.height)


def _progress(it, enabled: bool, desc: str, total: int):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, total=total, unit="frame")


def appearance_order(labels: np.ndarray) -> list[int]:
    """Provisional ids in order of first appearance (by frame, then by provisional id).

    Args:
        labels: (T, H, W) int32 provisional ids (0 = background).
    """
    top = int(labels.max()) if labels.size else 0
    seen = np.zeros(top + 1, bool)
    order: list[int] = []
    for frame in labels:
        present = np.flatnonzero(np.bincount(frame.ravel(), minlength=top + 1))
        new = present[(present > 0) & ~seen[present]]
        seen[new] = True
        order.extend(new.tolist())
    return order


def relabel_by_appearance(labels: np.ndarray, order: list[int] | None = None
                          ) -> tuple[np.ndarray, int]:
    """Renumber ids 1..N in order of first appearance (by frame, then by provisional id).

    Args:
        labels: (T, H, W) int32 provisional ids (0 = background).
        order: :func:`appearance_order` of ``labels``, when already known.

    Returns:
        ((T, H, W) int32 labels with ids 1..N, N).
    """
    order = appearance_order(labels) if order is None else order
    top = int(labels.max()) if labels.size else 0
    lut = np.zeros(top + 1, np.int32)
    lut[np.asarray(order, np.int64)] = np.arange(1, len(order) + 1, dtype=np.int32)
    return lut[labels], len(order)


def _render_still(args) -> tuple[np.ndarray, np.ndarray, list[tuple[str, float]]]:
    scene_seed, noise_rng, cfg, width, height = args
    scene = make_scene(np.random.default_rng(scene_seed), cfg, width, height, 1, still=True)
    img, lab = render_frame(scene, 0, noise_rng)
    return img, lab, [(f.sprite.kind, f.sprite.length) for f in scene.fish]


def _spawn_can_start() -> bool:
    """Whether spawned worker processes can start from this main program.

    A spawned process re-runs the main module from its file; a program read from standard
    input (``python - <<EOF``) or from ``python -c`` has none, so the pool would fail.
    Then the stills are rendered in this process (same output, one core).
    """
    import os
    import sys

    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or os.path.isfile(main_file)


def _render_stills(scene_seeds, noise_rngs, cfg, width: int, height: int, workers: int):
    """Yield ``(image, provisional labels, fish in the scene)`` per still, in order; with
    ``workers > 1`` from a process pool (each still depends only on its own seeds)."""
    jobs = [(s, r, cfg, width, height) for s, r in zip(scene_seeds, noise_rngs)]
    if workers <= 1 or len(jobs) <= 1 or not _spawn_can_start():
        yield from map(_render_still, jobs)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may hold JAX/XLA threads, which fork would break.
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as ex:
        yield from ex.map(_render_still, jobs, chunksize=max(1, len(jobs) // (4 * workers)))


def render_raw(n: int, seed: int, cfg=None, stills: bool = False, progress: bool = False,
               workers: int = 1):
    """:func:`render_with_kinds` without the kinds and lengths: ``(images, labels,
    fish_count)``."""
    return render_with_kinds(n, seed, cfg, stills, progress, workers)[:3]


def render_with_kinds(n: int, seed: int, cfg=None, stills: bool = False,
                      progress: bool = False, workers: int = 1):
    """Render ``n`` frames of one video (or ``n`` independent stills), uncompressed.

    Args:
        n: number of frames (>= 1).
        seed: random seed; the same seed and config give identical output.
        cfg: :class:`fishseg.config.SynthConfig` (None = defaults).
        stills: independent frames, each with its own belt, lighting, camera and fish.
        progress: show a tqdm bar.
        workers: processes rendering stills in parallel (stills only; the output does
            not depend on it).

    Returns:
        (images, labels, fish_count, kinds, lengths): (n, H, W, 3) uint8 RGB, (n, H, W)
        int32 fish ids 1..fish_count (0 = belt, rails, occluders), where ids follow first
        appearance and a fish keeps its id across frames, the kind of each id
        (``kinds[id - 1]``: the fish's palette, :attr:`fishseg.synth.sprite.Sprite.kind`)
        and its true length in pixels (``lengths[id - 1]``: along its centre curve, snout
        to tail tip, :attr:`fishseg.synth.sprite.Sprite.length`; fish are pasted
        rotated, never scaled).
    """
    if cfg is None:
        from fishseg.config import SynthConfig

        cfg = SynthConfig()
    if n < 1:
        raise ValueError(f"number of frames must be >= 1, got {n}")
    width, height = frame_size(cfg)
    ss = np.random.SeedSequence(seed)
    scene_seq, noise_seq = ss.spawn(2)
    noise_rngs = [np.random.default_rng(s) for s in noise_seq.spawn(n)]
    images = np.empty((n, height, width, 3), np.uint8)
    labels = np.empty((n, height, width), np.int32)
    if stills:
        provisional: list[tuple[str, float]] = []  # kind, length of provisional id k + 1
        done = _render_stills(scene_seq.spawn(n), noise_rngs, cfg, width, height, workers)
        for i, (img, lab, kinds) in enumerate(_progress(done, progress, "synth stills", n)):
            # Stills are independent: give each its own block of ids.
            images[i] = img
            labels[i] = np.where(lab > 0, lab + len(provisional), 0)
            provisional += kinds
    else:
        scene = make_scene(np.random.default_rng(scene_seq), cfg, width, height, n)
        provisional = [(f.sprite.kind, f.sprite.length) for f in scene.fish]
        for t in _progress(range(n), progress, "synth frames", n):
            images[t], labels[t] = render_frame(scene, t, noise_rngs[t])
    order = appearance_order(labels)
    labels, count = relabel_by_appearance(labels, order)
    kinds = [provisional[k - 1][0] for k in order]
    lengths = [provisional[k - 1][1] for k in order]
    return images, labels, count, kinds, lengths


def render_frames(n: int, seed: int, cfg=None, stills: bool = False, workers: int = 1):
    """In-memory synthetic data exactly as the model sees it from the written files.

    Renders like :func:`fishseg.synth.synthesize` (same seed -> same pixels) and passes
    the frames through the same H.264 encode and OpenCV decode.

    Args:
        n: number of frames or stills.
        seed: random seed.
        cfg: :class:`fishseg.config.SynthConfig` (None = defaults).
        stills: independent stills instead of consecutive video frames.
        workers: processes rendering stills in parallel (same output for any number).

    Returns:
        (images, labels): (n, H, W, 3) uint8 RGB after compression, (n, H, W) int32 ids.
    """
    from fishseg.config import SynthConfig
    from fishseg.synth.writer import roundtrip_h264

    cfg = cfg or SynthConfig()
    raw, labels, _ = render_raw(n, seed, cfg, stills, workers=workers)
    with tempfile.TemporaryDirectory(prefix="fishseg-synth-") as tmp:
        images = roundtrip_h264(raw, Path(tmp) / "video.mp4", cfg.fps, cfg.crf, intra=stills)
    return images, labels


def cached_stills(n: int, seed: int, cfg=None, cache: str | Path | None = None,
                  workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render_frames` stills, read from (or written to) an ``.npz`` cache.

    The cache holds a tag of ``n``, ``seed`` and ``cfg``: a file rendered with other
    settings is rendered again and replaced (atomically), never silently reused.
    Several trainings of ``scripts/`` share one rendering this way.

    Returns:
        (images, labels): (n, H, W, 3) uint8 and (n, H, W) int32, as :func:`render_frames`.
    """
    from fishseg.config import SynthConfig

    cfg = cfg or SynthConfig()
    tag = f"{n}:{seed}:{cfg}"
    cache = Path(cache) if cache is not None else None
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            if str(z["tag"]) == tag:
                return z["images"], z["labels"]
    images, labels = render_frames(n, seed, cfg, stills=True, workers=workers)
    if cache is not None:
        tmp = cache.with_name(cache.name + ".tmp.npz")
        np.savez(tmp, images=images, labels=labels, tag=np.str_(tag))
        tmp.replace(cache)
    return images, labels
