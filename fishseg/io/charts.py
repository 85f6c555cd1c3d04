"""Pictures of one input's results, written next to its CSVs (matplotlib, Agg backend).

- ``counts.png`` — fish in view over the video's time (``counts.csv``), and the distinct
  fish counted so far (tracks by the time they were first seen);
- ``lengths.png`` — the length-frequency distribution of the counted fish (``fish.csv``),
  in cm when the input is calibrated, else in pixels; fish never seen whole (cut by the
  frame edge or the ROI in every frame) are stacked apart, their length being a lower
  bound.

:func:`length_frequency` and :func:`distinct_over_time` hold the numbers the pictures
show; :func:`write_charts` draws them (:func:`plot_lengths` the histogram, also used for
a whole batch by :mod:`fishseg.io.batch_fish`, with :func:`plot_timeline`, the batch's
fish over clock time). :func:`save_figure` writes any figure atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from fishseg.io.images import atomic_write  # noqa: E402

#: Pictures :func:`write_charts` writes into an input's output folder.
CHARTS = ("counts.png", "lengths.png")


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically (temporary file, then rename) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return Path(path)


def length_frequency(fish: Sequence[Mapping], *, cm: bool, bin_width: float | None = None,
                     edges: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Length-frequency table of counted fish, whole and partial apart.

    Args:
        fish: rows as in ``fish.csv`` (:meth:`fishseg.tracking.Track.summary` plus
            ``counted``): ``length_cm`` or ``length_px``, ``partial``, ``counted``.
        cm: use ``length_cm`` (the input is calibrated) instead of ``length_px``.
        bin_width: class width (default: 1 cm, or 10 px, widened to keep at most 40
            classes, as length-frequency tables use whole-unit classes).
        edges: (n+1,) class edges to use instead (e.g. a whole batch's, for a part of it).

    Returns:
        ``(edges, whole, partial, unit)``: (n+1,) float64 class edges (multiples of the
        class width), (n,) int64 counts of whole and of partial fish per class, and
        ``"cm"`` or ``"px"``. Empty arrays (edges ``[0.0]``) when no fish was counted.
    """
    key, unit = ("length_cm", "cm") if cm else ("length_px", "px")
    rows = [r for r in fish if r.get("counted", True)]
    lengths = np.array([float(r[key]) for r in rows], np.float64)
    partial = np.array([bool(r["partial"]) for r in rows], bool)
    if edges is not None:
        edges = np.asarray(edges, np.float64)
        idx = np.clip(np.searchsorted(edges, lengths, side="right") - 1, 0, len(edges) - 2)
        return (edges, np.bincount(idx[~partial], minlength=len(edges) - 1).astype(np.int64),
                np.bincount(idx[partial], minlength=len(edges) - 1).astype(np.int64), unit)
    if lengths.size == 0:
        return np.zeros(1), np.zeros(0, np.int64), np.zeros(0, np.int64), unit
    width = bin_width or (1.0 if cm else 10.0)
    lo, hi = np.floor(lengths.min() / width), np.floor(lengths.max() / width) + 1
    while bin_width is None and hi - lo > 40:
        width *= 2
        lo, hi = np.floor(lengths.min() / width), np.floor(lengths.max() / width) + 1
    edges = np.arange(lo, hi + 1) * width
    idx = np.clip(np.floor(lengths / width).astype(np.int64) - int(lo), 0, len(edges) - 2)
    whole = np.bincount(idx[~partial], minlength=len(edges) - 1).astype(np.int64)
    part = np.bincount(idx[partial], minlength=len(edges) - 1).astype(np.int64)
    return edges, whole, part, unit


def distinct_over_time(fish: Sequence[Mapping], frames: Sequence[int]) -> np.ndarray:
    """Counted fish first seen at or before each frame.

    Args:
        fish: ``fish.csv`` rows (``first_frame``, ``counted``).
        frames: (F,) processed frame numbers, increasing.

    Returns:
        (F,) int64 running count; its last value is the input's distinct fish.
    """
    firsts = np.sort([int(r["first_frame"]) for r in fish if r.get("counted", True)])
    return np.searchsorted(firsts, np.asarray(frames, np.int64), side="right").astype(np.int64)


def write_charts(out_dir: str | os.PathLike, *, name: str, counts: Sequence[tuple[int, float, int]],
                 tracks_in_view: Sequence[int], fish: Sequence[Mapping], cm: bool) -> list[Path]:
    """Draw ``counts.png`` and ``lengths.png`` into ``out_dir``.

    Args:
        out_dir: the input's output folder.
        name: the input's name, for the titles.
        counts: ``(frame, time_s, fish_in_view)`` per processed frame.
        tracks_in_view: counted tracks spanning each of those frames.
        fish: ``fish.csv`` rows.
        cm: lengths in cm (calibrated input).

    Returns:
        the paths written.
    """
    out_dir = Path(out_dir)
    frames = [c[0] for c in counts]
    t = np.array([c[1] for c in counts], np.float64)
    running = distinct_over_time(fish, frames)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    a1.step(t, [c[2] for c in counts], where="post", label="fish in the frame's mask")
    a1.step(t, tracks_in_view, where="post", linestyle="--", label="counted fish spanning it")
    a1.set_ylabel("fish in view")
    a1.legend(loc="upper right", fontsize=8)
    a1.set_title(f"{name}: {int(running[-1]) if len(running) else 0} distinct fish, "
                 f"{len(frames)} frames")
    a2.step(t, running, where="post", color="black")
    a2.set_ylabel("distinct fish so far")
    a2.set_xlabel("time (s)")
    for a in (a1, a2):
        a.yaxis.set_major_locator(MaxNLocator(integer=True))
    paths = [save_figure(fig, out_dir / "counts.png")]

    n = sum(1 for r in fish if r.get("counted", True))
    paths.append(plot_lengths(fish, out_dir / "lengths.png", cm=cm,
                              title=f"{name}: length frequency of {n} counted fish"))
    return paths


def fish_over_clock(fish: Sequence[Mapping]) -> tuple[list, np.ndarray]:
    """The batch's counted fish over clock time: each fish at its first clock time.

    Args:
        fish: ``all_fish.csv`` rows (``first_datetime``, ``counted``, ``continues``): a
            fish that continues one of an earlier recording is not counted again, one
            without a clock time is left out.

    Returns:
        ``(times, running)``: the first clock times (datetimes, increasing) and (N,) int64
        the fish counted up to each.
    """
    from datetime import datetime

    times = sorted(datetime.fromisoformat(r["first_datetime"]) for r in fish
                   if r.get("first_datetime") and not r.get("continues")
                   and str(r.get("counted", "1")) in ("1", "True"))
    return times, np.arange(1, len(times) + 1, dtype=np.int64)


def plot_timeline(per_camera: Mapping[str, Sequence[tuple]], fish: Sequence[Mapping],
                  path: str | os.PathLike, *, title: str) -> Path | None:
    """Draw a batch's fish over clock time: fish in view per camera, and the fish counted
    so far (:func:`fish_over_clock`).

    Args:
        per_camera: camera -> ``(clock time, fish in view)`` pairs of its frames.
        fish: ``all_fish.csv`` rows.
        path: the PNG to write.
        title: its title.

    Returns:
        the path, or None when no frame has a clock time, or times with a zone and without
        one would share the axis.
    """
    from datetime import datetime

    lines = {cam: sorted((datetime.fromisoformat(t), n) for t, n in pts if t)
             for cam, pts in per_camera.items()}
    lines = {cam: pts for cam, pts in lines.items() if pts}
    times, running = fish_over_clock(fish)
    zones = {t.tzinfo is None for pts in lines.values() for t, _ in pts} | {
        t.tzinfo is None for t in times}
    if not lines or len(zones) > 1:
        return None
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    for cam, pts in lines.items():
        a1.step([t for t, _ in pts], [n for _, n in pts], where="post", lw=0.8,
                label=cam or "(camera)")
    a1.set_ylabel("fish in view")
    if len(lines) > 1:
        a1.legend(loc="upper right", fontsize=8)
    a1.set_title(title)
    if times:
        a2.step(times, running, where="post", color="black")
    a2.set_ylabel("fish counted so far")
    a2.set_xlabel("clock time")
    for a in (a1, a2):
        a.yaxis.set_major_locator(MaxNLocator(integer=True))
    locator = mdates.AutoDateLocator()
    a2.xaxis.set_major_locator(locator)
    a2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return save_figure(fig, path)


def plot_lengths_by_group(fish: Sequence[Mapping], path: str | os.PathLike, *, key: str,
                          cm: bool, title: str, uncalibrated: str = "length (px)",
                          most: int = 12) -> Path:
    """Length frequency per group (species): one panel each, same length classes.

    Args:
        fish: ``fish.csv`` rows with a ``key`` column (rows where it is empty are "not
            given").
        path: the PNG to write.
        key: the column to group by.
        cm: lengths in cm.
        title: the figure's title.
        uncalibrated: the x label when lengths are in pixels.
        most: panels at most: the most numerous groups; the rest are pooled as "other".

    Returns:
        ``path``.
    """
    counted = [r for r in fish if r.get("counted", True)]
    names = [str(r.get(key, "")).strip() or "not given" for r in counted]
    order = sorted(set(names), key=lambda g: (-names.count(g), g))
    if len(order) > most:
        keep = set(order[:most - 1])
        names = [g if g in keep else "other" for g in names]
        order = order[:most - 1] + ["other"]
    edges, _, _, unit = length_frequency(counted, cm=cm)
    cols = min(3, len(order))
    rows = -(-len(order) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False,
                             sharex=True, constrained_layout=True)
    for ax in axes.ravel()[len(order):]:
        ax.set_visible(False)
    for ax, g in zip(axes.ravel(), order):
        members = [r for r, n in zip(counted, names) if n == g]
        _, whole, part, _ = length_frequency(members, cm=cm, edges=edges)
        widths = np.diff(edges)
        ax.bar(edges[:-1], whole, widths, align="edge", edgecolor="black")
        ax.bar(edges[:-1], part, widths, bottom=whole, align="edge", edgecolor="black",
               color="lightgrey", hatch="//")
        ax.set_title(f"{g}: {len(members)}", fontsize=9)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for k, ax in enumerate(axes.ravel()[:len(order)]):
        ax.tick_params(labelbottom=True)
        if k + cols >= len(order):  # no panel below it
            ax.set_xlabel(f"length ({unit})" if cm else uncalibrated, fontsize=8)
    fig.suptitle(title + " (hatched: partial, length a lower bound)", fontsize=10)
    return save_figure(fig, path)


def plot_lengths(fish: Sequence[Mapping], path: str | os.PathLike, *, cm: bool, title: str,
                 uncalibrated: str = "length (px; give --cm-per-pixel for cm)") -> Path:
    """Draw the length-frequency histogram of counted fish (:func:`length_frequency`).

    Args:
        fish: ``fish.csv`` rows.
        path: the PNG to write.
        cm: lengths in cm.
        title: the figure's title.
        uncalibrated: the x label when lengths are in pixels.

    Returns:
        ``path``.
    """
    edges, whole, part, unit = length_frequency(fish, cm=cm)
    fig, ax = plt.subplots(figsize=(8, 4))
    if whole.size:
        widths = np.diff(edges)
        ax.bar(edges[:-1], whole, widths, align="edge", edgecolor="black", label="whole fish")
        ax.bar(edges[:-1], part, widths, bottom=whole, align="edge", edgecolor="black",
               color="lightgrey", hatch="//",
               label="partial (cut by the frame edge or ROI): length is a lower bound")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no fish counted", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"length ({unit})" if cm else uncalibrated)
    ax.set_ylabel("fish")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return save_figure(fig, path)
