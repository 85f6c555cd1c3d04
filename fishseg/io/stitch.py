"""Fish that cross from one recording into the next are counted once over a batch.

Recorders split a camera's footage into files (by the hour, every ten minutes, at a
size). A fish on the belt when one file ends is in view in the next file's first frame,
so it gets a track, and a count, in both. After a batch, :func:`continued_fish` finds
consecutive recordings of one camera and, between each pair, the fish that carry on:

- **one camera**: inputs in the same folder whose names are the same once their
  date-time stamp is taken out (``ch01_20261124053000.mp4`` and
  ``ch01_20261124063000.mp4``: ``ch01_``; :func:`camera_key`);
- **consecutive**: the second starts where the first ends, by their clock times
  (``summary.json`` ``recording_start`` + ``span_s``), within a second and two frames
  (names give whole seconds), the first processed to its end and the second from its
  start (a haul's time window may cut the other ends), at the same scale, frame step
  and size, their starts given the same way (both with a zone or both without);
- **the same fish**: the first's last two masks and the second's first mask are run
  through a :class:`fishseg.tracking.Tracker` with the batch's tracking settings: the
  belt motion it measures carries the first file's fish into the second's first
  frame, and a fish of the second file linked to one of the first continues it (the
  same rule that links frames within a file).

``OUT/all_fish.csv`` then names, for such a fish, the fish it continues
(``continues``: ``output:track_id``), and the batch's count leaves it out.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from fishseg.config import TrackConfig
from fishseg.io.export import read_summary
from fishseg.io.recording import NAME_STAMP
from fishseg.track_metrics import read_tracks
from fishseg.tracking import Tracker

#: Largest gap (or overlap) between one recording's end and the next one's start, in
#: seconds, on top of two frame intervals: file names hold whole seconds.
TOLERANCE_S = 1.0


def camera_key(name: str) -> str:
    """A recording's name with its date-time stamps taken out (the camera's part)."""
    return NAME_STAMP.sub("", Path(name).stem)


def _span(s: dict) -> tuple[datetime, datetime, bool, bool] | None:
    """(clock time of the recording's first frame, clock time just after the last frame
    processed, processed from its first frame, processed to its last frame), or None
    when it has no start or no frames. A time window (a haul) may cut a recording's
    start or end: only a recording processed to its end continues into the next, and
    only one processed from its start continues the one before."""
    rec, span, fps = s.get("recording_start"), s.get("span_s"), s.get("fps")
    if not rec or not span or not fps:
        return None
    window = s.get("window_s") or [0, None]
    step = s.get("frame_step", 1) / fps
    start = datetime.fromisoformat(rec["time"])
    # a window ending after where the next processed frame would have been: the file ended
    return (start, start + timedelta(seconds=span[1] + step), window[0] == 0,
            window[1] is None or window[1] >= span[1] + 1.5 * step)


def consecutive(out: Path, outputs: list[str]) -> list[tuple[str, str]]:
    """Pairs (earlier, later) of outputs that are one camera's consecutive recordings."""
    groups: dict[tuple, list] = {}
    for name in outputs:
        s = read_summary(out / name)
        span = _span(s) if s else None
        if span is None:
            continue
        src = Path(s["input"])
        # resolved: the local engine records inputs as given, Ray's workers absolute
        key = (str(src.resolve().parent), camera_key(src.name), s.get("scale"), s.get("frame_step"),
               s.get("width"), s.get("height"), span[0].tzinfo is None)
        groups.setdefault(key, []).append((span, s["fps"], name))
    pairs = []
    for items in groups.values():
        items.sort(key=lambda x: x[0][0])
        for (a, fps, na), (b, _, nb) in zip(items, items[1:]):
            if a[3] and b[2] and abs((b[0] - a[1]).total_seconds()) <= TOLERANCE_S + 2 / fps:
                pairs.append((na, nb))
    return pairs


def _track_settings(s: dict) -> TrackConfig:
    known = {f.name for f in fields(TrackConfig)}
    given = {k: (tuple(v) if isinstance(v, list) else v)
             for k, v in (s.get("track_settings") or {}).items() if k in known}
    return TrackConfig(**given)


def _owners(track_labels: np.ndarray, fish: np.ndarray) -> dict[int, int]:
    """Tracker id -> the output's fish id it mostly covers."""
    out = {}
    for t in np.unique(track_labels[track_labels > 0]):
        ids, n = np.unique(fish[track_labels == t], return_counts=True)
        out[int(t)] = int(ids[np.argmax(n)])
    return out


def linked_fish(a_dir: Path, b_dir: Path) -> dict[int, int]:
    """Fish of ``b_dir``'s first frame that continue fish of ``a_dir``'s last frame.

    Returns:
        ``{fish id in b: fish id in a}``.
    """
    try:
        fa, fb = read_tracks(a_dir), read_tracks(b_dir)
    except ValueError:  # no masks (no frame written)
        return {}
    masks = [fa[i]() for i in sorted(fa)[-2:]]
    first_b = fb[min(fb)]()
    if first_b.shape != masks[-1].shape:
        return {}
    tracker = Tracker(_track_settings(read_summary(a_dir) or {}), midline_views=0)
    out = [tracker.update(m, k) for k, m in enumerate([*masks, first_b])]
    in_a, in_b = _owners(out[-2], masks[-1]), _owners(out[-1], first_b)
    return {fish_b: in_a[t] for t, fish_b in in_b.items() if t in in_a and fish_b > 0
            and in_a[t] > 0}


def continued_fish(out: str | Path, outputs: list[str]) -> dict[tuple[str, int], tuple[str, int]]:
    """The fish of a batch that continue a fish of the camera's previous recording.

    Args:
        out: the output root.
        outputs: the complete outputs (folder names) of the batch.

    Returns:
        ``{(output, fish id): (earlier output, its fish id)}``.
    """
    out = Path(out)
    found = {}
    for a, b in consecutive(out, outputs):
        for fish_b, fish_a in linked_fish(out / a, out / b).items():
            found[(b, fish_b)] = (a, fish_a)
    return found
