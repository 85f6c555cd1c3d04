"""Which adjacent region pairs a tail rule joins: pairs of one fish against pairs of two.

    .venv/bin/python scripts/tail_pairs.py [--model default] [--seeds 707 808] [--stills 48]

Segments synthetic stills (validation seeds, never used in training) with the model's
separation *without* joining tails, finds every pair of touching regions, labels it
"one fish" when both regions mostly cover the same true fish, and prints for each rule
(``separate.tail_ratio``, ``tail_axial``, ``tail_offaxis`` of :mod:`fishseg.tails`) how
many pairs of one fish and of two fish it would join. docs/accuracy.md, section 3,
"Tails", has the table this prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

from fishseg.config import SynthConfig
from fishseg.model.bundle import load_model
from fishseg.separate import separate
from fishseg.synth import render_frames
from fishseg.tails import pair_geometry

RULES = ((0.3, 0.0, float("inf")), (0.3, 1.2, 0.25), (0.3, 1.0, 0.35), (0.3, 0.9, 0.5))


def pair_features(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(P, 5) float64 rows ``(one fish, area ratio, along, across, only neighbour)`` of the
    touching region pairs of one frame ((H, W) int labels each; :func:`pair_geometry`)."""
    g = pair_geometry(pred)
    owner = np.zeros(int(pred.max()) + 1, np.int64)
    for r in np.unique(pred[pred > 0]):
        t = truth[pred == r]
        t = t[t > 0]
        owner[r] = np.bincount(t).argmax() if len(t) else 0
    one = (owner[g["small"]] == owner[g["big"]]) & (owner[g["small"]] > 0)
    return np.stack([one, g["ratio"], g["along"], g["across"], g["only"]], 1).astype(np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--seeds", nargs="+", type=int, default=[707, 808])
    ap.add_argument("--stills", type=int, default=48)
    args = ap.parse_args()
    model = load_model(args.model)
    sep = dataclasses.replace(model.cfg.separate, tail_ratio=0.0)
    per_seed = []
    for seed in args.seeds:
        images, labels = render_frames(args.stills, seed, SynthConfig(), stills=True,
                                       workers=os.cpu_count() or 1)
        rows = []
        for i in range(0, len(images), 4):
            fg, edge = model.separation_maps(images[i:i + 4])
            pred = np.asarray(separate(np.asarray(fg), np.asarray(edge), sep))
            rows += [pair_features(p, t) for p, t in zip(pred, labels[i:i + 4])]
        rows = np.concatenate(rows)
        per_seed.append(rows)
        print(f"  seed {seed}: {len(rows)} pairs, {int(rows[:, 0].sum())} of one fish", flush=True)
    print("\n| rule (ratio / along / across) | " + " | ".join(
        f"{s}: one fish | {s}: two fish" for s in args.seeds) + " |")
    print("|---|" + "---:|---:|" * len(args.seeds))
    for ratio, along, across in RULES:
        cells = []
        for rows in per_seed:
            one, r, a, c, only = rows.T
            k = (r < ratio) & (a >= along) & (c <= across) & (only == 1)
            cells += [str(int((k & (one == 1)).sum())), str(int((k & (one == 0)).sum()))]
        print(f"| {ratio} / {along} / {across} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
