"""Map quality of one or more model bundles on synthetic stills none of them trained on.

    .venv/bin/python scripts/eval_maps.py [MODEL ...] [--seed 707] [--stills N] [--tta]
        [--set model.extra_widths=[800,960]] [--mean-with OTHER.fishseg] [--size 640x360]

For each model (default: the bundled ones) prints foreground IoU and edge precision,
recall and F1 at 2 px (:func:`fishseg.metrics.map_scores`), with the edge map thinned by
non-maximum suppression (the measure) and by skeleton (the earlier measure), with and
without test-time flips. Seed 707 is the validation seed the recipes are chosen on;
909 is the held-out test seed (docs/accuracy.md). The number of stills defaults to the
one docs/accuracy.md's tables use for the seed: 24 for 707, 30 for any other seed (as
``scripts/eval_default.py``), so a row measured here compares with those tables.
``--size`` renders the stills natively at another size (default 1280x720): the belt's
texture is drawn at fixed pixel sizes, so smaller frames are other scenes, as a
lower-resolution camera sees a belt.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from eval_counts import frame_size

from fishseg.config import SynthConfig
from fishseg.metrics import map_scores
from fishseg.model.bundle import BUNDLED_MODELS
from fishseg.model.ensemble import load_mean
from fishseg.synth import render_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=list(BUNDLED_MODELS))
    ap.add_argument("--seed", type=int, default=707)
    ap.add_argument("--stills", type=int, default=None,
                    help="stills to score (default: 24 for the validation seed 707, else 30)")
    ap.add_argument("--tta", action="store_true", help="also with test-time flips")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for inference, e.g. model.extra_widths=[800,960]")
    ap.add_argument("--mean-with", nargs="+", default=[], metavar="MODEL",
                    help="score the mean of each model's maps and these models' "
                         "(fishseg.model.ensemble.combine)")
    ap.add_argument("--size", type=frame_size, default=(1280, 720), metavar="WxH",
                    help="render the stills natively at this size (default 1280x720)")
    args = ap.parse_args()
    if args.stills is None:
        args.stills = 24 if args.seed == 707 else 30
    w, h = args.size
    images, labels = render_frames(args.stills, args.seed, SynthConfig(width=w, height=h),
                                   stills=True, workers=os.cpu_count() or 1)
    print(f"{args.stills} stills of seed {args.seed}, {w}x{h}")
    print()
    print("| model | widths | tta | fg IoU | edge P | edge R | edge F1 (nms) | edge F1 (skeleton) | s |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name in args.models:
        model = load_mean([name, *args.mean_with], args.set)
        label = " + ".join(os.path.basename(m) for m in (name, *args.mean_with))
        for tta in ((False, True) if args.tta else (False,)):
            t0 = time.perf_counter()
            fg, edge = (np.asarray(m) for m in model.predict_maps(images, tta=tta))
            s = map_scores(fg, edge, labels)
            sk = map_scores(fg, edge, labels, thinning="skeleton")
            widths = ", ".join(str(w) for w in (model.cfg.model.processing_width,
                                                 *model.cfg.model.extra_widths))
            print(f"| {label} | {widths} | "
                  f"{'yes' if tta else 'no'} | {s['fg_iou']:.3f} | {s['edge_precision']:.3f} | "
                  f"{s['edge_recall']:.3f} | {s['edge_f1']:.3f} | {sk['edge_f1']:.3f} | "
                  f"{time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
