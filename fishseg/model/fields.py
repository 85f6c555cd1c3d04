"""Dense fields: frames -> codewords -> dictionary patches -> fg and edge maps.

Pure, jit-able array functions over batches of frames:

- :func:`processing_size` / :func:`prepare`: resize to the processing width and
  standardise each frame (per channel mean/std over the frame), the input normalisation
  stored in every model bundle (``"frame-standardise"``). It removes any global gain and
  offset per colour channel, so belts lit or white-balanced differently look alike.
- :func:`frame_padding`: the reflect padding that makes the stride-4 grid of 16x16
  target patches cover every pixel of the frame exactly 16 times.
- :func:`overlap_add`: the transposed convolution (stride 4, 16x16 one-hot kernel) of a
  grid of patches, computed as 16 block-shifted adds (the same sum without the zero
  multiply-adds of a dense ``conv_transpose`` kernel); :func:`overlap_add_conv` is the
  literal ``lax.conv_transpose`` form, used as a test reference.
- Dictionary values may hold their target patches at ``s`` times the processing
  resolution (``dictionary.value_scale``: 16s x 16s patches, placed at stride 4s): the
  network still sees the frame at the processing width, but the maps it selects are
  drawn at ``s`` times that resolution, from truth cut at that resolution.
- :func:`dense_maps`: the whole chain for one network state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from fishseg.model.dictionary import lookup
from fishseg.model.network import INPUT_PATCH, STRIDE, TARGET_OFFSET, TARGET_PATCH

#: Normalisation method name stored in bundles (the only one so far).
NORMALISATION = "frame-standardise"
#: Lower bound of a channel's std (in 0..255 grey levels) in the standardisation.
STD_FLOOR = 4.0

# Reflect padding before the frame: the first target patch (offset 9 in its input patch)
# must start 12 pixels before pixel 0 so that pixel 0 is covered by 4 patches per axis.
PAD_BEFORE = TARGET_OFFSET + TARGET_PATCH - STRIDE  # 21


def processing_size(h: int, w: int, width: int) -> tuple[int, int]:
    """(height, width) of an ``h`` x ``w`` frame resized to ``width`` (aspect kept)."""
    return max(int(round(h * width / w)), 1), int(width)


def resize(x: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Bilinear (antialiased when shrinking) resize of (B, H, W, C) float32 to ``size``."""
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    return jax.image.resize(x, (x.shape[0], *size, x.shape[3]), method="linear", antialias=True)


def standardise(x: jax.Array, std_floor: float = STD_FLOOR) -> jax.Array:
    """Per-frame, per-channel standardisation.

    Args:
        x: (B, H, W, 3) float32 in grey levels (0..255).
        std_floor: the std is floored at this many grey levels, so that a nearly empty
            belt's texture is not amplified into fish-like contrast.

    Returns:
        (B, H, W, 3) float32 with zero mean and unit std per frame and channel.
    """
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    std = jnp.std(x, axis=(1, 2), keepdims=True)
    return (x - mean) / jnp.maximum(std, std_floor)


def prepare(frames: jax.Array, width: int, std_floor: float = STD_FLOOR) -> jax.Array:
    """Frames as the network sees them (before padding).

    Args:
        frames: (B, H, W, 3) or (B, H, W) uint8 (grey frames are repeated to 3 channels).
        width: processing width.

    Returns:
        (B, h, w, 3) float32 standardised, ``(h, w) = processing_size(H, W, width)``.
    """
    x = jnp.asarray(frames)
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    x = x.astype(jnp.float32)
    return standardise(resize(x, processing_size(x.shape[1], x.shape[2], width)), std_floor)


def frame_padding(n: int) -> tuple[int, int, int]:
    """Reflect padding of a side of ``n`` pixels for full, uniform patch coverage.

    Returns:
        ``(before, after, grid)``: pixels to pad before and after, and the number of
        stride-4 patch positions on the padded side. Every pixel of the side is covered
        by exactly 4 target patches along this axis.
    """
    grid = (n - 1 + PAD_BEFORE - TARGET_OFFSET) // STRIDE + 1
    padded = STRIDE * (grid - 1) + INPUT_PATCH
    return PAD_BEFORE, padded - n - PAD_BEFORE, grid


#: Smallest side, in pixels at the processing width, that :func:`pad_frames` can
#: reflect-pad (the padding, 21-24 pixels, must be shorter than the side).
MIN_SIDE = 23


def check_frame_size(h: int, w: int, width: int) -> None:
    """Raise a clear ``ValueError`` for ``h`` x ``w`` frames too small (or too flat) to
    segment at processing width ``width``: each side must be at least
    :data:`MIN_SIDE` pixels once resized."""
    ph, pw = processing_size(h, w, width)
    if min(ph, pw) < MIN_SIDE:
        raise ValueError(f"a frame of {w}x{h} pixels is {pw}x{ph} at processing width {width}: "
                         f"too small to segment (each side must be at least {MIN_SIDE} pixels "
                         "there; is it a whole camera frame?)")


def pad_frames(x: jax.Array) -> jax.Array:
    """Reflect-pad (B, h, w, C) frames for :func:`frame_padding` coverage."""
    (bh, ah, _), (bw, aw, _) = frame_padding(x.shape[1]), frame_padding(x.shape[2])
    if max(bh, ah) >= x.shape[1] or max(bw, aw) >= x.shape[2]:
        raise ValueError(f"frame {x.shape[1]}x{x.shape[2]} is too small to reflect-pad by {bh}")
    return jnp.pad(x, ((0, 0), (bh, ah), (bw, aw), (0, 0)), mode="reflect")


def overlap_add(patches: jax.Array) -> jax.Array:
    """Overlap-add a grid of 16s x 16s patches placed at stride 4s.

    Args:
        patches: (B, gh, gw, C, T, T) float32, T = 16s (s = 1: 16x16 patches); patch
            (i, j) covers output rows 4si..4si+T-1 and columns 4sj..4sj+T-1.

    Returns:
        (B, C, 4s*gh + 12s, 4s*gw + 12s) float32, the sum of all patches at their places.
    """
    b, gh, gw, c, t, _ = patches.shape
    s, k = _stride(t), TARGET_PATCH // STRIDE
    # (B, gh, gw, C, u, a, v, b'): block (u, v) of 4x4 pixels (a, b') inside each patch.
    blocks = patches.reshape(b, gh, gw, c, k, s, k, s)
    acc = jnp.zeros((b, gh + k - 1, gw + k - 1, c, s, s), patches.dtype)
    for u in range(k):
        for v in range(k):
            acc = acc.at[:, u:u + gh, v:v + gw].add(blocks[:, :, :, :, u, :, v, :])
    # (B, cells_h, cells_w, C, a, b') -> (B, C, cells_h*4, cells_w*4)
    return acc.transpose(0, 3, 1, 4, 2, 5).reshape(b, c, (gh + k - 1) * s, (gw + k - 1) * s)


def overlap_add_conv(patches: jax.Array) -> jax.Array:
    """:func:`overlap_add` as a literal transposed convolution (test reference; slow).

    The input channel (c, y, x) of each grid cell feeds output channel c at offset
    (y, x): a stride-4s ``conv_transpose`` with a one-hot T x T kernel (T = 16s).
    """
    b, gh, gw, c, t, _ = patches.shape
    x = patches.reshape(b, gh, gw, c * t * t)
    eye = jnp.eye(c * t * t, dtype=patches.dtype).reshape(c * t * t, c, t, t)
    kernel = eye.transpose(2, 3, 0, 1)[::-1, ::-1]           # (t, t, in, out), flipped
    y = jax.lax.conv_transpose(x, kernel, (_stride(t),) * 2, [(t - 1, t - 1)] * 2,
                               dimension_numbers=("NHWC", "HWIO", "NHWC"),
                               precision=jax.lax.Precision.HIGHEST)  # no TF32 on GPUs
    return y.transpose(0, 3, 1, 2)


def _stride(t: int) -> int:
    """Grid stride at the resolution of T x T value patches (T = 16s: stride 4s)."""
    if t % TARGET_PATCH or t < TARGET_PATCH:
        raise ValueError(f"target patches must be 16s x 16s for a whole s >= 1, got {t} x {t}")
    return STRIDE * (t // TARGET_PATCH)


def _coverage_1d(n: int) -> np.ndarray:
    before, _, grid = frame_padding(n)
    cov = np.zeros(STRIDE * (grid - 1) + TARGET_PATCH, np.float32)
    for i in range(grid):
        cov[STRIDE * i:STRIDE * i + TARGET_PATCH] += 1.0
    start = before - TARGET_OFFSET
    return cov[start:start + n]


def coverage(h: int, w: int, scale: int = 1) -> np.ndarray:
    """(h*scale, w*scale) float32: how many target patches cover each pixel of an h x w
    frame's padded grid, at ``scale`` times its resolution (16 everywhere with
    :func:`frame_padding`; computed, not assumed)."""
    c = np.outer(_coverage_1d(h), _coverage_1d(w))
    return np.repeat(np.repeat(c, scale, axis=0), scale, axis=1) if scale > 1 else c


def maps_from_indices(idx: jax.Array, values: jax.Array, h: int, w: int) -> jax.Array:
    """Overlap-add the dictionary patches selected on the padded grid.

    Args:
        idx: (B, gh, gw) int32 dictionary indices on the grid of the padded frame.
        values: (K, C, T, T) float32 dictionary values (fg, edge[, contact]); T = 16s
            for values at s times the processing resolution.
        h, w: frame size (at the processing width) before padding.

    Returns:
        (B, C, s*h, s*w) float32 maps: patch sums divided by coverage.
    """
    # overlap_add(values[idx]) with the gather folded into the 16 block adds: each
    # 4x4 block (u, v) of the selected patches is gathered straight into its shifted
    # place, so XLA fuses gathers, pads and adds and never writes the (B, gh, gw, 2,
    # 16, 16) patch grid (4x faster on CPU; equal to overlap_add, see the tests).
    b, gh, gw = idx.shape
    s, k = _stride(values.shape[-1]), TARGET_PATCH // STRIDE
    scale = s // STRIDE
    c = values.shape[1]
    vb = values.reshape(-1, c, k, s, k, s).transpose(2, 4, 0, 1, 3, 5)   # (u, v, K, C, a, b)
    acc = sum(jnp.pad(vb[u, v][idx], ((0, 0), (u, k - 1 - u), (v, k - 1 - v), (0, 0), (0, 0), (0, 0)))
              for u in range(k) for v in range(k))
    summed = acc.transpose(0, 3, 1, 4, 2, 5).reshape(b, c, (gh + k - 1) * s, (gw + k - 1) * s)
    y0 = x0 = (PAD_BEFORE - TARGET_OFFSET) * scale
    return (summed[:, :, y0:y0 + h * scale, x0:x0 + w * scale]
            / jnp.asarray(coverage(h, w, scale)))


def dense_codewords(net, x: jax.Array) -> jax.Array:
    """(B, h, w, 3) prepared frames -> (B, gh, gw, D) codewords on the padded grid."""
    return net(pad_frames(x))


def dense_maps(net, keys: jax.Array, values: jax.Array, frames: jax.Array, *,
               width: int, chunk: int, tta: bool = False,
               std_floor: float = STD_FLOOR) -> jax.Array:
    """The maps of a batch of frames (jit this with ``width``, ``chunk``, ``tta`` static).

    Args:
        net: the :class:`~fishseg.model.network.FieldNet` (eval mode).
        keys: (K, D) float32 dictionary keys. values: (K, C, T, T) float32, T = 16s
            (values at s times the processing resolution).
        frames: (B, H, W, 3) or (B, H, W) uint8.
        width: processing width. chunk: query rows per lookup chunk.
        tta: also run on the horizontally flipped frames and average.
        std_floor: see :func:`standardise`.

    Returns:
        (B, C, H, W) float32 in [0, 1]: fg, edge (and contact when the dictionary has a
        third channel).
    """
    frames = jnp.asarray(frames)
    big_h, big_w = frames.shape[1], frames.shape[2]
    x = prepare(frames, width, std_floor)
    views = [x, x[:, :, ::-1]] if tta else [x]
    maps = 0.0
    for k, v in enumerate(views):
        code = dense_codewords(net, v)
        b, gh, gw, d = code.shape
        idx = lookup(code.reshape(-1, d), keys, chunk).reshape(b, gh, gw)
        m = maps_from_indices(idx, values, v.shape[1], v.shape[2])
        maps = maps + (m[..., ::-1] if k == 1 else m)
    maps = maps / len(views)
    if (maps.shape[2], maps.shape[3]) != (big_h, big_w):
        maps = jax.image.resize(maps, (*maps.shape[:2], big_h, big_w), method="linear")
    return jnp.clip(maps, 0.0, 1.0)
