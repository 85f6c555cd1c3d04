"""Held-out accuracy of a model (default: the bundled one) on synthetic data it never saw.

    .venv/bin/python scripts/eval_default.py [--model M] [--stills 30] [--frames 60]

1. Maps (issue: the N^4-Fields model): foreground IoU (fg > 0.5) and boundary F1 of the
   thinned edge map against the thin true boundaries, 2 px tolerance
   (:func:`fishseg.metrics.map_scores`), on ``--stills`` stills of seed 909.
2. Instances on the same stills: AP at IoU 0.5 / 0.75, PQ, per-frame count error.
3. Video (the main job): a ``--frames`` frame 1280x720 belt video of seed 2026 through
   ``segment_video``: per-frame count MAE and distinct-fish count against the truth.

The training stills of the bundled model use seed 101 (scripts/train_default.py).
Prints markdown.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fishseg.config import SynthConfig
from fishseg.io.images import read_labels
from fishseg.metrics import count_instances, count_scores, instance_scores, map_scores
from fishseg.model.bundle import load_model
from fishseg.pipeline import segment_video
from fishseg.synth import render_frames, synthesize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--stills", type=int, default=30)
    ap.add_argument("--stills-seed", type=int, default=909)
    ap.add_argument("--frames", type=int, default=60, help="video frames (0: no video)")
    ap.add_argument("--video-seed", type=int, default=2026)
    args = ap.parse_args()
    model = load_model(args.model)
    t0 = time.perf_counter()
    images, labels = render_frames(args.stills, args.stills_seed, SynthConfig(), stills=True,
                                   workers=os.cpu_count() or 1)
    fg, edge = (np.asarray(m) for m in model.predict_maps(images))  # batched inside
    maps = map_scores(fg, edge, labels)
    from fishseg.separate import separate

    pred = np.asarray(separate(fg, edge, model.cfg.separate))
    inst = instance_scores(labels, pred, thresholds=(0.5, 0.75))
    counts = count_scores(count_instances(labels), count_instances(pred))

    vc, meta, s = None, None, None
    if args.frames > 0:
        tmp = Path(tempfile.mkdtemp(prefix="fishseg-eval-"))
        meta = synthesize(tmp / "in", frames=args.frames, seed=args.video_seed, progress=False)
        s = segment_video(tmp / "in" / "video.mp4", tmp / "out", model=model, progress=False)
        with open(tmp / "out" / "counts.csv", newline="") as f:
            pc = [int(r["fish_in_view"]) for r in csv.DictReader(f)]
        tc = [int(np.unique(m[m > 0]).size) for m in
              (read_labels(p) for p in sorted((tmp / "in" / "masks").glob("*.png")))]
        vc = count_scores(tc, pc)

    print(f"model {args.model or 'bundled default'} (checksum {model.checksum[:12]}), "
          f"{time.perf_counter() - t0:.0f} s")
    print()
    print(f"Held-out stills: {args.stills} at 1280x720, seed {args.stills_seed}")
    print()
    print("| fg IoU | fg F1 | edge P | edge R | edge F1 (2 px) | AP@0.5 | AP@0.75 | PQ@0.5 | count MAE | rel. count error |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {maps['fg_iou']:.3f} | {maps['fg_f1']:.3f} | {maps['edge_precision']:.3f} | "
          f"{maps['edge_recall']:.3f} | {maps['edge_f1']:.3f} | {inst[0.5]['ap']:.3f} | "
          f"{inst[0.75]['ap']:.3f} | {inst[0.5]['pq']:.3f} | {counts['mae']:.2f} | "
          f"{counts['relative_error']:.3f} |")
    print()
    if vc is not None:
        print(f"Held-out video: {args.frames} frames at 1280x720, seed {args.video_seed}, "
              f"{meta['fish_count']} distinct fish")
        print()
        print("| per-frame count MAE | rel. count error | distinct fish (true) | distinct fish (found) | seconds |")
        print("|---:|---:|---:|---:|---:|")
        print(f"| {vc['mae']:.2f} | {vc['relative_error']:.3f} | {meta['fish_count']} | "
              f"{s['distinct_fish']} | {s['seconds']:.0f} |")
        print()
    print(json.dumps({"maps": maps, "ap50": inst[0.5]["ap"], "video": vc,
                      "distinct": [meta["fish_count"], s["distinct_fish"]] if s else None}))


if __name__ == "__main__":
    main()
