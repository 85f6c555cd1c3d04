"""Training on crops: many overlapping patches per network pass (``train.crop``).

The network is fully convolutional (:mod:`fishseg.model.network`), so a crop of
``30 + 4g`` pixels gives the codewords of its ``g x g`` stride-4 patches in one pass,
each exactly the codeword of that 34x34 patch alone, while the convolutions of the
overlapping patches are computed once. On a CPU this is most of the training cost: with
the reference widths a patch alone costs ~8.5 M multiply-adds, a patch of a 16x16 crop
~0.55 M (docs/performance.md, "Training on crops").

The loss is the patch loss of :mod:`fishseg.model.fit` over the crop's patches, weighted
so that belt, fish-interior and edge patches (the class of the target patch's centre
pixel) carry the ``train.balance`` shares, as the balanced patch sampler gives them.
Crops are centred on balanced patch centres (:func:`fishseg.model.patches.sample_centres`)
and augmented as a whole: the 8 flips/rotations map the crop's patch grid onto itself,
so input and target patches stay paired.

Crop geometry, for the patch grid's top-left patch at frame pixel ``(y, x)`` (its centre):
input crop rows ``y .. y + 30 + 4g - 1`` of the padded frame (``y - 17 ..`` of the
frame), target crop rows ``y + 9 .. y + 9 + 12 + 4g - 1`` of the padded targets.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from fishseg.model.dictionary import encode
from fishseg.model.network import INPUT_PATCH, STRIDE, TARGET_OFFSET, TARGET_PATCH
from fishseg.model.patches import PatchSource, augment_pair


def crop_sides(g: int) -> tuple[int, int]:
    """(input side, target side) in pixels of a crop of ``g x g`` patch positions."""
    span = STRIDE * (g - 1)
    return INPUT_PATCH + span, TARGET_PATCH + span


def crop_corners(source: PatchSource, centres: np.ndarray, g: int) -> np.ndarray:
    """Top-left patch centres of crops around sampled patch centres.

    Each crop has the sampled patch near its middle; crops are shifted inside the frame
    (every patch centre of the crop is a pixel of the frame) where the frame is large
    enough, and start at its top-left corner where it is not.

    Args:
        source: the frames (``sizes`` (F, 2) int32).
        centres: (N, 3) int32 ``(frame, y, x)`` patch centres.
        g: crop side in patch positions.

    Returns:
        (N, 3) int32 ``(frame, y0, x0)``: the frame pixel at the centre of the crop's
        top-left patch (equally, that patch's top-left corner in the padded frame).
    """
    centres = np.asarray(centres, np.int64)
    h = source.sizes[centres[:, 0], 0].astype(np.int64)
    w = source.sizes[centres[:, 0], 1].astype(np.int64)
    span = STRIDE * (g - 1)
    half = STRIDE * (g // 2)
    y0 = np.clip(centres[:, 1] - half, 0, np.maximum(h - 1 - span, 0))
    x0 = np.clip(centres[:, 2] - half, 0, np.maximum(w - 1 - span, 0))
    return np.stack([centres[:, 0], y0, x0], 1).astype(np.int32)


def _cut_crop(frames: jax.Array, targets: jax.Array, c: jax.Array, g: int):
    si, st = crop_sides(g)
    f, y, x = c[0], c[1], c[2]
    inp = jax.lax.dynamic_slice(frames, (f, y, x, 0), (1, si, si, 3))[0]
    o = TARGET_OFFSET
    tgt = jax.lax.dynamic_slice(targets, (f, y + o, x + o, 0), (1, st, st, targets.shape[-1]))[0]
    return inp.astype(jnp.float32), tgt.astype(jnp.float32)


def target_patches(tgt: jax.Array, g: int) -> jax.Array:
    """The g x g target patches of target crops.

    Args:
        tgt: (B, 12 + 4g, 12 + 4g, C) float32 target crops.
        g: crop side in patch positions.

    Returns:
        (B, g, g, C, 16, 16) float32, patch (i, j) = rows ``4i .. 4i + 15``, columns
        ``4j .. 4j + 15`` (channel-first, the layout of :func:`fishseg.model.patches.make_batch`).
    """
    idx = (jnp.arange(g) * STRIDE)[:, None] + jnp.arange(TARGET_PATCH)[None, :]  # (g, 16)
    p = tgt[:, idx][:, :, :, idx]                       # (B, g, 16, g, 16, C)
    return jnp.transpose(p, (0, 1, 3, 5, 2, 4))


@partial(jax.jit, static_argnames=("g", "augment"))
def make_crop_batch(frames: jax.Array, targets: jax.Array, corners: jax.Array, key: jax.Array,
                    g: int, augment: bool = True) -> tuple[jax.Array, jax.Array]:
    """Cut (and augment) a batch of crops.

    Args:
        frames: (F, Hp, Wp, 3) float16 padded frames of a :class:`PatchSource`.
        targets: (F, Hp, Wp, C) uint8 padded targets.
        corners: (B, 3) int32 from :func:`crop_corners`.
        key: PRNG key for the augmentation (one draw per crop). augment: apply it.
        g: crop side in patch positions.

    Returns:
        ``(inputs, patches)``: (B, 30 + 4g, 30 + 4g, 3) float32 input crops and
        (B, g, g, C, 16, 16) float32 target patches.
    """
    inp, tgt = jax.vmap(_cut_crop, in_axes=(None, None, 0, None))(frames, targets, corners, g)
    if augment:
        keys = jax.random.split(key, corners.shape[0])
        inp, tgt = jax.vmap(augment_pair)(inp, tgt, keys)
    return inp, target_patches(tgt, g)


def class_weights(patches: jax.Array, balance: tuple[float, ...]) -> jax.Array:
    """Per-patch loss weights giving belt, interior and edge patches their shares.

    A patch's class is that of its centre target pixel (row and column 8 of the
    16x16 patch, the pixel the patch sampler centres on): edge where the edge channel
    is set, else fish where fg is, else belt. Classes absent from the batch hand their
    share to the others, as in :func:`fishseg.model.patches.sample_centres`.

    Args:
        patches: (..., C, 16, 16) float32 target patches (channel 0 fg, 1 edge).
        balance: shares of belt, interior, edge.

    Returns:
        (...) float32 weights summing to 1.
    """
    c = TARGET_PATCH // 2
    fg, edge = patches[..., 0, c, c] > 0.5, patches[..., 1, c, c] > 0.5
    cls = jnp.where(edge, 2, jnp.where(fg, 1, 0))
    onehot = jax.nn.one_hot(cls, 3)                           # (..., 3)
    axes = tuple(range(onehot.ndim - 1))
    counts = onehot.sum(axis=axes)                            # (3,)
    share = jnp.asarray(balance, jnp.float32) * (counts > 0)
    share = share / jnp.maximum(share.sum(), 1e-12)
    return (onehot * (share / jnp.maximum(counts, 1))).sum(-1)


def crop_loss(pred: jax.Array, patches: jax.Array, pca: dict,
              balance: tuple[float, ...]) -> jax.Array:
    """Balanced code-space squared error of a crop batch.

    Args:
        pred: (B, g, g, D) float32 codewords of the crops.
        patches: (B, g, g, C, 16, 16) float32 target patches.
        pca: target-code PCA. balance: shares of belt, interior, edge.

    Returns:
        () float32: sum over patches of weight x squared code error.
    """
    b, g = pred.shape[0], pred.shape[1]
    codes = encode(pca, patches.reshape(b * g * g, -1)).reshape(pred.shape)
    se = jnp.sum((pred - codes) ** 2, axis=-1)
    return jnp.sum(class_weights(patches, balance) * se)
