"""Training patches: frame stacks, balanced sampling and augmentation.

A :class:`PatchSource` holds prepared frames (resized and standardised exactly as at
inference, see :func:`fishseg.model.fields.prepare`) and their target maps, both
reflect-padded by half a patch, so a patch can be taken around any pixel. Patch
``(f, y, x)`` is the 34x34 input whose centre 16x16 is the target patch around frame
pixel ``(y, x)``: input rows ``y-17 .. y+16``, target rows ``y-8 .. y+7``.

:func:`sample_centres` draws centres with set shares of belt, fish interior and edge
pixels; :func:`make_batch` cuts the patches out and augments them (jitted, seeded):
the 8 flips/90-degree rotations (input and target together), then on the input only
brightness, contrast, colour, blur and noise. The standardisation already removes a
frame's global gain and offset per channel, so the photometric jitter models what it
leaves: local light and colour changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import cv2
import jax
import jax.numpy as jnp
import numpy as np

from fishseg.model.fields import STD_FLOOR, prepare, processing_size
from fishseg.model.network import INPUT_PATCH, TARGET_OFFSET, TARGET_PATCH
from fishseg.targets import target_stack

HALF = INPUT_PATCH // 2  # 17: reflect padding around each frame


@dataclass
class PatchSource:
    """Prepared frames and targets of a set of training frames.

    Attributes:
        frames: (F, Hm + 34, Wm + 34, 3) float16, standardised, reflect-padded by 17
            (frames smaller than the largest are zero beyond their padding).
        targets: (F, Hm + 34, Wm + 34, C) uint8 fg, edge (and contact) maps (0/1),
            padded alike (C = 2, or 3 with ``contact``).
        sizes: (F, 2) int32 (h, w) of each prepared frame.
        classes: per frame, a (h, w) uint8 map: 0 belt, 1 fish interior, 2 edge.
        hard: per frame, ``(belt, edge)`` int64 flat pixel indices of the hard examples:
            the most textured tenth of the belt, and edge pixels between two fish.
    """

    frames: np.ndarray
    targets: np.ndarray
    sizes: np.ndarray
    classes: list[np.ndarray]
    hard: list[tuple[np.ndarray, np.ndarray]] | None = None


#: Belt pixels whose local contrast is in this top share of the frame's belt are "hard".
HARD_BELT_TOP = 0.1


def hard_pixels(x: np.ndarray, lab: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of hard belt pixels and of fish-fish boundary pixels.

    Args:
        x: (h, w, 3) float32 prepared (standardised) frame.
        lab: (h, w) int32 instance labels at the same size.
        cls: (h, w) uint8 classes (0 belt, 1 interior, 2 edge).

    Returns:
        ``(belt, contact)``: int64 flat indices into the (h, w) frame. ``belt``: belt
        pixels whose local contrast (gradient magnitude of the grey frame, averaged over
        9x9) is in the top :data:`HARD_BELT_TOP` of the frame's belt; ``contact``: edge
        pixels with two different fish within 2 pixels.
    """
    grey = x.mean(axis=2).astype(np.float32)
    mag = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    contrast = cv2.blur(mag, (9, 9)).ravel()
    belt = np.flatnonzero(cls.ravel() == 0)
    if belt.size:
        cut = np.quantile(contrast[belt], 1.0 - HARD_BELT_TOP)
        belt = belt[contrast[belt] >= cut]
    kernel = np.ones((5, 5), np.uint8)
    lab32 = lab.astype(np.float32)
    hi = cv2.dilate(lab32, kernel)
    lo = cv2.erode(np.where(lab > 0, lab32, np.float32(np.inf)), kernel)
    contact = (cls == 2) & np.isfinite(lo) & (hi > lo)
    return belt.astype(np.int64), np.flatnonzero(contact.ravel()).astype(np.int64)


def labels_at(labels: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H, W) instance labels as (h, w) int32, resized by nearest neighbour if needed."""
    labels = np.asarray(labels)
    if labels.shape != (h, w):
        labels = cv2.resize(labels.astype(np.int32).astype(np.float32), (w, h),
                            interpolation=cv2.INTER_NEAREST)
    return labels.astype(np.int32)


def build_source(images: list[np.ndarray], labels: list[np.ndarray], width: int,
                 edge_width: int, std_floor: float = STD_FLOOR, hard: bool = True,
                 contact: bool = False) -> PatchSource:
    """Prepare frames and targets at the processing scale.

    Args:
        images: (H, W, 3) uint8 RGB frames (sizes may differ).
        labels: (H, W) int instance labels, 0 = belt.
        width: processing width; labels are resized with nearest neighbour.
        edge_width: edge band half-thickness at the processing scale.
        std_floor: input standardisation floor (see :func:`fishseg.model.fields.standardise`).
        hard: also find each frame's hard examples (:func:`hard_pixels`; ``hard`` is None
            without them).
        contact: add the contact map (:func:`fishseg.targets.contact_map`) as a third
            target channel.
    """
    prepped, targs, sizes, classes, hard_lists = [], [], [], [], []
    for img, lab in zip(images, labels, strict=True):
        h, w = processing_size(img.shape[0], img.shape[1], width)
        x = np.asarray(prepare(img[None], width, std_floor)[0], np.float32)
        lab = labels_at(lab, h, w)
        t = target_stack(lab, edge_width, contact)
        fg, edge = t[..., 0], t[..., 1]
        prepped.append(np.pad(x, ((HALF, HALF), (HALF, HALF), (0, 0)), mode="reflect"))
        targs.append(np.pad(t, ((HALF, HALF), (HALF, HALF), (0, 0)), mode="reflect"))
        sizes.append((h, w))
        classes.append(np.where(edge > 0, 2, np.where(fg > 0, 1, 0)).astype(np.uint8))
        if hard:
            hard_lists.append(hard_pixels(x, lab, classes[-1]))
    hm = max(s[0] for s in sizes) + 2 * HALF
    wm = max(s[1] for s in sizes) + 2 * HALF
    frames = np.zeros((len(prepped), hm, wm, 3), np.float16)
    targets = np.zeros((len(prepped), hm, wm, targs[0].shape[-1] if targs else 2), np.uint8)
    for i, (x, t) in enumerate(zip(prepped, targs, strict=True)):
        frames[i, :x.shape[0], :x.shape[1]] = x
        targets[i, :t.shape[0], :t.shape[1]] = t
    return PatchSource(frames, targets, np.asarray(sizes, np.int32), classes,
                       hard_lists if hard else None)


def sample_centres(source: PatchSource, frames: np.ndarray, per_frame: int,
                   balance: tuple[float, ...], rng: np.random.Generator,
                   hard_share: float = 0.0) -> np.ndarray:
    """Patch centres with ``balance`` shares of belt, fish interior and edge pixels.

    A class missing from a frame gives its share to the classes present. With
    ``hard_share > 0`` that share of the belt and of the edge centres is drawn from the
    frame's hard examples (``source.hard``), where it has any.

    Args:
        source: the frames. frames: indices of the frames to sample from.
        per_frame: centres per frame. balance: 3 shares summing to 1.
        rng: numpy random generator. hard_share: share of hard examples in [0, 1].

    Returns:
        (N, 3) int32 rows ``(frame, y, x)`` (frame pixel coordinates).
    """
    out = []
    for f in frames:
        cls = source.classes[f].ravel()
        present = np.array([np.any(cls == c) for c in range(3)])
        share = np.asarray(balance, np.float64) * present
        share = share / share.sum() if share.sum() > 0 else present / present.sum()
        counts = rng.multinomial(per_frame, share)
        w = source.classes[f].shape[1]
        for c in range(3):
            if counts[c] == 0:
                continue
            flat = np.flatnonzero(cls == c)
            pick = flat[rng.integers(0, len(flat), counts[c])]
            hard = source.hard[f][c // 2] if source.hard is not None and c != 1 else ()
            if hard_share > 0 and len(hard):
                n_hard = rng.binomial(counts[c], hard_share)
                pick[:n_hard] = hard[rng.integers(0, len(hard), n_hard)]
            out.append(np.stack([np.full(len(pick), f), pick // w, pick % w], 1))
    if not out:
        return np.zeros((0, 3), np.int32)
    return np.concatenate(out).astype(np.int32)


def value_patches(labels: list[np.ndarray], sizes: np.ndarray, centres: np.ndarray,
                  scale: int, edge_width: int, contact: bool = False) -> np.ndarray:
    """Target patches of centres at ``scale`` times the processing resolution.

    The dictionary's values (``dictionary.value_scale``): the truth is resized (nearest)
    to ``scale`` times the processing size and its target maps made there, with the
    edge band ``scale`` times as wide, so a value patch covers the same part of the frame
    as the 16x16 target patch of the same centre, at finer resolution. At ``scale`` 1
    these are exactly the :class:`PatchSource` target patches.

    Args:
        labels: per frame, (H, W) int instance labels at the frame's own size.
        sizes: (F, 2) int (h, w) processing sizes (:attr:`PatchSource.sizes`).
        centres: (N, 3) int ``(frame, y, x)`` at the processing scale.
        scale: resolution multiple s (>= 1). edge_width: edge half-thickness at the
            processing scale. contact: add the contact channel.

    Returns:
        (N, C, 16s, 16s) uint8 0/1 patches (fg, edge[, contact]), in ``centres`` order.
    """
    t = TARGET_PATCH * scale
    pad = HALF * scale
    out = np.zeros((len(centres), 3 if contact else 2, t, t), np.uint8)
    offs = np.arange(t)
    for f in np.unique(centres[:, 0]):
        rows = np.flatnonzero(centres[:, 0] == f)
        h, w = (int(v) * scale for v in sizes[f])
        tg = np.pad(target_stack(labels_at(labels[f], h, w), edge_width * scale, contact),
                    ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        ys = scale * (centres[rows, 1] + TARGET_OFFSET)
        xs = scale * (centres[rows, 2] + TARGET_OFFSET)
        cut = tg[(ys[:, None] + offs)[:, :, None], (xs[:, None] + offs)[:, None, :]]
        out[rows] = cut.transpose(0, 3, 1, 2)
    return out


def _cut(frames: jax.Array, targets: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    f, y, x = c[0], c[1], c[2]
    inp = jax.lax.dynamic_slice(frames, (f, y, x, 0), (1, INPUT_PATCH, INPUT_PATCH, 3))[0]
    o = TARGET_OFFSET
    tgt = jax.lax.dynamic_slice(targets, (f, y + o, x + o, 0),
                                (1, TARGET_PATCH, TARGET_PATCH, targets.shape[-1]))[0]
    return inp.astype(jnp.float32), tgt.astype(jnp.float32)


def _dihedral(a: jax.Array, k: jax.Array) -> jax.Array:
    """One of the 8 flips/rotations (k in 0..7) of an (S, S, C) patch."""
    a = jnp.where(k & 4, jnp.swapaxes(a, 0, 1), a)
    a = jnp.where(k & 1, a[::-1], a)
    return jnp.where(k & 2, a[:, ::-1], a)


def _blur(a: jax.Array, sigma: jax.Array) -> jax.Array:
    """Separable 5-tap Gaussian blur of an (S, S, C) patch (reflect borders)."""
    t = jnp.arange(-2, 3, dtype=jnp.float32)
    w = jnp.exp(-0.5 * (t / jnp.maximum(sigma, 1e-3)) ** 2)
    w = w / w.sum()
    p = jnp.pad(a, ((2, 2), (2, 2), (0, 0)), mode="reflect")
    s = a.shape[0]
    p = sum(w[i] * p[i:i + s] for i in range(5))
    return sum(w[i] * p[:, i:i + s] for i in range(5))


def augment_pair(inp: jax.Array, tgt: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Augment one input (S, S, 3) and its target (T, T, C), both float32, square and
    centred on each other: one of the 8 flips/rotations of both, then brightness,
    contrast, colour, blur and noise of the input (a patch, or a whole crop of
    :mod:`fishseg.model.crops`)."""
    ks = jax.random.split(key, 9)
    k = jax.random.randint(ks[0], (), 0, 8)
    inp, tgt = _dihedral(inp, k), _dihedral(tgt, k)
    mean = inp.mean(axis=(0, 1), keepdims=True)
    contrast = jnp.exp(0.15 * jax.random.normal(ks[1], ()))
    colour = jnp.exp(0.08 * jax.random.normal(ks[2], (3,)))
    bright = 0.15 * jax.random.normal(ks[3], ()) + 0.05 * jax.random.normal(ks[4], (3,))
    inp = (inp - mean) * contrast * colour + mean + bright
    blurred = _blur(inp, jax.random.uniform(ks[5], (), minval=0.3, maxval=1.2))
    inp = jnp.where(jax.random.uniform(ks[6], ()) < 0.3, blurred, inp)
    sigma = jax.random.uniform(ks[7], (), maxval=0.08)
    return inp + sigma * jax.random.normal(ks[8], inp.shape), tgt


@partial(jax.jit, static_argnames="augment")
def make_batch(frames: jax.Array, targets: jax.Array, centres: jax.Array, key: jax.Array,
               augment: bool = True) -> tuple[jax.Array, jax.Array]:
    """Cut (and augment) a batch of patches.

    Args:
        frames: (F, Hp, Wp, 3) float16 padded frames of a :class:`PatchSource`.
        targets: (F, Hp, Wp, C) uint8 padded targets.
        centres: (N, 3) int32 ``(frame, y, x)`` from :func:`sample_centres`.
        key: PRNG key for the augmentation. augment: apply it.

    Returns:
        ``(inputs, patches)``: (N, 34, 34, 3) float32 and (N, C, 16, 16) float32
        (fg, edge, and contact when the source has it).
    """
    inp, tgt = jax.vmap(_cut, in_axes=(None, None, 0))(frames, targets, centres)
    if augment:
        keys = jax.random.split(key, centres.shape[0])
        inp, tgt = jax.vmap(augment_pair)(inp, tgt, keys)
    return inp, jnp.transpose(tgt, (0, 3, 1, 2))


def batches(source: PatchSource, centres: np.ndarray, size: int, key: jax.Array,
            augment: bool = False):
    """Yield :func:`make_batch` results over ``centres`` in order, ``size`` at a time
    (the last batch is cut from a full-size one, so one compilation serves all)."""
    frames, targets = jnp.asarray(source.frames), jnp.asarray(source.targets)
    for i in range(0, len(centres), size):
        c = centres[i:i + size]
        n = len(c)
        if n < size:
            c = np.concatenate([c, np.repeat(c[-1:], size - n, axis=0)])
        inp, tgt = make_batch(frames, targets, jnp.asarray(c), jax.random.fold_in(key, i), augment)
        yield inp[:n], tgt[:n]
