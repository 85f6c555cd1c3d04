"""Rebuild a model's learned dictionary (keys, values) with another size or sample.

The network and the PCA stay as trained; only the k-means dictionary is made again from
the network's codewords on training patches (as ``fishseg train`` does after fitting).
Useful to trade lookup cost against map detail without retraining.

    .venv/bin/python scripts/rebuild_dictionary.py --size 4096 --samples 120000 \\
        --stills 200 --out runs/dict4096.fishseg [--contact]

``--contact`` gives the dictionary values a third channel, the contact map (boundaries
between two fish, :func:`fishseg.targets.contact_map`): the model then separates fish on
it (:meth:`FishsegModel.separation_maps`). Re-tune its separation afterwards
(``fishseg tune``): the bundled thresholds were chosen on edge maps.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import jax
import numpy as np

from fishseg.config import load_config
from fishseg.model.bundle import FishsegModel, load_model
from fishseg.model.dictionary import build_dictionary
from fishseg.model.fit import EVAL_BATCH
from fishseg.model.patches import batches, build_source, sample_centres
from fishseg.synth import render_frames
from fishseg.train import _codewords, split_frames

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--size", type=int, required=True, help="K, dictionary entries")
    ap.add_argument("--samples", type=int, default=120_000, help="training patches to cluster")
    ap.add_argument("--iters", type=int, default=20, help="k-means iterations")
    ap.add_argument("--stills", type=int, default=200, help="synthetic training stills")
    ap.add_argument("--seed", type=int, default=101, help="seed of the training stills")
    ap.add_argument("--config", default=str(REPO / "configs" / "default.yaml"),
                    help="config the stills were rendered with (its synth section)")
    ap.add_argument("--contact", action="store_true",
                    help="add the contact map (boundaries between two fish) as a third channel")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()

    model = load_model(args.model)
    cfg, t = model.cfg, model.cfg.train
    t0 = time.perf_counter()
    images, labels = render_frames(args.stills, args.seed, load_config(args.config).synth,
                                   stills=True, workers=os.cpu_count() or 1)
    source = build_source(list(images), list(labels), cfg.model.processing_width,
                          cfg.targets.edge_width, cfg.model.std_floor, hard=t.hard_share > 0,
                          contact=args.contact)
    train_idx, _ = split_frames(len(images), t.val_fraction, t.seed)
    rng = np.random.default_rng(t.seed + 2)
    centres = sample_centres(source, train_idx, max(1, -(-args.samples // len(train_idx))),
                             t.balance, rng, t.hard_share)[:args.samples]
    codes, patches = [], []
    for inp, tgt in batches(source, centres, EVAL_BATCH, jax.random.key(t.seed)):
        codes.append(_codewords(model.net, inp))
        patches.append(np.asarray(tgt))
    print(f"{len(centres)} codewords in {time.perf_counter() - t0:.0f} s; k-means to {args.size} ...")
    keys, values = build_dictionary(np.concatenate(codes), np.concatenate(patches), args.size,
                                    args.iters, t.seed, cfg.dictionary.chunk)
    new_cfg = dataclasses.replace(cfg, dictionary=dataclasses.replace(
        cfg.dictionary, size=args.size, samples=args.samples, kmeans_iters=args.iters),
        targets=dataclasses.replace(cfg.targets, contact=args.contact))
    meta = {**model.meta, "dictionary_entries": int(len(keys)),
            "dictionary_rebuilt": {"from": model.checksum, "stills": args.stills,
                                   "seed": args.seed, "samples": int(len(centres)),
                                   "contact": bool(args.contact)}}
    from fishseg.model.network import get_params

    out = FishsegModel(new_cfg, get_params(model.net), model.pca, keys, values, meta).save(args.out)
    print(f"wrote {out} (K = {len(keys)}) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
