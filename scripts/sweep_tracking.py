"""Tracker settings against the truth of generated belt videos (validation seeds).

Each video is generated, segmented once with the model (maps + separation, cached in
memory), then tracked with every combination of ``--max-gap`` and ``--iou`` (and
``--min-frames``); the counted fish only reach the counts (:mod:`fishseg.counted`), as
in ``fishseg segment``. Prints per-frame count MAE (``fish_in_view``; barely visible
fish as don't care, :func:`fishseg.metrics.true_count_range`) and distinct-fish error
summed over the videos.

    .venv/bin/python scripts/sweep_tracking.py [--videos 60:31 60:32 40:33] \\
        [--max-gap 2 5 10] [--iou 0.3 0.2] [--min-frames 3]

The test videos of docs/accuracy.md (seeds 2026, 7, 11, 12) are not the defaults here.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import tempfile
from pathlib import Path

import numpy as np
from validation_videos import generated_videos

from fishseg.counted import counted_per_frame
from fishseg.io.video import FrameReader
from fishseg.metrics import count_scores
from fishseg.model.bundle import load_model
from fishseg.separate import separate, separation_maps


def _segment(model, video: Path) -> list[np.ndarray]:
    out = []
    with FrameReader(video, 8) as reader:
        for _, frames in reader:
            fg, edge = separation_maps(model, frames)
            out += list(np.asarray(separate(fg, edge, model.cfg.separate)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--videos", nargs="+", default=["60:31", "60:32", "40:33"])
    ap.add_argument("--max-gap", nargs="+", type=int, default=[2, 5, 10])
    ap.add_argument("--iou", nargs="+", type=float, default=[0.3, 0.2])
    ap.add_argument("--min-frames", nargs="+", type=int, default=[3])
    args = ap.parse_args()
    model = load_model(args.model)
    videos = []
    with tempfile.TemporaryDirectory(prefix="fishseg-sweep-") as tmp:
        for v in generated_videos(args.videos, tmp):
            videos.append((v.spec, v.fish_count, (v.sure, v.possible),
                           _segment(model, v.folder / "video.mp4")))
            print(f"segmented {v.spec}: {v.frames} frames, {v.fish_count} fish", flush=True)
    base = model.cfg.track
    print()
    print("| max_gap | iou | min_frames | per-frame MAE | distinct found / true | per video |")
    print("|---:|---:|---:|---:|---:|---|")
    for gap, iou, mf in itertools.product(args.max_gap, args.iou, args.min_frames):
        cfg = dataclasses.replace(base, max_gap=gap, iou_threshold=iou, min_frames=mf)
        errs, found, true, per = [], 0, 0, []
        for spec, n_true, truth, labels in videos:
            counts, distinct = counted_per_frame(labels, cfg)
            sure, possible = truth   # barely visible fish are don't care
            err = count_scores(sure, counts, true_max=possible)["mae"]
            errs += [err] * len(counts)
            found, true = found + distinct, true + n_true
            per.append(f"{spec}: {distinct}/{n_true}")
        print(f"| {gap} | {iou} | {mf} | {np.mean(errs):.2f} | {found}/{true} | "
              f"{', '.join(per)} |", flush=True)


if __name__ == "__main__":
    main()
