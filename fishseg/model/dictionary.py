"""Target codes (PCA), the learned dictionary (k-means) and nearest-neighbour lookup.

- :func:`fit_pca` / :func:`encode`: the network's regression targets are the PCA
  (scikit-learn) coordinates of the C*256-d target patches (fg, edge and, with a
  contact map, contact 16x16 patches, concatenated), divided by one scale so that the
  first code has unit variance. With orthonormal components the squared error in code
  space is the patch reconstruction error (up to that scale).
- :func:`lookup`: index of the nearest key (squared L2) of every query, as one matrix
  product and argmin per chunk of query rows (``||k||^2 - 2 q.k``), the chunks run by
  ``lax.map`` so memory is ``chunk x K`` floats whatever the frame size.
- :func:`kmeans` / :func:`build_dictionary`: compress (codeword, target patch) pairs to
  K entries: keys are k-means centres, values the mean target patch of each cluster.
- :func:`values_for_keys`: new values for fixed keys (the mean target patch of the
  samples nearest each key), e.g. the same dictionary's values at a finer resolution.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits


def channel_weights(channels: int, edge_weight: float, size: int = 16) -> np.ndarray | None:
    """(channels*size*size,) float32 weights of flattened (C, T, T) target patches: 1 for
    every channel but the edge map (channel 1), ``edge_weight`` there; None when that is
    1 (the plain PCA)."""
    if edge_weight == 1.0:
        return None
    w = np.ones((channels, size * size), np.float32)
    w[1] = edge_weight
    return w.ravel()


def fit_pca(targets: np.ndarray, dim: int, seed: int = 0,
            weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """PCA of flattened target patches.

    Args:
        targets: (N, P) float32 target patches (P = C*16*16: 512, or 768 with the
            contact map), N > dim.
        dim: number of components (the code dimension).
        seed: random state for scikit-learn.
        weight: optional (P,) float32 per-pixel weights (:func:`channel_weights`): the
            PCA is of the weighted patches, and :func:`encode` weighs patches the same
            way, so the codes (and the training loss on them) count weighted pixels more.

    Returns:
        ``{"mean": (P,), "components": (dim, P), "scale": ()}`` float32 arrays, and
        ``"weight": (P,)`` when ``weight`` is given.
    """
    targets = np.asarray(targets, np.float32).reshape(len(targets), -1)
    if len(targets) <= dim:
        raise ValueError(f"PCA needs more than {dim} target patches, got {len(targets)}")
    if weight is not None:
        weight = np.asarray(weight, np.float32).reshape(-1)
        if weight.shape != targets.shape[1:]:
            raise ValueError(f"PCA weights have {weight.size} entries for patches of "
                             f"{targets.shape[1]} values")
        targets = targets * weight
    # One BLAS thread: with XLA's threads alive, OpenBLAS's spinning threads contend
    # for the cores (a 512x512 eigenproblem is 20x slower on 2 cores without this).
    with threadpool_limits(limits=1):
        pca = PCA(n_components=dim, svd_solver="covariance_eigh", random_state=seed).fit(targets)
    scale = float(np.sqrt(max(pca.explained_variance_[0], 1e-12)))
    out = {"mean": pca.mean_.astype(np.float32),
           "components": pca.components_.astype(np.float32),
           "scale": np.float32(scale)}
    if weight is not None:
        out["weight"] = weight
    return out


def encode(pca: dict, targets: np.ndarray | jax.Array) -> jax.Array:
    """(N, P) target patches -> (N, dim) float32 codes (weighted first, where the PCA
    was fitted with weights)."""
    t = jnp.asarray(targets, jnp.float32).reshape(targets.shape[0], -1)
    if "weight" in pca:
        t = t * jnp.asarray(pca["weight"])
    return (t - pca["mean"]) @ jnp.asarray(pca["components"]).T / pca["scale"]


def decode(pca: dict, codes: jax.Array) -> jax.Array:
    """(N, dim) codes -> (N, P) float32 patches (the PCA reconstruction, unweighted)."""
    t = codes * pca["scale"] @ jnp.asarray(pca["components"]) + pca["mean"]
    return t / jnp.asarray(pca["weight"]) if "weight" in pca else t


@partial(jax.jit, static_argnames="chunk")
def lookup(queries: jax.Array, keys: jax.Array, chunk: int = 256) -> jax.Array:
    """Index of the nearest key of every query (squared Euclidean distance).

    Args:
        queries: (N, D) float32.
        keys: (K, D) float32.
        chunk: query rows per matrix product (memory ~ 4 * chunk * K bytes).

    Returns:
        (N,) int32; ties go to the lowest index.
    """
    n, d = queries.shape
    queries = queries.astype(jnp.float32)
    keys = keys.astype(jnp.float32)
    # keys padded to whole blocks of _BLOCK; a padded key is infinitely far
    pad_k = (-keys.shape[0]) % _BLOCK
    k2 = jnp.pad(jnp.sum(keys * keys, axis=1), (0, pad_k), constant_values=jnp.inf)
    keys = jnp.pad(keys, ((0, pad_k), (0, 0)))
    blocks = keys.shape[0] // _BLOCK

    def nearest(q):
        # The distances are (K, chunk), reduced over the keys (the major axis):
        # element-wise minima of contiguous rows vectorise on a CPU. The lowest index at
        # the minimum, exactly, in 1.25 passes over them instead of 2: the minimum of
        # each block of _BLOCK keys, the first block reaching the overall minimum, then
        # the first key within it (43 -> 23 ms per 640x360 frame, K = 1961, session 21;
        # jnp.argmin's (value, index) reduction is 3-4x slower still).
        dist = (k2[:, None] - 2.0 * (keys @ q.T)).reshape(blocks, _BLOCK, -1)
        per_block = dist.min(axis=1)                                   # (blocks, chunk)
        best = per_block.min(axis=0)                                   # (chunk,)
        iota = jax.lax.broadcasted_iota(jnp.int32, per_block.shape, 0)
        block = jnp.min(jnp.where(per_block == best, iota, blocks), axis=0)
        inside = jnp.take_along_axis(dist, block[None, None, :], axis=0)[0]   # (_BLOCK, chunk)
        iota = jax.lax.broadcasted_iota(jnp.int32, inside.shape, 0)
        return block * _BLOCK + jnp.min(jnp.where(inside == best, iota, _BLOCK), axis=0)

    if n <= chunk:
        return nearest(queries)
    pad = (-n) % chunk
    q = jnp.pad(queries, ((0, pad), (0, 0))).reshape(-1, chunk, d)
    return jax.lax.map(nearest, q).reshape(-1)[:n]


#: Keys per block of :func:`lookup`'s two-level minimum (8: fastest of 8, 16, 32 on a CPU).
_BLOCK = 8


@partial(jax.jit, static_argnames=("k", "iters", "chunk"))
def _kmeans(x: jax.Array, init: jax.Array, k: int, iters: int, chunk: int):
    def step(_, centres):
        a = lookup(x, centres, chunk)
        sums = jax.ops.segment_sum(x, a, num_segments=k)
        counts = jax.ops.segment_sum(jnp.ones(x.shape[0], x.dtype), a, num_segments=k)
        return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], centres)

    centres = jax.lax.fori_loop(0, iters, step, x[init])
    return centres, lookup(x, centres, chunk)


def kmeans(x: np.ndarray, k: int, iters: int, seed: int = 0,
           chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means, initialised with ``k`` distinct random points (seeded).

    Args:
        x: (N, D) float32 points, N >= k.
        k: number of clusters. iters: Lloyd iterations. seed: random seed.
        chunk: query rows per chunk of the assignment step.

    Returns:
        ``(centres, assignment)``: (k, D) float32 and (N,) int32. A cluster that runs
        empty keeps its previous centre.
    """
    x = np.asarray(x, np.float32)
    init = np.random.default_rng(seed).choice(len(x), size=k, replace=False)
    centres, assign = _kmeans(jnp.asarray(x), jnp.asarray(init), k, iters, chunk)
    return np.asarray(centres), np.asarray(assign)


def build_dictionary(codes: np.ndarray, patches: np.ndarray, size: int, iters: int,
                     seed: int = 0, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The learned dictionary from codewords and their true target patches.

    Args:
        codes: (N, D) float32 network codewords of training patches.
        patches: (N, C, T, T) target patches (fg, edge[, contact]) in [0, 1] (T = 16, or
            16s for values at s times the processing resolution; any real dtype).
        size: K, the number of entries; with N <= K every pair is kept as is.
        iters: k-means iterations. seed: random seed. chunk: lookup chunk.

    Returns:
        ``(keys, values)``: (K', D) float32 and (K', C, T, T) float32, K' <= K
        (clusters left empty are dropped).
    """
    codes = np.asarray(codes, np.float32)
    if len(codes) <= size:
        return codes, np.asarray(patches, np.float32)
    centres, assign = kmeans(codes, size, iters, seed, chunk)
    values, counts = cluster_means(patches, assign, size)
    keep = counts > 0
    return centres[keep], values[keep]


#: Patches summed per chunk in :func:`cluster_means` (bounds its float32 copies).
MEANS_CHUNK = 16384


def cluster_means(patches: np.ndarray, assign: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean patch of each of ``k`` clusters, summed a chunk of patches at a time.

    Args:
        patches: (N, ...) patches (any real dtype, e.g. uint8 0/1 targets).
        assign: (N,) int cluster of each patch, in [0, k).

    Returns:
        ``(means, counts)``: (k, ...) float32 (zero for an empty cluster) and (k,) int64.
    """
    patches = np.asarray(patches)
    assign = np.asarray(assign)
    sums = jnp.zeros((k, int(np.prod(patches.shape[1:]))), jnp.float32)
    for i in range(0, len(patches), MEANS_CHUNK):
        flat = jnp.asarray(patches[i:i + MEANS_CHUNK].reshape(-1, sums.shape[1]), jnp.float32)
        sums = sums + jax.ops.segment_sum(flat, jnp.asarray(assign[i:i + MEANS_CHUNK]),
                                          num_segments=k)
    counts = np.bincount(assign, minlength=k)
    means = np.asarray(sums) / np.maximum(counts, 1)[:, None]
    return means.astype(np.float32).reshape(k, *patches.shape[1:]), counts


def values_for_keys(codes: np.ndarray, patches: np.ndarray, keys: np.ndarray,
                    fallback: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Values of a dictionary whose keys stay fixed: each key's value becomes the mean
    target patch of the samples whose codeword is nearest to it.

    Args:
        codes: (N, D) float32 codewords of training patches.
        patches: (N, C, T, T) their target patches (e.g. uint8, at any resolution).
        keys: (K, D) float32 the dictionary's keys.
        fallback: (K, C, T, T) values kept for a key no sample is nearest to.
        chunk: lookup chunk.

    Returns:
        ``(values, counts)``: (K, C, T, T) float32 and (K,) int64 samples per key.
    """
    assign = np.asarray(lookup(jnp.asarray(codes, jnp.float32), jnp.asarray(keys, jnp.float32), chunk))
    means, counts = cluster_means(patches, assign, len(keys))
    values = np.where((counts > 0)[:, None, None, None], means, np.asarray(fallback, np.float32))
    return values.astype(np.float32), counts
