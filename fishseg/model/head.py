"""Fine-tuning from a trained model: the convolutions stay, the FC and output layers learn.

With ``train.init`` (a model file or a bundled name) training starts from that model's
network. The output layer is first solved by least squares (ridge regression of the new
target codes on the init model's FC activations, :func:`solve_output_layer`): a new
PCA — other frames, or the contact map as a third target channel — gives the codes new
axes, so the old output layer means nothing for them, while the FC activations still
describe the patch.

With ``train.finetune: head`` (the default) the two convolutions are fixed: their output
for a pool of augmented training patches is computed once (:func:`pool_features`, float16)
and only the FC (5x5, a matrix product on the flattened 5x5xc2 features) and output
layers are optimised on it (:func:`fit_head`). A step is then two small matrix products,
so adapting the bundled default model to a user's belt takes minutes on a CPU, where
training every layer takes hours (~5.5 h for the default recipe). ``finetune: all`` trains every layer from the init
weights with :func:`fishseg.model.fit.fit`.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

from fishseg.config import Config
from fishseg.model.dictionary import encode
from fishseg.model.fit import EVAL_BATCH, History, LossWatch, TrainingError, make_optimizer
from fishseg.model.network import FieldNet, get_params, set_params
from fishseg.model.patches import PatchSource, batches

#: Patches whose FC activations fit the output layer (at most).
RIDGE_PATCHES = 32768
#: Ridge penalty, relative to the mean squared FC activation.
RIDGE = 1e-3


@partial(jax.jit, static_argnames="graphdef")
def _trunk_jit(graphdef, state, x):
    return nnx.merge(graphdef, state).trunk(x).astype(jnp.float16)


def pool_features(net: FieldNet, source: PatchSource, centres: np.ndarray, pca: dict,
                  key: jax.Array, augment: bool, *, progress: bool = False,
                  desc: str = "caching features") -> tuple[np.ndarray, np.ndarray]:
    """Outputs of the fixed convolutions for patches, and their target codes.

    Args:
        net: the network (only ``conv1``, ``conv2`` are used).
        source: the frames. centres: (N, 3) int32 patch centres.
        pca: the target-code PCA. key: PRNG key of the augmentation.
        augment: augment the patches (as :func:`fishseg.model.patches.make_batch`).

    Returns:
        ``(features, codes)``: (N, 5 * 5 * c2) float16 and (N, code_dim) float32.
    """
    graphdef, state = nnx.split(net)
    pca_j = {k: jnp.asarray(v) for k, v in pca.items()}
    feats, codes = [], []
    n_batches = -(-len(centres) // EVAL_BATCH)
    for inp, tgt in tqdm(batches(source, centres, EVAL_BATCH, key, augment), total=n_batches,
                         desc=desc, disable=not progress, unit="batch", leave=False):
        feats.append(np.asarray(_trunk_jit(graphdef, state, inp)).reshape(len(inp), -1))
        codes.append(np.asarray(encode(pca_j, tgt), np.float32))
    return np.concatenate(feats), np.concatenate(codes)


def _fc(p: dict, feats: jax.Array) -> jax.Array:
    """ReLU(FC) of flattened trunk features (low rank: ``fc_a`` first): (N, c3)."""
    x = feats.astype(jnp.float32)
    if "fc_a" in p:
        x = x @ p["fc_a"]
    return jax.nn.relu(x @ p["fc_k"] + p["fc_b"])


def _head(p: dict, feats: jax.Array, drop: float = 0.0, key: jax.Array | None = None):
    """Codewords from flattened trunk features: FC, ReLU, (dropout), output layer."""
    h = _fc(p, feats)
    if key is not None and drop > 0:
        keep = jax.random.bernoulli(key, 1.0 - drop, h.shape)
        h = jnp.where(keep, h / (1.0 - drop), 0.0)
    return h @ p["out_k"] + p["out_b"]


def _head_loss(p, feats, codes, drop, key):
    return jnp.mean(jnp.sum((_head(p, feats, drop, key) - codes) ** 2, axis=-1))


def solve_output_layer(h: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares output layer for given FC activations (ridge, float64).

    Args:
        h: (N, c3) float32 FC activations (after the ReLU). codes: (N, D) target codes.

    Returns:
        ``(out_k, out_b)``: (c3, D) and (D,) float32 minimising
        ``|h @ out_k + out_b - codes|^2 + RIDGE * mean(diag(h^T h)) * |out_k|^2``.
    """
    a = np.concatenate([h.astype(np.float64), np.ones((len(h), 1))], axis=1)
    gram = a.T @ a
    pen = RIDGE * np.trace(gram[:-1, :-1]) / max(len(gram) - 1, 1)
    gram[np.arange(len(gram) - 1), np.arange(len(gram) - 1)] += pen
    w = np.linalg.solve(gram, a.T @ codes.astype(np.float64))
    return w[:-1].astype(np.float32), w[-1].astype(np.float32)


def low_rank_fc(kernel: np.ndarray, bias: np.ndarray, feats: np.ndarray,
                rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rank-``rank`` FC layer close to ``feats @ kernel + bias`` on the given features.

    The FC outputs are projected on their ``rank`` principal directions V (the
    data-aware factorisation of Zhang et al., "Accelerating very deep convolutional
    networks", 2015): ``y ~ mean + (y - mean) V V^T = feats @ (kernel V) @ V^T + bias'``.
    On the default model's features rank 64 keeps 97% of the output variance, where a
    plain SVD of the kernel keeps 76% of its energy.

    Args:
        kernel: (F, c3) FC kernel on flattened features. bias: (c3,).
        feats: (N, F) float16/32 trunk features. rank: r < c3.

    Returns:
        ``(a, b, bias')``: (F, r), (r, c3) and (c3,) float32.
    """
    if not 0 < rank < kernel.shape[1]:
        raise ValueError(f"model.fc_rank must be between 1 and {kernel.shape[1] - 1} (below the "
                         f"FC width), got {rank}")
    y = feats.astype(np.float64) @ kernel.astype(np.float64) + bias
    mean = y.mean(axis=0)
    _, vecs = np.linalg.eigh((y - mean).T @ (y - mean))
    v = vecs[:, ::-1][:, :rank]
    proj = v @ v.T
    new_bias = mean + (bias - mean) @ proj
    return (kernel @ v).astype(np.float32), v.T.astype(np.float32), new_bias.astype(np.float32)


def _to_head(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The FC weights as matrices on flattened features (``fc_a``, ``fc_k``, ``fc_b``)."""
    k = params["fc/kernel"]
    head = {"fc_k": k.reshape(-1, k.shape[-1]), "fc_b": params["fc/bias"]}
    if "fc_a/kernel" in params:
        a = params["fc_a/kernel"]
        head["fc_a"] = a.reshape(-1, a.shape[-1])
    return head


def start_params(init: FieldNet, cfg: Config, source: PatchSource, centres: np.ndarray,
                 pca: dict, key: jax.Array) -> dict[str, np.ndarray]:
    """Weights to fine-tune from: ``init``'s convolutions and FC (factored to rank
    ``cfg.model.fc_rank`` by :func:`low_rank_fc` where that is set, or multiplied out
    where it is 0 and ``init``'s is not), and an output layer for the new codes solved by
    :func:`solve_output_layer` (``cfg.model.code_dim`` outputs).

    Args:
        init: the trained network to start from (same ``features`` as ``cfg.model``).
        cfg: the configuration of the new model. source, centres: training patches
            (up to :data:`RIDGE_PATCHES` of them are used, unaugmented).
        pca: the new target-code PCA. key: PRNG key.

    Returns:
        Weights in :func:`fishseg.model.network.get_params` layout for a
        ``FieldNet(cfg.model)``.
    """
    params = get_params(init)
    pick = centres[np.random.default_rng(cfg.train.seed + 2).permutation(len(centres))[:RIDGE_PATCHES]]
    feats, codes = pool_features(init, source, pick, pca, key, False)
    old = _to_head(params)
    full = old["fc_a"] @ old["fc_k"] if "fc_a" in old else old["fc_k"]  # (25*c2, c3)
    c2, c3 = params["conv2/kernel"].shape[-1], full.shape[1]
    params.pop("fc_a/kernel", None)
    rank = cfg.model.fc_rank
    if rank:
        a, b, bias = low_rank_fc(full, old["fc_b"], feats, rank)
        head = {"fc_a": a, "fc_k": b, "fc_b": bias}
        params["fc_a/kernel"] = a.reshape(5, 5, c2, rank)
        params["fc/kernel"] = b.reshape(1, 1, rank, c3)
        params["fc/bias"] = bias
    else:
        head = {"fc_k": full, "fc_b": old["fc_b"]}
        params["fc/kernel"] = full.reshape(5, 5, c2, c3)
    out_k, out_b = solve_output_layer(_fc_activations(head, feats), codes)
    params["out/kernel"] = out_k.reshape(1, 1, *out_k.shape)
    params["out/bias"] = out_b
    return params


def _fc_activations(head: dict, feats: np.ndarray) -> np.ndarray:
    """(N, c3) float32 ReLU(FC) of flattened features, in chunks of 8192."""
    fc = jax.jit(_fc)
    return np.concatenate([np.asarray(fc(head, feats[i:i + 8192]))
                           for i in range(0, len(feats), 8192)])


@partial(jax.jit, static_argnames=("tx", "drop"))
def _step(p, opt_state, feats, codes, key, tx, drop):
    loss, grads = jax.value_and_grad(_head_loss)(p, feats, codes, drop, key)
    updates, opt_state = tx.update(grads, opt_state, p)
    return optax.apply_updates(p, updates), opt_state, loss


@jax.jit
def _val_loss(p, feats, codes):
    return _head_loss(p, feats, codes, 0.0, None) * feats.shape[0]


def _evaluate(p, feats: np.ndarray, codes: np.ndarray) -> float:
    total = 0.0
    for i in range(0, len(feats), EVAL_BATCH):
        total += float(_val_loss(p, jnp.asarray(feats[i:i + EVAL_BATCH]),
                                 jnp.asarray(codes[i:i + EVAL_BATCH])))
    return total / max(len(feats), 1)


def fit_head(init: dict[str, np.ndarray], source: PatchSource, train_centres: np.ndarray,
             val_centres: np.ndarray, pca: dict, cfg: Config, *,
             progress: bool = True) -> tuple[FieldNet, History]:
    """Train the FC and output layers on cached outputs of fixed convolutions.

    Args:
        init: starting weights (:func:`start_params`); conv1 and conv2 stay as given.
        source: prepared frames and targets.
        train_centres: (N, 3) int32 centres of the training frames; ``train.head_pool``
            of them (drawn with replacement, augmented once each) make the pool that
            batches are drawn from.
        val_centres: (M, 3) int32 centres of the validation frames (unaugmented).
        pca: the target-code PCA. cfg: configuration (``model``, ``train``).
        progress: show tqdm bars.

    Returns:
        ``(model, history)``: the network with the FC and output weights of the best
        validation loss.

    Raises:
        TrainingError: no training patches, or the loss became NaN/inf or diverged.
    """
    t = cfg.train
    if len(train_centres) == 0:
        raise TrainingError("no training patches: the training frames are empty")
    net = FieldNet(cfg.model, rngs=nnx.Rngs(params=t.seed))
    set_params(net, init)
    rng = np.random.default_rng(t.seed)
    key = jax.random.key(t.seed)
    n_pool = min(t.head_pool, t.steps * t.batch_size)
    pool_c = train_centres[rng.integers(0, len(train_centres), n_pool)]
    feats, codes = pool_features(net, source, pool_c, pca, jax.random.fold_in(key, 1),
                                 t.augment, progress=progress)
    val_f, val_codes = pool_features(net, source, val_centres, pca, key, False)

    ok = init["out/kernel"]
    p = {**{k: jnp.asarray(v) for k, v in _to_head(init).items()},
         "out_k": jnp.asarray(ok.reshape(ok.shape[-2], ok.shape[-1])),
         "out_b": jnp.asarray(init["out/bias"])}
    tx = make_optimizer(t)
    opt_state = tx.init(p)
    hist, watch = History(), LossWatch(t)
    best = p
    hist.val_steps.append(0)
    hist.val.append(_evaluate(p, val_f, val_codes))
    hist.best_val, hist.best_step = hist.val[0], 0
    bar = tqdm(range(1, t.steps + 1), desc="training head", disable=not progress, unit="step")
    for step in bar:
        idx = rng.integers(0, n_pool, t.batch_size)
        k_drop = jax.random.fold_in(key, step)
        p, opt_state, loss = _step(p, opt_state, jnp.asarray(feats[idx]),
                                   jnp.asarray(codes[idx]), k_drop, tx, cfg.model.dropout)
        ema = watch.update(step, float(loss))
        hist.steps.append(step)
        hist.train.append(float(loss))
        if step % t.eval_every == 0 or step == t.steps:
            val = _evaluate(p, val_f, val_codes)
            hist.val_steps.append(step)
            hist.val.append(val)
            if val < hist.best_val:
                hist.best_val, hist.best_step, best = val, step, p
            bar.set_postfix(loss=f"{ema:.4f}", val=f"{val:.4f}")
    if not math.isfinite(hist.best_val):
        raise TrainingError("the validation loss was never finite")
    params = dict(init)
    params["fc/kernel"] = np.asarray(best["fc_k"]).reshape(init["fc/kernel"].shape)
    if "fc_a" in best:
        params["fc_a/kernel"] = np.asarray(best["fc_a"]).reshape(init["fc_a/kernel"].shape)
    params["fc/bias"] = np.asarray(best["fc_b"])
    params["out/kernel"] = np.asarray(best["out_k"]).reshape(1, 1, *best["out_k"].shape)
    params["out/bias"] = np.asarray(best["out_b"])
    set_params(net, params)
    return net, hist
