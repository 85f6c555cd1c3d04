"""Tracker settings against the truth of generated belt videos (validation seeds).

Each video is generated, segmented once with the model (maps + separation, cached in
memory), then tracked with every combination of ``--max-gap`` and ``--iou`` (and
``--min-frames``); the counted fish only reach the counts (:mod:`fishseg.counted`), as
in ``fishseg segment``. Prints per-frame count MAE (``fish_in_view``; barely visible
fish as don't care, :func:`fishseg.metrics.true_count_range`) and distinct-fish error
summed over the videos; the counted tracks by the true fish each mostly covers (the
first track of a fish: found; a further one: duplicate; one mostly on the belt or on no
fish by half its pixels: not a fish); and the tracking scores of
:func:`fishseg.track_metrics.track_scores` (IDF1 averaged over the videos, id switches
summed).

    .venv/bin/python scripts/sweep_tracking.py [--videos 60:31 60:32 40:33] \\
        [--max-gap 2 5 10] [--iou 0.3 0.2] [--min-frames 3] \\
        [--off-belt-share 0.5 1] [--hidden-gap 0 10] [--cache runs/sweep-labels] \\
        [--set "model.extra_widths=[800,960]"]

The test videos of docs/accuracy.md (seeds 2026, 7, 11, 12) are not the defaults here.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import tempfile
from pathlib import Path

import numpy as np
from validation_videos import generated_videos, released_outputs, tracks_by_truth

from fishseg.config import override
from fishseg.io.video import FrameReader
from fishseg.metrics import count_scores
from fishseg.model.bundle import load_model
from fishseg.separate import separate, separation_maps
from fishseg.track_metrics import track_scores


def _segment(model, video: Path) -> list[np.ndarray]:
    out = []
    with FrameReader(video, 8) as reader:
        for _, frames in reader:
            fg, edge = separation_maps(model, frames)
            out += list(np.asarray(separate(fg, edge, model.cfg.separate)))
    return out


def _cache_file(folder: Path, spec: str, checksum: str) -> Path:
    """The label cache of one generated video segmented by one model."""
    return folder / f"{spec.replace(':', '_')}_{checksum[:12]}.npz"


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
                    help="keep each video's segmented labels and truth here (one .npz per "
                         "video and model) and reuse them on the next run with the same model")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override of the model before segmenting, e.g. "
                         "model.tta=true (the cache is kept per resulting checksum)")
    args = ap.parse_args()
    model = load_model(args.model)
    if args.set:
        model.cfg = override(model.cfg, args.set)
    videos = []
    todo = list(args.videos)
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
        for spec in args.videos:
            # one file per video and model (an older cache named by the video only is
            # still read when its model is this one)
            f = _cache_file(args.cache, spec, model.checksum)
            if not f.exists():
                f = args.cache / f"{spec.replace(':', '_')}.npz"
            if f.exists():
                z = np.load(f)
                if str(z["checksum"]) == model.checksum:
                    if "truth" in z:
                        truth = z["truth"]
                    else:  # a cache from before the truth was kept: generate it again
                        with tempfile.TemporaryDirectory(prefix="fishseg-sweep-") as tmp:
                            truth = next(generated_videos([spec], tmp)).truth
                        np.savez_compressed(f, **{k: z[k] for k in z.files}, truth=truth)
                    videos.append((spec, int(z["fish_count"]),
                                   (z["sure"], z["possible"], truth), list(z["labels"])))
                    todo.remove(spec)
    with tempfile.TemporaryDirectory(prefix="fishseg-sweep-") as tmp:
        for v in generated_videos(todo, tmp):
            labels = _segment(model, v.folder / "video.mp4")
            videos.append((v.spec, v.fish_count, (v.sure, v.possible, v.truth), labels))
            if args.cache:
                np.savez_compressed(_cache_file(args.cache, v.spec, model.checksum),
                                    labels=np.stack(labels), sure=v.sure, possible=v.possible,
                                    truth=v.truth, fish_count=v.fish_count,
                                    checksum=model.checksum)
            print(f"segmented {v.spec}: {v.frames} frames, {v.fish_count} fish", flush=True)
    videos.sort(key=lambda v: args.videos.index(v[0]))
    base = model.cfg.track
    print()
    print("| max_gap | iou | min_frames | off_belt_share | hidden_gap | per-frame MAE "
          "| distinct found / true | fish found / duplicates / not fish | IDF1 | id switches "
          "| per video |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for gap, iou, mf, ob, hg in itertools.product(args.max_gap, args.iou, args.min_frames,
                                                  args.off_belt_share, args.hidden_gap):
        cfg = dataclasses.replace(base, max_gap=gap, iou_threshold=iou, min_frames=mf,
                                  off_belt_share=ob, hidden_gap=hg)
        errs, found, true, per, tally, idf1, idsw = [], 0, 0, [], np.zeros(3, int), [], 0
        for spec, n_true, (sure, possible, truth), labels in videos:
            released, distinct = released_outputs(labels, cfg)
            counts = [int(np.unique(o).size - (o == 0).any()) for o in released]
            # barely visible fish are don't care
            err = count_scores(sure, counts, true_max=possible)["mae"]
            errs += [err] * len(counts)
            found, true = found + distinct, true + n_true
            tally += tracks_by_truth(released, truth)
            ts = track_scores(truth, released)
            idf1.append(ts["idf1"])
            idsw += ts["id_switches"]
            per.append(f"{spec}: {distinct}/{n_true}")
        print(f"| {gap} | {iou} | {mf} | {ob} | {hg} | {np.mean(errs):.2f} | {found}/{true} | "
              f"{tally[0]} / {tally[1]} / {tally[2]} | {np.mean(idf1):.3f} | {idsw} | "
              f"{', '.join(per)} |", flush=True)


if __name__ == "__main__":
    main()
