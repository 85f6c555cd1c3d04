"""OUT/all_fish.csv and OUT/all_lengths.png gather the fish of every complete input."""

from __future__ import annotations

import csv
import json

import cv2
import pytest

from fishseg.io.batch_fish import write_batch_fish

COLS = ["track_id", "first_frame", "last_frame", "frames_seen", "partial", "counted",
        "area_px", "length_px", "width_px"]


def make_input(out, name, rows, cm=None, complete=True):
    d = out / name
    d.mkdir(parents=True)
    cols = COLS + (["area_cm2", "length_cm", "width_cm"] if cm else [])
    with open(d / "fish.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for tid, length, partial in rows:
            r = [tid, 0, 9, 10, int(partial), 1, 100, length, 5]
            w.writerow(r + ([100 * cm * cm, length * cm, 5 * cm] if cm else []))
    if complete:
        (d / "summary.json").write_text(json.dumps({"frames": 10}))


def inputs_csv(out, rows):
    with open(out / "inputs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["output", "input", "status"])
        w.writerows(rows)


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fish_of_complete_inputs_only(tmp_path):
    assert write_batch_fish(tmp_path) is None  # no inputs.csv: nothing to gather
    make_input(tmp_path, "a", [(1, 120, False), (2, 80, True)], cm=0.1)
    make_input(tmp_path, "b", [(1, 300, False)])
    make_input(tmp_path, "c", [(1, 50, False)], complete=False)  # failed half-way
    inputs_csv(tmp_path, [("a", "a.mp4", "done"), ("b", "b.mp4", "skipped"),
                          ("c", "c.mp4", "failed")])
    csv_path, png, n, continued = write_batch_fish(tmp_path)[:4]
    assert (n, continued) == (3, 0)
    rows = read(csv_path)
    assert [(r["output"], r["track_id"], r["length_px"]) for r in rows] == [
        ("a", "1", "120"), ("a", "2", "80"), ("b", "1", "300")]
    assert rows[0]["length_cm"] == "12.0" and rows[2]["length_cm"] == ""  # b uncalibrated
    assert [r["picture"] for r in rows] == ["", "", ""]  # segmented without pictures
    img = cv2.imread(str(png))
    assert img is not None and img.std() > 10
    # the failed input completed on a rerun: it joins the table
    (tmp_path / "c" / "summary.json").write_text("{}")
    inputs_csv(tmp_path, [("a", "a.mp4", "done"), ("b", "b.mp4", "skipped"),
                          ("c", "c.mp4", "done")])
    assert [r["output"] for r in read(write_batch_fish(tmp_path)[0])] == ["a", "a", "b", "c"]


def test_lengths_in_cm_only_when_every_input_is_calibrated(tmp_path, monkeypatch):
    import fishseg.io.batch_fish as bf

    seen = []
    monkeypatch.setattr(bf, "plot_lengths", lambda fish, path, *, cm, **kw: seen.append(cm))
    make_input(tmp_path, "a", [(1, 120, False)], cm=0.1)
    make_input(tmp_path, "b", [(1, 300, False)], cm=0.2)
    inputs_csv(tmp_path, [("a", "a.mp4", "done"), ("b", "b.mp4", "done")])
    write_batch_fish(tmp_path)
    make_input(tmp_path, "c", [(1, 50, False)])
    inputs_csv(tmp_path, [("a", "a.mp4", "done"), ("b", "b.mp4", "done"), ("c", "c.mp4", "done")])
    write_batch_fish(tmp_path)
    assert seen == [True, False]


def test_the_batch_over_clock_time(tmp_path):
    from datetime import datetime

    from fishseg.io.charts import fish_over_clock

    for name, start, firsts in (("ch01_20261124_053000", 0, [0, 2]),
                                ("ch01_20261124_053001", 1, [0, 1])):
        d = tmp_path / name
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({"input": f"in/{name}.mp4"}))
        with open(d / "counts.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["frame", "time_s", "datetime", "fish_in_view"])
            w.writerows((i, i * 0.5, f"2026-11-24T05:30:0{start}.{5 * i}00", 1 + i % 2)
                        for i in range(2))
        with open(d / "fish.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLS + ["first_datetime"])
            for k, fr in enumerate(firsts, 1):
                w.writerow([k, fr, 9, 10, 0, 1, 100, 50, 5,
                            f"2026-11-24T05:30:0{start}.{fr}00"])
    inputs_csv(tmp_path, [("ch01_20261124_053000", "a.mp4", "done"),
                          ("ch01_20261124_053001", "b.mp4", "done")])
    write_batch_fish(tmp_path)
    img = cv2.imread(str(tmp_path / "all_timeline.png"))
    assert img is not None and img.std() > 10
    rows = [{**r, "continues": "x:1" if (r["output"], r["track_id"]) == (
        "ch01_20261124_053001", "1") else ""} for r in read(tmp_path / "all_fish.csv")]
    times, running = fish_over_clock(rows)       # a continued fish is not counted again
    assert times == [datetime(2026, 11, 24, 5, 30, 0), datetime(2026, 11, 24, 5, 30, 0, 200000),
                     datetime(2026, 11, 24, 5, 30, 1, 100000)]
    assert running.tolist() == [1, 2, 3]


def test_no_timeline_without_clock_times(tmp_path):
    make_input(tmp_path, "a", [(1, 120, False)])
    inputs_csv(tmp_path, [("a", "a.mp4", "done")])
    write_batch_fish(tmp_path)
    assert (tmp_path / "all_fish.csv").is_file() and not (tmp_path / "all_timeline.png").exists()


def test_long_inputs_are_thinned_on_the_timeline():
    from fishseg.io.batch_fish import TIMELINE_POINTS, _thinned

    counts = [{"datetime": f"t{i}", "fish_in_view": str(i % 4)} for i in range(90000)]
    pts = _thinned(counts)
    assert len(pts) <= TIMELINE_POINTS and pts[0] == ("t0", 1.5)   # mean of 0, 1, 2, 3, ...
    assert sum(n for _, n in pts) == pytest.approx(1.5 * len(pts))
    assert _thinned(counts[:3]) == [("t0", 0.0), ("t1", 1.0), ("t2", 2.0)]


def test_columns_added_by_hand_are_kept_and_give_lengths_per_species(tmp_path, capsys):
    from fishseg.cli import main
    from fishseg.io.charts import length_frequency

    make_input(tmp_path, "a", [(1, 120, False), (2, 80, True), (3, 95, False)])
    make_input(tmp_path, "b", [(1, 300, False)])
    inputs_csv(tmp_path, [("a", "a.mp4", "done"), ("b", "b.mp4", "done")])
    first = write_batch_fish(tmp_path)
    assert first.kept == () and first.by_group is None
    # an observer adds species and notes in a spreadsheet that saves with ';' and a BOM
    rows = read(tmp_path / "all_fish.csv")
    species = {("a", "1"): "cod", ("a", "2"): "cod", ("a", "3"): "plaice", ("b", "1"): ""}
    cols = list(rows[0]) + ["species", "notes"]
    with open(tmp_path / "all_fish.csv", "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=cols, delimiter=";")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "species": species[(r["output"], r["track_id"])],
                        "notes": "tail torn" if r["track_id"] == "3" else ""})
    assert main(["-q", "report", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "columns added by hand, kept: species, notes" in printed
    again = read(tmp_path / "all_fish.csv")
    assert {(r["output"], r["track_id"]): r["species"] for r in again} == species
    assert [r["notes"] for r in again] == ["", "", "tail torn", ""]
    png = tmp_path / "all_lengths_by_species.png"
    assert png.is_file() and cv2.imread(str(png)).std() > 10
    assert "all_lengths_by_species.png" in (tmp_path / "index.html").read_text()
    # one input segmented again: its fish 3 now starts elsewhere, so its note has no fish
    d = tmp_path / "a"
    text = (d / "fish.csv").read_text().splitlines()
    text[3] = text[3].replace("3,0,9", "3,4,9")
    (d / "fish.csv").write_text("\n".join(text) + "\n")
    b = write_batch_fish(tmp_path)
    assert b.unmatched == 1
    again = read(tmp_path / "all_fish.csv")
    assert [r["species"] for r in again] == ["cod", "cod", "", ""]
    lost = read(tmp_path / "all_fish.unmatched.csv")
    assert [(r["output"], r["track_id"], r["species"]) for r in lost] == [("a", "3", "plaice")]
    # per-group classes are the batch's classes: the groups add up to the whole
    fish = [{"length_px": v, "partial": False} for v in (12, 55, 57, 130)]
    edges, whole, _, _ = length_frequency(fish, cm=False)
    parts = [length_frequency(fish[:2], cm=False, edges=edges)[1],
             length_frequency(fish[2:], cm=False, edges=edges)[1]]
    assert (parts[0] + parts[1]).tolist() == whole.tolist()


def test_report_needs_an_output_folder(tmp_path, capsys):
    from fishseg.cli import main

    assert main(["report", str(tmp_path)]) == 2
    assert "no inputs.csv" in capsys.readouterr().err


def test_a_table_saved_in_another_locale_or_format_is_not_lost(tmp_path, capsys):
    from fishseg.cli import main

    make_input(tmp_path, "a", [(1, 120, False), (2, 80, False)])
    inputs_csv(tmp_path, [("a", "a.mp4", "done")])
    write_batch_fish(tmp_path)
    rows = read(tmp_path / "all_fish.csv")
    # saved as Windows-1252 by a spreadsheet: a species with an accent survives
    with open(tmp_path / "all_fish.csv", "w", newline="", encoding="cp1252") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["species"])
        w.writeheader()
        w.writerows({**r, "species": "églefin" if r["track_id"] == "1" else ""} for r in rows)
    write_batch_fish(tmp_path)
    assert [r["species"] for r in read(tmp_path / "all_fish.csv")] == ["églefin", ""]
    # overwritten with something else (a spreadsheet's own format, say): kept aside
    (tmp_path / "all_fish.csv").write_bytes(b"PK\x03\x04 not a csv table")
    assert main(["-q", "report", str(tmp_path)]) == 1          # done, with a warning
    assert "could not be read as the batch's fish table" in capsys.readouterr().out
    assert (tmp_path / "all_fish.unreadable.csv").read_bytes() == b"PK\x03\x04 not a csv table"
    assert [r["track_id"] for r in read(tmp_path / "all_fish.csv")] == ["1", "2"]


def test_records_named_not_a_fish_are_left_out_of_every_count(tmp_path, capsys):
    from fishseg.cli import main

    make_input(tmp_path, "a", [(1, 120, False), (2, 80, False), (3, 95, False)])
    inputs_csv(tmp_path, [("a", "a.mp4", "done")])
    assert write_batch_fish(tmp_path).fish == 3
    rows = read(tmp_path / "all_fish.csv")
    with open(tmp_path / "all_fish.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["species"])
        w.writeheader()
        w.writerows({**r, "species": {"1": "cod", "2": "Not a  fish", "3": ""}[r["track_id"]]}
                    for r in rows)
    assert main(["-q", "report", str(tmp_path)]) == 0
    assert "fish of all inputs: 2 (1 named 'not a fish' left out)" in capsys.readouterr().out
    lf = read(tmp_path / "length_frequency.csv")
    assert sum(int(r["whole"]) + int(r["partial"]) for r in lf) == 2
    assert {r["species"] for r in lf} == {"cod", ""}
    assert len(read(tmp_path / "all_fish.csv")) == 3           # the record itself stays
