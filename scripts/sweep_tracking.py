"""Tracker settings against the truth of generated belt videos (validation seeds).

Each video is generated, segmented once with the model (maps + separation, cached in
memory), then tracked with every combination of ``--max-gap`` and ``--iou`` (and
``--min-frames``); the counted fish only reach the counts (:mod:`fishseg.counted`), as
in ``fishseg segment``. Prints per-frame count MAE (``fish_in_view``; barely visible
fish as don't care, :func:`fishseg.metrics.true_count_range`) and distinct-fish error
summed over the videos.

    .venv/bin/python scripts/sweep_tracking.py [--videos 60:31 60:32 40:33] \\
        [--max-gap 2 5 10] [--iou 0.3 0.2] [--min-frames 3] \\
        [--off-belt-share 0.5 1] [--hidden-gap 0 10] [--cache runs/sweep-labels]

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
    ap.add_argument("--off-belt-share", nargs="+", type=float, default=[0.5],
                    help="track.off_belt_share values (1 = the belt test off)")
    ap.add_argument("--hidden-gap", nargs="+", type=int, default=[0],
                    help="track.hidden_gap values (0 = off)")
    ap.add_argument("--cache", type=Path, metavar="DIR",
                    help="keep each video's segmented labels and truth here (SPEC.npz) and "
                         "reuse them on the next run with the same model")
    args = ap.parse_args()
    model = load_model(args.model)
    videos = []
    todo = list(args.videos)
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
        for spec in args.videos:
            f = args.cache / f"{spec.replace(':', '_')}.npz"
            if f.exists():
                z = np.load(f)
                if str(z["checksum"]) == model.checksum:
                    videos.append((spec, int(z["fish_count"]), (z["sure"], z["possible"]),
                                   list(z["labels"])))
                    todo.remove(spec)
    with tempfile.TemporaryDirectory(prefix="fishseg-sweep-") as tmp:
        for v in generated_videos(todo, tmp):
            labels = _segment(model, v.folder / "video.mp4")
            videos.append((v.spec, v.fish_count, (v.sure, v.possible), labels))
            if args.cache:
                np.savez_compressed(args.cache / f"{v.spec.replace(':', '_')}.npz",
                                    labels=np.stack(labels), sure=v.sure, possible=v.possible,
                                    fish_count=v.fish_count, checksum=model.checksum)
            print(f"segmented {v.spec}: {v.frames} frames, {v.fish_count} fish", flush=True)
    videos.sort(key=lambda v: args.videos.index(v[0]))
    base = model.cfg.track
    print()
    print("| max_gap | iou | min_frames | off_belt_share | hidden_gap | per-frame MAE "
          "| distinct found / true | per video |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for gap, iou, mf, ob, hg in itertools.product(args.max_gap, args.iou, args.min_frames,
                                                  args.off_belt_share, args.hidden_gap):
        cfg = dataclasses.replace(base, max_gap=gap, iou_threshold=iou, min_frames=mf,
                                  off_belt_share=ob, hidden_gap=hg)
        errs, found, true, per = [], 0, 0, []
        for spec, n_true, truth, labels in videos:
            counts, distinct = counted_per_frame(labels, cfg)
            sure, possible = truth   # barely visible fish are don't care
            err = count_scores(sure, counts, true_max=possible)["mae"]
            errs += [err] * len(counts)
            found, true = found + distinct, true + n_true
            per.append(f"{spec}: {distinct}/{n_true}")
        print(f"| {gap} | {iou} | {mf} | {ob} | {hg} | {np.mean(errs):.2f} | {found}/{true} | "
              f"{', '.join(per)} |", flush=True)


if __name__ == "__main__":
    main()
