"""Rebuild a model's learned dictionary (keys, values) with another size or sample.

The network and the PCA stay as trained; only the k-means dictionary is made again from
the network's codewords on training patches (as ``fishseg train`` does after fitting).
Useful to trade lookup cost against map detail without retraining.

    .venv/bin/python scripts/rebuild_dictionary.py --size 4096 --samples 120000 \\
        --stills 200 --out runs/dict4096.fishseg [--contact]

``--value-scale S`` cuts the values at S times the processing resolution (the maps are
then drawn at that resolution; ``dictionary.value_scale``). With ``--keep-keys`` the
keys stay as they are and only the values are re-cut (:func:`fishseg.revalue.revalue`):
for a model trained on your own frames give the same ``--data`` as to ``fishseg train``
(same order: the training / validation split is the model's)::

    .venv/bin/python scripts/rebuild_dictionary.py --model mine.fishseg --data DIR \\
        --keep-keys --value-scale 2 --out mine-2x.fishseg

and for the bundled default, from its 480 training stills (docs/accuracy.md, "Dictionary
values at twice the resolution")::

    .venv/bin/python scripts/rebuild_dictionary.py --model fishseg/data/default.fishseg \\
        --keep-keys --value-scale 2 --samples 240000 --stills 480 \\
        --cache runs/stills480_101.npz --out runs/default2x.fishseg

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
from fishseg.io.datasets import Sample, load_datasets
from fishseg.model.bundle import FishsegModel, load_model
from fishseg.model.dictionary import build_dictionary
from fishseg.model.fit import EVAL_BATCH
from fishseg.model.network import get_params
from fishseg.model.patches import batches, build_source, sample_centres, value_patches
from fishseg.revalue import revalue
from fishseg.synth.render import cached_stills
from fishseg.train import codewords_of_patches, split_frames

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--size", type=int, help="K, dictionary entries (required without --keep-keys)")
    ap.add_argument("--keep-keys", action="store_true",
                    help="keep the keys; only re-cut the values (at --value-scale)")
    ap.add_argument("--value-scale", type=int, default=None,
                    help="values at this multiple of the processing resolution (default: the model's)")
    ap.add_argument("--samples", type=int, default=120_000, help="training patches to cluster")
    ap.add_argument("--iters", type=int, default=20, help="k-means iterations")
    ap.add_argument("--data", action="append", default=[], metavar="DIR",
                    help="the model's training data (folders or COCO, as for fishseg train; "
                         "repeatable, in the same order): instead of synthetic stills")
    ap.add_argument("--stills", type=int, default=200, help="synthetic training stills")
    ap.add_argument("--seed", type=int, default=101, help="seed of the training stills")
    ap.add_argument("--config", default=str(REPO / "configs" / "default.yaml"),
                    help="config the stills were rendered with (its synth section)")
    ap.add_argument("--contact", action="store_true",
                    help="add the contact map (boundaries between two fish) as a third channel")
    ap.add_argument("--cache", type=Path, default=None,
                    help="an .npz of the rendered stills (read if it holds the same stills, else written)")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    if args.size is None and not args.keep_keys:
        ap.error("give --size K, or --keep-keys")

    model = load_model(args.model)
    if hasattr(model, "networks"):
        raise SystemExit(f"{args.model or 'default'} holds {len(model.networks)} networks: "
                         "rebuild the dictionary of each one-network model, then combine "
                         "them again (fishseg combine)")
    cfg, t = model.cfg, model.cfg.train
    scale = args.value_scale or cfg.dictionary.value_scale
    t0 = time.perf_counter()
    if args.data:
        samples = load_datasets(args.data)
        images, labels = [s.image for s in samples], [s.labels for s in samples]
    else:
        images, labels = cached_stills(args.stills, args.seed, load_config(args.config).synth,
                                       args.cache, os.cpu_count() or 1)
        samples = [Sample(f"still_{i:04d}", im, lab, f"synth:{args.seed}:{i}")
                   for i, (im, lab) in enumerate(zip(images, labels, strict=True))]
    if args.keep_keys:
        out = revalue(model, samples, scale, args.samples)
        out.meta["revalued"].update({"data": args.data} if args.data else
                                    {"stills": args.stills, "seed": args.seed})
        out.save(args.out)
        print(f"wrote {out.cfg.dictionary.value_scale}x values of {args.model or 'the default'} "
              f"to {args.out} in {time.perf_counter() - t0:.0f} s; validation maps {out.meta['val_scores']}")
        return
    source = build_source(list(images), list(labels), cfg.model.processing_width,
                          cfg.targets.edge_width, cfg.model.std_floor, hard=t.hard_share > 0,
                          contact=args.contact)
    train_idx, _ = split_frames(len(images), t.val_fraction, t.seed)
    rng = np.random.default_rng(t.seed + 2)
    centres = sample_centres(source, train_idx, max(1, -(-args.samples // len(train_idx))),
                             t.balance, rng, t.hard_share)[:args.samples]
    codes = [codewords_of_patches(model.net, inp)
             for inp, _ in batches(source, centres, EVAL_BATCH, jax.random.key(t.seed))]
    patches = value_patches(list(labels), source.sizes, centres, scale, cfg.targets.edge_width,
                            args.contact)
    print(f"{len(centres)} codewords in {time.perf_counter() - t0:.0f} s; k-means to {args.size} ...")
    keys, values = build_dictionary(np.concatenate(codes), patches, args.size,
                                    args.iters, t.seed, cfg.dictionary.chunk)
    new_cfg = dataclasses.replace(cfg, dictionary=dataclasses.replace(
        cfg.dictionary, size=args.size, samples=args.samples, kmeans_iters=args.iters,
        value_scale=scale),
        targets=dataclasses.replace(cfg.targets, contact=args.contact))
    meta = {**model.meta, "dictionary_entries": int(len(keys)),
            "dictionary_rebuilt": {"from": model.checksum,
                                   **({"data": args.data} if args.data else
                                      {"stills": args.stills, "seed": args.seed}),
                                   "samples": int(len(centres)),
                                   "contact": bool(args.contact)}}
    out = FishsegModel(new_cfg, get_params(model.net), model.pca, keys, values, meta).save(args.out)
    print(f"wrote {out} (K = {len(keys)}) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
