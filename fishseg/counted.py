"""Which tracks reach the outputs: the counted fish, numbered 1, 2, ... as they appear.

A track is a distinct fish when it is seen in at least ``track.min_frames`` frames
(:class:`fishseg.config.TrackConfig`) and it rides the belt
(:meth:`fishseg.tracking.Tracker.counts`); a shorter one is a detection that came and
went (a glint, a fragment, a glove's finger for a frame or two), and one that moved
unlike the belt in its first frames is a glove, a tool or a fixture of the view. The
exports hold the counted
fish only, so that the masks, ``instances.json``, ``counts.csv``, ``fish.csv`` and the
overlay agree with ``distinct_fish``; the per-frame counts are not inflated by those
short detections (on the held-out 60-frame video the per-frame count error fell from 1.73
to 1.03, docs/accuracy.md); and the 16-bit masks have room for 65535 counted fish per
input rather than 65535 tracks of any length (the tracker starts ~0.75 per frame).

Whether a track will be counted is known soon after any frame it is in: each further
sighting has to come within ``max_gap + 1`` updates of the previous one or the track is
retired, so ``D = (min_frames - 1) * (max_gap + 1)`` updates after a frame every track in
it has either reached ``min_frames`` or been retired (and the belt test, which looks at
those same ``D`` updates, is decided). :class:`CountedTracks` therefore
holds each frame back ``D`` updates (6 with the defaults) and then releases it with its
counted tracks renumbered and the others removed. Memory: ``D`` frames of labels (and
of RGB when an overlay is written).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from fishseg.tracking import Track, Tracker

#: Codes of :meth:`CountedTracks.left_out`'s map: a track seen in fewer than
#: ``track.min_frames`` frames, one that did not ride the belt, and one the maps were
#: not sure of (``track.min_fg``).
SHORT, OFF_BELT, UNSURE = 1, 2, 3


class CountedTracks:
    """Hold tracked frames until their tracks are known to count, then renumber them.

    Args:
        tracker: the :class:`fishseg.tracking.Tracker` whose labels are pushed (its
            configuration gives ``min_frames`` and ``max_gap``).
        on_left_out: called as ``on_left_out(frame, left_out, track_ids)`` on each
            released frame that carries something (``frame`` not None), with
            ``left_out`` (H, W) uint8: 0 where nothing was left out, :data:`SHORT` /
            :data:`OFF_BELT` / :data:`UNSURE` on the pixels of tracks that are not counted, and
            ``track_ids`` (H, W) int32 the frame's tracker labels (to tell touching
            left-out tracks apart); its return value is carried on instead of ``frame``
            (the pipeline marks them on the overlay's image for review,
            :func:`fishseg.io.export.mark_left_out`).

    Attributes:
        delay: updates a frame is held back.
        output_id: tracker track id -> output id, for the counted tracks released so far.
    """

    def __init__(self, tracker: Tracker,
                 on_left_out: Callable[[Any, np.ndarray, np.ndarray], Any] | None = None):
        self.tracker = tracker
        self.on_left_out = on_left_out
        self.delay = tracker.decision_delay
        self.output_id: dict[int, int] = {}
        self._held: deque = deque()
        self._lut = np.zeros(1, np.int32)

    def push(self, frame_index: int, track_labels: np.ndarray,
             frame: Any = None, ids: np.ndarray | None = None
             ) -> list[tuple[int, np.ndarray, Any]]:
        """Add the tracker's labels of the frame just updated; return the frames now due.

        Args:
            frame_index: the frame's number.
            track_labels: (H, W) int32 track labels from :meth:`Tracker.update`.
            frame: anything to carry along with the frame (the RGB image for an overlay).
            ids: (n,) int the track ids in ``track_labels``, ascending, if the caller has
                them (:attr:`Tracker.last_ids` right after the update); found from the
                labels when None (a pass over the whole frame).

        Returns:
            ``(frame_index, labels, frame)`` of each released frame, oldest first;
            ``labels`` (H, W) int32 with counted tracks as 1, 2, ... and the rest 0.
        """
        self._held.append((int(frame_index), track_labels, frame, ids))
        out = []
        while len(self._held) > self.delay:
            out.append(self._release(*self._held.popleft()))
        return out

    def flush(self) -> list[tuple[int, np.ndarray, Any]]:
        """Release every held frame (the input has ended: no track can grow any more)."""
        out = [self._release(*h) for h in self._held]
        self._held.clear()
        return out

    def _release(self, index: int, lab: np.ndarray, frame: Any,
                 ids: np.ndarray | None = None) -> tuple[int, np.ndarray, Any]:
        lab = np.asarray(lab)
        n = len(self.tracker.tracks) + 1
        if self._lut.size < n:
            self._lut = np.concatenate([self._lut, np.zeros(n - self._lut.size, np.int32)])
        present = (np.flatnonzero(np.bincount(lab.ravel(), minlength=1)) if ids is None
                   else np.concatenate([[0], np.asarray(ids, np.int64)]))
        # tracker ids grow in order of appearance (raster order within a frame), so new
        # output ids taken in tracker-id order keep that order
        for tid in present[present > 0].tolist():
            if tid not in self.output_id and self.tracker.counts(self.tracker.tracks[tid]):
                self.output_id[tid] = len(self.output_id) + 1
                self._lut[tid] = self.output_id[tid]
        out = np.take(self._lut, lab)   # (as self._lut[lab], in half the time)
        if self.on_left_out is not None and frame is not None:
            frame = self.on_left_out(frame, self.left_out(lab, present), lab)
        return index, out, frame

    def left_out(self, lab: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """Which pixels of tracker labels belong to tracks that are not counted, and why.

        Args:
            lab: (H, W) int32 tracker labels of a frame whose tracks are decided.
            present: the ids in ``lab`` (computed when None).

        Returns:
            (H, W) uint8: 0, :data:`SHORT`, :data:`OFF_BELT` or :data:`UNSURE`.
        """
        if present is None:
            present = np.flatnonzero(np.bincount(np.asarray(lab).ravel(), minlength=1))
        kind = np.zeros(int(present.max(initial=0)) + 1, np.uint8)
        for tid in present[present > 0].tolist():
            if tid not in self.output_id:
                track = self.tracker.tracks[tid]
                kind[tid] = (SHORT if track.frames_seen < self.tracker.cfg.min_frames else
                             OFF_BELT if self.tracker.rides_belt(track) is False else UNSURE)
        return kind[lab]

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The held frames and the id map, as JSON-able values and arrays (the frames'
        carried RGB images included when they are arrays)."""
        held = list(self._held)
        arrays = {"output_tid": np.array(list(self.output_id), np.int64),
                  "output_oid": np.array(list(self.output_id.values()), np.int64),
                  "lut": self._lut}
        for k, (_, lab, frame, _ids) in enumerate(held):
            arrays[f"held_labels_{k}"] = np.asarray(lab, np.int32)
            if frame is not None:
                arrays[f"held_frame_{k}"] = np.asarray(frame)
        return {"held_index": [i for i, *_ in held]}, arrays

    def set_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.output_id = dict(zip(arrays["output_tid"].tolist(),
                                  arrays["output_oid"].tolist(), strict=True))
        self._lut = np.asarray(arrays["lut"], np.int32).copy()
        self._held = deque((int(i), arrays[f"held_labels_{k}"], arrays.get(f"held_frame_{k}"),
                            None) for k, i in enumerate(meta["held_index"]))

    def tracks(self) -> list[Track]:
        """The counted tracks released so far, with their output ids, in id order."""
        return [dataclasses.replace(self.tracker.tracks[tid], id=oid)
                for tid, oid in sorted(self.output_id.items(), key=lambda kv: kv[1])]


def counted_per_frame(labels, cfg=None) -> tuple[list[int], int]:
    """Track a sequence of instance label frames and count as ``fishseg segment`` does.

    Args:
        labels: iterable of (H, W) int instance labels, one per frame, in order.
        cfg: :class:`fishseg.config.TrackConfig` (default values if None).

    Returns:
        ``(counts, distinct)``: the number of counted fish in each frame's output (the
        ``fish_in_view`` of counts.csv) and the number of distinct fish.
    """
    tracker = Tracker(cfg, midline_views=0)  # counts only: no lengths to measure
    release = CountedTracks(tracker)
    counts: list[int] = []
    n = lambda out: int(np.unique(out).size - (out == 0).any())  # noqa: E731
    for i, lab in enumerate(labels):
        counts += [n(o) for _, o, _ in release.push(i, tracker.update(lab, i),
                                                    ids=tracker.last_ids)]
    tracker.end_of_input()
    counts += [n(o) for _, o, _ in release.flush()]
    return counts, tracker.distinct_count
