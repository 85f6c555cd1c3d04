"""The pictures of an input's results: the numbers behind them, and real PNG files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fishseg.io.charts import distinct_over_time, length_frequency, write_charts


def fish(length, partial=False, counted=True, first=0, cm=None):
    r = {"length_px": float(length), "partial": partial, "counted": counted,
         "first_frame": first}
    if cm is not None:
        r["length_cm"] = length * cm
    return r


def test_length_frequency_in_pixels_whole_and_partial_apart():
    rows = [fish(12), fish(19.9), fish(27), fish(31, partial=True), fish(55, counted=False)]
    edges, whole, part, unit = length_frequency(rows, cm=False)
    assert unit == "px"
    assert edges.tolist() == [10.0, 20.0, 30.0, 40.0]  # 10-px classes, uncounted 55 left out
    assert whole.tolist() == [2, 1, 0] and part.tolist() == [0, 0, 1]


def test_length_frequency_in_cm_and_wide_ranges():
    rows = [fish(100, cm=0.1), fish(104, cm=0.1), fish(251, cm=0.1, partial=True)]
    edges, whole, part, unit = length_frequency(rows, cm=True)  # 10.0, 10.4, 25.1 cm
    assert unit == "cm" and edges[0] == 10.0 and edges[-1] == 26.0 and len(edges) == 17
    assert whole[0] == 2 and whole.sum() == 2 and part[-1] == 1 and part.sum() == 1
    # more than 40 classes: the class width doubles until they fit
    edges, whole, _, _ = length_frequency([fish(5), fish(1000)], cm=False)
    assert len(edges) - 1 <= 40 and np.diff(edges)[0] == 40.0 and whole.sum() == 2
    edges, whole, part, _ = length_frequency([fish(5, counted=False)], cm=False)
    assert whole.size == part.size == 0


def test_distinct_over_time():
    rows = [fish(10, first=0), fish(10, first=4), fish(10, first=4), fish(10, first=9),
            fish(10, first=2, counted=False)]
    assert distinct_over_time(rows, [0, 2, 4, 6, 8, 10]).tolist() == [1, 1, 3, 3, 3, 4]


def test_write_charts_writes_pngs(tmp_path):
    counts = [(i, i / 10, n) for i, n in enumerate([0, 1, 2, 2, 1])]
    rows = [fish(40, first=1), fish(60, first=2, partial=True)]
    paths = write_charts(tmp_path, name="v.mp4", counts=counts, tracks_in_view=[0, 1, 2, 2, 1],
                         fish=rows, cm=False)
    assert [p.name for p in paths] == ["counts.png", "lengths.png"]
    for p in paths:
        img = cv2.imread(str(p))
        assert img is not None and img.shape[0] > 200 and img.shape[1] > 400
        assert img.std() > 10  # something is drawn
    # no fish at all still gives both pictures
    empty = write_charts(tmp_path / "e", name="e", counts=counts, tracks_in_view=[0] * 5,
                         fish=[], cm=True)
    assert all(cv2.imread(str(p)) is not None for p in empty)
    assert sorted(q.name for q in tmp_path.iterdir() if q.is_file()) == ["counts.png",
                                                                        "lengths.png"]


@pytest.mark.parametrize("frames", [1, 2])
def test_the_export_draws_charts_for_more_than_one_frame(tmp_path, frames):
    from fishseg.io.export import ExportWriter
    from fishseg.tracking import Tracker

    lab = np.zeros((40, 60), np.int32)
    lab[10:20, 5:40] = 1
    tracker = Tracker()
    with ExportWriter(tmp_path, input_name="in", fps=5, width=60, height=40) as w:
        for i in range(frames):
            w.add_frame(i, tracker.update(lab, i))
        w.finish(tracker.tracks)
    drawn = sorted(p.name for p in tmp_path.glob("*.png"))
    assert drawn == ([] if frames == 1 else ["counts.png", "lengths.png"])
