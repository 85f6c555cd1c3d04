"""Linking fish instances frame to frame into tracks.

The segmentation gives each frame its own instance ids. :class:`Tracker` turns them into
track ids that stay with a fish while it rides the belt through the view:

1. **Belt motion.** The belt moves steadily, so one translation (dy, dx) per frame
   describes the fish. It is first estimated by phase correlation of the previous and the
   current foreground masks (``cv2.phaseCorrelate``, on masks downsampled to about 512 px
   for large frames); an estimate that is weak (no fish, low response) or implausibly
   large (``max_shift``) is replaced by the previous frame's motion. After matching, the
   motion is refined as the median displacement of the centroids of the whole fish
   matched between consecutive frames, and matching is redone if the refinement moved
   the shift by more than a pixel.
2. **Prediction.** Every live track's pixels from the frame where it was last seen are
   shifted by the belt motion accumulated since then (so a track unseen for a few frames
   is predicted forward). Pixels shifted out of the frame are dropped, so a fish leaving
   the view is still matched by its visible part.
3. **Matching.** IoU between predicted tracks and current instances (one ``np.bincount``
   over the predicted pixels), then the Hungarian method
   (``scipy.optimize.linear_sum_assignment``) maximising total IoU; pairs below
   ``iou_threshold`` are not linked.
4. **Bookkeeping.** Unmatched instances start new tracks (ids 1, 2, ... in order of
   appearance). A track unmatched in more than ``max_gap`` consecutive updates is retired
   and can no longer be re-linked. Gaps count updates (processed frames), not frame
   numbers, so a caller that processes every n-th frame gets the same behaviour.

5. **Riding the belt.** A fish lies on the belt and is carried by it; a glove hovering
   over the belt, a tool, or a fixture of the view (a bolt on a rail, a sticker, a
   reflection) is not. Each track is judged on its first frames, the ``D =
   (min_frames - 1) * (max_gap + 1)`` updates after it appeared (so the judgement is
   known when :class:`fishseg.counted.CountedTracks` releases its first frame, and
   never changes after). At each step between two sightings where it was whole, two
   explanations of its move are compared: the belt's travel, and its own centroid's
   displacement. Each shifts the previous mask; the one whose shifted mask overlaps the
   current mask better (IoU) gets the step's vote, and a step where the two shifts are
   alike (within ``_SAME_SHIFT`` px or ``_SAME_SHARE`` of the belt's step) gives no vote
   (a stopped or slow belt, a fish riding it, one nearer an oblique camera). A track
   whose votes for its own motion are more than ``off_belt_share`` of its (at least two)
   votes is *off the belt* and is not counted (:meth:`Tracker.counts`). Masks, not centroids, are compared because a fish's
   centroid jumps when it merges with a neighbour or loses its tail for a frame, while
   the belt-shifted mask still fits what is left of it.

A fish touching the frame edge (within ``edge_margin`` px) is cut by it, so its size
is not its own. Each track records per frame whether it touched the edge; a track is
*partial* when it was never seen whole, and its size summary uses its whole frames only
when it has any (:meth:`Track.summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from fishseg.config import TrackConfig
from fishseg.measure import check_labels, instance_pixels, measure_instances
from fishseg.midline import midline_length

#: A counted track unseen in a frame is hidden (kept for ``hidden_gap`` updates) when
#: this share of its belt-shifted last mask lies on the frame's fish ...
_HIDDEN_COVER = 0.6
#: ... and this share of that mask is still in the view.
_HIDDEN_IN_VIEW = 0.5
#: Least IoU at which a track unseen for more than ``max_gap`` updates is re-linked.
_HIDDEN_IOU = 0.5
#: Matched fish whose area changed by more than this factor do not vote on the belt's
#: motion (:meth:`Tracker._refine`).
_AREA_CHANGE = 1.5
#: Phase-correlation peaks weaker than this are not trusted.
_MIN_RESPONSE = 0.05
#: The belt test's two shifts are alike when closer than this many px, or than this
#: share of the belt's step (perspective: a fish nearer an oblique camera moves faster
#: in the picture than the belt's one translation says; a glove standing still is a
#: whole step off).
#: Each instance's foreground score (``Track.fg``, ``track.min_fg``): this percentile
#: of the fg map over its pixels.
FG_PERCENTILE = 90
_SAME_SHIFT = 2
_SAME_SHARE = 0.5


@dataclass
class Track:
    """The record of one fish: every frame it was seen in and its size there.

    Attributes:
        id: track id (the value in the track label images), >= 1.
        frames: frame indices where it was seen, increasing.
        areas: area in pixels per seen frame.
        lengths: length along the major axis in pixels per seen frame.
        widths: width across the major axis in pixels per seen frame.
        edge: whether it touched the frame edge, per seen frame.
        centroids: (y, x) centroid per seen frame.
        cm: (area cm^2, length cm, width cm) per seen frame, measured on the belt plane
            when the tracker has a perspective calibration (else empty).
        midlines: length along the body in pixels (:func:`fishseg.midline.midline_length`)
            per seen frame; 0 where it was not measured (cut by the edge, or the
            track already had the tracker's ``midline_views`` measures).
        fg: its foreground score per seen frame: the :data:`FG_PERCENTILE` th percentile
            of the fg map over its pixels (0 where the tracker was not given the map).
        decided: how many of its first sightings fell in its first ``decision_delay``
            updates (the sightings whether it counts is decided on).
        first_update: the tracker's update number (0, 1, ...) when it was first seen.
        belt: the belt test's vote per seen frame, for the step from the previous
            sighting: 1 the belt's travel explains it better, -1 its own motion does,
            0 no vote (first sighting, cut by the edge, shifts alike, or past its first
            ``decision_delay`` updates).
    """

    id: int
    frames: list[int] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)
    edge: list[bool] = field(default_factory=list)
    centroids: list[tuple[float, float]] = field(default_factory=list)
    cm: list[tuple[float, float, float]] = field(default_factory=list)
    midlines: list[float] = field(default_factory=list)
    fg: list[float] = field(default_factory=list)
    decided: int = 0
    first_update: int = 0
    belt: list[int] = field(default_factory=list)

    @property
    def first_frame(self) -> int:
        return self.frames[0]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    @property
    def frames_seen(self) -> int:
        return len(self.frames)

    @property
    def partial(self) -> bool:
        """True when the fish touched the frame edge in every frame it was seen in."""
        return all(self.edge)

    def summary(self, cm_per_pixel: float | None = None) -> dict:
        """Median area / length / width over the frames where the fish was whole.

        Frames where it touched the edge are used only if it was never seen whole.

        Returns:
            dict with track_id, first_frame, last_frame, frames_seen, partial, area_px,
            length_px, width_px, midline_px (the median length along the body over the
            frames where it was measured; NaN where it never was), and area_cm2,
            length_cm, width_cm, midline_cm when the track was measured on the belt
            plane (:attr:`cm`; the midline scaled by each frame's length_cm / length_px)
            or ``cm_per_pixel`` is given.
        """
        use = [i for i, e in enumerate(self.edge) if not e] or list(range(len(self.frames)))
        area = float(np.median([self.areas[i] for i in use]))
        length = float(np.median([self.lengths[i] for i in use]))
        width = float(np.median([self.widths[i] for i in use]))
        mid = np.asarray(self.midlines, np.float64)
        measured = mid > 0 if len(mid) == len(self.frames) else np.zeros(0, bool)
        midline = float(np.median(mid[measured])) if measured.any() else float("nan")
        out = {"track_id": self.id, "first_frame": self.first_frame,
               "last_frame": self.last_frame, "frames_seen": self.frames_seen,
               "partial": self.partial, "area_px": area, "length_px": length,
               "width_px": width, "midline_px": midline}
        if self.cm:  # measured on the belt plane, frame by frame
            a, ln, w = (float(np.median([self.cm[i][k] for i in use])) for k in range(3))
            idx = np.flatnonzero(measured)
            scaled = [mid[i] * self.cm[i][1] / self.lengths[i] for i in idx]
            out.update(area_cm2=a, length_cm=ln, width_cm=w,
                       midline_cm=float(np.median(scaled)) if scaled else float("nan"))
        elif cm_per_pixel is not None:
            out.update(area_cm2=area * cm_per_pixel**2, length_cm=length * cm_per_pixel,
                       width_cm=width * cm_per_pixel, midline_cm=midline * cm_per_pixel)
        return out


def _concat(parts, dtype) -> np.ndarray:
    """Flat concatenation of array-likes as ``dtype`` (empty when there are none)."""
    return (np.concatenate([np.asarray(x, dtype).ravel() for x in parts]) if parts
            else np.zeros(0, dtype))


def _alike(a: float, b: float) -> bool:
    """Whether two areas differ by at most the factor ``_AREA_CHANGE``."""
    return max(a, b) <= _AREA_CHANGE * min(a, b)


@dataclass
class _Live:
    """A track that may still be matched: its pixels when last seen and the motion since."""

    index: int  # into Tracker.tracks' id
    ys: np.ndarray
    xs: np.ndarray
    centroid: np.ndarray  # (2,) y, x when last seen
    offset: np.ndarray = field(default_factory=lambda: np.zeros(2))  # motion since then
    missed: int = 0


class Tracker:
    """Link per-frame instance labels into tracks with stable ids.

    Args:
        cfg: :class:`fishseg.config.TrackConfig` (default values if None).
        border: optional (H, W) bool mask of pixels that count as the frame's edge too
            (the inner border of a region of interest, :func:`fishseg.roi.roi_border`):
            a fish touching it is cut by the ROI, so partial.
        plane: optional :class:`fishseg.calibration.BeltPlane` for frames of this size:
            each fish is also measured in cm on the belt (``Track.cm``).
        midline_views: each track's length along the body (``Track.midlines``) is
            measured in the first this many frames where it is not cut by the edge
            (about 1.5 ms each; 0 = never).

    Attributes:
        tracks: dict track id -> :class:`Track`, every track ever started.
        motion: (2,) float64 belt motion (dy, dx) in px per frame, latest estimate.
        frames_processed: number of :meth:`update` calls.
        decision_delay: ``D``, updates after a track's first sighting when whether it
            counts is known (:meth:`counts`).
        last_ids: (n,) int32 the track ids in the labels the last :meth:`update`
            returned, ascending (for :meth:`fishseg.counted.CountedTracks.push`).
    """

    def __init__(self, cfg: TrackConfig | None = None, border: np.ndarray | None = None,
                 plane=None, midline_views: int = 5):
        self.cfg = cfg if cfg is not None else TrackConfig()
        self.border = border
        self.plane = plane
        self.midline_views = int(midline_views)
        self.tracks: dict[int, Track] = {}
        self.motion = np.zeros(2)
        self.frames_processed = 0
        self.decision_delay = (self.cfg.min_frames - 1) * (self.cfg.max_gap + 1)
        self._live: list[_Live] = []
        self.last_ids = np.zeros(0, np.int32)
        self._prev_fg: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None

    @property
    def distinct_count(self) -> int:
        """Number of distinct fish so far: the tracks that :meth:`counts`."""
        return sum(self.counts(t) for t in self.tracks.values())

    @property
    def off_belt_count(self) -> int:
        """Number of tracks seen in ``cfg.min_frames`` frames or more that are not counted
        because they did not ride the belt (:meth:`rides_belt`)."""
        return sum(t.frames_seen >= self.cfg.min_frames and self.rides_belt(t) is False
                   for t in self.tracks.values())

    def counts(self, track: Track) -> bool:
        """Whether a track is a distinct fish: seen in at least ``cfg.min_frames`` frames
        (a detection that lives for a frame or two is noise), not off the belt
        (:meth:`rides_belt`) and sure enough (:meth:`sure`)."""
        return (track.frames_seen >= self.cfg.min_frames and self.rides_belt(track) is not False
                and self.sure(track))

    def sure(self, track: Track) -> bool:
        """Whether the maps were sure enough of a track: the median of its foreground
        scores (:attr:`Track.fg`) over the sightings of its first ``decision_delay``
        updates is at least ``cfg.min_fg`` (True when the test is off, or no fg map was
        given)."""
        if self.cfg.min_fg <= 0:
            return True
        scores = [v for v in track.fg[:track.decided] if v > 0]
        return not scores or float(np.median(scores)) >= self.cfg.min_fg

    def rides_belt(self, track: Track) -> bool | None:
        """Whether a track moved with the belt over its first ``decision_delay`` updates.

        Returns:
            False when its votes for its own motion (:attr:`Track.belt`) are more than
            ``cfg.off_belt_share`` of at least two votes, True when they are not, None
            when it has fewer than two votes (no evidence) or the test is off (share 1).
        """
        if self.cfg.off_belt_share >= 1:
            return None
        # votes are cast in the first decision_delay updates only: at most D + 1 sightings
        votes = [v for v in track.belt[:self.decision_delay + 1] if v]
        if len(votes) < 2:
            return None
        return bool(votes.count(-1) <= self.cfg.off_belt_share * len(votes))

    def _belt_vote(self, lv: _Live, ys: np.ndarray, xs: np.ndarray, centroid: np.ndarray,
                   motion: np.ndarray) -> int:
        """The belt test's vote for one step of a track (:attr:`Track.belt`).

        Args:
            lv: the live track as last seen (its pixels, centroid and offset since).
            ys, xs: (N,) int32 its pixels now.
            centroid: (2,) float64 its centroid now.
            motion: (2,) float64 the belt's motion in this update.
        """
        belt = np.rint(lv.offset + motion).astype(np.int64)
        own = np.rint(centroid - lv.centroid).astype(np.int64)
        if np.hypot(*(belt - own)) < max(_SAME_SHIFT, _SAME_SHARE * np.hypot(*belt)):
            return 0
        y0, x0 = int(ys.min()), int(xs.min())
        cur = np.zeros((int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1), bool)
        cur[ys - y0, xs - x0] = True
        iou = []
        for dy, dx in (belt, own):
            y, x = lv.ys + dy - y0, lv.xs + dx - x0
            ok = (y >= 0) & (y < cur.shape[0]) & (x >= 0) & (x < cur.shape[1])
            inter = int(cur[y[ok], x[ok]].sum())
            iou.append(inter / (len(lv.ys) + len(ys) - inter))
        return 1 if iou[0] >= iou[1] else -1

    # -- motion ------------------------------------------------------------------------

    def _phase_motion(self, fg: np.ndarray) -> np.ndarray | None:
        """Belt motion (dy, dx) from the previous fg mask to ``fg`` (H,W) bool, or None."""
        prev = self._prev_fg
        if prev is None or not prev.any() or not fg.any():
            return None
        H, W = fg.shape
        s = max(1, int(round(max(H, W) / 512)))
        a, b = prev.astype(np.float32), fg.astype(np.float32)
        if s > 1:
            size = (max(8, W // s), max(8, H // s))
            a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
            b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
        win = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(a, b, win)
        d = np.array([dy * H / a.shape[0], dx * W / a.shape[1]])
        if response < _MIN_RESPONSE or np.any(np.abs(d) > self.cfg.max_shift * np.array([H, W])):
            return None
        return d

    # -- matching ----------------------------------------------------------------------

    def _iou(self, pos_img: np.ndarray, cur: tuple, motion: np.ndarray) -> np.ndarray:
        """(T, N) IoU of live tracks shifted by their offset + ``motion`` vs instances.

        Both sides count only the field of view the two frames share: predicted pixels
        shifted out of the frame are dropped, and so are an instance's pixels that were
        outside the frame when the track was last seen (so a fish entering the view,
        growing from a sliver, still matches its earlier sliver).

        Args:
            pos_img: (H, W) int32 the frame's instance index + 1 per pixel, 0 = belt.
            cur: ``(ys, xs, pos, N, area)`` of the frame's instances: (P,) int64 pixel
                coordinates in raster order (``ys`` non-decreasing, as
                :func:`fishseg.measure.instance_pixels` gives them), (P,) int64 instance
                index of each, the number N of instances and their (N,) int64 areas.
            motion: (2,) float64 belt motion (dy, dx) of this update.
        """
        ys, xs, pos, N, area = cur
        T = len(self._live)
        if T == 0 or N == 0:
            return np.zeros((T, N))
        H, W = pos_img.shape
        shifts = np.rint(np.array([lv.offset for lv in self._live]) + motion).astype(np.int64)
        counts = np.array([len(lv.ys) for lv in self._live])
        t = np.repeat(np.arange(T), counts)
        y = np.concatenate([lv.ys for lv in self._live]) + np.repeat(shifts[:, 0], counts)
        x = np.concatenate([lv.xs for lv in self._live]) + np.repeat(shifts[:, 1], counts)
        ok = (y >= 0) & (y < H) & (x >= 0) & (x < W)
        t, y, x = t[ok], y[ok], x[ok]
        pred_area = np.bincount(t, minlength=T)
        inter = np.bincount(t * (N + 1) + np.take(pos_img.ravel(), y * W + x),
                            minlength=T * (N + 1))
        inter = inter.reshape(T, N + 1)[:, 1:].astype(np.float64)
        uniq, which = np.unique(shifts, axis=0, return_inverse=True)
        seen_then = np.empty((len(uniq), N))
        # an instance's pixels that were in the view when the track was last seen: all
        # but those within |dy| rows or |dx| columns of the edge the belt brought them in
        # by. The rows are a prefix or suffix of the raster-ordered pixels; the columns
        # are looked for among the pixels near the left and right edges only.
        reach = int(np.abs(uniq[:, 1]).max(initial=0))
        near = np.flatnonzero((xs < reach) | (xs >= W - reach)) if reach else np.zeros(0, int)
        for k, (dy, dx) in enumerate(uniq):  # few: one per gap length
            lo = np.searchsorted(ys, dy, "left") if dy > 0 else 0
            hi = np.searchsorted(ys, H + dy, "left") if dy < 0 else len(ys)
            cut = np.bincount(pos[:lo], minlength=N) + np.bincount(pos[hi:], minlength=N)
            if dx:
                c = near[(xs[near] < dx) | (xs[near] >= W + dx)]
                c = c[(c >= lo) & (c < hi)]          # (rows cut already counted)
                cut += np.bincount(pos[c], minlength=N)
            seen_then[k] = area - cut
        union = pred_area[:, None] + seen_then[which.ravel()] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    def _match(self, iou: np.ndarray) -> list[tuple[int, int]]:
        """Hungarian assignment maximising IoU; pairs (track row, instance col) >= threshold."""
        if iou.size == 0:
            return []
        if _HIDDEN_IOU > self.cfg.iou_threshold:  # a track kept hidden must fit closely
            hidden = np.array([lv.missed > self.cfg.max_gap for lv in self._live])
            iou = np.where(hidden[:, None] & (iou < _HIDDEN_IOU), 0.0, iou)
        rows, cols = linear_sum_assignment(iou, maximize=True)
        keep = iou[rows, cols] >= max(self.cfg.iou_threshold, 1e-9)
        return list(zip(rows[keep].tolist(), cols[keep].tolist(), strict=True))

    def _refine(self, pairs, m) -> np.ndarray | None:
        """Median centroid displacement of whole fish matched between consecutive updates.

        Fish cut by the edge are left out (their centroids move as they enter or leave),
        so are pairs whose area changed by more than ``_AREA_CHANGE`` (a merge with a
        neighbour or a split moves the centroid by half a fish, not by the belt's step),
        and so are tracks judged not to ride the belt (:meth:`rides_belt`: a
        hovering glove would drag the median towards zero when few fish are in view);
        None when no whole fish was matched.
        """
        d = [m.centroid[c] - self._live[r].centroid for r, c in pairs
             if self._live[r].missed == 0 and not m.touches_edge[c]
             and not self.tracks[self._live[r].index].edge[-1]
             and _alike(m.area[c], self.tracks[self._live[r].index].areas[-1])
             and self.rides_belt(self.tracks[self._live[r].index]) is not False]
        return np.median(np.array(d), axis=0) if d else None

    def _hidden(self, lv: _Live, fg: np.ndarray) -> bool:
        """Whether an unmatched track is a counted fish hidden in another's region.

        Its last mask, carried by the belt to this frame (``lv.offset``), must still be
        mostly in the view and lie at least ``_HIDDEN_COVER`` on this frame's fish: it
        has merged with a neighbour (or lies under one), not left the view or the belt.
        """
        if not self.counts(self.tracks[lv.index]):
            return False
        H, W = fg.shape
        dy, dx = np.rint(lv.offset).astype(np.int64)
        y, x = lv.ys + dy, lv.xs + dx
        ok = (y >= 0) & (y < H) & (x >= 0) & (x < W)
        inside = int(ok.sum())
        return (inside >= _HIDDEN_IN_VIEW * len(lv.ys)
                and fg[y[ok], x[ok]].sum() >= _HIDDEN_COVER * inside)

    def end_of_input(self) -> None:
        """Call once the input's last frame is updated: an input of fewer frames than
        ``cfg.min_frames`` (a single image, a two-frame clip) could never show a fish, so
        ``min_frames`` becomes its frame count: a fish seen in all of them counts.

        Exact for the counted-fish release too: it holds every frame of such an input
        until its flush (``decision_delay`` >= ``min_frames - 1`` >= the frame count).
        """
        n = self.frames_processed
        if 0 < n < self.cfg.min_frames:
            self.cfg = replace(self.cfg, min_frames=n)
            self.decision_delay = (n - 1) * (self.cfg.max_gap + 1)

    def _midline(self, track: Track, ys: np.ndarray, xs: np.ndarray, cut: bool) -> float:
        """The length along the body of one sighting (pixel coordinates ``ys``, ``xs``),
        or 0 (not measured) where it is cut by the edge or the track has
        ``midline_views`` already."""
        if cut or np.count_nonzero(track.midlines) >= self.midline_views:
            return 0.0
        y0, x0 = int(ys.min()), int(xs.min())
        mask = np.zeros((int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1), bool)
        mask[ys - y0, xs - x0] = True
        return midline_length(mask)

    # -- state, for resuming an interrupted input ---------------------------------------

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Everything :meth:`update` depends on, as JSON-able values and arrays.

        Returns:
            ``(meta, arrays)``; :meth:`set_state` on a new tracker with the same
            configuration and border continues exactly as this one would (the floats
            are stored as float64 arrays, so nothing is rounded).
        """
        tr = [self.tracks[k] for k in sorted(self.tracks)]
        lv = self._live
        arrays = {
            "track_ids": np.array([t.id for t in tr], np.int64),
            "track_len": np.array([len(t.frames) for t in tr], np.int64),
            "track_frames": _concat([t.frames for t in tr], np.int64),
            "track_areas": _concat([t.areas for t in tr], np.int64),
            "track_lengths": _concat([t.lengths for t in tr], np.float64),
            "track_widths": _concat([t.widths for t in tr], np.float64),
            "track_edge": _concat([t.edge for t in tr], bool),
            "track_centroids": _concat([t.centroids for t in tr], np.float64).reshape(-1, 2),
            "track_cm_len": np.array([len(t.cm) for t in tr], np.int64),
            "track_cm": _concat([t.cm for t in tr], np.float64).reshape(-1, 3),
            "track_midlines": _concat([t.midlines for t in tr], np.float64),
            "track_fg": _concat([t.fg for t in tr], np.float64),
            "track_decided": np.array([t.decided for t in tr], np.int64),
            "track_first_update": np.array([t.first_update for t in tr], np.int64),
            "track_belt": _concat([t.belt for t in tr], np.int64),
            "live_index": np.array([x.index for x in lv], np.int64),
            "live_len": np.array([len(x.ys) for x in lv], np.int64),
            "live_ys": _concat([x.ys for x in lv], np.int32),
            "live_xs": _concat([x.xs for x in lv], np.int32),
            "live_centroid": _concat([x.centroid for x in lv], np.float64).reshape(-1, 2),
            "live_offset": _concat([x.offset for x in lv], np.float64).reshape(-1, 2),
            "live_missed": np.array([x.missed for x in lv], np.int64),
            "motion": np.asarray(self.motion, np.float64),
        }
        if self._prev_fg is not None:
            arrays["prev_fg"] = self._prev_fg
        meta = {"frames_processed": self.frames_processed,
                "shape": list(self._shape) if self._shape else None}
        return meta, arrays

    def set_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_state` returned (replaces all tracks)."""
        def split(a, lengths):
            return np.split(np.asarray(a), np.cumsum(lengths)[:-1]) if len(lengths) else []

        n = arrays["track_len"]
        cols = {k: split(arrays[f"track_{k}"], n)
                for k in ("frames", "areas", "lengths", "widths", "edge", "centroids",
                          "belt")}
        cm = split(arrays["track_cm"], arrays["track_cm_len"])
        # (a checkpoint written before midlines were measured has none: 0, not measured)
        mids = (split(arrays["track_midlines"], n) if "track_midlines" in arrays
                else [np.zeros(k) for k in n.tolist()])
        fgs = (split(arrays["track_fg"], n) if "track_fg" in arrays
               else [np.zeros(k) for k in n.tolist()])
        decided = arrays.get("track_decided", np.zeros(len(n), np.int64))
        self.tracks = {}
        for i, tid in enumerate(arrays["track_ids"].tolist()):
            self.tracks[tid] = Track(
                tid, frames=cols["frames"][i].tolist(), areas=cols["areas"][i].tolist(),
                lengths=cols["lengths"][i].tolist(), widths=cols["widths"][i].tolist(),
                edge=cols["edge"][i].tolist(),
                centroids=[tuple(c) for c in cols["centroids"][i].tolist()],
                cm=[tuple(c) for c in cm[i].tolist()], midlines=mids[i].tolist(),
                fg=fgs[i].tolist(), decided=int(decided[i]),
                first_update=int(arrays["track_first_update"][i]), belt=cols["belt"][i].tolist())
        m = arrays["live_len"]
        ys, xs = split(arrays["live_ys"], m), split(arrays["live_xs"], m)
        self._live = [_Live(int(idx), ys[i], xs[i], arrays["live_centroid"][i].copy(),
                            arrays["live_offset"][i].copy(), int(arrays["live_missed"][i]))
                      for i, idx in enumerate(arrays["live_index"].tolist())]
        self.motion = np.asarray(arrays["motion"], np.float64).copy()
        self._prev_fg = np.asarray(arrays["prev_fg"], bool) if "prev_fg" in arrays else None
        self._shape = tuple(meta["shape"]) if meta.get("shape") else None
        self.frames_processed = int(meta["frames_processed"])

    # -- the step ----------------------------------------------------------------------

    def update(self, labels, frame_index: int, fg: np.ndarray | None = None) -> np.ndarray:
        """Link one frame's instances to the tracks.

        Args:
            labels: (H, W) integer instance labels of the frame, 0 = background; ids are
                arbitrary per frame.
            frame_index: the frame's number (recorded in the tracks).
            fg: optional (H, W) foreground probability map of the frame (float in [0, 1],
                or uint8 0..255): each instance's score is recorded (:attr:`Track.fg`)
                for ``cfg.min_fg`` (:meth:`sure`).

        Returns:
            (H, W) int32 track labels: 0 = background, otherwise the track id.

        Raises:
            ValueError: labels not 2-D integer >= 0, or of another size than before.
        """
        lab = check_labels(labels)
        if self._shape is None:
            self._shape = lab.shape
        elif lab.shape != self._shape:
            raise ValueError(f"frame {frame_index}: labels are {lab.shape}, earlier frames "
                             f"were {self._shape}")
        ys, xs, _, pos = px = instance_pixels(lab)
        m = measure_instances(lab, edge_margin=self.cfg.edge_margin, pixels=px,
                              border=self.border, plane=self.plane)
        N = len(m)
        flat = ys * lab.shape[1] + xs   # (1-D indexing: cheaper than [ys, xs])
        if fg is not None and np.shape(fg) != lab.shape:
            raise ValueError(f"frame {frame_index}: fg map is {np.shape(fg)}, labels {lab.shape}")
        pos_img = np.zeros(lab.shape, np.int32)
        pos_img.ravel()[flat] = pos + 1
        # group pixels by instance; a 16-bit key makes the stable sort a linear radix sort
        order = np.argsort(pos.astype(np.uint16) if N < 65536 else pos, kind="stable")
        splits = np.cumsum(m.area)[:-1]
        inst_ys = np.split(ys[order].astype(np.int32), splits) if N else []
        inst_xs = np.split(xs[order].astype(np.int32), splits) if N else []
        fg_score = np.zeros(N)
        if fg is not None and N:  # how sure the maps are of each instance's surest part
            fg = np.asarray(fg)
            vals = fg.ravel()[flat][order].astype(np.float64)
            vals /= 255.0 if fg.dtype == np.uint8 else 1.0
            fg_score = np.array([np.percentile(v, FG_PERCENTILE) for v in np.split(vals, splits)])

        fg = lab > 0
        guess = self._phase_motion(fg)
        motion = self.motion if guess is None else guess
        cur = (ys, xs, pos, N, m.area)
        pairs = self._match(self._iou(pos_img, cur, motion))
        refined = self._refine(pairs, m)
        if refined is not None:
            if np.any(np.abs(refined - motion) > 1.0):
                pairs = self._match(self._iou(pos_img, cur, refined))
            motion = refined
        self.motion = np.asarray(motion, np.float64)
        update = self.frames_processed
        votes = np.zeros(N, np.int64)
        for r, c in pairs:  # the belt test, on young tracks seen whole twice in a row
            lv = self._live[r]
            t = self.tracks[lv.index]
            if (self.cfg.off_belt_share < 1 and update - t.first_update <= self.decision_delay
                    and not t.edge[-1] and not m.touches_edge[c]):
                votes[c] = self._belt_vote(lv, inst_ys[c], inst_xs[c], m.centroid[c], self.motion)

        track_of = np.zeros(N, np.int32)
        matched_live = set()
        for r, c in pairs:
            track_of[c] = self._live[r].index
            matched_live.add(r)
        new_live = []
        for r, lv in enumerate(self._live):
            if r not in matched_live:
                lv.offset = lv.offset + self.motion
                lv.missed += 1
                if lv.missed <= self.cfg.max_gap or (
                        lv.missed <= self.cfg.hidden_gap and self._hidden(lv, fg)):
                    new_live.append(lv)
        first_px = np.full(N, lab.size, np.int64)  # new ids in raster order of the fish,
        np.minimum.at(first_px, pos, flat)  # whatever the input ids
        for c in np.argsort(first_px, kind="stable").tolist():
            if track_of[c] == 0:
                tid = len(self.tracks) + 1
                self.tracks[tid] = Track(tid, first_update=update)
                track_of[c] = tid
            tr = self.tracks[int(track_of[c])]
            tr.frames.append(int(frame_index))
            tr.areas.append(int(m.area[c]))
            tr.lengths.append(float(m.length[c]))
            tr.widths.append(float(m.width[c]))
            tr.edge.append(bool(m.touches_edge[c]))
            tr.centroids.append((float(m.centroid[c, 0]), float(m.centroid[c, 1])))
            tr.belt.append(int(votes[c]))
            if m.plane_cm is not None:
                tr.cm.append(tuple(float(x) for x in m.plane_cm[c]))
            tr.midlines.append(self._midline(tr, inst_ys[c], inst_xs[c], m.touches_edge[c]))
            tr.fg.append(float(fg_score[c]))
            if update - tr.first_update <= self.decision_delay:
                tr.decided += 1
            new_live.append(_Live(int(track_of[c]), inst_ys[c], inst_xs[c], m.centroid[c].copy()))
        self._live = new_live
        self._prev_fg = fg
        self.frames_processed += 1

        self.last_ids = np.unique(track_of)
        out = np.zeros(lab.shape, np.int32)
        out.ravel()[flat] = track_of[pos]
        return out
