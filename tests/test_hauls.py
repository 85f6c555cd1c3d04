"""Fish by haul (fishseg.io.hauls, `fishseg report --hauls`)."""

import csv
import json

import pytest

from fishseg.cli import main
from fishseg.io.hauls import read_hauls

COLS = ["track_id", "first_frame", "last_frame", "frames_seen", "partial", "counted",
        "area_px", "length_px", "width_px", "first_datetime"]


def make_output(out, name, fish):
    d = out / name
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({"input": f"{name}.mp4"}))
    with open(d / "fish.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLS)
        for tid, when, length, partial in fish:
            w.writerow([tid, 0, 9, 10, int(partial), 1, 100, length, 5, when])


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fish_are_counted_by_haul(tmp_path, capsys):
    out = tmp_path / "out"
    make_output(out, "cam1", [(1, "2026-11-24T05:10:00", 200, False),
                              (2, "2026-11-24T05:59:59", 300, True),
                              (3, "2026-11-24T06:30:00", 100, False)])
    make_output(out, "cam2", [(1, "2026-11-24T07:15:00", 150, False),
                              (2, "2026-11-24T09:00:00", 120, False)])   # in no haul
    with open(out / "inputs.csv", "w", newline="") as f:
        csv.writer(f).writerows([["output", "input", "status"], ["cam1", "a", "done"],
                                 ["cam2", "b", "done"]])
    log = tmp_path / "hauls.csv"
    log.write_text("haul,start,end\nH1,2026-11-24T05:00,2026-11-24T06:00\n"
                   "H2,2026-11-24T06:20,2026-11-24T07:30\n")
    assert main(["-q", "report", str(out), "--hauls", str(log)]) == 0
    assert "fish per haul" in capsys.readouterr().out
    rows = read(out / "all_fish.csv")
    assert [r["haul"] for r in rows] == ["H1", "H1", "H2", "H2", ""]
    table = {r["haul"]: r for r in read(out / "hauls.csv")}
    assert (table["H1"]["fish"], table["H1"]["partial"], table["H1"]["median_length_px"]) == \
        ("2", "1", "250")
    assert table["H2"]["fish"] == "2" and table["(no haul)"]["fish"] == "1"
    page = (out / "index.html").read_text()
    assert "hauls.csv" in page and "<h2>Hauls</h2>" in page and "<td>H2</td>" in page
    # the log is kept: a later rewrite (a segment run, or report without --hauls) applies it
    (out / "all_fish.csv").unlink()
    assert main(["-q", "report", str(out)]) == 0
    assert [r["haul"] for r in read(out / "all_fish.csv")] == ["H1", "H1", "H2", "H2", ""]


@pytest.mark.parametrize("text, says", [
    ("haul,begin,end\nH1,2026-11-24T05:00,2026-11-24T06:00\n", "needs the columns"),
    ("haul,start,end\nH1,2026-11-24T05:00,yesterday\n", "row 2: not a date and time"),
    ("haul,start,end\nH1,2026-11-24T06:00,2026-11-24T05:00\n", "ends"),
    ("haul,start,end\nH1,2026-11-24T05:00,2026-11-24T06:00\n"
     "H2,2026-11-24T05:30,2026-11-24T07:00\n", "overlap"),
    ("haul,start,end\nH1,2026-11-24T05:00,2026-11-24T06:00\n"
     "H1,2026-11-24T07:00,2026-11-24T08:00\n", "listed twice"),
    ("haul,start,end\nH1,2026-11-24T05:00Z,2026-11-24T06:00\n", "some times have a zone"),
])
def test_bad_haul_logs_are_named(tmp_path, text, says):
    log = tmp_path / "h.csv"
    log.write_text(text)
    with pytest.raises(ValueError, match=says) as e:
        read_hauls(log)
    assert str(log) in str(e.value)


def test_fish_times_with_a_zone_and_hauls_without_are_not_mixed(tmp_path, capsys):
    out = tmp_path / "out"
    make_output(out, "cam1", [(1, "2026-11-24T05:10:00+00:00", 200, False)])
    with open(out / "inputs.csv", "w", newline="") as f:
        csv.writer(f).writerows([["output", "input", "status"], ["cam1", "a", "done"]])
    log = tmp_path / "hauls.csv"
    log.write_text("haul,start,end\nH1,2026-11-24T05:00,2026-11-24T06:00\n")
    assert main(["-q", "report", str(out), "--hauls", str(log)]) == 1
    assert "hauls not assigned" in capsys.readouterr().out
    assert not (out / "hauls.csv").exists()


def test_length_frequency_table_by_haul_and_species(tmp_path):
    from fishseg.io.batch_fish import write_batch_fish

    out = tmp_path / "out"
    make_output(out, "cam1", [(1, "2026-11-24T05:10:00", 203, False),
                              (2, "2026-11-24T05:20:00", 207, True),
                              (3, "2026-11-24T06:30:00", 251, False)])
    with open(out / "inputs.csv", "w", newline="") as f:
        csv.writer(f).writerows([["output", "input", "status"], ["cam1", "a", "done"]])
    write_batch_fish(out)
    assert read(out / "length_frequency.csv") == [       # 10-px classes, no grouping known
        {"length_class_px": "200", "class_width_px": "10", "whole": "1", "partial": "1"},
        {"length_class_px": "250", "class_width_px": "10", "whole": "1", "partial": "0"}]
    rows = read(out / "all_fish.csv")
    with open(out / "all_fish.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["species"])
        w.writeheader()
        w.writerows({**r, "species": "cod" if r["track_id"] != "2" else "dab"} for r in rows)
    log = tmp_path / "h.csv"
    log.write_text("haul,start,end\nH1,2026-11-24T05:00,2026-11-24T06:00\n"
                   "H2,2026-11-24T06:00,2026-11-24T07:00\n")
    assert main(["-q", "report", str(out), "--hauls", str(log)]) == 0
    got = [(r["haul"], r["species"], r["length_class_px"], r["whole"], r["partial"])
           for r in read(out / "length_frequency.csv")]
    assert got == [("H1", "cod", "200", "1", "0"), ("H1", "dab", "200", "0", "1"),
                   ("H2", "cod", "250", "1", "0")]
    by_species = {(r["haul"], r["species"]): r["fish"] for r in read(out / "hauls_by_species.csv")}
    assert by_species == {("H1", "cod"): "1", ("H1", "dab"): "1", ("H2", "cod"): "1"}


def test_a_haul_log_saved_by_a_spreadsheet_is_read(tmp_path):
    log = tmp_path / "h.csv"
    log.write_bytes("\ufeffHaul;Start;End\nHöl 1;2026-11-24 05:00;2026-11-24 06:00\n"
                    .encode("utf-8"))
    (h,) = read_hauls(log)
    assert h.name == "Höl 1" and (h.end - h.start).total_seconds() == 3600
    log.write_bytes("haul\tstart\tend\nHøl 2\t2026-11-24T07:00\t2026-11-24T08:00\n"
                    .encode("cp1252"))
    assert [h.name for h in read_hauls(log)] == ["Høl 2"]
