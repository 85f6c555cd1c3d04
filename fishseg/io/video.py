"""Decoding videos (and folders of images) into frame batches, and encoding H.264 video.

A *source* is a video file, a single image, a folder of images or a list of image files.
Images are read as the frames of a video in natural sort order (``frame_2`` before
``frame_10``), at a frame rate given by the caller (default 1.0).

:class:`FrameReader` decodes strictly in order in a background thread and hands out
batches ``(indices (B,) int64, frames (B, H, W, 3) uint8 RGB)`` through a bounded queue,
so memory stays bounded for a video of any length; with ``timestamps=True`` each batch
also carries the frames' times ``(B,) float64`` in seconds from the source's first frame.
Video is decoded by OpenCV (``cv2.VideoCapture``); a file OpenCV cannot open is tried with PyAV before it is
declared unreadable. Every frame goes through :func:`fishseg.io.images.normalize_image`
when it is not already ``(H, W, 3) uint8`` (grey, 16-bit).

Errors are :class:`VideoError` and name the file and, where relevant, the frame.

Decode failures, decided per kind of source (``on_error=None``):

- video: a frame that fails to decode (typically a truncated file: the container's index
  promises N frames, only k decode) raises ``VideoError("PATH: frame k failed to decode
  (k of N frames read; ...)")`` *after* the k good frames were handed out, so the caller
  keeps what was read but cannot mistake the result for a complete video.
- images: each image is independent, so a broken one is skipped; it is recorded in
  :attr:`FrameReader.errors` (a :class:`FrameError` naming the file) and its index is
  missing from the batches' ``indices``.

``on_error="raise"`` or ``"skip"`` forces either policy for both kinds (``"skip"`` ends a
truncated video quietly, with the failure recorded in ``errors``).

Frame times come from the container (each frame's presentation timestamp, relative to the
stream's first frame), so a variable-frame-rate file (CCTV recorders drop and stretch
frames under load) gets the times its player shows, not ``index / fps``. A frame without
a usable timestamp (none, or not after the previous frame's: raw streams, some MJPEG
AVIs) is placed ``1 / fps`` after the previous one; image sources are at ``index / fps``.

:class:`VideoWriter` writes browser-playable H.264 (yuv420p, ``+faststart``) mp4 with
PyAV's libx264 to a temporary file that replaces the target on :meth:`VideoWriter.close`.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from fishseg.io.files import mkstemp_beside, replaced_on_success
from fishseg.io.interlace import comb_score, deinterlace

#: Frames at the start of a source whose combing :class:`FrameReader` measures.
COMB_FRAMES = 8

#: Containers whose index gives an exact frame count (a shortfall is an error).
_EXACT_COUNT_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm")


class VideoError(ValueError):
    """A video or image source is missing, unreadable, empty or corrupt."""


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before decoding it.

    Attributes:
        frames: number of frames the container announces (None if it does not say).
        fps: frames per second (for images: the rate given by the caller).
        width: frame width in pixels.
        height: frame height in pixels.
    """

    frames: int | None
    fps: float
    width: int
    height: int


@dataclass(frozen=True)
class FrameError:
    """A frame that could not be read: its index, the file and what went wrong."""

    index: int
    path: str
    message: str


def _images():
    from fishseg.io import images  # lazy: keeps this module importable on its own

    return images


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def _image_list(source) -> list[Path] | None:
    """The image files of a source, or None when the source is a video file."""
    suffixes = _images().IMAGE_SUFFIXES
    if isinstance(source, (list, tuple)):
        files = [Path(s) for s in source]
        if not files:
            raise VideoError("empty list of image files")
        for f in files:
            if not f.exists():
                raise VideoError(f"{f}: not found")
        return files
    p = Path(source)
    if not p.exists():
        raise VideoError(f"{p}: not found")
    if p.is_dir():
        files = sorted((f for f in p.iterdir() if f.suffix.lower() in suffixes and f.is_file()),
                       key=_natural_key)
        if not files:
            raise VideoError(f"{p}: folder holds no image files ({', '.join(suffixes)})")
        return files
    if p.suffix.lower() in suffixes:
        return [p]
    return None


def _av_diagnose(path: Path) -> str:
    """Why OpenCV could not open ``path``, in words (asks PyAV); '' if PyAV can read it."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        return "cannot open as a video"
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return "contains no video stream (zero frames)"
            if c.streams.video[0].frames == 0 and c.duration in (None, 0):
                return "has zero frames"
    except (av.error.FFmpegError, OSError, IndexError) as e:
        return (f"cannot open as a video: not a video file, or a truncated/corrupt one "
                f"(0 frames could be read; ffmpeg says: {e})")
    return ""


def probe(source, *, fps: float = 1.0) -> VideoInfo:
    """Frame count, rate and size of a video file, an image, a folder or list of images.

    Args:
        source: video file, image file, folder of images or list of image files.
        fps: frame rate reported for image sources (videos report their own).

    Returns:
        :class:`VideoInfo`; ``frames`` is None when the container does not say.

    Raises:
        VideoError: naming the file: missing, not a video, zero frames, no readable image.
    """
    files = _image_list(source)
    if files is not None:
        for f in files:
            try:
                h, w = _images().read_image(f).shape[:2]
            except ValueError:
                continue
            return VideoInfo(frames=len(files), fps=float(fps), width=w, height=h)
        raise VideoError(f"{files[0] if len(files) == 1 else files[0].parent}: "
                         f"none of the {len(files)} image file(s) could be read")
    path = Path(source)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            why = _av_diagnose(path)
            if not why:
                return _probe_av(path)
            raise VideoError(f"{path}: {why}")
        n = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        rate = float(cap.get(cv2.CAP_PROP_FPS))
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w <= 0 or h <= 0:
        raise VideoError(f"{path}: has zero frames (no frame size)")
    return VideoInfo(frames=n if n > 0 else None, fps=rate if rate > 0 else float(fps),
                     width=w, height=h)


def _probe_av(path: Path) -> VideoInfo:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = float(s.average_rate or s.guessed_rate or 0) or 1.0
        return VideoInfo(frames=s.frames or None, fps=rate, width=s.width, height=s.height)


def frame_times(path, until_s: float | None = None) -> np.ndarray | None:
    """Presentation times of a video file's frames, read from its packets (no decoding).

    Args:
        path: a video file.
        until_s: stop reading once the frames up to this time (s from the first frame)
            are known (None: the whole file).

    Returns:
        (N,) float64 seconds from the first frame, sorted (frame k of the decoder's
        output is at ``times[k]``, as :class:`FrameReader` gives it); with ``until_s``,
        every frame up to it and some after it; None for image sources, when a packet
        has no timestamp or PyAV cannot read the file (callers fall back to
        ``index / fps``).
    """
    import av

    if _image_list(path) is not None:
        return None
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            tb = float(s.time_base)
            pts: list[int] = []
            first_dts = None
            for pkt in c.demux(s):
                if pkt.dts is None and pkt.pts is None:  # the end-of-stream marker
                    continue
                if pkt.pts is None:
                    return None
                pts.append(pkt.pts)
                first_dts = pkt.dts if first_dts is None else first_dts
                # packets come in decoding order: once decoding is 1 s past the window,
                # no frame presented inside it is still to come (B-frames reorder less)
                if (until_s is not None and pkt.dts is not None
                        and (pkt.dts - first_dts) * tb > until_s + 1.0):
                    break
    except (av.error.FFmpegError, IndexError, OSError):
        return None
    if not pts:
        return None
    t = np.sort(np.asarray(pts, np.float64)) * tb
    return t - t[0]


def _rgb(frame: np.ndarray, source: str) -> np.ndarray:
    """(H,W,3) uint8 RGB from OpenCV's BGR (or a grey / 16-bit array)."""
    if frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8:
        return frame[:, :, ::-1]
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, [2, 1, 0]]
    return _images().normalize_image(frame, source=source)


class FrameReader:
    """Batches of frames from a source, decoded in order in a background thread.

    Iterating yields ``(indices, frames)``: ``indices`` (B,) int64 are the frame numbers
    (0-based, counted from the start of the source, so ``start`` shifts them and skipped
    images leave gaps), ``frames`` (B, H, W, 3) uint8 RGB. With ``timestamps=True`` it
    yields ``(indices, times, frames)``, ``times`` (B,) float64 seconds from the source's
    first frame (see the module doc). Every batch has ``batch_size`` frames except the
    last. At most ``prefetch`` decoded batches wait in memory.

    Use it as a context manager (or call :meth:`close`) to stop the thread early.

    Args:
        source: video file, image file, folder of images or list of image files.
        batch_size: frames per batch (>= 1).
        start: first frame to read (earlier frames are decoded and dropped, so that the
            position is exact for any codec).
        step: hand out every ``step``-th frame from ``start`` on (``start``, ``start +
            step``, ...); the frames between are decoded and dropped (``grab`` without
            the colour conversion), so the indices stay the source's frame numbers.
        stop: frame number to stop before (None: the end of the source). A source that
            ends before ``stop`` is judged as without it (truncated or not).
        fps: frame rate for image sources.
        on_error: None (video: raise, images: skip), "raise" or "skip"; see the module doc.
        prefetch: decoded batches the thread may hold ahead of the consumer.
        timestamps: also yield each batch's frame times.
        deinterlace: remove the combing of interlaced video from every frame
            (:func:`fishseg.io.interlace.deinterlace`, in the decoding thread).

    Attributes:
        info: :class:`VideoInfo` of the source.
        errors: :class:`FrameError` for every frame that was skipped or failed.
        frames_read: frames handed out so far.
        comb_scores: :func:`fishseg.io.interlace.comb_score` of the first
            :data:`COMB_FRAMES` frames as decoded (before any deinterlacing): interlaced
            video with motion shows as scores above ``INTERLACED_SCORE``.

    Raises:
        VideoError: at construction for a missing, non-video or empty source; during
            iteration for a frame that fails to decode (see ``on_error``).
    """

    def __init__(self, source, batch_size: int, *, start: int = 0, step: int = 1,
                 stop: int | None = None, fps: float = 1.0, on_error: str | None = None,
                 prefetch: int = 2, timestamps: bool = False, deinterlace: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        if stop is not None and stop <= start:
            raise ValueError(f"stop ({stop}) must be after start ({start})")
        if on_error not in (None, "raise", "skip"):
            raise ValueError(f"on_error must be None, 'raise' or 'skip', got {on_error!r}")
        self._files = _image_list(source)
        self.source = str(source) if self._files is None else source
        self.info = probe(source, fps=fps)
        self.batch_size = int(batch_size)
        self.start = int(start)
        self.step = int(step)
        self.stop = None if stop is None else int(stop)
        self.on_error = on_error or ("raise" if self._files is None else "skip")
        self.errors: list[FrameError] = []
        self.frames_read = 0
        self.timestamps = bool(timestamps)
        self.deinterlace = bool(deinterlace)
        self.comb_scores: list[float] = []
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- producer (background thread) --------------------------------------------------

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _wanted(self, i: int) -> bool:
        """Whether frame ``i`` of the source is handed out (``start`` and ``step``)."""
        return i >= self.start and (i - self.start) % self.step == 0

    def _past_stop(self, i: int) -> bool:
        return self.stop is not None and i >= self.stop

    @property
    def frames_wanted(self) -> int | None:
        """Frames that will be handed out when the source is whole (None: unknown)."""
        n = self.info.frames
        if n is not None and self.stop is not None:
            n = min(n, self.stop)
        elif self.stop is not None:
            n = self.stop
        return None if n is None else max(0, -(-(n - self.start) // self.step))

    def _frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """(index, time in s, (H,W,3) uint8) in order; records or raises decode failures."""
        if self._files is not None:
            yield from self._image_frames()
        else:
            yield from self._video_frames()

    def _image_frames(self):
        images = _images()
        shape = (self.info.height, self.info.width)
        for i, f in enumerate(self._files):
            if self._past_stop(i):
                break
            if not self._wanted(i):
                continue
            try:
                img = images.read_image(f)
                if img.shape[:2] != shape:
                    raise VideoError(f"{f}: size {img.shape[1]}x{img.shape[0]} differs from "
                                     f"the first image's {shape[1]}x{shape[0]} (a folder is one "
                                     "camera's frames in order: give images of another size "
                                     "as inputs of their own)")
            except ValueError as e:  # ImageError and VideoError are ValueErrors
                self._fail(FrameError(i, str(f), str(e)))
                continue
            yield i, i / self.info.fps, img

    def _clock(self):
        """A function ``(container time in s or None) -> frame time``: the container's
        times from the first frame's on; where one is missing or not after the previous
        frame's, ``1 / fps`` after the previous frame."""
        state = {"first": None, "last": None}
        dt = 1.0 / self.info.fps

        def time_of(t: float | None) -> float:
            last = state["last"]
            if t is not None and np.isfinite(t):
                if state["first"] is None:
                    state["first"] = t
                t = t - state["first"]
                if last is None or t > last:
                    state["last"] = t
                    return t
            state["last"] = 0.0 if last is None else last + dt
            return state["last"]

        return time_of

    def _video_frames(self):
        path = self.source
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            yield from self._av_frames()
            return
        clock = self._clock()
        try:
            i = 0
            while not self._stop.is_set() and not self._past_stop(i):
                ok, frame = cap.read() if self._wanted(i) else (cap.grab(), None)
                if not ok:
                    break
                # the decoded frame's presentation time, from the stream's start
                t = clock(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
                if frame is not None:
                    yield i, t, _rgb(frame, f"{path}: frame {i}")
                i += 1
        finally:
            cap.release()
        if not self._stop.is_set():
            self._check_end(i)

    def _av_frames(self):
        import av

        n = 0
        clock = self._clock()
        try:
            with av.open(self.source) as c:
                for fr in c.decode(video=0):
                    if self._stop.is_set():
                        return
                    if self._past_stop(n):
                        break
                    t = clock(None if fr.time is None else float(fr.time))
                    if self._wanted(n):
                        yield n, t, _rgb(fr.to_ndarray(format="bgr24"), self.source)
                    n += 1
        except av.error.FFmpegError:
            pass  # judged by the frame count below
        self._check_end(n)

    def _check_end(self, n: int) -> None:
        """Decide whether a video that ended after ``n`` frames ended early."""
        total = self.info.frames
        if self.stop is not None and total is not None:
            total = min(total, self.stop)
        exact = Path(self.source).suffix.lower() in _EXACT_COUNT_SUFFIXES
        tolerance = 0 if exact else max(2, (total or 0) // 100)
        if n == 0 or (total is not None and n < total - tolerance):
            of = f" of {total}" if total is not None else ""
            self._fail(FrameError(n, self.source, (
                f"{self.source}: frame {n} failed to decode ({n}{of} frames read; "
                "the file is truncated or corrupt)")))

    def _fail(self, err: FrameError) -> None:
        self.errors.append(err)
        if self.on_error == "raise":
            raise VideoError(err.message)

    def _run(self) -> None:
        B = self.batch_size
        idx: list[int] = []
        ts: list[float] = []
        buf: np.ndarray | None = None
        n_out = 0
        try:
            try:
                for i, t, frame in self._frames():
                    if len(self.comb_scores) < COMB_FRAMES:
                        self.comb_scores.append(comb_score(frame))
                    if self.deinterlace:
                        frame = deinterlace(frame)
                    if buf is None:
                        buf = np.empty((B, *frame.shape), np.uint8)
                    buf[len(idx)] = frame
                    idx.append(i)
                    ts.append(t)
                    n_out += 1
                    if len(idx) == B:
                        if not self._put((np.asarray(idx, np.int64), np.asarray(ts), buf)):
                            return
                        idx, ts, buf = [], [], None
            finally:  # the frames decoded before a failure are handed out first
                if idx and buf is not None:
                    self._put((np.asarray(idx, np.int64), np.asarray(ts), buf[: len(idx)]))
            if n_out == 0 and not self._stop.is_set():
                raise VideoError(f"{self.source}: no frame could be read"
                                 + (f" ({len(self.errors)} failed)" if self.errors else ""))
            self._put(("end", None, None))
        except BaseException as e:  # handed to the consumer, raised there
            self._put(("error", e, None))

    # -- consumer ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        if self._thread is not None:
            raise RuntimeError("a FrameReader can be iterated only once")
        self._thread = threading.Thread(target=self._run, name="fishseg-decode", daemon=True)
        self._thread.start()
        try:
            while True:
                a, t, b = self._queue.get()
                if isinstance(a, str):
                    if a == "error":
                        raise t
                    return
                self.frames_read += len(a)
                yield (a, t, b) if self.timestamps else (a, b)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the decoding thread and drop any decoded batches."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoWriter:
    """Write an H.264 mp4 (yuv420p, browser-playable) atomically.

    Frames go to a temporary file in the target's folder; :meth:`close` finishes the
    stream and renames it onto ``path``. Leaving the ``with`` block by an exception
    discards the temporary file, so ``path`` is either complete or untouched.
    yuv420p needs even sizes: an odd width or height is padded by one (edge) pixel.

    Args:
        path: target ``.mp4`` file; the folder is created.
        fps: frame rate.
        width: frame width in pixels.
        height: frame height in pixels.
        crf: x264 constant rate factor (0 = lossless .. 51; 23 = default quality).
        preset: x264 speed preset ("ultrafast" .. "veryslow").
    """

    def __init__(self, path, fps: float, width: int, height: int, crf: int = 23,
                 preset: str = "veryfast"):
        import av

        if fps <= 0 or width <= 0 or height <= 0:
            raise VideoError(f"{path}: need fps, width, height > 0, got {fps}, {width}, {height}")
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.frames_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = mkstemp_beside(self.path)
        os.close(fd)
        try:
            self._container = av.open(self._tmp, "w", format="mp4",
                                      options={"movflags": "+faststart"})
            s = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            s.width, s.height = self.width + self.width % 2, self.height + self.height % 2
            s.pix_fmt = "yuv420p"
            # veryfast: a review video; ~3x less encode time than x264's default "medium"
            s.options = {"crf": str(int(crf)), "preset": preset}
            self._stream = s
            self._container.start_encoding()
        except BaseException:
            os.unlink(self._tmp)
            raise

    def write(self, frames: np.ndarray) -> None:
        """Append one frame (H, W, 3) or a batch (B, H, W, 3); uint8 RGB (or grey / 16-bit)."""
        import av

        frames = np.asarray(frames)
        if frames.ndim == 4 or (frames.ndim == 3 and frames.shape[-1] not in (1, 3, 4)):
            batch: Sequence[np.ndarray] = frames
        else:
            batch = [frames]
        for f in batch:
            f = _images().normalize_image(f, source=str(self.path))
            if f.shape[:2] != (self.height, self.width):
                raise VideoError(f"{self.path}: frame {self.frames_written} is "
                                 f"{f.shape[1]}x{f.shape[0]}, expected {self.width}x{self.height}")
            pad = ((0, self.height % 2), (0, self.width % 2), (0, 0))
            if any(p[1] for p in pad):
                f = np.pad(f, pad, mode="edge")
            for packet in self._stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                self._container.mux(packet)
            self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file onto ``path``."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard the temporary file; ``path`` is left as it was."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away anyway
                pass
            self._container = None
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def concat_videos(parts, path) -> Path:
    """Join videos written by :class:`VideoWriter` with the same settings into one file,
    without re-encoding (their H.264 packets are copied, timestamps shifted); atomic.

    Args:
        parts: the video files, in order (at least one).
        path: the joined ``.mp4``.

    Returns:
        ``path``.
    """
    import av

    parts = [Path(p) for p in parts]
    path = Path(path)
    with replaced_on_success(path) as tmp:
        with av.open(tmp, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            ostream = None
            end, last_dts = 0, None
            for part in parts:
                with av.open(str(part)) as src:
                    s = src.streams.video[0]
                    if ostream is None:
                        ostream = out.add_stream_from_template(s)
                    # the demuxer's end-of-stream marker has no dts
                    packets = [p for p in src.demux(s) if p.dts is not None]
                    if not packets:
                        continue
                    # a part starts where the last one ended; later if its first decode
                    # time would not come after the last one's (B-frame reordering makes
                    # a short part's decode times start earlier than a long one's)
                    offset = end
                    if last_dts is not None and packets[0].dts + offset <= last_dts:
                        offset = last_dts + 1 - packets[0].dts
                    for pkt in packets:
                        pkt.pts += offset
                        pkt.dts += offset
                        end = max(end, pkt.pts + (pkt.duration or 0))
                        last_dts = pkt.dts
                        pkt.stream = ostream
                        out.mux(pkt)
    return path
