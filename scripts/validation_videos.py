"""Generated belt videos, their true per-frame counts, and the tally of counted tracks by
the truth, for the sweep scripts.

    for v in generated_videos(["60:31", "40:33"], tmp): ...   # v.folder / "video.mp4"
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fishseg.counted import CountedTracks
from fishseg.io.images import read_label_folder
from fishseg.metrics import true_count_range
from fishseg.synth import synthesize
from fishseg.tracking import Tracker


@dataclass
class GeneratedVideo:
    """One generated video: ``folder`` holds ``video.mp4`` and ``masks/``; ``sure`` and
    ``possible``: (frames,) int true fish per frame, barely visible ones as don't care
    (:func:`fishseg.metrics.true_count_range`); ``truth``: (frames, H, W) int32 true
    masks, one id per fish."""

    spec: str
    frames: int
    folder: Path
    fish_count: int
    sure: np.ndarray
    possible: np.ndarray
    truth: np.ndarray


def generated_videos(specs: list[str], tmp: str | Path) -> Iterator[GeneratedVideo]:
    """Generate each ``"FRAMES:SEED"`` video under ``tmp`` and yield it with its truth."""
    for spec in specs:
        frames, seed = (int(x) for x in spec.split(":"))
        d = Path(tmp) / spec.replace(":", "_")
        meta = synthesize(d, frames=frames, seed=seed, progress=False)
        truth = read_label_folder(d / "masks")
        sure, possible = true_count_range(truth)
        yield GeneratedVideo(spec, frames, d, meta["fish_count"], sure, possible, truth)


def released_outputs(labels: list[np.ndarray], cfg, fg: np.ndarray | None = None
                     ) -> tuple[list[np.ndarray], int]:
    """The outputs' labels (counted fish only, as ``fishseg segment`` writes them) and
    the distinct fish; ``fg``: the frames' (frames, H, W) foreground maps, for
    ``track.min_fg``."""
    tracker = Tracker(cfg, midline_views=0)
    release = CountedTracks(tracker)
    out = [o for i, lab in enumerate(labels)
           for _, o, _ in release.push(i, tracker.update(lab, i, None if fg is None else fg[i]),
                                       ids=tracker.last_ids)]
    tracker.end_of_input()
    out += [o for _, o, _ in release.flush()]
    return out, tracker.distinct_count


def tracks_by_truth(released: list[np.ndarray], truth: np.ndarray) -> tuple[int, int, int]:
    """(true fish found, duplicate tracks, not-a-fish tracks) of the released tracks."""
    votes: dict[int, dict[int, int]] = {}
    for out, true in zip(released, truth, strict=True):
        m = out > 0
        pairs, n = np.unique(np.stack([out[m], true[m]]), axis=1, return_counts=True)
        for (t, g), k in zip(pairs.T.tolist(), n.tolist(), strict=True):
            votes.setdefault(t, {})[g] = votes.setdefault(t, {}).get(g, 0) + k
    found: set[int] = set()
    dup = not_fish = 0
    for v in votes.values():
        g = max(v, key=v.get)
        if g == 0 or v[g] < 0.5 * sum(v.values()):
            not_fish += 1
        elif g in found:
            dup += 1
        else:
            found.add(g)
    return len(found), dup, not_fish
