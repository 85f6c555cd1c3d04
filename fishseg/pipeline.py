"""The main job: segment videos and image sequences into tracked, counted, measured fish.

``segment_video`` streams one input through decode -> model (fg/edge maps) -> separation
(markers + seeded watershed) -> tracking -> export, a batch of frames at a time, so memory
stays bounded for a video of any length. ``segment_inputs`` runs it over many inputs,
keeps going when one fails, and reports done / skipped / failed;
``write_inputs_table`` keeps ``OUT/inputs.csv``, one row per input of the batch.

Outputs of one input are written into a staging folder ``OUT/.<name>.partial`` and moved
to ``OUT/<name>`` only when complete (``summary.json`` written last), so an interrupted
run (Ctrl-C, a crash, a decode error) never leaves a folder that a rerun would skip.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from fishseg import checkpoint
from fishseg.config import Config, to_dict
from fishseg.counted import CountedTracks
from fishseg.io.background import BackgroundExport
from fishseg.io.export import (
    ExportWriter,
    atomic_write,
    is_complete,
    read_summary,
)
from fishseg.io.images import IMAGE_SUFFIXES
from fishseg.io.recording import OutsideWindow, check_given, window_seconds
from fishseg.io.recording import recording_start as recording_start_of
from fishseg.io.video import FrameReader, frame_times, probe
from fishseg.lens import belt_mapping
from fishseg.one_ahead import OneAhead
from fishseg.roi import load_roi, roi_border
from fishseg.separate import separate, separation_maps
from fishseg.tracking import Tracker
from fishseg.uncertainty import frame_uncertainty

#: Files a folder scan takes as videos (CCTV recorders add raw H.265, MPEG-TS and Dahua's
#: .dav, which FFmpeg reads where its dhav demuxer is built in; a file that cannot be
#: read fails with its name, it is not passed over).
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".ts",
                  ".h264", ".264", ".wmv", ".flv", ".h265", ".265", ".hevc", ".mts", ".m2ts",
                  ".3gp", ".asf", ".dav")
#: Seconds per stage in ``summary.json``. "track" and "export" (the release and the
#: hand-over to the writer) run in the tracking thread beside the next batch's maps and
#: separation (``background_track``); "track_wait" is the time the main loop waited on it.
STAGES = ("decode", "maps", "separate", "track", "export", "track_wait")


@dataclass
class InputResult:
    """What happened to one input of :func:`segment_inputs`."""

    input: str
    status: str                      # "done", "skipped" or "failed"
    out_dir: Path
    message: str = ""
    summary: dict = field(default_factory=dict)


def _scan(folder: Path, prefix: str, exclude: Path | None,
          seen: set | None = None) -> list[tuple[Path, str]]:
    """Units of a folder and its subfolders (hidden ones and ``exclude`` left out), named
    ``prefix`` + their path below the folder the user gave, parts joined by ``_``.
    Linked folders are followed, each real folder once (a link loop ends there)."""
    seen = set() if seen is None else seen
    real = folder.resolve()
    if real in seen:
        return []
    seen.add(real)
    files, dirs = [], []
    for q in sorted(folder.iterdir(), key=lambda q: _natural(q.name)):
        if q.name.startswith("."):
            continue
        if q.is_dir():
            if q.name != "masks" and (exclude is None or q.resolve() != exclude):
                dirs.append(q)
        elif q.is_file():
            files.append(q)
    units = [(q, prefix + q.stem) for q in files if q.suffix.lower() in VIDEO_SUFFIXES]
    if any(q.suffix.lower() in IMAGE_SUFFIXES for q in files):
        units.append((folder, prefix.rstrip("_") or folder.name))  # an image sequence
    for d in dirs:
        units += _scan(d, f"{prefix}{d.name}_", exclude, seen)
    return units


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def named_inputs(inputs: Iterable[str | Path], exclude: str | Path | None = None
                 ) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Command-line inputs as units of work, each with its output folder's name.

    A video file is one input, named by its stem; an image file is one (single-frame)
    input; a folder gives every video in it and in its subfolders (recorders export
    trees such as ``2026-11-24/ch01/...``) as one input each, and the images of each
    folder together as one image sequence (frames in natural order). Units below a
    given folder are named by their path below it (``ch01_0001`` for ``ch01/0001.mp4``;
    the folder's own videos by their stem and its images by its name), so names stay
    the same when files are added; two inputs with one name get ``-2``, ``-3``.
    Hidden files and folders, subfolders named ``masks`` (label images, as fishseg's
    datasets and outputs hold them: not frames) and ``exclude`` (the output folder, when
    it lies inside an input folder) are left out.

    Returns:
        ``([(unit, name), ...], [(input, error message), ...])``: a missing input, or a
        folder with no video or image anywhere in it, is an error (its contents named).
    """
    exclude = Path(exclude).resolve() if exclude is not None else None
    units: list[tuple[Path, str]] = []
    errors: list[tuple[str, str]] = []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            errors.append((str(raw), f"{p}: no such file or folder"))
        elif not p.is_dir():
            units.append((p, p.stem))
        else:
            found = _scan(p, "", exclude)
            if not found:
                kinds = sorted({Path(f).suffix.lower() or "(no suffix)"
                                for _, _, names in os.walk(p) for f in names})
                errors.append((str(raw), f"{p}: no video or image in this folder or its "
                               "subfolders" + (f" (it holds {', '.join(kinds)} files; videos "
                                               f"are {', '.join(VIDEO_SUFFIXES)})" if kinds
                                               else " (it is empty)")))
            units += found
    seen: dict[str, int] = {}
    named = []
    for unit, name in units:
        seen[name] = seen.get(name, 0) + 1
        named.append((unit, name if seen[name] == 1 else f"{name}-{seen[name]}"))
    return named, errors


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """The units of work of :func:`named_inputs`, without their names.

    Raises:
        FileNotFoundError: an input does not exist, or a folder holds no video or image.
    """
    named, errors = named_inputs(inputs)
    if errors:
        raise FileNotFoundError(errors[0][1])
    return [u for u, _ in named]


def recently_changed(unit: Path, min_age_s: float, now: float | None = None) -> float | None:
    """How long ago an input last changed, when that is under ``min_age_s`` seconds (a
    recorder may still be writing it: a stream format such as .ts or .dav reads as a
    shorter, complete video), else None.

    Args:
        unit: a video file or an image folder (its newest file counts).
        min_age_s: the least age to process (0: any).
        now: the time to measure from (default: now).
    """
    if min_age_s <= 0:
        return None
    files = [unit] if not unit.is_dir() else [q for q in unit.iterdir() if q.is_file()]
    newest = max((q.stat().st_mtime for q in files if q.exists()), default=0.0)
    age = (time.time() if now is None else now) - newest
    return age if age < min_age_s else None


def too_new(age: float, min_age_s: float) -> str:
    """The message of an input skipped by :func:`recently_changed`."""
    return (f"changed {age:.0f} s ago, it may still be being written (--min-age "
            f"{min_age_s:g}): a later run takes it")


def output_name(unit: Path) -> str:
    """The name of a single input's output folder: the file stem, or the folder name."""
    return unit.name if unit.is_dir() else unit.stem


def staging_dir(out_dir: Path) -> Path:
    """Where an input's outputs are written until complete: ``OUT/.<name>.partial``."""
    return out_dir.parent / f".{out_dir.name}.partial"


def _resize(frames: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return frames
    h, w = frames.shape[1:3]
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def segment_video(source: str | Path | Sequence[Path], out_dir: str | Path, *, model=None,
                  cfg: Config | None = None, batch_size: int = 8, scale: float = 1.0,
                  overlay: bool = True, overwrite: bool = False, fps: float = 1.0,
                  roi: str | Path | np.ndarray | None = None, frame_step: int = 1,
                  start_s: float | datetime = 0.0, end_s: float | datetime | None = None,
                  recording_start: str | datetime | None = "auto",
                  checkpoint_every: int = 1000, progress: bool = True,
                  background_export: bool = True, background_track: bool = True,
                  gallery: bool = True, deinterlace: bool = False,
                  idle_skip: bool = True) -> dict:
    """Segment, track, count and measure the fish of one video (or image sequence).

    Args:
        source: a video file, an image file, a folder of images or a list of images.
        out_dir: this input's output folder (``OUT/<name>``).
        model: a loaded model (default: the bundled default model).
        cfg: configuration for separation, tracking and measurement (default: the
            model's own configuration).
        batch_size: frames per batch on the device.
        scale: frames are resized by this factor before processing; masks, overlay and
            measurements are at the scaled size (cm_per_pixel refers to the input size).
        overlay: also write ``overlay.mp4``.
        gallery: also write a picture of each counted fish's best view and contact
            sheets of them in ``fish/`` (:mod:`fishseg.io.gallery`).
        deinterlace: remove the combing of interlaced video
            (:func:`fishseg.io.interlace.deinterlace`). Either way the combing of the first
            frames is measured and written to ``summary.json`` (``interlace``).
        idle_skip: once ``2 * batch_size`` frames in a row have no fish, run the network
            on the last frame of each batch only, and take the batch as empty when that
            frame is (else process the batch as usual): an empty or stopped belt between
            hauls costs a ``batch_size``-th of the network's time. The outputs are those
            of processing every frame unless a fish comes and goes within one batch
            without being in its last frame (tested). ``summary.json``
            ``idle_frames_skipped`` counts the frames so passed over.
        overwrite: redo an input whose outputs are complete.
        fps: frame rate of image sequences.
        roi: region of interest (:func:`fishseg.roi.load_roi`: ``"x0,y0,x1,y1"`` in pixels
            of the input frames, or a mask image of their size): foreground outside it
            is dropped, and fish cut by its border are partial.
        frame_step: process every ``frame_step``-th frame only (0, n, 2n, ...): n times
            less work for a belt that moves slowly enough to be seen in several processed
            frames. Frame numbers and ``time_s`` stay those of the source; tracks and
            ``track.min_frames`` count processed frames; the overlay plays at fps / n.
        start_s, end_s: process only the frames from ``start_s`` up to (not including)
            ``end_s`` seconds of the input (``end_s`` None: to its end); frame numbers and
            times stay the input's. Either may be a clock time (a datetime), placed by
            the recording's start: an input the window does not overlap is skipped.
        recording_start: the clock time of the input's first frame, for the clock-time
            columns of counts.csv and fish.csv and clock-time windows:
            :func:`fishseg.io.recording.recording_start` (``"auto"``: from the file name
            or the container; ``"none"``; a datetime or ISO 8601 text).
        checkpoint_every: save the run's state every this many processed frames (0:
            never), so that an interrupted run of the same input resumes there
            (:mod:`fishseg.checkpoint`); a resumed run gives the same outputs.
        progress: show a tqdm bar (frames/s).
        background_export: write masks, COCO entries and overlay frames from a thread
            (:class:`fishseg.io.background.BackgroundExport`) while the next frames are
            segmented; the outputs are the same either way. The ``export`` stage time is
            then the time spent waiting on that thread.
        background_track: track each batch (and release its decided frames to the
            writer) in a thread while the next batch is mapped and separated
            (:class:`fishseg.one_ahead.OneAhead`); the outputs are the same either way.

    Returns:
        the summary written to ``summary.json`` (``{"skipped": True, "output": ...,
        "reason": ...}`` when skipped: already complete, or outside a clock-time window).

    Raises:
        fishseg.io.video.VideoError: the input cannot be read (names the file and frame).
        fishseg.roi.RoiError: the ROI does not fit the input (names the ROI and sizes).
    """
    out_dir = Path(out_dir)
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be >= 0 (0: no checkpoints), got {checkpoint_every}")
    if is_complete(out_dir) and not overwrite:
        return {"skipped": True, "output": str(out_dir),
                "reason": "already complete (use --overwrite to redo)"}
    rec = recording_start_of(source, recording_start)
    clock_window = isinstance(start_s, datetime) or isinstance(end_s, datetime)
    try:
        start_s, end_s = window_seconds(start_s, end_s, rec, source)
        if start_s < 0 or (end_s is not None and end_s <= start_s):
            raise ValueError(f"the time window must have 0 <= start < end, got start "
                             f"{start_s} s, end {end_s} s")
        first, stop = _window_frames(source, fps, start_s, end_s)
    except OutsideWindow as e:
        if not clock_window:
            raise
        return {"skipped": True, "output": str(out_dir), "reason": str(e)}
    if model is None:
        from fishseg.model.bundle import load_model

        model = load_model()
    cfg = cfg or model.cfg
    _warn_inference_settings(cfg, model)
    cm = cfg.measure.cm_per_pixel
    cm = cm / scale if cm is not None else None
    stage = staging_dir(out_dir)
    key = checkpoint.run_key(
        source, model=getattr(model, "checksum", None), cfg=to_dict(cfg), scale=scale,
        overlay=overlay, gallery=gallery, deinterlace=deinterlace, idle_skip=idle_skip,
        fps=fps, frame_step=frame_step, batch_size=batch_size,
        start_s=start_s, end_s=end_s, recording=rec.describe() if rec else None,
        roi=(hashlib.sha256(np.ascontiguousarray(roi)).hexdigest()
             if isinstance(roi, np.ndarray) else None if roi is None else str(roi)))
    resume = None if overwrite else checkpoint.load(stage, key)
    if resume is None:
        shutil.rmtree(stage, ignore_errors=True)
    ck_meta, ck = resume if resume else ({}, {})
    t0 = time.perf_counter() - ck_meta.get("seconds", 0.0)
    times = {k: ck_meta.get("stage_seconds", {}).get(k, 0.0) for k in STAGES}
    resumed_at = list(ck_meta.get("resumed_at_frames", []))
    if resume:
        resumed_at.append(int(ck_meta["next_frame"]))
    saved_errors = list(ck_meta.get("skipped_frames", []))
    since_checkpoint = 0
    # frames without fish in a row, and frames not run through the network for it
    empty_run, idle_skipped = ck_meta.get("empty_run", 0), ck_meta.get("idle_skipped", 0)
    # the model's uncertainty of the frames it looked at: their sum and count so far
    unsure_sum, unsure_n = ck_meta.get("unsure_sum", 0.0), ck_meta.get("unsure_n", 0)
    unsure: list[float] = []
    idle_after = 2 * batch_size
    # the times of frames the counted-fish release still holds (read from the container)
    stamps = {int(k): float(v) for k, v in ck_meta.get("held_times", {}).items()}
    with FrameReader(source, batch_size, start=ck_meta.get("next_frame", first), step=frame_step,
                     stop=stop, fps=fps, timestamps=True, deinterlace=deinterlace) as reader:
        info = reader.info
        w, h = max(2, round(info.width * scale)), max(2, round(info.height * scale))
        inside = load_roi(roi, info.width, info.height, size=(w, h))
        border = None if inside is None else roi_border(inside, cfg.track.edge_margin)
        plane = belt_mapping(cfg.measure)  # belt points and / or a lens: measured on the belt
        if plane is not None:
            plane = plane.scaled(scale)
            plane.check_frame(w, h)
        tracker = Tracker(cfg.track, border=border, plane=plane,
                          midline_views=cfg.measure.midline_views)
        # outputs hold counted fish only, ids 1, 2, ...; the overlay outlines the rest
        # (the writer outlines the left-out detections on the overlay's copy of the frame;
        # the fish pictures are cut from the frame as it is)
        release = CountedTracks(tracker, on_left_out=_with_left_out if overlay else None)
        carry = overlay or gallery
        if resume:
            tracker.set_state(ck_meta["tracker"], checkpoint.group(ck, "tracker"))
            release.set_state(ck_meta["counted"], checkpoint.group(ck, "counted"))
        keep = None if inside is None else jnp.asarray(inside, jnp.float32)
        wanted = reader.frames_wanted
        done_before = len(ck.get("export/counts", ())) + len(ck_meta.get("counted", {}).get(
            "held_index", []))
        bar = tqdm(total=None if wanted is None else wanted + done_before,
                   initial=done_before, unit="frame", desc=output_name(Path(str(source))),
                   disable=not progress, leave=False, dynamic_ncols=True)
        exporter = None
        try:
            exporter = ExportWriter(
                stage, input_name=str(source), fps=info.fps, width=w, height=h,
                cm_per_pixel=cm, cm_columns=cm is not None or plane is not None,
                recording_start=rec.time if rec else None,
                overlay=overlay, overlay_fps=info.fps / frame_step, gallery=gallery,
                resume=(ck_meta["export"], checkpoint.group(ck, "export")) if resume else None)
            if background_export:
                exporter = BackgroundExport(exporter, max_pending=2 * batch_size)
            with exporter as writer, OneAhead("fishseg-track", background_track) as ahead:

                def track_batch(indices, labels, frames, fgs):
                    """Track a batch and hand the frames now decided to the writer
                    (in a thread, beside the next batch's maps and separation)."""
                    t2 = time.perf_counter()
                    tracked = [(tracker.update(lab, int(i)) if fgs is None else
                                tracker.update(lab, int(i), fg=fgs[k]), tracker.last_ids)
                               for k, (i, lab) in enumerate(zip(indices, labels))]
                    t3 = time.perf_counter()
                    times["track"] += t3 - t2
                    for i, (lab, ids), frame in zip(indices, tracked, frames):
                        for j, out, img in release.push(int(i), lab, frame if carry else None,
                                                        ids=ids):
                            writer.add_frame(j, out, *_frame_parts(img, stamps.pop(j, None)))
                    times["export"] += time.perf_counter() - t3

                t = time.perf_counter()
                for indices, stamp, frames in reader:
                    stamps.update(zip(indices.tolist(), stamp.tolist()))
                    frames = _resize(frames, scale)
                    times["decode"] += time.perf_counter() - t
                    if idle_skip and empty_run >= idle_after and len(frames) > 1:
                        # an empty belt for a while: its last frame decides for the batch
                        last, _ = _instances(model, frames[-1:], keep, cfg, times, unsure)
                        if last.any():
                            unsure.pop()  # the last frame again, with its batch
                            labels, fgs = _instances(model, frames, keep, cfg, times, unsure)
                        else:
                            labels = np.zeros((len(frames), *last.shape[1:]), last.dtype)
                            fgs = None  # no fish: nothing to score
                            idle_skipped += len(frames) - 1
                    else:
                        labels, fgs = _instances(model, frames, keep, cfg, times, unsure)
                    for lab in labels:  # frames without fish in a row, up to the last
                        empty_run = 0 if lab.any() else empty_run + 1
                    t2 = time.perf_counter()
                    ahead.submit(track_batch, indices, labels, frames, fgs)
                    t = time.perf_counter()
                    if background_track:  # inline, the work is timed as track and export
                        times["track_wait"] += t - t2
                    bar.update(len(indices))
                    since_checkpoint += len(indices)
                    if checkpoint_every and since_checkpoint >= checkpoint_every:
                        ahead.wait()
                        _save_checkpoint(stage, key, writer, tracker, release, reader,
                                         int(indices[-1]) + frame_step, saved_errors, times,
                                         time.perf_counter() - t0, resumed_at, stamps,
                                         {"empty_run": empty_run,
                                          "idle_skipped": idle_skipped,
                                          "unsure_sum": unsure_sum + sum(unsure),
                                          "unsure_n": unsure_n + len(unsure)})
                        since_checkpoint = 0
                        t = time.perf_counter()
                t = time.perf_counter()
                ahead.wait()
                if background_track:
                    times["track_wait"] += time.perf_counter() - t
                t = time.perf_counter()
                tracker.end_of_input()   # (an input shorter than track.min_frames)
                for j, out, img in release.flush():
                    writer.add_frame(j, out, *_frame_parts(img, stamps.pop(j, None)))
                times["export"] += time.perf_counter() - t
                errors = saved_errors + [f"frame {e.index}: {e.message}" for e in reader.errors]
                summary = writer.finish(
                    release.tracks(), distinct_fish=tracker.distinct_count,
                    model_checksum=getattr(model, "checksum", None),
                    seconds=round(time.perf_counter() - t0, 3), min_frames=tracker.cfg.min_frames,
                    extra={"scale": scale, "frame_step": frame_step,
                           "window_s": [start_s, end_s],
                           "recording_start": rec.describe() if rec else None,
                           "calibration": (plane.describe() if plane is not None else
                                           None if cm is None else f"{cm:g} cm per pixel"),
                           "tracks_started": len(tracker.tracks),
                           "tracks_off_belt": tracker.off_belt_count,
                           "track_settings": to_dict(tracker.cfg),
                           "roi": None if roi is None else (
                               "<array>" if isinstance(roi, np.ndarray) else str(roi)),
                           "stage_seconds": {k: round(v, 3) for k, v in times.items()},
                           "skipped_frames": errors, "resumed_at_frames": resumed_at,
                           "interlace": interlace_note(reader.comb_scores, deinterlace),
                           "idle_frames_skipped": idle_skipped,
                           "model_uncertainty": round(
                               (unsure_sum + sum(unsure)) / max(1, unsure_n + len(unsure)), 5)})
        except BaseException:
            if not (exporter is not None and exporter.resumable):
                shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            bar.close()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for p in stage.glob("checkpoint*"):
        p.unlink()
    stage.rename(out_dir)
    return summary


def _window_frames(source, fps: float, start_s: float, end_s: float | None
                   ) -> tuple[int, int | None]:
    """(first frame, frame to stop before) of a time window of ``source``.

    A video's frames are placed by their timestamps (:func:`fishseg.io.video.frame_times`,
    the times ``counts.csv`` gives them), so the window is exact on a variable-frame-rate
    file; image sequences, and files without timestamps, by ``index / fps``.

    Raises:
        OutsideWindow: the window starts after the end of the input (names it and its
            length).
    """
    if start_s == 0 and end_s is None:
        return 0, None
    times = frame_times(source, until_s=max(start_s, end_s or 0.0))
    if times is not None:
        first = int(np.searchsorted(times, start_s - 1e-9))
        if first >= len(times):  # the whole file was read: nothing at or after start_s
            raise OutsideWindow(f"{source}: the time window starts at {start_s:g} s, after "
                                f"the end of the input (its last frame, {len(times) - 1}, is "
                                f"at {times[-1]:.2f} s)")
        if end_s is None:
            return first, None
        return first, max(first + 1, int(np.searchsorted(times, end_s - 1e-9)))
    info = probe(source, fps=fps)  # image sequences, and files without timestamps
    first = math.ceil(start_s * info.fps - 1e-9)
    if info.frames is not None and first >= info.frames:
        raise OutsideWindow(f"{source}: the time window starts at {start_s:g} s, after the end "
                            f"of the input ({info.frames / info.fps:.2f} s, {info.frames} frames)")
    return first, None if end_s is None else max(first + 1, math.ceil(end_s * info.fps - 1e-9))


# the model settings that act on the maps of a trained model (the rest is its architecture)
INFERENCE_SETTINGS = ("processing_width", "std_floor", "tta", "extra_widths", "extra_widths_fg")


def _warn_inference_settings(cfg: Config, model) -> None:
    """Warn when ``cfg`` asks for inference settings the model's maps will not use.

    :func:`segment_video`'s ``cfg`` sets separation, tracking, measurement and export;
    the maps follow ``model.cfg`` (``fishseg segment --set model.*`` puts them there).
    """
    own = getattr(getattr(model, "cfg", None), "model", None)
    if own is None or cfg.model is own:
        return
    differ = [k for k in INFERENCE_SETTINGS if getattr(cfg.model, k) != getattr(own, k)]
    if differ:
        warnings.warn(f"cfg sets {', '.join('model.' + k for k in differ)} differently from the "
                      "model, whose maps follow its own settings: set them on model.cfg "
                      "(as `fishseg segment --set` does)", stacklevel=3)


def _with_left_out(frame: np.ndarray, left_out: np.ndarray, track_ids: np.ndarray) -> tuple:
    """What :class:`~fishseg.counted.CountedTracks` carries on for the overlay: the frame
    and what to outline on it (drawn by the writer, on a copy)."""
    return frame, left_out, track_ids


def _frame_parts(carried, time_s: float | None) -> tuple:
    """``(frame, time_s, left_out, left_out_ids)`` for ``ExportWriter.add_frame`` from
    what the release carried: None, a frame, or :func:`_with_left_out`'s tuple."""
    if isinstance(carried, tuple):
        frame, left_out, ids = carried
        return frame, time_s, left_out, ids
    return carried, time_s, None, None


def _instances(model, frames: np.ndarray, keep, cfg: Config, times: dict,
               unsure: list[float]) -> tuple[np.ndarray, np.ndarray | None]:
    """Fish instances of a batch: the model's maps (fg cut to the ROI ``keep``), then
    separation. (B, H, W, 3) uint8 -> (B, H, W) int32 labels, and the (B, H, W) uint8
    foreground maps (0..255) where ``track.min_fg`` needs them (else None); adds to
    ``times``, and each frame's :func:`fishseg.uncertainty.frame_uncertainty` to
    ``unsure``."""
    t = time.perf_counter()
    fg, edge = separation_maps(model, frames)
    if keep is not None:  # nothing outside the ROI is fish
        fg = fg * keep
    jax.block_until_ready((fg, edge))  # maps stay on the device
    unsure += frame_uncertainty(fg).tolist()  # (B,) from the device
    t1 = time.perf_counter()
    times["maps"] += t1 - t
    labels = np.asarray(separate(fg, edge, cfg.separate))
    fg_u8 = (np.asarray(jnp.round(fg * 255).astype(jnp.uint8)) if cfg.track.min_fg > 0
             else None)  # a quarter of the float map's transfer from the device
    times["separate"] += time.perf_counter() - t1
    return labels, fg_u8


def _save_checkpoint(stage, key, writer, tracker, release, reader, next_frame, saved_errors,
                     times, seconds, resumed_at, held_times, idle: dict) -> None:
    """Save the state after the frames handed out so far (see :mod:`fishseg.checkpoint`)."""
    export_meta, export_arrays = writer.checkpoint()
    tracker_meta, tracker_arrays = tracker.get_state()
    counted_meta, counted_arrays = release.get_state()
    checkpoint.save(stage, key, {
        "next_frame": next_frame, "export": export_meta, "tracker": tracker_meta,
        "counted": counted_meta,
        # the reader reads ahead: errors of frames after next_frame are found again
        "skipped_frames": saved_errors + [f"frame {e.index}: {e.message}" for e in reader.errors
                                          if e.index < next_frame],
        "stage_seconds": dict(times), "seconds": seconds, "resumed_at_frames": resumed_at,
        "held_times": {str(k): v for k, v in held_times.items()}, **idle,
    }, {**checkpoint.prefixed("export", export_arrays),
        **checkpoint.prefixed("tracker", tracker_arrays),
        **checkpoint.prefixed("counted", counted_arrays)})


def segment_inputs(inputs: Iterable[str | Path], out: str | Path, *, model=None,
                   cfg: Config | None = None, progress: bool = True, min_age_s: float = 0.0,
                   **kwargs) -> list[InputResult]:
    """Run :func:`segment_video` on every input; a failure does not stop the others.

    Args:
        inputs: videos, images and folders (see :func:`named_inputs`).
        out: the output root; each input gets ``out/<name>/``.
        model: a loaded model (default: the bundled default, loaded once).
        cfg: configuration override (default: the model's).
        progress: show an overall bar and one per input.
        min_age_s: skip an input changed less than this many seconds ago (a recorder may
            still be writing it; :func:`recently_changed`): a later run takes it.
        **kwargs: passed on to :func:`segment_video`.

    Returns:
        one :class:`InputResult` per input, in order.
    """
    out = Path(out)
    units, errors = named_inputs(inputs, exclude=out)
    results = [InputResult(raw, "failed", out, msg) for raw, msg in errors]
    check_given(kwargs.get("recording_start", "auto"), len(units))
    for unit, name in tqdm(units, desc="inputs", unit="input",
                           disable=not progress or len(units) < 2):
        dest = out / name
        try:
            age = recently_changed(unit, min_age_s)
            if age is not None:
                results.append(InputResult(str(unit), "skipped", dest, too_new(age, min_age_s),
                                           {"skipped": True, "output": str(dest)}))
                continue
            if model is None and not (is_complete(dest) and not kwargs.get("overwrite")):
                from fishseg.model.bundle import load_model

                model = load_model()
            s = segment_video(unit, dest, model=model, cfg=cfg, progress=progress, **kwargs)
            status = "skipped" if s.get("skipped") else "done"
            msg = s.get("reason", "already complete (use --overwrite to redo)") if (
                status == "skipped") else done_message(s)
            if s.get("resumed_at_frames"):
                msg += ", resumed at frame " + ", ".join(map(str, s["resumed_at_frames"]))
            results.append(InputResult(str(unit), status, dest, msg, s))
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - one bad input must not stop the batch
            msg = f"{type(e).__name__}: {e}"
            kept = checkpoint.load_meta(staging_dir(dest))
            if kept:
                msg += f" (progress kept: a rerun resumes at frame {kept['next_frame']})"
            results.append(InputResult(str(unit), "failed", dest, msg))
    return results


def interlace_note(scores: Sequence[float], deinterlaced: bool) -> dict:
    """summary.json's ``interlace``: the combing measured on the first frames as decoded
    (:func:`fishseg.io.interlace.comb_score`, their mean), whether that is interlaced
    video with motion, and whether it was deinterlaced."""
    from fishseg.io.interlace import INTERLACED_SCORE

    score = float(np.mean(scores)) if len(scores) else 0.0
    return {"comb_score": round(score, 5), "looks_interlaced": score > INTERLACED_SCORE,
            "deinterlaced": bool(deinterlaced)}


def done_message(s: dict) -> str:
    """The detail of a done input for the results table (both engines)."""
    msg = f"{s['frames']} frame{'' if s['frames'] == 1 else 's'}, {s['distinct_fish']} fish"
    if s.get("skipped_frames"):
        n = len(s["skipped_frames"])
        msg += (f", {n} frame{'s' if n > 1 else ''} skipped ({s['skipped_frames'][0]}"
                f"{'; all listed in summary.json' if n > 1 else ''})")
    il = s.get("interlace") or {}
    if il.get("looks_interlaced") and not il.get("deinterlaced"):
        msg += (f"; looks interlaced (combing in {100 * il['comb_score']:.1f}% of the first "
                "frames' pixels): try --deinterlace")
    return msg


def results_table(results: Sequence[InputResult]) -> str:
    """A plain-text table of done / skipped / failed inputs, with totals."""
    rows = [(r.status, r.input, r.message) for r in results]
    wi = max([len("input")] + [len(r[1]) for r in rows])
    lines = [f"{'status':8} {'input':{wi}}  detail"]
    lines += [f"{s:8} {i:{wi}}  {m}" for s, i, m in rows]
    counts = {k: sum(r.status == k for r in results) for k in ("done", "skipped", "failed")}
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items()))
    return "\n".join(lines)


#: Columns of ``OUT/inputs.csv`` (:func:`write_inputs_table`).
INPUTS_COLUMNS = ("output", "input", "status", "recording_start", "frames", "video_s",
                  "distinct_fish", "mean_fish_in_view", "max_fish_in_view", "seconds",
                  "model_checksum", "message", "uncertainty")


def _video_seconds(s: dict) -> str:
    """How much video an input's outputs cover: from its first to its last frame's time,
    plus one frame (as text; '' when unknown). Outputs older than ``span_s``: frames x
    step / fps."""
    fps, step = s.get("fps") or 0, s.get("frame_step", 1)
    if s.get("span_s") and fps:
        first, last = s["span_s"]
        return f"{last - first + step / fps:.2f}"
    return f"{s['frames'] * step / fps:.2f}" if fps and "frames" in s else ""


def _counts_stats(out_dir: Path) -> tuple[str, str]:
    """(mean, max) of fish_in_view in ``out_dir/counts.csv``, as text ('' if none)."""
    try:
        with open(out_dir / "counts.csv", newline="", encoding="utf-8") as f:
            n = [int(r["fish_in_view"]) for r in csv.DictReader(f)]
    except (OSError, KeyError, ValueError):
        return "", ""
    return (f"{np.mean(n):.2f}", str(max(n))) if n else ("", "")


def write_inputs_table(results: Sequence[InputResult], out: str | Path) -> Path:
    """Write (or update) ``OUT/inputs.csv``: one row per input of the batch.

    Rows of earlier runs into the same ``OUT`` are kept and those of this run's inputs
    replaced (keyed by output folder), so the table covers the whole batch however many
    times it was restarted. A skipped input's numbers come from its ``summary.json``.

    Args:
        results: what :func:`segment_inputs` (or the Ray engine) returned.
        out: the output root.

    Returns:
        the path of the table (written atomically).
    """
    out = Path(out)
    path = out / "inputs.csv"
    rows: dict[str, dict] = {}
    if path.is_file():
        with contextlib.suppress(OSError, csv.Error), open(path, newline="", encoding="utf-8") as f:
            rows = {r["output"]: r for r in csv.DictReader(f) if r.get("output")}
    for r in results:
        s = dict(r.summary or {})
        done = r.status in ("done", "skipped") and is_complete(r.out_dir)
        if done and ("frames" not in s or s.get("skipped")):
            s = read_summary(r.out_dir) or s
        mean, peak = _counts_stats(Path(r.out_dir)) if done else ("", "")
        # an input that could not even be listed (missing) has no folder of its own
        key = (Path(r.out_dir).name if Path(r.out_dir).resolve() != out.resolve()
               else output_name(Path(r.input)))
        rows[key] = {
            "output": key, "input": r.input, "status": r.status,
            "recording_start": (s.get("recording_start") or {}).get("time", "") if done else "",
            "frames": s.get("frames", "") if done else "",
            "video_s": _video_seconds(s) if done else "",
            "distinct_fish": s.get("distinct_fish", "") if done else "",
            "mean_fish_in_view": mean, "max_fish_in_view": peak,
            "seconds": s.get("seconds", "") if done else "",
            "model_checksum": (s.get("model_checksum") or "")[:12] if done else "",
            "message": r.message,
            "uncertainty": s.get("model_uncertainty", "") if done else ""}
    with atomic_write(path) as f:
        w = csv.DictWriter(f, fieldnames=INPUTS_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows[k] for k in sorted(rows))
    return path
