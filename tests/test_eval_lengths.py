"""``scripts/eval_lengths.py``: fish.csv's lengths against the generated fish's true ones."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fishseg.io.images import write_labels

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import eval_lengths

    return eval_lengths


def test_tracks_are_paired_one_to_one_with_the_fish_they_cover(script, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "f").mkdir()
    for i in range(2):
        t = np.zeros((20, 40), np.uint16)
        t[2:8, 2:20] = 1      # fish 1
        t[10:18, 5:35] = 2    # fish 2
        f = np.zeros_like(t)
        f[2:8, 2:20] = 5      # track 5: fish 1
        f[10:18, 5:30] = 7    # track 7: most of fish 2
        f[10:18, 30:35] = 8   # track 8: a piece of fish 2 (fish 2's best track is 7)
        f[0:2, 30:40] = 9     # track 9: covers no fish
        write_labels(tmp_path / "t" / f"frame_{i:06d}.png", t)
        write_labels(tmp_path / "f" / f"frame_{i:06d}.png", f)
    assert script.pair_tracks(tmp_path / "t", tmp_path / "f") == {5: 1, 7: 2}
    with open(tmp_path / "fish.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["track_id", "partial", "length_px", "midline_px"])
        w.writerows([[5, 0, 18, 19], [7, 0, 25, 30], [8, 0, 5, 5], [9, 1, 10, ""]])
    got = script.length_errors(tmp_path / "fish.csv", {5: 1, 7: 2}, {1: 20.0, 2: 30.0})
    assert got == [(0.9, 0.95), (25 / 30, 1.0)]


def test_perfect_maps_measure_generated_fish():
    r = subprocess.run([sys.executable, str(SCRIPTS / "eval_lengths.py"), "--oracle",
                        "--videos", "16:5", "--size", "320x192"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (last,) = [ln for ln in r.stdout.splitlines() if ln.startswith("| **all**")]
    cells = [c.strip() for c in last.strip("|").split("|")]
    assert int(cells[1]) >= 3
    assert 0.9 < float(cells[4]) < 1.1  # midline_px / true, median
