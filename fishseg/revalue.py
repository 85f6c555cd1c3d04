"""Re-cut a trained model's dictionary values at another resolution.

N^4-Fields looks up a target patch for each codeword; nothing ties that patch to the
resolution the network sees. :func:`revalue` keeps a model's network, target codes and
dictionary keys, and replaces each key's value by the mean target patch, cut at
``scale`` times the processing resolution (``dictionary.value_scale``), of the training
patches whose codewords are nearest to it. The maps are then drawn at ``scale`` times
the processing resolution: the same network places edges closer to where they are
(docs/accuracy.md, "Dictionary values at twice the resolution"). No training: minutes
on a CPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from fishseg.model.bundle import FishsegModel
from fishseg.model.dictionary import values_for_keys
from fishseg.model.fit import EVAL_BATCH
from fishseg.model.network import get_params
from fishseg.model.patches import batches, build_source, sample_centres, value_patches
from fishseg.train import codewords_of_patches, split_frames, val_scores


def rescale_values(values: np.ndarray, scale: int) -> np.ndarray:
    """(K, C, T, T) values -> (K, C, T', T') at another resolution (bilinear; pixel
    replication for a whole-number upscale): the value kept by a key no sample is
    nearest to."""
    t = 16 * scale
    if values.shape[-1] == t:
        return np.asarray(values, np.float32)
    if t % values.shape[-1] == 0:
        r = t // values.shape[-1]
        return np.repeat(np.repeat(values, r, axis=2), r, axis=3).astype(np.float32)
    return np.asarray(jax.image.resize(values, (*values.shape[:2], t, t), "linear"), np.float32)


def revalue(model: FishsegModel, samples: Sequence[Any], scale: int, n_samples: int | None = None,
            *, progress: bool = True) -> FishsegModel:
    """The model with its dictionary values re-cut at ``scale`` from its training frames.

    Args:
        model: a trained model.
        samples: the frames it was trained on (objects with ``.image`` (H, W, 3) uint8
            and ``.labels`` (H, W) int, as for :func:`fishseg.train.train_on_samples`);
            the values come from its training split only (``train.seed``,
            ``train.val_fraction``), the held-out frames score the result.
        scale: ``dictionary.value_scale`` of the result (1-4).
        n_samples: training patches assigned to the keys (default
            ``dictionary.samples``); more give smoother values.
        progress: tqdm progress.

    Returns:
        A new :class:`FishsegModel`: same weights, PCA and keys; values (K, C, 16*scale,
        16*scale); ``meta["revalued"]`` says from what and how, ``meta["val_scores"]`` are
        re-measured.
    """
    cfg, t = model.cfg, model.cfg.train
    if not 1 <= scale <= 4:
        raise ValueError(f"value scale must be 1 to 4, got {scale}")
    images = [np.asarray(s.image) for s in samples]
    labels = [np.asarray(s.labels) for s in samples]
    if not images:
        raise ValueError("no frames to cut values from")
    n = int(n_samples or cfg.dictionary.samples)
    train_idx, val_idx = split_frames(len(images), t.val_fraction, t.seed)
    source = build_source(images, labels, cfg.model.processing_width, cfg.targets.edge_width,
                          cfg.model.std_floor, hard=False, contact=cfg.targets.contact)
    rng = np.random.default_rng(t.seed + 3)
    centres = sample_centres(source, train_idx, -(-n // len(train_idx)), t.balance, rng)[:n]
    codes = [codewords_of_patches(model.net, inp) for inp, _ in
             tqdm(batches(source, centres, EVAL_BATCH, jax.random.key(t.seed)),
                  total=-(-len(centres) // EVAL_BATCH), desc="codewords", unit="batch",
                  disable=not progress)]
    patches = value_patches(labels, source.sizes, centres, scale, cfg.targets.edge_width,
                            cfg.targets.contact)
    values, counts = values_for_keys(np.concatenate(codes), patches, model.keys,
                                     rescale_values(model.values, scale), cfg.dictionary.chunk)
    new_cfg = dataclasses.replace(cfg, dictionary=dataclasses.replace(
        cfg.dictionary, value_scale=scale, samples=n))
    meta = dict(model.meta)
    meta["revalued"] = {"from_checksum": model.checksum, "value_scale": scale, "samples": n,
                        "training_frames": len(train_idx),
                        "keys_without_samples": int(np.sum(counts == 0))}
    out = FishsegModel(new_cfg, get_params(model.net), model.pca, model.keys, values, meta)
    out.meta["val_scores"] = val_scores(out, [images[i] for i in val_idx],
                                         [labels[i] for i in val_idx], cfg.targets.edge_width)
    return out
