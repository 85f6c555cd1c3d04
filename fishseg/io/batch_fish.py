"""The fish of a whole batch: ``OUT/all_fish.csv`` and ``OUT/all_lengths.png``.

A trip's footage is many videos; the length-frequency distribution that a discard
report needs is over all of them. :func:`write_batch_fish` gathers the ``fish.csv`` of
every complete input listed in ``OUT/inputs.csv`` (:func:`fishseg.pipeline.write_inputs_table`,
which keeps rows of earlier runs into the same ``OUT``) into one table with an ``output``
column, and draws the counted fish's length frequency (cm when every input was
calibrated, else pixels). Both are rewritten after every run, so they cover the batch
however many times it was restarted. A fish that carries on from a camera's previous
recording into the next (:mod:`fishseg.io.stitch`) is named in the ``continues`` column
(``output:track_id`` of its first record) and counted and measured once. The
``picture`` column is the fish's picture (``<output>/fish/NNNNNN.jpg``, relative to
``OUT``; :mod:`fishseg.io.gallery`), empty for inputs segmented without pictures.
Columns added to ``all_fish.csv`` by hand (``species``, notes) are kept when it is
rewritten, matched by output, track id and first frame; a ``species`` column, once
filled, also gives ``OUT/all_lengths_by_species.png``, the length frequency per species
(``fishseg report OUT`` redraws it after editing), and ``species_proposed`` /
``species_p`` for the fish not named yet, learnt from those named
(:mod:`fishseg.species`). A record named ``not a fish`` there is left out of the batch's
count and of every table and chart (an observer's correction of a false detection).
``OUT/all_timeline.png`` shows the batch over clock time (inputs whose recording start is
known): fish in view per camera and the fish counted so far.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fishseg.io.charts import (
    length_frequency,
    plot_lengths,
    plot_lengths_by_group,
    plot_timeline,
)
from fishseg.io.export import atomic_write, is_complete, read_summary
from fishseg.io.gallery import crop_name
from fishseg.io.hauls import GIVEN, haul_of, read_hauls, write_haul_tables
from fishseg.io.stitch import camera_key, continued_fish
from fishseg.io.tables import read_edited_csv


class BatchFish(NamedTuple):
    """What :func:`write_batch_fish` wrote and counted."""

    table: Path          #: OUT/all_fish.csv
    chart: Path          #: OUT/all_lengths.png
    fish: int            #: counted fish of the batch, each once
    continued: int       #: records that continue a fish of the recording before
    kept: tuple = ()     #: columns added by hand to all_fish.csv, kept
    unmatched: int = 0   #: hand-filled rows whose fish is gone (in all_fish.unmatched.csv)
    by_group: Path | None = None  #: OUT/all_lengths_by_species.png, when species are given
    species: str = ""    #: what was proposed (:func:`fishseg.species.propose`), or why not
    warning: str = ""    #: an all_fish.csv that could not be read, and where it was kept
    hauls: tuple = ()    #: OUT/hauls.csv (and hauls_by_species.csv), with a haul log
    not_fish: int = 0    #: records named "not a fish" by hand, left out of every count


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


#: What an observer writes in the species column for a detection that is no fish (a
#: glove, a stain): such records are left out of every count, table and chart.
NOT_FISH = "not a fish"


def is_not_fish(name: str) -> bool:
    """Whether a species name marks a detection as no fish (:data:`NOT_FISH`, any case)."""
    return " ".join(str(name).lower().split()) == NOT_FISH


#: Columns of species proposals (:func:`fishseg.species.propose`), written when a
#: ``species`` column has been added to all_fish.csv.
PROPOSED = ("species_proposed", "species_p")

#: Points per input on the timeline (an hour of video has 90000 frames).
TIMELINE_POINTS = 500


def _thinned(counts: list[dict]) -> list[tuple[str, float]]:
    """(clock time, fish in view) of an input's frames, as at most
    :data:`TIMELINE_POINTS` means over runs of consecutive frames (at their first
    frame's time)."""
    k = max(1, -(-len(counts) // TIMELINE_POINTS))
    return [(counts[i].get("datetime", ""),
             float(np.mean([int(r["fish_in_view"]) for r in counts[i:i + k]])))
            for i in range(0, len(counts), k)]


def write_batch_fish(out: str | Path) -> BatchFish | None:
    """Write ``OUT/all_fish.csv`` and ``OUT/all_lengths.png`` from the complete inputs.

    Args:
        out: the output root of ``fishseg segment`` (holding ``inputs.csv``).

    Returns:
        the two paths and the batch's fish count, or None when ``inputs.csv`` lists no
        complete input.
    """
    out = Path(out)
    table = out / "inputs.csv"
    if not table.is_file():
        return None
    outputs = [r["output"] for r in _read_csv(table)
               if r.get("status") in ("done", "skipped") and is_complete(out / r["output"])]
    per_input = {name: _read_csv(out / name / "fish.csv") for name in outputs
                 if (out / name / "fish.csv").is_file()}
    if not per_input:
        return None
    links = continued_fish(out, list(per_input))

    def origin(key):  # a fish carried on over several recordings: its first record
        while key in links:
            key = links[key]
        return key

    first = {k: origin(k) for k in links}
    cols = ["output"]
    for rows in per_input.values():
        for c in (rows[0].keys() if rows else ()):
            if c not in cols:
                cols.append(c)
    cols += ["continues", "picture"]
    for name, rows in per_input.items():
        for r in rows:
            a = first.get((name, int(r["track_id"])))
            r["continues"] = f"{a[0]}:{a[1]}" if a else ""
            pic = Path(name) / "fish" / crop_name(int(r["track_id"]))  # fishseg.io.gallery
            r["picture"] = pic.as_posix() if (out / pic).is_file() else ""
    extra, unmatched, warning = _keep_hand_columns(out, cols + list(PROPOSED) + ["haul"],
                                                   per_input)
    hauls, haul_warning = _assign_hauls(out, per_input)
    if hauls:
        cols.append("haul")
    warning = "; ".join(w for w in (warning, haul_warning) if w)
    group = next((c for c in extra if c.lower() == "species"), None)
    species_note = ""
    if group:  # proposals for the fish not named yet, learnt from those named
        species_note = _propose_species(out, per_input, group)
        cols += list(PROPOSED)
    with atomic_write(out / "all_fish.csv") as f:
        w = csv.DictWriter(f, fieldnames=cols + extra, restval="")
        w.writeheader()
        for name, rows in per_input.items():
            w.writerows({"output": name, **r} for r in rows)

    fish = [{**r, "partial": r["partial"] == "1", "counted": r.get("counted", "1") == "1"
             and not (group and is_not_fish(r.get(group, "")))}
            for rows in per_input.values() for r in rows if not r["continues"]]
    not_fish = sum(1 for r in fish if group and is_not_fish(r.get(group, "")))
    cm = all(r.get("length_cm") not in (None, "") for r in fish) and bool(fish)
    n = sum(1 for r in fish if r["counted"])
    uncalibrated = "length (px; cm when every input is calibrated with --cm-per-pixel)"
    png = plot_lengths(fish, out / "all_lengths.png", cm=cm,
                       title=f"{n} counted fish from {len(per_input)} inputs",
                       uncalibrated=uncalibrated)
    haul_tables = (write_haul_tables(out, hauls, fish, cm=cm, species=group) if hauls
                   else [])
    _write_length_frequency(out / "length_frequency.csv", fish, cm=cm,
                            by=[k for k in ("haul" if hauls else None, group) if k])
    by_group = out / "all_lengths_by_species.png"
    if group and any(r.get(group, "").strip() for r in fish):
        plot_lengths_by_group(fish, by_group, key=group, cm=cm, uncalibrated=uncalibrated,
                              title=f"{n} counted fish from {len(per_input)} inputs")
    else:
        by_group.unlink(missing_ok=True)
    per_camera: dict[str, list] = {}
    for name in per_input:  # fish in view over clock time, one line per camera
        s = read_summary(out / name) or {}
        try:
            counts = _read_csv(out / name / "counts.csv")
        except OSError:
            continue
        cam = camera_key(Path(str(s.get("input", name))).name)
        per_camera.setdefault(cam, []).extend(_thinned(counts))
    plot_timeline(per_camera, fish, out / "all_timeline.png",
                  title=f"{n} counted fish from {len(per_input)} inputs, over clock time")
    return BatchFish(out / "all_fish.csv", png, n, len(links), tuple(extra), unmatched,
                     by_group if by_group.is_file() else None, species_note, warning,
                     tuple(haul_tables), not_fish)


def _assign_hauls(out: Path, per_input: dict[str, list[dict]]) -> tuple[list | None, str]:
    """Each row's ``haul`` from the haul log kept in ``OUT`` (:mod:`fishseg.io.hauls`).

    Returns:
        ``(hauls, "")``, ``(None, "")`` without a log, or ``(None, warning)`` when the
        log cannot be applied (its times and the fish's cannot be compared).
    """
    if not (out / GIVEN).is_file():
        return None, ""
    try:
        hauls = read_hauls(out / GIVEN)
        for rows in per_input.values():
            for r in rows:
                r["haul"] = haul_of(hauls, r.get("first_datetime", ""))
    except ValueError as e:
        for rows in per_input.values():
            for r in rows:
                r.pop("haul", None)
        return None, f"hauls not assigned: {e}"
    return hauls, ""


def _propose_species(out: Path, per_input: dict[str, list[dict]], key: str) -> str:
    """Fill :data:`PROPOSED` of the rows not named in column ``key`` yet
    (:func:`fishseg.species.propose`); returns what was done, or why not."""
    from fishseg.species import propose, read_features

    flat = [{"output": name, **r} for name, rows in per_input.items() for r in rows]
    feats = {(name, i): v for name in per_input
             for i, v in read_features(out / name / "fish").items()}
    proposals, note = propose(flat, feats, key=key)
    k = 0
    for rows in per_input.values():
        for r in rows:
            name, p = proposals.get(k, ("", None))
            r[PROPOSED[0]], r[PROPOSED[1]] = name, "" if p is None else f"{p:.2f}"
            k += 1
    return note


def _write_length_frequency(path: Path, fish: list[dict], *, cm: bool, by: list[str]) -> None:
    """The counted fish's length frequency as a table, as discard reports give it: one
    row per group (haul, species, when known) and length class with fish in it
    (whole and partial apart), on the batch's classes (:func:`length_frequency`)."""
    rows = [r for r in fish if r.get("counted", True) and not r.get("continues")]
    edges, _, _, unit = length_frequency(rows, cm=cm)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(str(r.get(k, "")).strip() for k in by), []).append(r)
    with atomic_write(path) as f:
        w = csv.writer(f)
        w.writerow([*by, f"length_class_{unit}", f"class_width_{unit}", "whole", "partial"])
        for g in sorted(groups):
            _, whole, part, _ = length_frequency(groups[g], cm=cm, edges=edges)
            for lo, width, a, b in zip(edges[:-1], np.diff(edges), whole, part):
                if a or b:
                    w.writerow([*g, f"{lo:g}", f"{width:g}", int(a), int(b)])


def _keep_hand_columns(out: Path, cols: list[str], per_input: dict[str, list[dict]]
                       ) -> tuple[list[str], int, str]:
    """Carry the columns a user added to ``all_fish.csv`` (species, notes) over to the
    rows about to be written, matched by output, track id and first frame (a track id
    alone could name another fish after an input was segmented again).

    Filled rows whose fish is no longer in the batch are appended to
    ``OUT/all_fish.unmatched.csv`` rather than dropped.

    A table that cannot be read as the batch's (no ``output`` and ``track_id`` columns:
    saved in another format, say) is renamed to ``all_fish.unreadable.csv``, not
    overwritten.

    Returns:
        ``(added columns, number of filled rows that found no fish, a warning or "")``.
    """
    path = out / "all_fish.csv"
    if not path.is_file():
        return [], 0, ""
    old_cols, old = read_edited_csv(path)
    if not {"output", "track_id"} <= set(old_cols):  # not a table this can read: keep it
        kept = _free_name(out / "all_fish.unreadable.csv")
        os.replace(path, kept)
        return [], 0, (f"{path} could not be read as the batch's fish table (edited into "
                       f"another format?); kept as {kept}, and a new one written")
    extra = [c for c in old_cols if c and c not in cols]
    if not extra:
        return [], 0, ""

    def key(output, r):
        return output, str(r.get("track_id", "")).strip(), str(r.get("first_frame", "")).strip()

    hand = {key(r.get("output", ""), r): r for r in old if any(r.get(c) for c in extra)}
    for name, rows in per_input.items():
        for r in rows:
            got = hand.pop(key(name, r), None)
            for c in extra:
                r[c] = got.get(c, "") if got else ""
    if hand:
        lost = out / "all_fish.unmatched.csv"
        new = not lost.is_file()
        with open(lost, "a", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=old_cols, restval="", extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerows(hand.values())
    return extra, len(hand), ""


def _free_name(path: Path) -> Path:
    """``path``, or ``path`` with ``.2``, ``.3``, ... before its suffix if it exists."""
    k = 1
    p = path
    while p.exists():
        k += 1
        p = path.with_name(f"{path.stem}.{k}{path.suffix}")
    return p
