"""Per-frame count error of the two counts in ``counts.csv`` on generated belt videos.

For each (frames, seed) a synthetic video is generated (``fishseg.synth.synthesize``),
segmented with the model by ``segment_video``, and both per-frame counts
(``fish_in_view``: instances in the frame's mask; ``tracks_in_view``: counted tracks
spanning the frame) are compared with the true number of fish in view: against every
fish with a visible pixel ("all"), and with fish of which less than 1/4000 of the frame
shows as "don't care" (:func:`fishseg.metrics.true_count_range`; the measure the
pipeline issue's bound is checked with).

    .venv/bin/python scripts/eval_counts.py [--model M] [--videos 24:2026 60:2026 ...]
        [--set "model.extra_widths=[800,960]" --set model.tta=true] [--oracle] [--size 640x360] \\
        [--mean-with OTHER.fishseg]

``--oracle`` replaces the network by the target maps of the true masks (perfect maps,
separation areas as ``fishseg tune`` picks them for maps this sharp): what is left is
the error of separation, tracking and counting.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from fishseg.config import SynthConfig
from fishseg.io.images import read_label_folder, read_labels
from fishseg.metrics import count_scores, true_count_range
from fishseg.model.ensemble import load_mean
from fishseg.pipeline import segment_video
from fishseg.synth import synthesize


class OracleMaps:
    """Maps = target maps of the true masks of the video being segmented, in order."""

    def __init__(self, masks_dir: Path):
        from fishseg.config import Config, SeparateConfig

        self.masks = sorted(masks_dir.glob("*.png"))
        self.cfg = Config(separate=SeparateConfig(min_marker_area=60, min_area=60, area_width=640))
        self.checksum = "oracle"
        self.done = 0

    def predict_maps(self, frames):
        from fishseg.targets import target_maps

        labels = np.stack([read_labels(p) for p in self.masks[self.done:self.done + len(frames)]])
        self.done += len(frames)
        return target_maps(labels, self.cfg.targets.edge_width)


def frame_size(spec: str) -> tuple[int, int]:
    """``"640x360"`` -> (640, 360)."""
    try:
        w, h = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected WxH, e.g. 640x360") from None
    if w < 34 or h < 34:
        raise argparse.ArgumentTypeError(f"{spec!r}: frames must be at least 34x34")
    return w, h


def add_video_args(ap: argparse.ArgumentParser, videos: list[str]) -> None:
    """The options of the scripts that segment generated videos (this one,
    ``eval_lengths.py``): --model, --videos (default ``videos``), --set, --size, --oracle."""
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--videos", nargs="+", default=videos,
                    help="FRAMES:SEED of each generated video")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override of the model, e.g. model.tta=true")
    ap.add_argument("--size", type=frame_size, default=None, metavar="WxH",
                    help="render the videos natively at this size (default 1280x720): the "
                         "belt's texture is drawn at fixed pixel sizes, so this is another "
                         "camera, not the same video downscaled")
    ap.add_argument("--oracle", action="store_true",
                    help="perfect maps (the true masks' targets) instead of a model")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_video_args(ap, ["24:2026", "60:2026", "30:2026", "40:7"])
    ap.add_argument("--mean-with", nargs="+", default=[], metavar="MODEL",
                    help="score the mean of --model's maps and these models' (separation "
                         "and tracking settings from --model; fishseg.model.ensemble)")
    args = ap.parse_args()
    if args.oracle:
        print("oracle maps (target maps of the true masks)\n")
    else:
        model = load_mean([args.model, *args.mean_with], args.set)
        name = args.model or "bundled default"
        if args.mean_with:
            name += f", its maps averaged with those of {', '.join(args.mean_with)}"
        print(f"model {name} (checksum {model.checksum[:12]})"
              f"{' with ' + ', '.join(args.set) if args.set else ''}\n")
    synth_cfg = None
    if args.size:
        synth_cfg = SynthConfig(width=args.size[0], height=args.size[1])
        print(f"videos rendered at {args.size[0]}x{args.size[1]}\n")
    print("| video (frames, seed) | true fish | fish_in_view MAE (don't care / all) "
          "| tracks_in_view MAE (don't care / all) | distinct found | tracks started |")
    print("|---|---:|---:|---:|---:|---:|")
    for spec in args.videos:
        frames, seed = (int(x) for x in spec.split(":"))
        with tempfile.TemporaryDirectory(prefix="fishseg-counts-") as tmp:
            t = Path(tmp)
            meta = synthesize(t / "in", frames=frames, seed=seed, cfg=synth_cfg, progress=False)
            if args.oracle:
                model = OracleMaps(t / "in" / "masks")
            s = segment_video(t / "in" / "video.mp4", t / "out", model=model, progress=False,
                              overlay=False)
            with open(t / "out" / "counts.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            sure, possible = true_count_range(read_label_folder(t / "in" / "masks"))
        mae = {k: (count_scores(sure, [int(r[k]) for r in rows], true_max=possible)["mae"],
                   count_scores(possible, [int(r[k]) for r in rows])["mae"])
               for k in ("fish_in_view", "tracks_in_view")}
        fv, tv = mae["fish_in_view"], mae["tracks_in_view"]
        print(f"| {frames}, {seed} | {meta['fish_count']} | {fv[0]:.2f} / {fv[1]:.2f} | "
              f"{tv[0]:.2f} / {tv[1]:.2f} | {s['distinct_fish']} | "
              f"{s.get('tracks_started', s['tracks'])} |", flush=True)


if __name__ == "__main__":
    main()
