"""Separation settings against the counts of generated belt videos (validation seeds).

Each video is generated and its maps made once (``separation_maps``: fg and the contact
map for a model that has one, else the edge map); then every combination of the given
separation settings is run through separation, tracking and the counted-fish release of
``fishseg segment`` (:mod:`fishseg.counted`). Prints, per setting, the per-frame count
MAE (``fish_in_view``, barely visible fish as don't care:
:func:`fishseg.metrics.true_count_range`) and distinct fish found against true, summed
over the videos. ``fishseg tune`` tunes on stills (AP@0.5); this tunes on what the main
job reports.

    .venv/bin/python scripts/sweep_separation.py [--model M] [--videos 60:31 60:32 40:33] \\
        [--core-fg 0.5 0.6 0.7 0.8] [--core-edge 0.2 0.3] [--min-marker-area 160] \\
        [--tail-ratio 0 0.3] [--tail-axial 1.0 1.2] [--tail-offaxis 0.25]

The test videos of docs/accuracy.md (seeds 2026, 7, 11, 12) are not the defaults here.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import tempfile

import numpy as np
from validation_videos import generated_videos

from fishseg.counted import counted_per_frame
from fishseg.io.video import FrameReader
from fishseg.metrics import count_scores
from fishseg.model.bundle import load_model
from fishseg.separate import frame_areas, separate, separation_maps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--videos", nargs="+", default=["60:31", "60:32", "40:33"])
    ap.add_argument("--core-fg", nargs="+", type=float)
    ap.add_argument("--core-edge", nargs="+", type=float)
    ap.add_argument("--min-marker-area", nargs="+", type=int)
    ap.add_argument("--tail-ratio", nargs="+", type=float,
                    help="separate.tail_ratio values (fishseg.tails; 0 = off)")
    ap.add_argument("--tail-axial", nargs="+", type=float)
    ap.add_argument("--tail-offaxis", nargs="+", type=float)
    args = ap.parse_args()
    model = load_model(args.model)
    base = model.cfg.separate
    grid = {"core_fg": args.core_fg or [base.core_fg],
            "core_edge": args.core_edge or [base.core_edge],
            "min_marker_area": args.min_marker_area or [base.min_marker_area],
            "tail_ratio": args.tail_ratio or [base.tail_ratio],
            "tail_axial": args.tail_axial or [base.tail_axial],
            "tail_offaxis": args.tail_offaxis or [base.tail_offaxis]}
    videos = []
    with tempfile.TemporaryDirectory(prefix="fishseg-sweep-") as tmp:
        for v in generated_videos(args.videos, tmp):
            maps = []
            with FrameReader(v.folder / "video.mp4", 8) as reader:
                for _, batch in reader:
                    fg, b = separation_maps(model, batch)
                    maps.append((np.asarray(fg, np.float16), np.asarray(b, np.float16)))
            fg = np.concatenate([m[0] for m in maps])
            b = np.concatenate([m[1] for m in maps])
            videos.append((v.spec, v.fish_count, v.sure, v.possible, fg, b))
            print(f"maps of {v.spec}: {v.frames} frames, {v.fish_count} fish", flush=True)
    print(f"\nmodel {args.model or 'bundled default'}, {model.channels} maps "
          f"(separated on {'contact' if model.channels > 2 else 'edge'})\n")
    print("| core_fg | core_edge | min_marker_area | tail_ratio | tail_axial | tail_offaxis | "
          "per-frame MAE | distinct found / true | per video (MAE, distinct/true) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for cf, ce, mma, tr, ta, to in itertools.product(*grid.values()):
        cfg = dataclasses.replace(base, core_fg=cf, core_edge=ce, min_marker_area=mma,
                                  tail_ratio=tr, tail_axial=ta, tail_offaxis=to)
        if cfg.core_fg < cfg.fg_threshold:
            continue
        errs, found, true, per = [], 0, 0, []
        for spec, n_true, sure, possible, fg, b in videos:
            sep = frame_areas(cfg, fg.shape[2])
            labels = [np.asarray(separate(fg[i:i + 8].astype(np.float32),
                                          b[i:i + 8].astype(np.float32), sep))
                      for i in range(0, len(fg), 8)]
            counts, distinct = counted_per_frame([x for bl in labels for x in bl], model.cfg.track)
            mae = count_scores(sure, counts, true_max=possible)["mae"]
            errs.append(mae * len(counts))
            found, true = found + distinct, true + n_true
            per.append(f"{spec}: {mae:.2f}, {distinct}/{n_true}")
        n = sum(len(v[2]) for v in videos)
        print(f"| {cf} | {ce} | {mma} | {tr} | {ta} | {to} | {sum(errs) / n:.2f} | {found}/{true} | "
              f"{'; '.join(per)} |", flush=True)


if __name__ == "__main__":
    main()
