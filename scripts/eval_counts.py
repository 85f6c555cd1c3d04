"""Per-frame count error of the two counts in ``counts.csv`` on generated belt videos.

For each (frames, seed) a synthetic video is generated (``fishseg.synth.synthesize``),
segmented with the model by ``segment_video``, and both per-frame counts
(``fish_in_view``: instances in the frame's mask; ``tracks_in_view``: counted tracks
spanning the frame) are compared with the true number of fish in view.

    .venv/bin/python scripts/eval_counts.py [--model M] [--videos 24:2026 60:2026 ...]
        [--set "model.extra_widths=[800,960]" --set model.tta=true]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from fishseg.config import override
from fishseg.io.images import read_labels
from fishseg.metrics import count_instances, count_scores
from fishseg.model.bundle import load_model
from fishseg.pipeline import segment_video
from fishseg.synth import synthesize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--videos", nargs="+", default=["24:2026", "60:2026", "30:2026", "40:7"],
                    help="FRAMES:SEED of each generated video")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override of the model, e.g. model.tta=true")
    args = ap.parse_args()
    model = load_model(args.model)
    model.cfg = override(model.cfg, args.set)
    print(f"model {args.model or 'bundled default'} (checksum {model.checksum[:12]})"
          f"{' with ' + ', '.join(args.set) if args.set else ''}\n")
    print("| video (frames, seed) | true fish | fish_in_view MAE | tracks_in_view MAE | distinct found | tracks started |")
    print("|---|---:|---:|---:|---:|---:|")
    for spec in args.videos:
        frames, seed = (int(x) for x in spec.split(":"))
        with tempfile.TemporaryDirectory(prefix="fishseg-counts-") as tmp:
            t = Path(tmp)
            meta = synthesize(t / "in", frames=frames, seed=seed, progress=False)
            s = segment_video(t / "in" / "video.mp4", t / "out", model=model, progress=False,
                              overlay=False)
            with open(t / "out" / "counts.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            truth = count_instances(np.stack([read_labels(p) for p in
                                              sorted((t / "in" / "masks").glob("*.png"))]))
        mae = {k: count_scores(truth, [int(r[k]) for r in rows])["mae"]
               for k in ("fish_in_view", "tracks_in_view")}
        print(f"| {frames}, {seed} | {meta['fish_count']} | {mae['fish_in_view']:.2f} | "
              f"{mae['tracks_in_view']:.2f} | {s['distinct_fish']} | {s.get('tracks_started', s['tracks'])} |", flush=True)


if __name__ == "__main__":
    main()
