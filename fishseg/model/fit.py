"""Optimisation of the codeword network: regress PCA codes of the target patches.

:func:`fit` runs AdamW (linear warmup + cosine decay, decoupled weight decay, global
norm clipping) on augmented, balanced patch batches (or, with ``train.crop``, on crops of
overlapping patches, :mod:`fishseg.model.crops`), evaluates the validation loss every
``train.eval_every`` steps, keeps the best weights and stops with :class:`TrainingError`
when the loss turns NaN/inf or diverges. Everything random is derived from
``train.seed``: the same seed and data give the same weights.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

from fishseg.config import Config, TrainConfig, to_dict
from fishseg.model import resume
from fishseg.model.crops import crop_corners, crop_loss, make_crop_batch
from fishseg.model.dictionary import encode
from fishseg.model.network import FieldNet, get_params, set_params
from fishseg.model.patches import PatchSource, batches, make_batch

#: Smoothed training loss this many times above its best value counts as divergence.
DIVERGENCE_FACTOR = 100.0
#: Patches per batch of the validation and dictionary passes (no augmentation).
EVAL_BATCH = 256


class TrainingError(RuntimeError):
    """Training cannot go on (NaN/inf loss, divergence, too little data)."""


@dataclass
class History:
    """Losses recorded during :func:`fit` (code-space mean squared error per patch)."""

    steps: list[int] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    best_step: int = 0
    best_val: float = math.inf
    #: steps after which an interrupted training was resumed (:mod:`fishseg.model.resume`)
    resumed_at: list[int] = field(default_factory=list)


class LossWatch:
    """Stops training with :class:`TrainingError` when the loss turns NaN/inf or diverges
    (its running mean over :data:`DIVERGENCE_FACTOR` times its best after the warmup)."""

    def __init__(self, t: TrainConfig):
        self.t = t
        self.ema: float | None = None
        self.best = math.inf

    def update(self, step: int, loss: float) -> float:
        """Record one step's loss; returns the running mean."""
        t = self.t
        if not math.isfinite(loss):
            raise TrainingError(
                f"training stopped at step {step}: the loss is {loss}. Lower "
                f"train.learning_rate (now {t.learning_rate:g}) or check the training data.")
        self.ema = loss if self.ema is None else 0.95 * self.ema + 0.05 * loss
        self.best = min(self.best, self.ema)
        if step > t.warmup_steps + 20 and self.ema > DIVERGENCE_FACTOR * self.best:
            raise TrainingError(
                f"training diverged at step {step}: the smoothed loss {self.ema:.4g} is over "
                f"{DIVERGENCE_FACTOR:g}x its best ({self.best:.4g}). Lower train.learning_rate "
                f"(now {t.learning_rate:g}).")
        return self.ema


@functools.lru_cache(maxsize=8)
def make_optimizer(t: TrainConfig) -> optax.GradientTransformation:
    """AdamW with linear warmup and cosine decay to 1% of the peak rate, gradients
    clipped to global norm 1 (cached per configuration: an equal optimizer lets the
    jitted train step be reused)."""
    warmup = min(t.warmup_steps, max(t.steps - 1, 0))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, t.learning_rate, warmup, max(t.steps, warmup + 1), end_value=t.learning_rate * 0.01)
    return optax.chain(optax.clip_by_global_norm(1.0),
                       optax.adamw(schedule, weight_decay=t.weight_decay))


def _loss(model: FieldNet, pca: dict, inputs, patches, key, train: bool):
    pred = model(inputs, train=train, dropout_key=key)[:, 0, 0, :]
    codes = encode(pca, patches)
    return jnp.mean(jnp.sum((pred - codes) ** 2, axis=-1))


@nnx.jit
def _train_step(model, optimizer, pca, inputs, patches, key):
    loss, grads = nnx.value_and_grad(_loss)(model, pca, inputs, patches, key, True)
    optimizer.update(model, grads)
    return loss


def _crop_loss(model: FieldNet, pca: dict, inputs, patches, key, balance):
    return crop_loss(model(inputs, train=True, dropout_key=key), patches, pca, balance)


@nnx.jit(static_argnames="balance")
def _crop_train_step(model, optimizer, pca, inputs, patches, key, balance):
    loss, grads = nnx.value_and_grad(_crop_loss)(model, pca, inputs, patches, key, balance)
    optimizer.update(model, grads)
    return loss


def crop_grid(source: PatchSource, frames: np.ndarray, g: int) -> int:
    """``train.crop`` g, made smaller where the smallest of ``frames`` cannot hold a
    crop of g x g patch centres."""
    h, w = source.sizes[np.asarray(frames)].min(axis=0)
    return int(max(1, min(g, (h - 1) // 4 + 1, (w - 1) // 4 + 1)))


@nnx.jit
def _eval_step(model, pca, inputs, patches):
    return _loss(model, pca, inputs, patches, None, False) * inputs.shape[0]


def evaluate_loss(model: FieldNet, pca: dict, source: PatchSource, centres: np.ndarray,
                  batch_size: int) -> float:
    """Mean code-space squared error over fixed, unaugmented patches."""
    total = 0.0
    for inputs, patches in batches(source, centres, batch_size, jax.random.key(0)):
        total += float(_eval_step(model, pca, inputs, patches))
    return total / max(len(centres), 1)


def fit(source: PatchSource, train_centres: np.ndarray, val_centres: np.ndarray, pca: dict,
        cfg: Config, *, progress: bool = True,
        init: dict[str, np.ndarray] | None = None, checkpoint: str | Path | None = None,
        run_key: dict | None = None) -> tuple[FieldNet, History]:
    """Train the network.

    Args:
        source: prepared frames and targets.
        train_centres: (N, 3) int32 patch centres of the training frames (the pool
            batches are drawn from, with replacement).
        val_centres: (M, 3) int32 patch centres of the validation frames.
        pca: target-code PCA (:func:`fishseg.model.dictionary.fit_pca`).
        cfg: configuration (``model`` and ``train`` sections).
        progress: show a tqdm bar.
        init: weights to start from (:func:`fishseg.model.network.get_params` layout);
            None starts from random weights seeded by ``train.seed``.
        checkpoint: a file for the training's state (:mod:`fishseg.model.resume`): saved
            every ``train.checkpoint_minutes`` and on Ctrl-C (then KeyboardInterrupt is
            raised after saving); a state of the same run found there is resumed, with
            the same result as an uninterrupted run. None: no checkpoints.
        run_key: identity of the run (:func:`fishseg.train.training_key`); a checkpoint
            of another run is not resumed.

    Returns:
        ``(model, history)``: the network with the weights of the best validation loss.

    Raises:
        TrainingError: the loss became NaN/inf or diverged.
        KeyboardInterrupt: Ctrl-C; with ``checkpoint`` after the state was saved.
    """
    t = cfg.train
    if len(train_centres) == 0:
        raise TrainingError("no training patches: the training frames are empty")
    rng = np.random.default_rng(t.seed)
    key = jax.random.key(t.seed)
    model = FieldNet(cfg.model, rngs=nnx.Rngs(params=t.seed))
    if init is not None:
        set_params(model, init)
    optimizer = nnx.Optimizer(model, make_optimizer(cfg.train), wrt=nnx.Param)
    pca_j = {k: jnp.asarray(v) for k, v in pca.items()}
    frames, targets = jnp.asarray(source.frames), jnp.asarray(source.targets)
    hist = History()
    best = get_params(model)
    watch = LossWatch(t)
    first = 1
    checkpoint = Path(checkpoint) if checkpoint is not None and t.checkpoint_minutes else None
    got = (resume.load(checkpoint, run_key or {}, model, optimizer, to_dict(Config()))
           if checkpoint else None)
    if got:
        meta, best = got
        hist = History(**{k: v for k, v in meta["history"].items()
                          if k in History.__dataclass_fields__})
        watch.ema, watch.best = meta["watch"]
        resume.set_rng_state(rng, meta["rng"])
        first = meta["step"] + 1
        hist.resumed_at.append(meta["step"])
        # said even with the bars off (-q): a resumed run must not pass for a fresh one
        tqdm.write(f"resuming the training saved in {checkpoint} after step {meta['step']}")

    def save(step: int) -> None:
        nonlocal checkpoint
        try:
            resume.save(checkpoint, run_key, step=step, model=model, optimizer=optimizer,
                        best=best, meta={"history": dataclasses.asdict(hist),
                                         "watch": [watch.ema, watch.best],
                                         "rng": resume.rng_state(rng)})
        except OSError as e:  # a full disk must not stop the training itself
            warnings.warn(f"{checkpoint}: cannot save the training's state ({e}); going on "
                          "without checkpoints", stacklevel=2)
            checkpoint = None

    bar = tqdm(range(first, t.steps + 1), desc="training", disable=not progress, unit="step",
               initial=first - 1, total=t.steps)
    g = crop_grid(source, np.unique(train_centres[:, 0]), t.crop) if t.crop else 0
    per_step = max(1, t.batch_size // (g * g)) if g else t.batch_size
    saved = time.monotonic()
    with resume.StopRequest() as stop:
        for step in bar:
            pick = train_centres[rng.integers(0, len(train_centres), per_step)]
            k_aug, k_drop = jax.random.split(jax.random.fold_in(key, step))
            if g:
                corners = jnp.asarray(crop_corners(source, pick, g))
                inputs, patches = make_crop_batch(frames, targets, corners, k_aug, g, t.augment)
                loss = _crop_train_step(model, optimizer, pca_j, inputs, patches, k_drop,
                                        tuple(t.balance))
            else:
                inputs, patches = make_batch(frames, targets, jnp.asarray(pick), k_aug,
                                             t.augment)
                loss = _train_step(model, optimizer, pca_j, inputs, patches, k_drop)
            loss = float(loss)
            ema = watch.update(step, loss)
            hist.steps.append(step)
            hist.train.append(loss)
            if step % t.eval_every == 0 or step == t.steps:
                val = evaluate_loss(model, pca_j, source, val_centres, EVAL_BATCH)
                hist.val_steps.append(step)
                hist.val.append(val)
                if val < hist.best_val:
                    hist.best_val, hist.best_step, best = val, step, get_params(model)
                bar.set_postfix(loss=f"{ema:.4f}", val=f"{val:.4f}")
            if checkpoint and (stop.requested or step == t.steps
                               or time.monotonic() - saved >= 60 * t.checkpoint_minutes):
                save(step)  # at the end too: Ctrl-C in the dictionary or tuning redoes no step
                saved = time.monotonic()
            if stop.requested:
                bar.close()
                raise KeyboardInterrupt(
                    f"training stopped after step {step} of {t.steps}" + (
                        f"; its state is saved in {checkpoint}: run the same command again "
                        "to resume" if checkpoint else ""))
    set_params(model, best)
    return model, hist


def plot_history(hist: History, path: str | Path) -> Path:
    """Write the training curve (per-step loss, its running mean, validation loss) to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(hist.steps, hist.train, color="0.75", lw=0.6, label="train (per step)")
    if hist.train:
        w = max(1, min(50, len(hist.train) // 10))
        smooth = np.convolve(hist.train, np.ones(w) / w, mode="valid")
        ax.plot(hist.steps[w - 1:], smooth, color="C0", label=f"train (mean of {w})")
    ax.plot(hist.val_steps, hist.val, "o-", color="C1", ms=3, label="validation")
    if hist.val_steps:
        ax.axvline(hist.best_step, color="C2", ls="--", lw=0.8, label=f"best (step {hist.best_step})")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("code squared error")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
