"""Separation settings against the counts of generated belt videos (validation seeds).

Each video is generated and its maps made once (``separation_maps``: fg and the contact
map for a model that has one, else the edge map); then every combination of the given
separation settings is run through separation, tracking and the counted-fish release of
``fishseg segment`` (:mod:`fishseg.counted`). Prints, per setting, the per-frame count
MAE (``fish_in_view``, barely visible fish as don't care:
:func:`fishseg.metrics.true_count_range`) and distinct fish found against true, summed
over the videos, and the counted tracks by the true fish each mostly covers (found /
duplicates / not a fish) with the mean IDF1, as ``sweep_tracking.py`` prints them.
``fishseg tune`` tunes on stills (AP@0.5); this tunes on what the main job reports.

    .venv/bin/python scripts/sweep_separation.py [--model M] [--videos 60:31 60:32 40:33] \\
        [--fg-threshold 0.5 0.6] [--core-fg 0.5 0.6 0.7 0.8] [--core-edge 0.2 0.3] \\
        [--min-marker-area 160] [--min-area 60 200] [--tail-ratio 0 0.3] \\
        [--tail-axial 1.0 1.2] [--tail-offaxis 0.25] [--split-edge off 0.3,0.2] \\
        [--split-area 2000] [--min-fg 0 0.65 0.7] \\
        [--set "model.extra_widths=[800,960]"] [--cache runs/sweep-maps] \\
        [--mean-with OTHER.fishseg]

``--cache DIR`` keeps each video's maps (float16, one .npz per video and model checksum,
~150 MB for 60 frames at 1280x720) for the next run with the same model and settings.
``--jobs N`` (needs ``--cache``) scores the (setting, video) pairs in N processes on the
CPU, each reading one video's maps from the cache at a time: on a GPU machine the maps
are made on the GPU once and the host's cores do the rest (separation, tracking and
scoring are host work there too). The workers separate with the skimage backend; the
JAX watershed a GPU run would otherwise use agrees with it but for ties (ARI >= 0.95,
``tests/test_separate.py``), so compare rows within one run.

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

from fishseg.io.video import FrameReader
from fishseg.metrics import count_scores
from fishseg.model.ensemble import load_mean
from fishseg.separate import frame_areas, separate, separation_maps
from fishseg.track_metrics import track_scores


def _maps(model, video: Path) -> tuple[np.ndarray, np.ndarray]:
    """(fg, boundary) float16 (frames, H, W) of a video."""
    maps = []
    with FrameReader(video, 8) as reader:
        for _, batch in reader:
            fg, b = separation_maps(model, batch)
            maps.append((np.asarray(fg, np.float16), np.asarray(b, np.float16)))
    return np.concatenate([m[0] for m in maps]), np.concatenate([m[1] for m in maps])


def _score(cfg, track_cfg, video) -> tuple:
    """One setting on one video: (MAE x frames, frames, distinct found, true fish,
    (found, duplicates, not fish) of the counted tracks, IDF1, "spec: MAE, found/true")."""
    spec, n_true, sure, possible, truth, fg, b = video
    sep = frame_areas(cfg, fg.shape[2])
    labels = [x for i in range(0, len(fg), 8)
              for x in np.asarray(separate(fg[i:i + 8].astype(np.float32),
                                           b[i:i + 8].astype(np.float32), sep))]
    released, distinct = released_outputs(labels, track_cfg, fg)
    counts = [int(np.unique(o).size - (o == 0).any()) for o in released]
    mae = count_scores(sure, counts, true_max=possible)["mae"]
    return (mae * len(counts), len(sure), distinct, n_true,
            np.asarray(tracks_by_truth(released, truth)),
            track_scores(truth, released)["idf1"], f"{spec}: {mae:.2f}, {distinct}/{n_true}")


def _levels(text: str) -> tuple[float, ...]:
    """``"0.3,0.2"`` -> (0.3, 0.2); ``"off"`` -> ()."""
    if text == "off":
        return ()
    try:
        levels = tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of thresholds: {text!r}") from None
    if any(a <= b for a, b in zip(levels, levels[1:])):
        raise argparse.ArgumentTypeError(f"thresholds must decrease: {text!r}")
    return levels


def _cell(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "off"
    return str(value)


def _cache_file(cache: Path, spec: str, model) -> Path:
    """Where a video's maps by this model (and its settings: the checksum has them) are kept."""
    return cache / f"{spec.replace(':', '_')}_{model.checksum[:12]}_maps.npz"


def _load(f: Path) -> tuple:
    with np.load(f) as z:
        return (z["sure"], z["possible"], z["truth"], z["fg"], z["boundary"])


def _score_cached(job) -> tuple:
    """:func:`_score` in a worker process, on a video read from the cache."""
    cfg, track_cfg, spec, n_true, f = job
    sure, possible, truth, fg, b = _load(f)
    return _score(dataclasses.replace(cfg, backend="skimage"), track_cfg,
                  (spec, n_true, sure, possible, truth, fg, b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--videos", nargs="+", default=["60:31", "60:32", "40:33"])
    ap.add_argument("--fg-threshold", nargs="+", type=float)
    ap.add_argument("--core-fg", nargs="+", type=float)
    ap.add_argument("--core-edge", nargs="+", type=float)
    ap.add_argument("--min-marker-area", nargs="+", type=int)
    ap.add_argument("--min-area", nargs="+", type=int)
    ap.add_argument("--tail-ratio", nargs="+", type=float,
                    help="separate.tail_ratio values (fishseg.tails; 0 = off)")
    ap.add_argument("--tail-axial", nargs="+", type=float)
    ap.add_argument("--tail-offaxis", nargs="+", type=float)
    ap.add_argument("--split-edge", nargs="+", type=_levels, metavar="T1,T2|off",
                    help="separate.split_edge values, each a comma-separated list of "
                         "decreasing thresholds, or off")
    ap.add_argument("--split-area", nargs="+", type=int)
    ap.add_argument("--min-fg", nargs="+", type=float,
                    help="track.min_fg values (a track setting: the least median "
                         "foreground score of a counted track; 0 = off)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override of the model before its maps are made, e.g. "
                         "model.tta=true")
    ap.add_argument("--cache", type=Path, metavar="DIR",
                    help="keep each video's maps here (one .npz per video and model checksum)")
    ap.add_argument("--mean-with", nargs="+", default=[], metavar="MODEL",
                    help="sweep on the mean of --model's maps and these models' "
                         "(fishseg.model.ensemble; the settings are --model's)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="processes scoring the settings (needs --cache; default 1: this one)")
    args = ap.parse_args()
    if args.jobs > 1 and args.cache is None:
        ap.error("--jobs needs --cache: the workers read the maps from it")
    model = load_mean([args.model, *args.mean_with], args.set)
    base = model.cfg.separate
    grid = {"fg_threshold": args.fg_threshold or [base.fg_threshold],
            "core_fg": args.core_fg or [base.core_fg],
            "core_edge": args.core_edge or [base.core_edge],
            "min_marker_area": args.min_marker_area or [base.min_marker_area],
            "min_area": args.min_area or [base.min_area],
            "tail_ratio": args.tail_ratio or [base.tail_ratio],
            "tail_axial": args.tail_axial or [base.tail_axial],
            "tail_offaxis": args.tail_offaxis or [base.tail_offaxis],
            "split_edge": args.split_edge or [base.split_edge],
            "split_area": args.split_area or [base.split_area]}
    videos = []
    with tempfile.TemporaryDirectory(prefix="fishseg-sweep-") as tmp:
        for spec in args.videos:
            f = _cache_file(args.cache, spec, model) if args.cache else None
            if f is not None and f.exists() and args.jobs > 1:  # the workers read it
                with np.load(f) as z:
                    videos.append((spec, int(z["fish_count"])))
                print(f"maps of {spec} in {f}", flush=True)
                continue
            if f is not None and f.exists():
                z = np.load(f)
                videos.append((spec, int(z["fish_count"]), z["sure"], z["possible"], z["truth"],
                               z["fg"], z["boundary"]))
                print(f"maps of {spec} from {f}", flush=True)
                continue
            v = next(generated_videos([spec], tmp))
            fg, b = _maps(model, v.folder / "video.mp4")
            videos.append((v.spec, v.fish_count, v.sure, v.possible, v.truth, fg, b))
            if f is not None:
                f.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(f, fg=fg, boundary=b, sure=v.sure, possible=v.possible,
                                    truth=v.truth, fish_count=v.fish_count)
            print(f"maps of {v.spec}: {v.frames} frames, {v.fish_count} fish", flush=True)
    name = args.model or "bundled default"
    if args.mean_with:
        name += f", its maps averaged with those of {', '.join(args.mean_with)}"
    print(f"\nmodel {name}"
          f"{' with ' + ', '.join(args.set) if args.set else ''}, {model.channels} maps "
          f"(separated on {'contact' if model.channels > 2 else 'edge'})\n")
    print("| fg_threshold | core_fg | core_edge | min_marker_area | min_area | tail_ratio | "
          "tail_axial | tail_offaxis | split_edge | split_area | min_fg | per-frame MAE | "
          "distinct found / true | fish found / duplicates / not fish | IDF1 | "
          "per video (MAE, distinct/true) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    tracks = [dataclasses.replace(model.cfg.track, min_fg=x)
              for x in (args.min_fg or [model.cfg.track.min_fg])]
    cfgs = [(values, dataclasses.replace(base, **dict(zip(grid, values, strict=True))))
            for values in itertools.product(*grid.values())]
    cfgs = [((*v, t.min_fg), c, t) for v, c in cfgs if c.core_fg >= c.fg_threshold
            and (c.split_area > 0 or not c.split_edge) for t in tracks]
    if args.jobs > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        files = [_cache_file(args.cache, v[0], model) for v in videos]
        jobs = [(c, t, v[0], v[1], f) for _, c, t in cfgs for v, f in zip(videos, files)]
        videos.clear()  # the workers read their own; free this process's copy
        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as ex:
            scores = list(ex.map(_score_cached, jobs))
        per_setting = [scores[i:i + len(files)] for i in range(0, len(scores), len(files))]
    else:
        per_setting = ([_score(c, t, v) for v in videos] for _, c, t in cfgs)
    for (values, _, _), rows in zip(cfgs, per_setting):
        err, n = sum(r[0] for r in rows), sum(r[1] for r in rows)
        found, true = sum(r[2] for r in rows), sum(r[3] for r in rows)
        tally = sum(r[4] for r in rows)
        print(f"| {' | '.join(_cell(x) for x in values)} | {err / n:.2f} | {found}/{true} | "
              f"{tally[0]} / {tally[1]} / {tally[2]} | {np.mean([r[5] for r in rows]):.3f} | "
              f"{'; '.join(r[6] for r in rows)} |", flush=True)


if __name__ == "__main__":
    main()
