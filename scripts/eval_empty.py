"""False fish on empty belts: what each model counts where there is nothing to count.

Generates belt videos with no fish (``synth.fish_density`` 0: belt texture, stains,
rails, the burned-in clock and the odd glove remain), segments each with every model as
``fishseg segment`` does, and prints a markdown table of the distinct "fish" counted
and the mean and largest number in view per frame. The right answer is 0 everywhere.

    .venv/bin/python scripts/eval_empty.py [MODEL ...] [--seeds 1 2 3 4]
        [--sizes 640x360 1280x720] [--frames 16] [--set KEY=VALUE]

MODEL: bundle files or bundled names (default: the bundled ones). Measured in
docs/accuracy.md ("What is wrong", item 6).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
from eval_counts import frame_size

from fishseg.config import SynthConfig, override
from fishseg.model.bundle import BUNDLED_MODELS, load_model
from fishseg.pipeline import segment_video
from fishseg.synth import synthesize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*", default=list(BUNDLED_MODELS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--sizes", type=frame_size, nargs="+", default=[(640, 360), (1280, 720)],
                    metavar="WxH")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="setting for every model, e.g. model.std_floor=16")
    args = ap.parse_args()
    models = []
    for name in args.models:
        m = load_model(name)
        m.cfg = override(m.cfg, args.set)  # on the model: model.* keys act on its maps
        models.append((Path(name).stem, m))
    totals = {name: 0 for name, _ in models}
    print(f"empty belts, {args.frames} frames each"
          f"{' with ' + ', '.join(args.set) if args.set else ''}; "
          "distinct fish counted / mean in view / most in a frame (right: 0)\n")
    print("| video (seed, size) | " + " | ".join(name for name, _ in models) + " |")
    print("|---|" + "---:|" * len(models))
    with tempfile.TemporaryDirectory(prefix="fishseg-empty-") as tmp:
        for seed in args.seeds:
            for w, h in args.sizes:
                src = Path(tmp) / f"in_{seed}_{w}x{h}"
                synthesize(src, frames=args.frames, seed=seed, progress=False,
                           cfg=SynthConfig(width=w, height=h, fish_density=0.0))
                cells = []
                for i, (name, m) in enumerate(models):
                    dest = Path(tmp) / f"out_{seed}_{w}x{h}_{i}"
                    s = segment_video(src / "video.mp4", dest, model=m, overwrite=True,
                                      progress=False, overlay=False, gallery=False)
                    with open(dest / "counts.csv", newline="", encoding="utf-8") as f:
                        counts = [int(r["fish_in_view"]) for r in csv.DictReader(f)]
                    totals[name] += s["distinct_fish"]
                    cells.append(f"{s['distinct_fish']} / {np.mean(counts):.2f} / {max(counts)}")
                print(f"| {seed}, {w}x{h} | " + " | ".join(cells) + " |", flush=True)
    print("| **all, distinct** | " + " | ".join(f"**{totals[n]}**" for n, _ in models) + " |")


if __name__ == "__main__":
    main()
