"""Train an N^4-Fields model: datasets -> targets -> PCA -> fields -> dictionary -> bundle.

Entry points: :func:`train_and_evaluate` (dataset folders, used by ``fishseg train``) and
:func:`train_on_samples` (frames and labels already in memory).

Example::

    fishseg train --data data/belt1 data/belt2 --out belt.fishseg --config configs/quick.yaml

Fine-tuning the bundled default model on a user's frames (``train.init``; the fixed
convolutions make it minutes on a CPU, see :mod:`fishseg.model.head`)::

    fishseg train --data data/belt1 --out belt.fishseg --init default --config configs/finetune.yaml
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from fishseg.config import Config, to_dict
from fishseg.model import resume
from fishseg.model.bundle import FishsegModel, load_model
from fishseg.model.dictionary import build_dictionary, channel_weights, fit_pca
from fishseg.model.fit import EVAL_BATCH, TrainingError, fit, plot_history
from fishseg.model.head import fit_head, start_params
from fishseg.model.network import get_params
from fishseg.model.patches import batches, build_source, sample_centres, value_patches
from fishseg.targets import target_maps
from fishseg.tune import tune_model

#: Target patches used to fit the PCA (at most).
PCA_PATCHES = 50_000
#: Validation patches (at most).
VAL_PATCHES = 4096


def split_frames(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and validation frames (a seeded random split by frame).

    With ``val_fraction > 0`` and at least 2 frames, at least one frame is held out;
    with one frame (or ``val_fraction == 0``) validation uses the training frames.
    """
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return train, (val if n_val else train)


@partial(jax.jit, static_argnames="graphdef")
def _codewords_jit(graphdef, state, x):
    return nnx.merge(graphdef, state)(x)[:, 0, 0, :]


def codewords_of_patches(model, inputs) -> np.ndarray:
    """(N, 34, 34, 3) patches -> (N, D) codewords (eval mode)."""
    graphdef, state = nnx.split(model)
    return np.asarray(_codewords_jit(graphdef, state, inputs))


def val_scores(model: FishsegModel, images: list[np.ndarray], labels: list[np.ndarray],
               edge_width: int) -> dict[str, float]:
    """Pixel fg IoU and edge F1 (maps thresholded at 0.5) on validation frames."""
    inter = union = tp = fp = fn = 0
    for img, lab in zip(images, labels, strict=True):
        fg, edge = model.predict_maps(img[None])
        pf, pe = np.asarray(fg[0]) > 0.5, np.asarray(edge[0]) > 0.5
        tf, te = (t > 0.5 for t in target_maps(np.asarray(lab, np.int32), edge_width))
        inter += np.sum(pf & tf)
        union += np.sum(pf | tf)
        tp, fp, fn = tp + np.sum(pe & te), fp + np.sum(pe & ~te), fn + np.sum(~pe & te)
    return {"fg_iou": float(inter / max(union, 1)),
            "edge_f1": float(2 * tp / max(2 * tp + fp + fn, 1))}


#: Model settings a fine-tuned model takes from the model it starts from.
INIT_SETTINGS = ("features", "processing_width", "std_floor")


def init_settings(cfg: Config, init: Config) -> Config:
    """``cfg`` with the model settings of the model it starts from (:data:`INIT_SETTINGS`:
    the weights only fit that network, and its inputs must be prepared the same way) and
    its separation settings (tuned on many frames: the start of the tuning on the new
    validation frames, and kept where tuning finds nothing better). ``model.fc_rank``
    set (non-zero) factors the FC layer to that rank; unset, the init model's is kept."""
    model = {k: getattr(init.model, k) for k in INIT_SETTINGS}
    model["fc_rank"] = cfg.model.fc_rank or init.model.fc_rank  # keep a low-rank FC low rank
    return dataclasses.replace(cfg, separate=init.separate,
                               model=dataclasses.replace(cfg.model, **model))


def train_on_samples(samples: Sequence[Any], cfg: Config, out: str | Path, *,
                     progress: bool = True) -> Path:
    """Train a model on in-memory samples and write its bundle.

    Args:
        samples: objects with ``.name``, ``.image`` ((H, W, 3) uint8 RGB) and ``.labels``
            ((H, W) int instance labels, 0 = belt), e.g. from
            :func:`fishseg.io.datasets.load_datasets`.
        cfg: configuration (``model``, ``train``, ``dictionary``, ``targets``).
        out: the model file to write (``*.fishseg``); the training curve goes next to it
            as ``<stem>.curve.png``.
        progress: show tqdm progress bars.

    Returns:
        The path of the written bundle.

    Raises:
        TrainingError: no samples, or the loss became NaN/inf or diverged.
    """
    started = time.perf_counter()
    out = Path(out)
    init_model = None
    if cfg.train.init:
        init_model = load_model(cfg.train.init)
        if hasattr(init_model, "first_network"):
            # a bundle of several networks (the bundled default is two): fine-tuning
            # trains one network, the first, from the ensemble's separation settings
            init_model = init_model.first_network()
        cfg = init_settings(cfg, init_model.cfg)
    samples = list(samples)
    if cfg.train.max_frames:
        samples = samples[:cfg.train.max_frames]
    if not samples:
        raise TrainingError("no training frames: the datasets are empty")
    t, d = cfg.train, cfg.dictionary
    images = [np.asarray(s.image) for s in samples]
    labels = [np.asarray(s.labels) for s in samples]
    for s, img, lab in zip(samples, images, labels, strict=True):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or lab.shape != img.shape[:2]:
            raise TrainingError(f"frame '{s.name}': need an (H, W, 3) uint8 image and (H, W) labels, "
                                f"got {img.shape} {img.dtype} and {lab.shape}")
    train_idx, val_idx = split_frames(len(samples), t.val_fraction, t.seed)
    source = build_source(images, labels, cfg.model.processing_width, cfg.targets.edge_width,
                          cfg.model.std_floor, hard=t.hard_share > 0,
                          contact=cfg.targets.contact)
    rng = np.random.default_rng(t.seed + 1)
    train_c = sample_centres(source, train_idx, t.patches_per_image, t.balance, rng,
                             t.hard_share)
    per_val = max(1, min(t.patches_per_image, VAL_PATCHES // len(val_idx)))
    val_c = sample_centres(source, val_idx, per_val, t.balance, rng)

    # Target codes: PCA of (flipped/rotated) target patches of the training pool, or the
    # init model's codes where they fit (dictionary.with_init)
    key = jax.random.key(t.seed)
    pick = train_c[rng.choice(len(train_c), min(PCA_PATCHES, len(train_c)), replace=False)]
    reuse = (init_model is not None and d.with_init != "rebuild"
             and init_model.cfg.targets == cfg.targets
             and init_model.cfg.model.code_dim == cfg.model.code_dim)
    if reuse:
        pca = init_model.pca
        if d.with_init in ("keep", "extend"):  # its values' resolution comes with them
            d = dataclasses.replace(d, value_scale=init_model.cfg.dictionary.value_scale)
            cfg = dataclasses.replace(cfg, dictionary=d)
    else:
        pca_patches = np.concatenate([np.asarray(tg) for _, tg in
                                      batches(source, pick, t.batch_size, key, t.augment)])
        pca = fit_pca(pca_patches.reshape(len(pick), -1), cfg.model.code_dim, t.seed,
                      channel_weights(pca_patches.shape[1], cfg.targets.edge_code_weight))

    state = resume.state_path(out)
    run_key = training_key(cfg, images, labels, init_model)
    if init_model is None:
        net, hist = fit(source, train_c, val_c, pca, cfg, progress=progress, checkpoint=state,
                        run_key=run_key)
    else:
        start = start_params(init_model.net, cfg, source, train_c, pca, key)
        if t.finetune == "head":
            net, hist = fit_head(start, source, train_c, val_c, pca, cfg, progress=progress)
        else:
            net, hist = fit(source, train_c, val_c, pca, cfg, progress=progress, init=start,
                            checkpoint=state, run_key=run_key)
    curve = plot_history(hist, out.with_name(out.stem + ".curve.png"))

    # Dictionary: codewords of (unaugmented) training patches -> their true targets
    # (kept, or extended, from the init model's where its codes are reused)
    if reuse and d.with_init == "keep":
        keys, values = init_model.keys, init_model.values
    else:
        dict_c = sample_centres(source, train_idx, max(1, -(-d.samples // len(train_idx))),
                                t.balance, rng, t.hard_share)[:d.samples]
        codes, patches = [], []
        for inp, tgt in batches(source, dict_c, EVAL_BATCH, key):
            codes.append(codewords_of_patches(net, inp))
            if d.value_scale == 1:
                patches.append(np.asarray(tgt).astype(np.uint8))
        patches = (np.concatenate(patches) if d.value_scale == 1 else
                   value_patches(labels, source.sizes, dict_c, d.value_scale,
                                 cfg.targets.edge_width, cfg.targets.contact))
        keys, values = build_dictionary(np.concatenate(codes), patches, d.size,
                                        d.kmeans_iters, t.seed, d.chunk)
        if reuse:  # extend
            keys = np.concatenate([init_model.keys, keys])
            values = np.concatenate([init_model.values, values])

    meta = {"frames": [s.name for s in samples],
            "val_frames": [samples[i].name for i in val_idx],
            "best_step": hist.best_step, "best_val_loss": hist.best_val,
            "first_train_loss": float(np.mean(hist.train[:5])),
            "final_train_loss": float(np.mean(hist.train[-5:])),
            "dictionary_entries": int(len(keys)), "curve": curve.name}
    if hist.resumed_at:
        meta["resumed_after_steps"] = hist.resumed_at
    if init_model is not None:
        meta["init"] = {"model": cfg.train.init, "checksum": init_model.checksum,
                        "finetune": t.finetune,
                        "codes_and_dictionary": d.with_init if reuse else "rebuild"}
    model = FishsegModel(cfg, get_params(net), pca, keys, values, meta)
    val_images, val_labels = [images[i] for i in val_idx], [labels[i] for i in val_idx]
    model.meta["val_scores"] = val_scores(model, val_images, val_labels, cfg.targets.edge_width)
    val_fish = int(sum(len(np.unique(lab[lab > 0])) for lab in val_labels))
    if t.tune_separation and (init_model is None or val_fish >= t.retune_min_fish):
        tune_model(model, val_images, val_labels, progress=progress)
    elif t.tune_separation:  # the init model's settings were tuned on more fish than these
        model.meta["separation_tuning"] = {
            "skipped": f"{val_fish} fish in the validation frames, fewer than "
                       f"train.retune_min_fish ({t.retune_min_fish}): the init model's "
                       f"separation settings are kept"}
    model.meta["train_seconds"] = round(time.perf_counter() - started, 1)
    path = model.save(out)
    state.unlink(missing_ok=True)
    return path


def training_summary(meta: dict, path: str | Path) -> str:
    """What ``fishseg train`` says when it is done, from a bundle's ``meta``: frames,
    steps and time, how good the model is on its validation frames, the separation
    tuning and where the training curve is. Lines without a final newline."""
    path = Path(path)
    frames, val = meta.get("frames", []), meta.get("val_frames", [])
    first = f"trained on {len(frames) - len(val)} frames, validated on {len(val)}"
    if val:
        first += f" ({', '.join(val[:3])}{', ...' if len(val) > 3 else ''})"
    first += f": best validation loss {meta['best_val_loss']:.3f} at step {meta['best_step']}"
    if meta.get("resumed_after_steps"):
        first += f", resumed after step {meta['resumed_after_steps'][-1]}"
    if "train_seconds" in meta:
        first += f", {meta['train_seconds']:.0f} s"
    lines = [first]
    vs = meta.get("val_scores")
    if vs:
        lines.append(f"validation frames: fg IoU {vs['fg_iou']:.3f}, edge F1 {vs['edge_f1']:.3f} "
                     f"(boundary tolerance 2 px)")
    tune = meta.get("separation_tuning")
    if tune and "skipped" in tune:
        lines.append(f"separation not re-tuned: {tune['skipped']}")
    elif tune:
        b, a = tune["before"], tune["after"]
        lines.append(f"separation tuned on {tune['frames']} validation frame"
                     f"{'s' if tune['frames'] != 1 else ''}: AP@0.5 {b['ap50']:.3f} -> "
                     f"{a['ap50']:.3f}, count MAE {b['count_mae']:.2f} -> {a['count_mae']:.2f}")
    if meta.get("curve"):
        lines.append(f"training curve: {path.with_name(meta['curve'])}")
    return "\n".join(lines)


def training_key(cfg: Config, images: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                 init_model: FishsegModel | None) -> dict:
    """Identity of a training run, for resuming it (:func:`fishseg.model.resume.same_run`):
    ``{"data": sha256 of the frames' and labels' pixels, the model it starts from and
    the fishseg version, "settings": the resolved settings (how often to checkpoint
    set to its default: it changes nothing)}``."""
    from fishseg import __version__

    h = hashlib.sha256(json.dumps({"version": __version__, "init": init_model.checksum
                                   if init_model else None}).encode())
    for a in (*images, *labels):
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).data)
    settings = to_dict(dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, checkpoint_minutes=Config().train.checkpoint_minutes)))
    return {"data": h.hexdigest(), "settings": settings}


def train_and_evaluate(data: list[str | Path], out: str | Path, cfg: Config, *,
                       progress: bool = True) -> Path:
    """Train a model on annotated datasets and write it as one bundle file.

    Args:
        data: dataset folders or COCO files (see :func:`fishseg.io.datasets.load_datasets`).
        out: the model file to write (``*.fishseg``).
        cfg: the configuration.
        progress: show tqdm progress bars.

    Returns:
        The path of the written bundle; validation scores are in its ``meta``.
    """
    from fishseg.io.datasets import load_datasets

    return train_on_samples(load_datasets(data), cfg, out, progress=progress)
