"""How well ``fish.csv`` measures fish: its lengths against the true lengths of generated fish.

For each (frames, seed) a synthetic video is generated (``fishseg.synth.synthesize``,
whose ``meta.json`` holds every fish's true length along its centre curve, snout to tail
tip, in pixels) and segmented with the model (or with perfect maps, ``--oracle``) by
``segment_video``. Each fish of ``fish.csv`` seen whole at least once (not ``partial``)
is paired with the true fish its track mostly covers, where that track is also the one
covering the true fish most (one to one), and its ``length_px`` (the chord: extent along
the major axis) and ``midline_px`` (along the body, ``fishseg.midline``) are compared
with the true length. Prints a markdown table per video and over all: fish paired,
median ratio to the true length and median absolute error in percent of it, for both.

    .venv/bin/python scripts/eval_lengths.py [--model M] [--videos 60:2026 40:7 ...]
        [--oracle] [--size 640x360] [--set KEY=VALUE]

With ``--oracle`` the separation is perfect but for fish that overlap, so what is left
is the measurement itself (and fish never seen unoccluded, whose lengths are lower
bounds); with a model, its segmentation errors too.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
from eval_counts import OracleMaps, add_video_args

from fishseg.config import SynthConfig
from fishseg.io.images import read_labels
from fishseg.model.ensemble import load_mean
from fishseg.pipeline import segment_video
from fishseg.synth import synthesize


def pair_tracks(true_dir: Path, found_dir: Path) -> dict[int, int]:
    """Track id -> the true fish id it is paired with: the true fish the track's pixels
    mostly cover, where the track is also the one covering that fish most.

    Args:
        true_dir: folder of the true label PNGs (``frame_NNNNNN.png``, fish ids).
        found_dir: folder of the track label PNGs of the same frames (track ids).
    """
    overlap: dict[tuple[int, int], int] = {}
    for p in sorted(found_dir.glob("frame_*.png")):
        t, f = read_labels(true_dir / p.name).ravel(), read_labels(p).ravel()
        both = (t > 0) & (f > 0)
        pairs, counts = np.unique(np.stack([f[both], t[both]]), axis=1, return_counts=True)
        for (track, fish), c in zip(pairs.T.tolist(), counts.tolist()):
            overlap[(track, fish)] = overlap.get((track, fish), 0) + c
    best_fish: dict[int, tuple[int, int]] = {}
    best_track: dict[int, tuple[int, int]] = {}
    for (track, fish), c in overlap.items():
        if c > best_fish.get(track, (0, 0))[1]:
            best_fish[track] = (fish, c)
        if c > best_track.get(fish, (0, 0))[1]:
            best_track[fish] = (track, c)
    return {track: fish for track, (fish, _) in best_fish.items()
            if best_track[fish][0] == track}


def length_errors(fish_csv: Path, pairs: dict[int, int], true_lengths: dict[int, float]
                  ) -> list[tuple[float, float]]:
    """(length_px / true, midline_px / true) of each paired fish seen whole."""
    with open(fish_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        fish = pairs.get(int(r["track_id"]))
        if fish is None or r["partial"] == "1" or not r.get("midline_px"):
            continue
        true = true_lengths[fish]
        out.append((float(r["length_px"]) / true, float(r["midline_px"]) / true))
    return out


def row(name: str, ratios: list[tuple[float, float]]) -> str:
    if not ratios:
        return f"| {name} | 0 | | | | |"
    r = np.asarray(ratios)
    med = np.median(r, axis=0)
    err = np.median(np.abs(r - 1), axis=0) * 100
    return (f"| {name} | {len(r)} | {med[0]:.3f} | {err[0]:.1f}% | {med[1]:.3f} | "
            f"{err[1]:.1f}% |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_video_args(ap, ["60:2026", "40:7", "30:2026", "60:12", "60:11"])
    args = ap.parse_args()
    if args.oracle:
        print("oracle maps (target maps of the true masks)\n")
    else:
        model = load_mean([args.model], args.set)
        print(f"model {args.model or 'bundled default'} (checksum {model.checksum[:12]})\n")
    synth_cfg = SynthConfig(width=args.size[0], height=args.size[1]) if args.size else None
    print("| video (frames, seed) | fish paired, seen whole | length_px / true (median) "
          "| its error (median) | midline_px / true (median) | its error (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    every = []
    for spec in args.videos:
        frames, seed = (int(x) for x in spec.split(":"))
        with tempfile.TemporaryDirectory(prefix="fishseg-lengths-") as tmp:
            t = Path(tmp)
            meta = synthesize(t / "in", frames=frames, seed=seed, cfg=synth_cfg, progress=False)
            if args.oracle:
                model = OracleMaps(t / "in" / "masks")
            segment_video(t / "in" / "video.mp4", t / "out", model=model, progress=False,
                          overlay=False, gallery=False)
            pairs = pair_tracks(t / "in" / "masks", t / "out" / "masks")
            ratios = length_errors(t / "out" / "fish.csv", pairs,
                                   {int(k): v for k, v in meta["fish_lengths"].items()})
        every += ratios
        print(row(f"{frames}, {seed}", ratios), flush=True)
    print(row("**all**", every))


if __name__ == "__main__":
    main()
