"""Generated belt videos and their true per-frame counts, for the sweep scripts.

    for v in generated_videos(["60:31", "40:33"], tmp): ...   # v.folder / "video.mp4"
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fishseg.io.images import read_label_folder
from fishseg.metrics import true_count_range
from fishseg.synth import synthesize


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
