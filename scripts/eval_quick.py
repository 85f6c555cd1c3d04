"""Quick training from the CLI, timed, and scored on held-out frames (configs/quick.yaml).

    .venv/bin/python scripts/eval_quick.py [--case video|stills] [--config configs/quick.yaml]
                                           [--set train.steps=3000 ...] [--keep DIR]
    .venv/bin/python scripts/eval_quick.py --config configs/finetune.yaml   # fine-tuning
    .venv/bin/python scripts/eval_quick.py --score-only default   # the bundled model as is

Checks the claim "training from the CLI on a 20-frame dataset finishes in under 10
minutes on a 2-core CPU with configs/quick.yaml, and the result is usable (foreground IoU
>= 0.8 on held-out frames)".

Cases:

- ``video`` (default): an 80-frame synthetic belt video of seed 41 (``--video-seed``)
  (:func:`fishseg.synth.synthesize`); frames 0, 2, ..., 38 (20 frames) are the training
  dataset, frames 60..79 (which the training never saw) the test frames.
- ``stills`` (harder): 20 stills of seed 33, each a different belt, for training and 10
  stills of seed 34 for testing (:func:`fishseg.synth.render_frames`).

Training is the real command, run as a subprocess and timed as a whole (start-up, data
loading, dictionary, separation tuning and writing the bundle included)::

    fishseg train --data DATA --out MODEL --config CONFIG [--set KEY=VALUE ...]

Scores on the test frames (read back from the written PNGs): foreground IoU (fg > 0.5)
and edge F1 (2 px) of ``model.predict_maps`` (:func:`fishseg.metrics.map_scores`), and
AP at IoU 0.5 of ``model.segment`` (:func:`fishseg.metrics.instance_scores`). Prints a
markdown table and a final JSON line. The 1-minute load average before training is
printed too: a timing taken on a busy machine is not a timing of the training.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TRAIN_FRAMES = list(range(0, 40, 2))    # 20 frames of the video
TEST_FRAMES = list(range(60, 80))       # 20 held-out frames of the same video


def _fishseg_command() -> list[str]:
    """The ``fishseg`` entry point next to this interpreter, else ``python -m fishseg.cli``."""
    exe = Path(sys.executable).with_name("fishseg")
    if exe.is_file() and os.access(exe, os.X_OK):
        return [str(exe)]
    return [sys.executable, "-m", "fishseg.cli"]


def _read_frames(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of ``folder/images/NAME`` and ``folder/masks/NAME``."""
    from fishseg.io.images import read_image, read_labels

    images = np.stack([read_image(folder / "images" / n) for n in names])
    labels = np.stack([read_labels(folder / "masks" / n) for n in names]).astype(np.int32)
    return images, labels


def prepare_video(work: Path, seed: int = 41) -> tuple[Path, Path, list[str]]:
    """Write the video (80 frames of ``seed``) and the 20-frame training folder.

    Returns:
        (training dataset folder, test frames folder, test file names).
    """
    from fishseg.synth import synthesize

    video = work / "video"
    synthesize(video, frames=80, seed=seed, progress=False)
    data = work / "train"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True, exist_ok=True)
        for i in TRAIN_FRAMES:
            name = f"frame_{i:06d}.png"
            shutil.copyfile(video / sub / name, data / sub / name)
    return data, video, [f"frame_{i:06d}.png" for i in TEST_FRAMES]


def prepare_stills(work: Path) -> tuple[Path, Path, list[str]]:
    """Write 20 training stills (seed 33) and 10 test stills (seed 34) as folders."""
    from fishseg.config import SynthConfig
    from fishseg.io.datasets import Sample, write_folder
    from fishseg.synth import render_frames

    workers = os.cpu_count() or 1
    out = []
    for name, n, seed in (("train", 20, 33), ("test", 10, 34)):
        images, labels = render_frames(n, seed, SynthConfig(), stills=True, workers=workers)
        write_folder([Sample(f"still_{i:06d}", images[i], labels[i]) for i in range(n)],
                     work / name)
        out.append(work / name)
    return out[0], out[1], [f"still_{i:06d}.png" for i in range(10)]


def train(data: Path, model: Path, config: str, sets: list[str], log: Path) -> float:
    """Run ``fishseg train`` and return its wall time in seconds (raises on failure)."""
    cmd = [*_fishseg_command(), "-q", "train", "--data", str(data), "--out", str(model),
           "--config", config]
    for s in sets:
        cmd += ["--set", s]
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"fishseg train failed with status {proc.returncode} (log {log})")
    return seconds


def score(model_path: Path, test_dir: Path, names: list[str]) -> dict[str, float]:
    """fg IoU, edge F1 and AP@0.5 of a model on the test frames."""
    from fishseg.metrics import count_instances, count_scores, instance_scores, map_scores
    from fishseg.model.bundle import load_model
    from fishseg.separate import separate

    model = load_model(model_path)
    images, labels = _read_frames(test_dir, names)
    stack = np.asarray(model.predict_stack(images))  # batched inside
    fg, edge = stack[:, 0], stack[:, 1]
    maps = map_scores(fg, edge, labels)
    # the same as model.segment(images): maps, then separation with the bundle's settings
    # (on the contact map when the model has one)
    pred = np.asarray(separate(fg, stack[:, -1], model.cfg.separate))
    inst = instance_scores(labels, pred, (0.5,))[0.5]
    mae = count_scores(count_instances(labels), count_instances(pred))["mae"]
    return {"fg_iou": maps["fg_iou"], "edge_f1": maps["edge_f1"], "ap50": inst["ap"],
            "count_mae": mae}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=("video", "stills"), default="video")
    ap.add_argument("--config", default="configs/quick.yaml", help="YAML for fishseg train")
    ap.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                    help="passed to fishseg train as --set (repeatable)")
    ap.add_argument("--video-seed", type=int, default=41,
                    help="seed of the belt video of the video case (32: the pale, sun-lit "
                         "belt the bundled model is weakest on, docs/accuracy.md)")
    ap.add_argument("--score-only", metavar="MODEL",
                    help="no training: score this model (a file, or default / fast) on the "
                         "case's test frames, e.g. the bundled model before fine-tuning")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep the data, model and training log here (default: a temp folder)")
    args = ap.parse_args()
    config = str(Path(args.config).resolve())

    work = args.keep or Path(tempfile.mkdtemp(prefix="fishseg-quick-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.case == "video":
            data, test_dir, names = prepare_video(work, args.video_seed)
        else:
            data, test_dir, names = prepare_stills(work)
        load = os.getloadavg()
        print(f"load average before training: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
              f"({os.cpu_count()} CPUs)", flush=True)
        if args.score_only:
            model, seconds = args.score_only, 0.0
        else:
            model = work / "quick.fishseg"
            seconds = train(data, model, config, args.set, work / "train.log")
        s = score(model, test_dir, names)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print()
    what = (f"model {args.score_only}, not trained" if args.score_only else
            f"config {args.config}" + (f", --set {' '.join(args.set)}" if args.set else ""))
    case = f"video of seed {args.video_seed}" if args.case == "video" else args.case
    print(f"Case {case}: {what}")
    print()
    print("| train wall | fg IoU | edge F1 (2 px) | AP@0.5 | count MAE | load (1 min) |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {seconds:.0f} s ({int(seconds // 60)} min {seconds % 60:02.0f} s) | "
          f"{s['fg_iou']:.3f} | {s['edge_f1']:.3f} | {s['ap50']:.3f} | {s['count_mae']:.2f} | "
          f"{load[0]:.2f} |")
    print()
    print(json.dumps({"case": case, "config": args.config, "set": args.set,
                      "train_seconds": round(seconds, 1), "load1": round(load[0], 2), **s}))


if __name__ == "__main__":
    main()
