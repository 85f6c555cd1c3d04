"""OUT/all_fish.csv and OUT/all_lengths.png gather the fish of every complete input."""

from __future__ import annotations

import csv
import json

import cv2

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
    csv_path, png, n, continued = write_batch_fish(tmp_path)
    assert (n, continued) == (3, 0)
    rows = read(csv_path)
    assert [(r["output"], r["track_id"], r["length_px"]) for r in rows] == [
        ("a", "1", "120"), ("a", "2", "80"), ("b", "1", "300")]
    assert rows[0]["length_cm"] == "12.0" and rows[2]["length_cm"] == ""  # b uncalibrated
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
