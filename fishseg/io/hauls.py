"""Hauls: the batch's fish by fishing operation (``fishseg report OUT --hauls FILE``).

Discards are reported per haul. An observer's haul log is a CSV of ``haul,start,end``
(clock times, ISO 8601, as the logbook has them: when the catch was on the belt). Each
fish of ``all_fish.csv`` gets the haul whose window holds its ``first_datetime`` (its
recording's clock, :mod:`fishseg.io.recording`), and ``OUT/hauls.csv`` sums each haul:
fish counted (a fish carried on from one recording into the next once), partial ones,
median length; ``OUT/hauls_by_species.csv`` the named species per haul. The log is
copied to ``OUT/hauls.given.csv`` and applied from then on, also by later ``segment``
runs into ``OUT``.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from fishseg.io.export import atomic_write
from fishseg.io.recording import parse_datetime
from fishseg.io.tables import read_edited_csv

#: Where ``fishseg report --hauls`` keeps the log it was given.
GIVEN = "hauls.given.csv"


@dataclass(frozen=True)
class Haul:
    """One fishing operation: its name and the clock times its catch was on the belt."""

    name: str
    start: datetime
    end: datetime


def read_hauls(path: str | Path) -> list[Haul]:
    """Read a haul log: CSV with columns ``haul``, ``start``, ``end``.

    Raises:
        ValueError: naming the file and row: a missing column, a time that is not one,
            an end not after its start, a name used twice, hauls that overlap, or
            times with and without a zone mixed.
    """
    path = Path(path)
    try:
        names, raw_rows = read_edited_csv(path)
    except OSError as e:
        raise ValueError(f"{path}: cannot be read as a haul log: {e}") from None
    cols = [c.strip().lower() for c in names]
    if not {"haul", "start", "end"} <= set(cols):
        raise ValueError(f"{path}: a haul log needs the columns haul, start, end "
                         f"(found {', '.join(cols) or 'none'})")
    hauls: list[Haul] = []
    for n, raw in enumerate(raw_rows, start=2):
        r = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        if not any(r.values()):
            continue
        try:
            h = Haul(r["haul"], parse_datetime(r["start"]), parse_datetime(r["end"]))
        except ValueError as e:
            raise ValueError(f"{path}: row {n}: {e}") from None
        if not h.name:
            raise ValueError(f"{path}: row {n}: no haul name")
        if (h.start.tzinfo is None) != (h.end.tzinfo is None) or (
                hauls and (h.start.tzinfo is None) != (hauls[0].start.tzinfo is None)):
            raise ValueError(f"{path}: row {n}: some times have a zone (+01:00, Z) and some "
                             "do not; give all with or all without")
        if h.end <= h.start:
            raise ValueError(f"{path}: row {n}: haul {h.name!r} ends ({r['end']}) before it "
                             f"starts ({r['start']})")
        hauls.append(h)
    if not hauls:
        raise ValueError(f"{path}: no hauls in it")
    names = Counter(h.name for h in hauls)
    if max(names.values()) > 1:
        raise ValueError(f"{path}: haul {names.most_common(1)[0][0]!r} is listed twice")
    order = sorted(hauls, key=lambda h: h.start)
    for a, b in zip(order, order[1:]):
        if b.start < a.end:
            raise ValueError(f"{path}: hauls {a.name!r} and {b.name!r} overlap; a fish must "
                             "belong to one haul")
    return hauls


def haul_of(hauls: Sequence[Haul], when: str) -> str:
    """The name of the haul whose window holds the clock time ``when`` (ISO text), or ''.

    Raises:
        ValueError: ``when`` has a zone and the hauls not, or the other way round
            (the two cannot be compared).
    """
    if not when:
        return ""
    t = datetime.fromisoformat(when)
    if (t.tzinfo is None) != (hauls[0].start.tzinfo is None):
        raise ValueError(
            f"fish times such as {when} are {'without' if t.tzinfo is None else 'with'} a "
            f"zone and the haul times {'with' if t.tzinfo is None else 'without'} one: give "
            "the haul times as the recordings' clock has them (recording starts from the "
            "container are UTC)")
    for h in hauls:
        if h.start <= t < h.end:
            return h.name
    return ""


def keep_log(path: str | Path, out: str | Path) -> Path:
    """Check a haul log and copy it to ``OUT/hauls.given.csv``."""
    read_hauls(path)
    dest = Path(out) / GIVEN
    if Path(path).resolve() != dest.resolve():
        shutil.copyfile(path, dest)
    return dest


def write_haul_tables(out: str | Path, hauls: Sequence[Haul], fish: Sequence[Mapping], *,
                      cm: bool, species: str | None = None) -> list[Path]:
    """``OUT/hauls.csv`` (and ``OUT/hauls_by_species.csv`` when ``species`` names a
    column): the counted fish of each haul, each fish once.

    Args:
        out: the output root.
        hauls: the log.
        fish: ``all_fish.csv`` rows with ``haul`` filled, ``partial`` and ``counted``
            as bools, ``continues`` empty for a fish's first record.
        cm: lengths in cm (``length_cm``) rather than pixels.
        species: the column with species names, if any.

    Returns:
        the tables written.
    """
    out = Path(out)
    key = "length_cm" if cm else "length_px"
    rows = [r for r in fish if r.get("counted", True) and not r.get("continues")]
    lines = [["haul", "start", "end", "fish", "partial", f"median_{key}"]]
    for h in list(hauls) + [Haul("", datetime.min, datetime.min)]:
        mine = [r for r in rows if r.get("haul", "") == h.name]
        if not h.name and not mine:
            continue
        lengths = [float(r[key]) for r in mine if r.get(key) not in (None, "")]
        lines.append([h.name or "(no haul)", h.start.isoformat() if h.name else "",
                      h.end.isoformat() if h.name else "", len(mine),
                      sum(bool(r["partial"]) for r in mine),
                      f"{np.median(lengths):.4g}" if lengths else ""])
    written = [_write(out / "hauls.csv", lines)]
    if species:
        counts = Counter((r.get("haul", "") or "(no haul)", r.get(species, "").strip()
                          or "not named") for r in rows)
        table = [["haul", "species", "fish"]] + [[h, s, n] for (h, s), n in sorted(
            counts.items())]
        written.append(_write(out / "hauls_by_species.csv", table))
    return written


def _write(path: Path, lines: list[list]) -> Path:
    with atomic_write(path) as f:
        csv.writer(f).writerows(lines)
    return path
