"""Benchmark ``fishseg segment`` throughput: the local engine against the Ray engine with
1, 2, ... workers, on the same generated videos, in one run.

    .venv/bin/python scripts/bench_scaling.py [--model M] [--videos 4] [--frames 32]
        [--width 320 --height 180] [--workers 1 2] [--address ADDR --dir /shared/bench]

Each engine segments all videos into a fresh output folder; the wall time is end to end
as a user sees it: for the local engine model loading and the run, for Ray the worker
start-up (each worker imports JAX, loads the model and compiles once) and the run.
Starting the local Ray instance itself is timed apart (it happens once per command).
The outputs of every Ray run are checked against the local engine's (masks identical).

Without --model the bundled default model is used; when it is not built yet, a stand-in
with the default architecture (network, processing width, K dictionary entries) is
trained for a few steps: the cost per frame depends on the architecture, not on how
well it was trained (the separation stage depends a little on the maps).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from fishseg.config import Config, SynthConfig, from_dict, to_dict
from fishseg.engines.ray import import_ray, segment_inputs_ray
from fishseg.io.datasets import Sample
from fishseg.model.bundle import DEFAULT_MODEL, load_model
from fishseg.pipeline import segment_inputs
from fishseg.synth import render_frames, synthesize
from fishseg.train import train_on_samples


def stand_in_model(path: Path, width: int, height: int) -> Path:
    """A model with the default architecture, trained just enough to give real maps."""
    d = to_dict(Config())
    cfg = from_dict({"model": d["model"],
                     "train": {"steps": 60, "batch_size": 128, "eval_every": 30,
                               "warmup_steps": 5, "patches_per_image": 1000},
                     "dictionary": {"size": d["dictionary"]["size"], "samples": 4096,
                                    "kmeans_iters": 3}})
    images, labels = render_frames(4, 11, cfg=SynthConfig(width=width, height=height), stills=True)
    samples = [Sample(f"s{i}", im, lb) for i, (im, lb) in enumerate(zip(images, labels, strict=True))]
    return train_on_samples(samples, cfg, path, progress=False)


def masks_equal(a: Path, b: Path) -> bool:
    pa, pb = sorted((a / "masks").glob("*.png")), sorted((b / "masks").glob("*.png"))
    return [p.name for p in pa] == [p.name for p in pb] and all(
        x.read_bytes() == y.read_bytes() for x, y in zip(pa, pb, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model bundle (default: bundled, else a stand-in)")
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=32, help="frames per video")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--address", default=None, help="Ray cluster (default: a local instance)")
    ap.add_argument("--dir", type=Path, default=None,
                    help="folder for videos and outputs, shared with the workers on a "
                         "cluster (default: a new temporary folder)")
    args = ap.parse_args()
    ray = import_ray()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="fishseg-scaling-", dir=args.dir)).absolute()
    if args.model:
        model_path, which = Path(args.model), args.model
    elif DEFAULT_MODEL.is_file():
        model_path, which = DEFAULT_MODEL, "bundled default"
    else:
        model_path, which = stand_in_model(tmp / "stand-in.fishseg", args.width, args.height), \
            "stand-in (default architecture, 60 training steps)"
    synth = SynthConfig(width=args.width, height=args.height)
    videos = []
    for i in range(args.videos):
        synthesize(tmp / f"src{i}", frames=args.frames, seed=100 + i, cfg=synth, progress=False)
        videos.append((tmp / f"src{i}" / "video.mp4").rename(tmp / f"v{i}.mp4"))
    n_frames = args.videos * args.frames

    rows = []
    t = time.perf_counter()
    results = segment_inputs(videos, tmp / "local", model=load_model(model_path), progress=False)
    rows.append(("local", "-", time.perf_counter() - t, results, ""))

    t = time.perf_counter()
    if args.address:
        ray.init(address=args.address, logging_level="warning")
    else:
        ray.init(num_cpus=max(os.cpu_count() or 1, *args.workers), include_dashboard=False,
                 logging_level="warning")
    ray_start = time.perf_counter() - t
    try:
        for n in args.workers:
            out = tmp / f"ray{n}"
            t = time.perf_counter()
            results = segment_inputs_ray(videos, out, model_path=model_path, num_workers=n,
                                         progress=False)
            wall = time.perf_counter() - t
            same = all(masks_equal(tmp / "local" / v.stem, out / v.stem) for v in videos)
            rows.append(("ray", str(n), wall, results, "yes" if same else "NO"))
    finally:
        ray.shutdown()

    cpus = os.cpu_count()
    print(f"\n{platform.processor() or platform.machine()}, {cpus} CPUs; model: {which}; "
          f"{args.videos} videos x {args.frames} frames, {args.width}x{args.height}; "
          f"Ray instance start-up {ray_start:.1f} s (not in the times below)\n")
    print("| engine | workers | wall s | videos/min | frames/s | vs local | masks = local |")
    print("|---|---:|---:|---:|---:|---:|---|")
    base = rows[0][2]
    for engine, workers, wall, results, same in rows:
        done = [r for r in results if r.status == "done"]
        if len(done) != len(videos):
            print(f"| {engine} | {workers} | failed: {[r.message for r in results if r.status != 'done']} |")
            continue
        frames = sum(r.summary["frames"] for r in done)
        assert frames == n_frames, frames
        print(f"| {engine} | {workers} | {wall:.1f} | {60 * len(done) / wall:.2f} | "
              f"{frames / wall:.2f} | {base / wall:.2f}x | {same or '-'} |")
    busy = [np.mean([r.summary["seconds"] for r in res]) for _, _, _, res, _ in rows]
    print("\nmean seconds inside segment_video per video: "
          + ", ".join(f"{e}{'' if w == '-' else ' ' + w}: {b:.1f}" for (e, w, *_), b in zip(rows, busy, strict=True)))


if __name__ == "__main__":
    main()
