"""Connected components and small-region removal in JAX, batched over frames.

:func:`label_components` labels the connected components of a mask by min-label
propagation with pointer jumping: every pixel starts with its own flat index, takes the
least index among its neighbours, then jumps ``L <- L[L]`` twice (a pixel's label is the
index of a pixel of the same component, so its label's label is too, and no larger).
Labels converge to the least flat index of each component in a handful of rounds for
blob-like shapes (O(log diameter); a spiral needs more). Components are then numbered
1..n in raster order of their first pixel, which is also ``scipy.ndimage.label``'s order.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from fishseg.watershed import _OFFSETS, _neighbour

_BIG = 2**31 - 1


def _label_frame(mask: jax.Array, connectivity: int) -> tuple[jax.Array, jax.Array]:
    """(H, W) bool -> ((H, W) int32 labels 1..n, rounds)."""
    h, w = mask.shape
    idx = jnp.arange(h * w, dtype=jnp.int32).reshape(h, w)
    lab0 = jnp.where(mask, idx, _BIG)

    def body(state):
        lab, _, n = state
        nb = functools.reduce(jnp.minimum, [_neighbour(lab, dy, dx, _BIG)
                                            for dy, dx in _OFFSETS[connectivity]])
        new = jnp.where(mask, jnp.minimum(lab, nb), _BIG)
        for _ in range(2):
            flat = jnp.where(mask, new, 0).ravel()
            new = jnp.where(mask, flat[flat].reshape(h, w), _BIG)
        return new, jnp.any(new != lab), n + 1

    lab, _, rounds = lax.while_loop(lambda s: s[1], body, (lab0, jnp.bool_(True), jnp.int32(0)))
    roots = (mask & (lab == idx)).ravel()
    number = jnp.cumsum(roots.astype(jnp.int32))
    return jnp.where(mask, number[jnp.where(mask, lab, 0).ravel()].reshape(h, w), 0), rounds


@functools.partial(jax.jit, static_argnames=("connectivity",))
def _label_batch(mask, connectivity):
    return jax.vmap(functools.partial(_label_frame, connectivity=connectivity))(mask)


def _remove_frame(labels: jax.Array, min_area: jax.Array) -> jax.Array:
    """(H, W) int32 labels in [0, H*W] -> the same with small regions 0, renumbered 1..n."""
    flat = labels.ravel()
    area = jnp.zeros(flat.size + 1, jnp.int32).at[flat].add(1)
    keep = (area >= min_area).at[0].set(False)
    new_id = jnp.cumsum(keep.astype(jnp.int32)) * keep
    return new_id[flat].reshape(labels.shape)


_remove_batch = jax.jit(jax.vmap(_remove_frame, in_axes=(0, None)))


def _as_batch(x, name: str):
    x = jnp.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"{name} must be (H, W) or (B, H, W), got shape {x.shape}")
    return (x[None], True) if x.ndim == 2 else (x, False)


def label_components(mask, connectivity: int = 1, *, return_rounds: bool = False):
    """Connected components of a mask, numbered like ``scipy.ndimage.label``.

    Parameters
    ----------
    mask : (H, W) or (B, H, W) bool array
    connectivity : {1, 2}
        1: 4-neighbours, 2: 8-neighbours (scipy's ``generate_binary_structure(2, c)``).
    return_rounds : bool
        Also return the propagation rounds per frame, (B,) int32.

    Returns
    -------
    labels : (H, W) or (B, H, W) int32 array
        0 off the mask; components 1..n per frame in raster order of their first pixel.

    Raises
    ------
    ValueError
        Wrong rank or a connectivity other than 1 or 2.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[1, 1, 0, 1], [0, 0, 0, 1], [1, 0, 1, 1]], bool)
    >>> np.asarray(label_components(m)).tolist()
    [[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 2, 2]]
    """
    if connectivity not in _OFFSETS:
        raise ValueError(f"connectivity must be 1 (4-neighbours) or 2 (8-neighbours), got {connectivity!r}")
    m, was_2d = _as_batch(jnp.asarray(mask, bool), "mask")
    labels, rounds = _label_batch(m, connectivity)
    labels = labels[0] if was_2d else labels
    return (labels, rounds) if return_rounds else labels


def remove_small(labels, min_area: int):
    """Set regions smaller than ``min_area`` pixels to 0 and renumber the rest 1..n.

    Parameters
    ----------
    labels : (H, W) or (B, H, W) int array
        0 = background; labels must lie in [0, H*W] (true of any sequential labelling).
    min_area : int
        Regions with fewer pixels are removed (0 keeps all).

    Returns
    -------
    labels : (H, W) or (B, H, W) int32 array
        Kept regions renumbered 1..n per frame, in the order of their old labels.

    Raises
    ------
    ValueError
        Wrong rank, negative ``min_area``, or labels outside [0, H*W].
    """
    if min_area < 0:
        raise ValueError(f"min_area must be >= 0, got {min_area}")
    lab, was_2d = _as_batch(labels, "labels")
    if not jnp.issubdtype(lab.dtype, jnp.integer):
        raise ValueError(f"labels must be integers, got {lab.dtype}")
    n = lab.shape[1] * lab.shape[2]
    if lab.size and (int(lab.min()) < 0 or int(lab.max()) > n):
        raise ValueError(f"labels must lie in [0, H*W] = [0, {n}]; relabel them sequentially first")
    out = _remove_batch(lab.astype(jnp.int32), jnp.int32(min_area))
    return out[0] if was_2d else out
