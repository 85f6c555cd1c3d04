"""When a recording started: the date and time of its first frame, and clock times of frames.

Observers log hauls in clock time; the outputs give each frame's time in the video
(``time_s``, seconds from its first frame). With the recording's start they also give
the clock time (``counts.csv`` ``datetime``, ``fish.csv`` ``first_datetime`` /
``last_datetime``), and a time window can be given in clock time for a whole batch of
recordings (:func:`window_seconds`).

Where the start comes from (:func:`recording_start`, ``--recording-start auto``), first
found wins:

1. **the file or folder name**: CCTV recorders (DVR / NVR exports) and cameras name
   their files by the recording's start, e.g. ``ch01_20261124053000.mp4``,
   ``NVR_ch1_main_20261124053000_20261124063000.dav`` (the first date is the start),
   ``192.168.1.64_01_20261124053000123.mp4`` (with milliseconds),
   ``2026-11-24_05-30-00.mp4``, ``VID_20261124_053000.mp4``. A date and a time of day
   (hours, minutes, seconds) must both be there; a trailing ``Z`` means UTC, otherwise
   the time is the recorder's local time and is given without a zone.
2. **the container's** ``creation_time`` **tag** (MP4, MOV, MKV: UTC). Tools that write
   no tag, or a zero one (1904 / 1970), give none.

``--recording-start 2026-11-24T05:30:00[+01:00]`` gives it by hand (one input), and
``none`` turns it off. :func:`recording_start` returns where it came from, which
``summary.json`` records, so a reviewer can tell a recorder's local time from UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

#: A date and a time of day in a name: the date parts joined by one separator (or none),
#: the time parts likewise, optional milliseconds (``20261124053000123``, as some NVRs
#: write them), not inside a longer run of digits.
NAME_STAMP = re.compile(
    r"(?<![0-9])((?:19|20)[0-9]{2})([-_.]?)([0-9]{2})\2([0-9]{2})"
    r"[T _-]?([0-9]{2})([-_.:hH]?)([0-9]{2})\6([0-9]{2})(?:[.,]?([0-9]{3}))?(Z?)(?![0-9])")

#: Creation times before this are unset fields (MP4's epoch is 1904), not recordings.
_EARLIEST = datetime(1990, 1, 1)


@dataclass(frozen=True)
class RecordingStart:
    """The clock time of a recording's first frame.

    Attributes:
        time: the date and time (with its zone when known: UTC from a container or a
            ``Z`` name, as given by hand; otherwise the recorder's local time, no zone).
        origin: where it came from: ``"file name"``, ``"container"`` or ``"given"``.
    """

    time: datetime
    origin: str

    def describe(self) -> dict:
        """``{"time": ISO 8601 text, "from": origin}`` for summary.json."""
        return {"time": self.time.isoformat(), "from": self.origin}


def parse_datetime(text: str) -> datetime:
    """A date and time in ISO 8601 (``2026-11-24T05:30:00``, ``2026-11-24 05:30``, with an
    optional ``Z`` or ``+01:00``).

    Raises:
        ValueError: not a date and time (names the text).
    """
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a date and time: {text!r} (expected e.g. 2026-11-24T05:30:00 "
                         "or 2026-11-24T05:30:00+01:00)") from None
    if t.year < _EARLIEST.year:
        raise ValueError(f"not a recording time: {text!r} (before {_EARLIEST.year})")
    return t


def start_from_name(name: str) -> datetime | None:
    """The first date-and-time stamp in a file or folder name (see the module docstring).

    Args:
        name: a path's last part.

    Returns:
        the time (UTC when the stamp ends in ``Z``, no zone otherwise), or None.
    """
    for m in NAME_STAMP.finditer(name):
        y, _, mo, d, h, _, mi, s, ms, z = m.groups()
        try:
            t = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int(ms or 0) * 1000)
        except ValueError:  # 20261399... is not a date: look further
            continue
        return t.replace(tzinfo=timezone.utc) if z else t
    return None


def start_from_container(path: str | Path) -> datetime | None:
    """The ``creation_time`` tag of a video file's container (or of its video stream).

    Returns:
        the time in UTC, or None when the file has no usable tag or cannot be opened.
    """
    try:
        import av

        with av.open(str(path)) as c:
            tags = [c.metadata] + [s.metadata for s in c.streams.video]
    except Exception:  # noqa: BLE001 - no tag to read is not an error here
        return None
    for tag in tags:
        text = tag.get("creation_time")
        if not text:
            continue
        try:
            t = datetime.fromisoformat(text.strip())
        except ValueError:
            continue
        if t.tzinfo is None:  # the tag is UTC by definition
            t = t.replace(tzinfo=timezone.utc)
        if t.replace(tzinfo=None) >= _EARLIEST:
            return t
    return None


def recording_start(source, given: str | datetime | None = "auto") -> RecordingStart | None:
    """The start of a recording, from a given value, its name or its container.

    Args:
        source: a video file, a folder of images, or a list of image files (named after
            its first image's folder).
        given: ``"auto"`` (name, then container), ``"none"`` / None (no start), a
            datetime, or ISO 8601 text (:func:`parse_datetime`).

    Returns:
        the start and where it came from, or None.

    Raises:
        ValueError: ``given`` is text that is neither auto, none nor a date and time.
    """
    if given is None or given == "none":
        return None
    if isinstance(given, datetime):
        return RecordingStart(given, "given")
    if given != "auto":
        return RecordingStart(parse_datetime(given), "given")
    if isinstance(source, (list, tuple)):
        source = Path(source[0]).parent if len(source) > 1 else Path(source[0])
    path = Path(source)
    t = start_from_name(path.name)
    if t is not None:
        return RecordingStart(t, "file name")
    if path.is_file():
        t = start_from_container(path)
        if t is not None:
            return RecordingStart(t, "container")
    return None


def check_given(given: str | datetime | None, inputs: int) -> None:
    """A recording start given by hand is one input's: refuse it for a batch.

    Raises:
        ValueError: ``given`` is a date and time and there is more than one input.
    """
    if inputs > 1 and given not in (None, "auto", "none"):
        raise ValueError(
            f"--recording-start {given}: a start given by hand is one recording's, and "
            f"{inputs} inputs were given; segment them one by one, or leave it at auto and "
            "name each file by its start (e.g. cam2_20261124_053000.mp4)")


def clock_text(start: datetime, seconds: float) -> str:
    """ISO 8601 text of ``start`` plus ``seconds``, to the millisecond."""
    return (start + timedelta(seconds=float(seconds))).isoformat(timespec="milliseconds")


class OutsideWindow(ValueError):
    """The time window does not overlap a recording: the input is skipped when the window
    is in clock time (a haul over a batch of files) and fails when it is in seconds."""


def window_seconds(start: float | datetime, end: float | datetime | None,
                   rec: RecordingStart | None, source) -> tuple[float, float | None]:
    """A time window in seconds from a recording's first frame.

    Each end is seconds from the first frame already, or a clock time, turned into
    seconds with the recording's start (a window that began before the recording
    starts at its first frame).

    Args:
        start, end: the window (``end`` None: to the input's end).
        rec: the recording's start (needed for clock times).
        source: the input, for messages.

    Returns:
        (start_s, end_s) in seconds from the first frame.

    Raises:
        ValueError: a clock time is given but the input has no recording start, or the
            window's zone does not match the start's (names the input and both).
        OutsideWindow: the window ends before the recording starts.
    """
    def seconds(t):
        if not isinstance(t, datetime):
            return t
        if rec is None:
            raise ValueError(
                f"{source}: the time window is given as a clock time ({t.isoformat()}) but the "
                "recording's start is unknown: no date and time in its name or container; "
                "give it with --recording-start, or use seconds from the first frame")
        if (t.tzinfo is None) != (rec.time.tzinfo is None):
            zone = "has no time zone" if t.tzinfo is None else "has a time zone"
            raise ValueError(
                f"{source}: the window time {t.isoformat()} {zone} but the recording's start "
                f"({rec.time.isoformat()}, from its {rec.origin}) "
                f"{'has' if rec.time.tzinfo is not None else 'has not'}: give both the "
                "same way (e.g. 2026-11-24T05:30:00+00:00)")
        return (t - rec.time).total_seconds()

    start_s, end_s = seconds(start), seconds(end)
    if end_s is not None and end_s <= 0:
        raise OutsideWindow(f"{source}: the time window ends before the recording starts "
                            f"({rec.time.isoformat() if rec else 'its first frame'})")
    return (max(0.0, start_s) if isinstance(start, datetime) else start_s), end_s
