"""What a ``fishseg segment`` batch would do, before it runs (``fishseg segment --list``).

A batch over a recorder's export tree with a haul's clock-time window can run for
hours; :func:`plan_inputs` says first, without loading a model or decoding a frame,
which inputs it found and under which output names, when each recording starts and
where that came from, how long it is, and whether it will be processed, skipped (already
complete, outside the window) or resumed, or why it cannot be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fishseg import checkpoint
from fishseg.io.export import is_complete
from fishseg.io.recording import OutsideWindow, recording_start, window_seconds
from fishseg.io.video import VideoError, probe
from fishseg.pipeline import named_inputs, recently_changed, staging_dir, too_new


@dataclass
class PlannedInput:
    """One input of a planned batch."""

    input: str
    output: str                 # the output folder's name ('' when the input has none)
    status: str                 # to do, complete, resumes, outside window, too new, error
    recording_start: str = ""   # ISO 8601 and where it came from
    length_s: float | None = None
    detail: str = ""


def plan_inputs(inputs, out, *, fps: float = 1.0, start_s: float | datetime = 0.0,
                end_s: float | datetime | None = None,
                recording_start_given: str | datetime | None = "auto",
                overwrite: bool = False, min_age_s: float = 0.0) -> list[PlannedInput]:
    """The inputs a batch would process, as :func:`fishseg.pipeline.segment_inputs` finds
    and names them, with what would happen to each.

    Args:
        inputs: videos, images and folders.
        out: the output root.
        fps: frame rate of image sequences.
        start_s, end_s: the time window (seconds into each input, or clock times).
        recording_start_given: as ``segment_video``'s ``recording_start``.
        overwrite: complete outputs would be redone.
        min_age_s: inputs changed more recently are "too new" (skipped).

    Returns:
        one :class:`PlannedInput` per input found (and per input that is missing or
        holds nothing to segment).
    """
    out = Path(out)
    named, errors = named_inputs(inputs, exclude=out)
    plan = [PlannedInput(raw, "", "error", detail=msg) for raw, msg in errors]
    for unit, name in named:
        row = PlannedInput(str(unit), name, "to do")
        plan.append(row)
        dest = out / name
        try:
            rec = recording_start(unit, recording_start_given)
            if rec is not None:
                row.recording_start = f"{rec.time.isoformat()} ({rec.origin})"
            info = probe(unit, fps=fps)
            row.length_s = None if info.frames is None else info.frames / info.fps
            age = recently_changed(unit, min_age_s)
            if age is not None:
                row.status, row.detail = "too new", too_new(age, min_age_s)
                continue
            if is_complete(dest) and not overwrite:  # skipped whatever the window
                row.status, row.detail = "complete", "skipped (use --overwrite to redo)"
                continue
            first, _ = window_seconds(start_s, end_s, rec, unit)
            if row.length_s is not None and first >= row.length_s:
                raise OutsideWindow(f"the time window starts at {first:g} s, after its end")
        except OutsideWindow as e:  # skipped for a clock window, failed for one in seconds
            clock = isinstance(start_s, datetime) or isinstance(end_s, datetime)
            row.status = "outside window" if clock else "error"
            row.detail = str(e).split(": ", 1)[-1]
            continue
        except (VideoError, ValueError, OSError) as e:
            row.status, row.detail = "error", str(e)
            continue
        kept = None if overwrite else checkpoint.load_meta(staging_dir(dest))
        if kept:
            row.status = "resumes"
            row.detail = (f"progress saved up to frame {kept['next_frame']} (used when the "
                          "model and settings are the same)")
    return plan


def plan_table(plan: list[PlannedInput]) -> str:
    """A plain-text table of a plan, with totals."""
    rows = [(p.status, p.output or "-", p.recording_start or "-",
             "?" if p.length_s is None else f"{p.length_s:.1f} s", p.input, p.detail)
            for p in plan]
    head = ("status", "output", "recording start", "length", "input", "detail")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    lines = ["  ".join(f"{c:{w}}" for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
             for r in [head, *rows]]
    counts: dict[str, int] = {}
    for p in plan:
        counts[p.status] = counts.get(p.status, 0) + 1
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items()) or "no inputs")
    return "\n".join(line.rstrip() for line in lines)
