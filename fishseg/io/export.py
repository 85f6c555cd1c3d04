"""The output folder of one input: label PNGs, COCO JSON, CSVs, summary, overlay video.

Layout of ``OUT/<name>/`` (written by :class:`ExportWriter`)::

    masks/frame_NNNNNN.png   16-bit label image per frame, id = track id (0 = belt);
                             fishseg segment passes the counted fish only, numbered
                             1, 2, ... (:mod:`fishseg.counted`)
    instances.json           COCO: one category "fish", compressed RLE masks, and on every
                             annotation ``track_id`` (top level, and in ``attributes`` as
                             CVAT reads it); one image entry per frame
    counts.csv               frame, time_s (the frame's time in the source: the container's
                             timestamp, so variable-frame-rate files are right),
                             datetime (its clock time, ISO 8601, when the recording's
                             start is known: :mod:`fishseg.io.recording`; else empty),
                             fish_in_view (instances in the frame's mask),
                             tracks_in_view (counted tracks spanning the frame)
    fish.csv                 one row per track: track_id, first_frame, last_frame,
                             first_s, last_s (their times, as time_s), first_datetime,
                             last_datetime (as datetime), frames_seen,
                             partial (1/0), cut_in_time (1/0: in view in the first or
                             last frame written, so maybe in the recording before or
                             after too), median area_px, length_px, width_px,
                             midline_px (length along the body, fishseg.midline;
                             empty where never seen whole) (+ area_cm2, length_cm,
                             width_cm, midline_cm when calibrated)
    overlay.mp4              optional review video (:func:`draw_overlay` on each frame)
    counts.png, lengths.png  fish in view and distinct fish over time; the length-frequency
                             distribution of the counted fish (:mod:`fishseg.io.charts`;
                             inputs of more than one frame)
    summary.json             input, frames, fps, distinct_fish, model checksum, seconds

Every file is written atomically (:func:`atomic_write`: a temporary file in the same
folder, then ``os.replace``), and ``summary.json`` is written last, so its presence
means the input is complete (:func:`is_complete`). COCO annotations are streamed to a
spool file frame by frame and assembled into ``instances.json`` at the end, so memory
does not grow with the length of the video.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from scipy import ndimage

from fishseg.io.files import mkstemp_beside
from fishseg.io.images import write_labels
from fishseg.io.recording import clock_text
from fishseg.measure import check_labels, instance_pixels

SUMMARY = "summary.json"
CATEGORIES = [{"id": 1, "name": "fish", "supercategory": "fish"}]


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **open_kw) -> Iterator:
    """Open a temporary file beside ``path``; on success it replaces ``path``.

    If the block raises, the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the target file; its folder is created.
        mode: "w" (text, UTF-8 unless ``encoding`` is given) or "wb".
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp_beside(p)
    if "b" not in mode:
        open_kw.setdefault("encoding", "utf-8")
        open_kw.setdefault("newline", "")
    try:
        with os.fdopen(fd, mode, **open_kw) as f:
            yield f
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def is_complete(out_dir) -> bool:
    """Whether ``out_dir`` holds a finished export (its ``summary.json`` exists)."""
    return (Path(out_dir) / SUMMARY).is_file()


def read_summary(out_dir) -> dict | None:
    """An output folder's ``summary.json``, or None when it is missing or unreadable."""
    try:
        return json.loads((Path(out_dir) / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def frame_name(index: int, suffix: str = ".png") -> str:
    """File name of frame ``index``: ``frame_000042.png``."""
    return f"frame_{int(index):06d}{suffix}"


def track_colours(ids) -> np.ndarray:
    """A stable, well-spread colour per track id (golden-ratio hues).

    Args:
        ids: (K,) non-negative integers.

    Returns:
        (K, 3) uint8 RGB; the same id always gets the same colour.
    """
    ids = np.asarray(ids, np.int64).reshape(-1)
    hue = np.rint(((ids * 0.6180339887) % 1.0) * 179).astype(np.uint8)
    sat = np.where(ids % 2 == 0, 200, 255).astype(np.uint8)
    val = np.where(ids % 3 == 0, 255, 220).astype(np.uint8)
    hsv = np.stack([hue, sat, val], axis=-1)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]


#: Outline colours (RGB) of detections left out of the count, by
#: :mod:`fishseg.counted` kind: seen in too few frames (grey), off the belt (orange).
LEFT_OUT_COLOURS = {1: (190, 190, 190), 2: (255, 150, 0), 3: (120, 170, 255)}
#: What the overlay writes on a left-out track, by kind (none on short ones).
LEFT_OUT_TEXT = {2: "off belt", 3: "unsure"}


def _text(img: np.ndarray, s: str, org: tuple[int, int], scale: float,
          colour=(255, 255, 255)) -> None:
    """White (or ``colour``) text with a black rim, legible on any belt.

    The rim is the text itself drawn one pixel off in eight directions: a thicker
    stroke would not do, as OpenCV advances each glyph by the stroke's thickness too,
    so a thick black line of text runs ahead of the white one (two pixels a glyph).
    """
    thick = max(1, int(round(2 * scale)))
    x, y = org
    for dx, dy in ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)):
        cv2.putText(img, s, (x + dx, y + dy), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    thick, cv2.LINE_AA)
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def mark_left_out(frame: np.ndarray, left_out: np.ndarray,
                  track_ids: np.ndarray | None = None) -> np.ndarray:
    """Outline the detections that were not counted, for review of the overlay.

    Args:
        frame: (H, W, 3) uint8 RGB frame.
        left_out: (H, W) uint8 from :meth:`fishseg.counted.CountedTracks.left_out`:
            0 nothing, 1 a track seen in fewer than ``track.min_frames`` frames (grey
            outline), 2 a track that did not ride the belt (orange outline, "off belt"),
            3 a track the maps were not sure of (``track.min_fg``; blue, "unsure").
        track_ids: (H, W) int tracker labels of the frame: each left-out track is then
            outlined on its own (two touching ones of one kind are two outlines);
            without it, each connected area of one kind is one outline.

    Returns:
        (H, W, 3) uint8 RGB, a new array (``frame`` itself when nothing was left out).
    """
    left_out = np.asarray(left_out)
    if not left_out.any():
        return frame
    out = np.array(frame, np.uint8, order="C")
    scale = max(0.3, out.shape[0] / 900)  # as the ids of draw_overlay
    thick = max(1, int(round(scale)))
    for kind, colour in LEFT_OUT_COLOURS.items():
        mask = left_out == kind
        if not mask.any():
            continue
        if track_ids is None:
            regions = [(mask, (0, 0))]
        else:
            ids = np.where(mask, np.asarray(track_ids), 0)
            regions = [(ids[sl] == i + 1, (sl[1].start, sl[0].start))
                       for i, sl in enumerate(ndimage.find_objects(ids)) if sl is not None]
        for region, offset in regions:
            contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE, offset=offset)
            cv2.drawContours(out, contours, -1, colour, thick, cv2.LINE_8)
            if kind in LEFT_OUT_TEXT:
                for c in contours:
                    x, y, w, h = cv2.boundingRect(c)
                    org = (x + w // 2 - int(40 * scale), y + h // 2)  # ~centred (Hershey)
                    _text(out, LEFT_OUT_TEXT[kind], org, scale, colour)
    return out


def draw_overlay(frame: np.ndarray, track_labels: np.ndarray, *, alpha: float = 0.4,
                 text: bool = True, caption: str | None = None) -> np.ndarray:
    """Colour each fish by its track id, draw its outline and write its id.

    Args:
        frame: (H, W, 3) uint8 RGB frame.
        track_labels: (H, W) integer track labels, 0 = belt.
        alpha: opacity of the fill colour.
        text: write the id at each fish's centroid.
        caption: a line written at the bottom left (the frame number and count).

    Returns:
        (H, W, 3) uint8 RGB, a new array.
    """
    frame = np.asarray(frame)
    lab = np.asarray(track_labels)
    if frame.shape[:2] != lab.shape or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame {frame.shape} and labels {lab.shape} must be (H,W,3), (H,W)")
    out = np.array(frame, np.uint8, order="C")
    H, W = lab.shape
    scale = max(0.3, H / 900)
    if caption:
        _text(out, caption, (int(10 * scale), H - int(12 * scale)), scale * 0.8)
    ys, xs, ids, inv = instance_pixels(lab)
    if len(ids) == 0:
        return out
    col = track_colours(ids)
    px = col[inv].astype(np.float32)
    out[ys, xs] = np.rint((1 - alpha) * out[ys, xs] + alpha * px).astype(np.uint8)
    v = lab[ys, xs]  # outline: a 4-neighbour with another id (or the frame border)
    edge = (ys == 0) | (ys == H - 1) | (xs == 0) | (xs == W - 1)
    edge |= lab[np.maximum(ys - 1, 0), xs] != v
    edge |= lab[np.minimum(ys + 1, H - 1), xs] != v
    edge |= lab[ys, np.maximum(xs - 1, 0)] != v
    edge |= lab[ys, np.minimum(xs + 1, W - 1)] != v
    out[ys[edge], xs[edge]] = col[inv[edge]]
    if text:
        n = np.bincount(inv)
        cy, cx = np.bincount(inv, ys) / n, np.bincount(inv, xs) / n
        for i, y, x in zip(ids.tolist(), cy.tolist(), cx.tolist(), strict=True):
            s = str(i)
            _text(out, s, (int(x - 10 * scale * len(s)), int(y + 11 * scale)), scale)  # ~centred
    return out


def overlay_caption(frame_index: int, fish_in_view: int, clock: str = "") -> str:
    """The overlay's bottom line: the clock to the second (as CCTV shows it, when the
    recording's start is known: ISO 8601 text), the frame number and the fish in view."""
    caption = f"frame {int(frame_index)}   fish in view {int(fish_in_view)}"
    return f"{clock[:19].replace('T', ' ')}   {caption}" if clock else caption


def _rle(crop: np.ndarray, y0: int, x0: int, H: int, W: int) -> dict:
    """Compressed COCO RLE of a mask given by its bbox crop (no full-frame array).

    COCO RLE counts alternate runs of 0s and 1s over the column-major (Fortran) order
    of the whole H x W image; the runs are found from the crop's pixel positions.
    """
    xi, yi = np.nonzero(crop.T)  # column-major order of the crop = of the image
    idx = (xi + x0).astype(np.int64) * H + (yi + y0)
    brk = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = idx[np.r_[0, brk]]
    ends = idx[np.r_[brk - 1, len(idx) - 1]] + 1
    edges = np.empty(2 * len(starts) + 2, np.int64)
    edges[0], edges[1:-1:2], edges[2:-1:2], edges[-1] = 0, starts, ends, H * W
    counts = np.diff(edges).tolist()
    if counts[-1] == 0:  # mask reaches the last pixel: no final run of 0s
        counts.pop()
    return mask_utils.frPyObjects({"size": [H, W], "counts": counts}, H, W)


def coco_annotations(track_labels: np.ndarray, image_id: int, first_id: int) -> list[dict]:
    """COCO annotations (compressed RLE) of the fish in one track label image.

    Args:
        track_labels: (H, W) integer track labels, 0 = belt.
        image_id: COCO image id of the frame.
        first_id: annotation id of the first fish; the others follow.

    Returns:
        One dict per track id present, ascending: id, image_id, category_id (1),
        segmentation {"size": [H, W], "counts": str}, area, bbox [x, y, w, h], iscrowd (0),
        track_id, attributes {"track_id", "occluded", "keyframe"}.
    """
    lab = check_labels(track_labels)
    if lab.dtype == np.bool_:
        lab = lab.astype(np.uint8)
    H, W = lab.shape
    # bounding boxes only (find_objects is ~5x cheaper than measuring every fish)
    boxes = [(i + 1, s) for i, s in enumerate(ndimage.find_objects(lab)) if s is not None]
    anns = []
    for k, (tid, (ys, xs)) in enumerate(boxes):
        y0, y1, x0, x1 = ys.start, ys.stop, xs.start, xs.stop
        rle = _rle(lab[y0:y1, x0:x1] == tid, y0, x0, H, W)
        anns.append({
            "id": first_id + k, "image_id": int(image_id), "category_id": 1,
            "segmentation": {"size": [int(lab.shape[0]), int(lab.shape[1])],
                             "counts": rle["counts"].decode("ascii")},
            "area": int(mask_utils.area(rle)),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)],
            "iscrowd": 0, "track_id": int(tid),
            "attributes": {"track_id": int(tid), "occluded": False, "keyframe": True},
        })
    return anns


def tracks_in_view(frames: Sequence[int], tracks: Iterable) -> list[int]:
    """``counts.csv``'s ``tracks_in_view``: per frame, the counted tracks whose life spans it.

    A track is in view from its first to its last frame, including the frames of a gap
    the tracker bridged (a fish hidden for a moment, or missed by the segmentation, is
    still on the belt); tracks too short to be counted are left out, as in the
    distinct-fish count, so one-frame false detections do not inflate the counts.

    Args:
        frames: the processed frame indices, increasing.
        tracks: the counted :class:`fishseg.tracking.Track` records (``first_frame``,
            ``last_frame``).

    Returns:
        one count per entry of ``frames``.
    """
    idx = np.asarray(frames, np.int64)
    diff = np.zeros(len(idx) + 1, np.int64)
    for t in tracks:
        lo = np.searchsorted(idx, t.first_frame, side="left")
        hi = np.searchsorted(idx, t.last_frame, side="right")
        diff[lo] += 1
        diff[hi] -= 1
    return np.cumsum(diff[:-1]).astype(int).tolist()


class ExportWriter:
    """Write one input's outputs frame by frame; :meth:`finish` completes the folder.

    Use as a context manager: leaving the block without :meth:`finish` (e.g. by an
    exception) removes the spool files and any unfinished overlay, and no
    ``summary.json`` is written.

    Args:
        out_dir: the input's output folder ``OUT/<name>/`` (created).
        input_name: the input (path or name), recorded in summary.json.
        fps: frame rate, for counts.csv's time_s and the overlay video.
        width: frame width in pixels.
        height: frame height in pixels.
        cm_per_pixel: calibration; adds the _cm columns to fish.csv.
        cm_columns: write the _cm columns (default: when ``cm_per_pixel`` is given; set it
            for tracks measured on the belt plane, :mod:`fishseg.calibration`).
        overlay: also write overlay.mp4 (then :meth:`add_frame` needs the frame).
        crf: x264 quality of the overlay video.
        overlay_fps: frame rate of the overlay (default ``fps``; ``fps / n`` when only
            every n-th frame is processed, so that it plays at the belt's speed).
        charts: also draw ``counts.png`` and ``lengths.png`` (:mod:`fishseg.io.charts`)
            for inputs of more than one frame (0.3 s per input).
        resume: what :meth:`checkpoint` returned in an interrupted run into the same
            ``out_dir``: continue from there (frames written after it are written again).
        recording_start: the clock time of the source's first frame: fills the
            ``datetime`` columns of counts.csv and fish.csv (empty without it).
        gallery: also write a picture of every fish and contact sheets of them in
            ``fish/`` (:mod:`fishseg.io.gallery`; then :meth:`add_frame` needs the frame).
    """

    def __init__(self, out_dir, *, input_name: str, fps: float, width: int, height: int,
                 cm_per_pixel: float | None = None, overlay: bool = False, crf: int = 23,
                 overlay_fps: float | None = None, charts: bool = True,
                 resume: tuple[dict, dict[str, np.ndarray]] | None = None,
                 cm_columns: bool | None = None, recording_start: datetime | None = None,
                 gallery: bool = False):
        self.out_dir = Path(out_dir)
        (self.out_dir / "masks").mkdir(parents=True, exist_ok=True)
        self.input_name, self.fps = str(input_name), float(fps)
        self.width, self.height = int(width), int(height)
        self.cm_per_pixel = cm_per_pixel
        self.cm_columns = cm_per_pixel is not None if cm_columns is None else bool(cm_columns)
        self.charts = bool(charts)
        self.recording_start = recording_start
        self.counts: list[tuple[int, float, int]] = []
        self._next_ann = 1
        #: True once :meth:`checkpoint` ran: :meth:`abort` then keeps what a resumed run
        #: continues from (the spool files and the finished overlay segments)
        self.resumable = False
        self._overlay_args = (overlay_fps or fps, width, height, crf) if overlay else None
        self._segments: list[str] = []  # finished overlay segments (file names)
        self._overlay = None
        self._gallery = None
        if gallery:
            from fishseg.io.gallery import FishGallery

            scores = features = None
            if resume is not None and "gallery_ids" in resume[1]:
                ids = resume[1]["gallery_ids"].tolist()
                scores = dict(zip(ids, resume[1]["gallery_scores"].tolist()))
                features = dict(zip(ids, resume[1]["gallery_features"]))
            self._gallery = FishGallery(self.out_dir / "fish", scores=scores,
                                        features=features)
        if resume is None:
            self._spool = {k: tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.out_dir, prefix=f".instances.{k}.",
                suffix=".tmp", delete=False) for k in ("images", "annotations")}
        else:
            self._resume(resume)

    # -- resuming (fishseg.checkpoint) -------------------------------------------------

    def checkpoint(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Make everything written so far durable and describe it for a resumed run.

        Flushes the COCO spool files and closes the current overlay segment (the next
        frame starts a new one; :meth:`finish` joins them).

        Returns:
            ``(meta, arrays)`` for ``ExportWriter(..., resume=(meta, arrays))``.
        """
        spool = {}
        for k, f in self._spool.items():
            f.flush()
            os.fsync(f.fileno())
            spool[k] = [os.path.basename(f.name), os.path.getsize(f.name)]
        if self._overlay is not None:
            self._overlay.close()
            self._segments.append(self._overlay.path.name)
            self._overlay = None
        self.resumable = True
        c = np.array(self.counts, np.float64).reshape(-1, 3)
        meta = {"next_ann": self._next_ann, "spool": spool, "segments": list(self._segments)}
        arrays = {"counts": c}
        if self._gallery is not None:  # pictures written, best scores kept
            arrays.update({f"gallery_{k}": v for k, v in self._gallery.get_state().items()})
        return meta, arrays

    def _resume(self, state: tuple[dict, dict[str, np.ndarray]]) -> None:
        meta, arrays = state
        self._next_ann = int(meta["next_ann"])
        self.counts = [(int(i), float(t), int(n)) for i, t, n in arrays["counts"].tolist()]
        self._spool = {}
        for k, (name, size) in meta["spool"].items():
            f = open(self.out_dir / name, "r+", encoding="utf-8")  # noqa: SIM115 - kept open
            f.truncate(int(size))
            f.seek(0, os.SEEK_END)
            self._spool[k] = f
        self._segments = list(meta["segments"])
        keep = set(self._segments)
        for p in self.out_dir.glob("*.overlay.[0-9]*"):  # segments of the interrupted run
            if p.name not in keep:
                p.unlink(missing_ok=True)
        self.resumable = True

    def _overlay_writer(self):
        if self._overlay is None:
            from fishseg.io.video import VideoWriter

            fps, width, height, crf = self._overlay_args
            path = self.out_dir / f".overlay.{len(self._segments):04d}.mp4"
            self._overlay = VideoWriter(path, fps, width, height, crf)
        return self._overlay

    def _finish_overlay(self) -> None:
        """Close the last overlay segment and make ``overlay.mp4`` of all of them."""
        if self._overlay is not None:
            self._overlay.close()
            self._segments.append(self._overlay.path.name)
            self._overlay = None
        if self._overlay_args is None:
            return
        if not self._segments:  # no frame at all: an empty but valid video
            self._overlay_writer()
            return self._finish_overlay()
        from fishseg.io.video import concat_videos

        paths = [self.out_dir / n for n in self._segments]
        if len(paths) == 1:
            os.replace(paths[0], self.out_dir / "overlay.mp4")
        else:
            concat_videos(paths, self.out_dir / "overlay.mp4")
            for p in paths:
                p.unlink(missing_ok=True)
        self._segments = []

    def add_frame(self, frame_index: int, track_labels: np.ndarray,
                  frame: np.ndarray | None = None, time_s: float | None = None,
                  left_out: np.ndarray | None = None,
                  left_out_ids: np.ndarray | None = None) -> None:
        """Write frame ``frame_index``'s mask, COCO entries and count.

        Args:
            frame_index: frame number (names the PNG; COCO image id = frame_index + 1).
            track_labels: (H, W) int32 track labels, 0 = belt.
            frame: (H, W, 3) uint8 RGB frame; needed when ``overlay`` or ``gallery`` is on.
            time_s: the frame's time in the source, seconds (the container's timestamp,
                :class:`fishseg.io.video.FrameReader`); None: ``frame_index / fps``.
            left_out: (H, W) uint8 detections not counted
                (:meth:`fishseg.counted.CountedTracks.left_out`), outlined on the
                overlay only (:func:`mark_left_out`); None: none.
            left_out_ids: (H, W) int tracker labels of the frame, to outline touching
                left-out tracks apart.
        """
        lab = np.asarray(track_labels)
        if lab.shape != (self.height, self.width):
            raise ValueError(f"{self.out_dir}: frame {frame_index} labels are {lab.shape}, "
                             f"expected {(self.height, self.width)}")
        name = frame_name(frame_index)
        write_labels(self.out_dir / "masks" / name, lab)
        image_id = int(frame_index) + 1
        anns = coco_annotations(lab, image_id, self._next_ann)
        self._next_ann += len(anns)
        self._spool["images"].write(json.dumps({
            "id": image_id, "file_name": name, "width": self.width, "height": self.height,
            "frame_index": int(frame_index)}) + "\n")
        for a in anns:
            self._spool["annotations"].write(json.dumps(a) + "\n")
        t = frame_index / self.fps if time_s is None else float(time_s)
        self.counts.append((int(frame_index), t, len(anns)))
        if self._gallery is not None:
            if frame is None:
                raise ValueError(f"{self.out_dir}: frame {frame_index}: the fish pictures "
                                 "need the frame")
            self._gallery.add(int(frame_index), frame, lab)
        if self._overlay_args is not None:
            if frame is None:
                raise ValueError(f"{self.out_dir}: frame {frame_index}: overlay needs the frame")
            caption = overlay_caption(frame_index, len(anns), self._clock(t))
            shown = frame if left_out is None else mark_left_out(frame, left_out, left_out_ids)
            self._overlay_writer().write(draw_overlay(shown, lab, caption=caption))

    def _write_instances(self) -> None:
        for f in self._spool.values():
            f.close()
        with atomic_write(self.out_dir / "instances.json") as out:
            out.write('{"info": ' + json.dumps({"description": f"fishseg: {self.input_name}"})
                      + ', "licenses": [], "categories": ' + json.dumps(CATEGORIES))
            for key in ("images", "annotations"):
                out.write(f', "{key}": [')
                with open(self._spool[key].name, encoding="utf-8") as src:
                    for i, line in enumerate(src):
                        out.write(("," if i else "") + line.rstrip("\n"))
                out.write("]")
            out.write("}\n")

    def finish(self, tracks: Mapping | Iterable, *, distinct_fish: int | None = None,
               model_checksum: str | None = None, seconds: float | None = None,
               extra: dict | None = None, min_frames: int = 1) -> dict:
        """Write instances.json, counts.csv, fish.csv, overlay.mp4, then summary.json.

        Args:
            tracks: :class:`fishseg.tracking.Track` records (or a dict id -> Track).
            distinct_fish: the number of distinct fish (default: the number of tracks).
            model_checksum: checksum of the model that produced the labels.
            seconds: processing time.
            extra: more keys for summary.json (e.g. skipped frames).
            min_frames: fish.csv's ``counted`` is 1 for tracks seen in this many frames
                (those make up ``distinct_fish``).

        Returns:
            the summary dict that was written.
        """
        tracks = list(tracks.values()) if isinstance(tracks, Mapping) else list(tracks)
        try:
            summary = self._finish(tracks, distinct_fish, model_checksum, seconds, extra,
                                   min_frames)
        except BaseException:
            self.abort()
            raise
        self._cleanup()
        return summary

    def _finish(self, tracks, distinct_fish, model_checksum, seconds, extra, min_frames) -> dict:
        self._write_instances()
        in_view = tracks_in_view([i for i, _, _ in self.counts],
                               [t for t in tracks if t.frames_seen >= min_frames])
        with atomic_write(self.out_dir / "counts.csv") as f:
            w = csv.writer(f)
            w.writerow(["frame", "time_s", "datetime", "fish_in_view", "tracks_in_view"])
            w.writerows((i, f"{t:.3f}", self._clock(t), n, v)
                        for (i, t, n), v in zip(self.counts, in_view))
        time_of = {i: t for i, t, _ in self.counts}
        rows = [{**t.summary(self.cm_per_pixel), "counted": t.frames_seen >= min_frames}
                for t in sorted(tracks, key=lambda t: t.id)]
        ends = ((self.counts[0][0], self.counts[-1][0]) if len(self.counts) > 1 else None)
        for r in rows:  # when the fish passed, in the source's time (counts.csv's time_s)
            # in view when the input (or its time window) starts or ends: it may have been
            # in view before or after, and be counted in the neighbouring recording too
            r["cut_in_time"] = bool(ends) and (r["first_frame"] == ends[0]
                                               or r["last_frame"] == ends[1])
            for k in ("first", "last"):
                r[f"{k}_s"] = time_of.get(r[f"{k}_frame"], r[f"{k}_frame"] / self.fps)
                r[f"{k}_datetime"] = self._clock(r[f"{k}_s"])
        cols = ["track_id", "first_frame", "last_frame", "first_s", "last_s", "first_datetime",
                "last_datetime", "frames_seen", "partial", "cut_in_time", "counted", "area_px",
                "length_px", "width_px", "midline_px"]
        if self.cm_columns:
            cols += ["area_cm2", "length_cm", "width_cm", "midline_cm"]
        with atomic_write(self.out_dir / "fish.csv") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in rows:
                w.writerow([int(r[c]) if c in ("partial", "cut_in_time", "counted") else
                            f"{r[c]:.3f}" if c in ("first_s", "last_s") else
                            ("" if isinstance(r[c], float) and np.isnan(r[c]) else
                             f"{r[c]:.4g}" if isinstance(r[c], float) else r[c]) for c in cols])
        if self._gallery is not None:
            self._gallery.finish(rows, cm=self.cm_columns)
        if self.charts and len(self.counts) > 1:  # a single image: the batch's chart says it
            from fishseg.io.charts import write_charts

            write_charts(self.out_dir, name=Path(self.input_name).name, counts=self.counts,
                         tracks_in_view=in_view, fish=rows, cm=self.cm_columns)
        self._finish_overlay()
        if self._gallery is not None:  # every fish, with links into the overlay
            from fishseg.io.batch_page import write_fish_page

            write_fish_page(self.out_dir)
        from fishseg import __version__

        times = [t for _, t, _ in self.counts]
        summary = {"input": self.input_name, "frames": len(self.counts), "fps": self.fps,
                   # the first and last written frame's times (fps is the container's
                   # average rate: for a variable-frame-rate file these are the truth)
                   "span_s": [round(min(times), 3), round(max(times), 3)] if times else None,
                   "width": self.width, "height": self.height,
                   "distinct_fish": len(tracks) if distinct_fish is None else int(distinct_fish),
                   "tracks": len(tracks), "min_track_frames": int(min_frames),
                   "cm_per_pixel": self.cm_per_pixel, "model_checksum": model_checksum,
                   "seconds": seconds, "fishseg_version": __version__, **(extra or {})}
        with atomic_write(self.out_dir / SUMMARY) as f:
            json.dump(summary, f, indent=2)
        return summary

    def _clock(self, seconds: float) -> str:
        """The clock time ``seconds`` into the source ('' when its start is unknown)."""
        if self.recording_start is None:
            return ""
        return clock_text(self.recording_start, seconds)

    def _cleanup(self) -> None:
        for f in self._spool.values():
            f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f.name)

    def abort(self) -> None:
        """Drop the unfinished overlay segment and, unless :attr:`resumable`, the spool files
        and the finished segments; written files stay as they are."""
        if self._overlay is not None:
            self._overlay.abort()
            self._overlay = None
        if self.resumable:
            for f in self._spool.values():
                f.close()
            return
        for name in self._segments:
            (self.out_dir / name).unlink(missing_ok=True)
        self._cleanup()

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()  # after finish() this only finds nothing left to remove
