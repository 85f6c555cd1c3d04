"""evaluate() with fake methods whose scores are known: the oracle, and one that drops a fish."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fishseg.evaluate import Method, evaluate, make_method, score, summary_table
from fishseg.io.datasets import Sample, write_folder

FRAMES = 3


def dataset() -> list[Sample]:
    """3 frames of 2 rectangular fish each (200 and 300 px) on a noisy belt."""
    out = []
    rng = np.random.default_rng(0)
    for i in range(FRAMES):
        lab = np.zeros((40, 60), np.int32)
        lab[5:15, 5 + i:25 + i] = 1
        lab[20:35, 30:50] = 2
        img = rng.integers(60, 90, (40, 60, 3)).astype(np.uint8)
        img[lab > 0] = 200
        out.append(Sample(name=f"frame{i}", image=img, labels=lab))
    return out


class Oracle:
    """Returns the true labels (looked up by image), optionally with fish 1 of frame 0 dropped."""

    def __init__(self, samples: list[Sample], drop: bool = False):
        self.samples, self.drop = samples, drop
        self.name = "dropper" if drop else "oracle"

    def segment(self, images: np.ndarray) -> np.ndarray:
        out = []
        for im in images:
            i = next(i for i, s in enumerate(self.samples) if np.array_equal(s.image, im))
            lab = self.samples[i].labels.copy()
            if self.drop and i == 0:
                lab[lab == 1] = 0
            out.append(lab)
        return np.stack(out)


def test_oracle_scores_perfectly_and_writes_report(tmp_path, capsys):
    samples = dataset()
    jpath = tmp_path / "out" / "result.json"
    r = evaluate(samples, method=Oracle(samples), report_dir=tmp_path / "report",
                 json_path=jpath, progress=True, batch_size=2)
    s = r["summary"]
    assert s["ap50"] == s["ap75"] == s["ap_mean"] == s["pq"] == 1.0
    assert s["fg_iou"] == s["edge_f1"] == 1.0 and s["count_mae"] == 0.0
    assert r["frames"] == FRAMES and r["counts"]["true_total"] == 2 * FRAMES
    assert all(row["ap50"] == 1.0 for row in r["per_frame"])
    assert [row["name"] for row in r["per_frame"]] == ["frame0", "frame1", "frame2"]
    on_disk = json.loads(jpath.read_text())
    assert on_disk["summary"] == pytest.approx(s) and set(on_disk["instances"]) >= {"0.5", "0.75", "0.9"}
    for name in ("ap_vs_iou.png", "counts.png", "worst_frames.png", "metrics.json", "summary.md"):
        f = tmp_path / "report" / name
        assert f.is_file() and f.stat().st_size > 0, name
    assert (tmp_path / "report" / "ap_vs_iou.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "| oracle" in printed and "AP@0.5" in printed  # the table on the terminal


def test_dropping_one_fish_moves_the_numbers_as_expected(tmp_path):
    samples = dataset()
    r = evaluate(samples, method=Oracle(samples, drop=True), progress=False)
    n = 2 * FRAMES
    at5 = r["instances"]["0.5"]
    assert (at5["tp"], at5["fp"], at5["fn"]) == (n - 1, 0, 1)
    assert r["summary"]["ap50"] == pytest.approx((n - 1) / n)
    assert r["summary"]["pq"] == pytest.approx((n - 1) / (n - 0.5))
    assert r["summary"]["count_mae"] == pytest.approx(1 / FRAMES)
    assert r["summary"]["count_relative_error"] == pytest.approx(1 / n)
    assert r["foreground"]["precision"] == 1.0
    assert r["foreground"]["recall"] == pytest.approx(1 - 200 / (500 * FRAMES))
    assert r["edge"]["precision"] == 1.0 and r["edge"]["recall"] < 1.0
    assert [row["ap50"] for row in r["per_frame"]] == [0.5, 1.0, 1.0]
    assert r["per_frame"][0]["pred_count"] == 1


def test_evaluate_reads_a_dataset_folder_and_runs_classical(tmp_path):
    write_folder(dataset(), tmp_path / "data")
    r = evaluate(tmp_path / "data", method="classical", progress=False)
    assert r["method"] == "classical" and r["frames"] == FRAMES and r["data"] == str(tmp_path / "data")
    assert r["summary"]["ap50"] == 1.0  # well-separated bright rectangles
    assert r["timing"]["seconds_per_frame"] > 0


def test_frames_of_different_sizes_are_scored_together():
    a = np.zeros((20, 30), np.int32)
    a[2:10, 25:30] = 1  # touches the right border: padding must not invent an edge
    b = np.zeros((25, 20), np.int32)
    b[5:15, 5:15] = 3
    r = score([a, b], [a, b])
    assert r["instances"]["0.5"]["ap"] == 1.0 and r["edge"]["f1"] == 1.0
    assert [f["true_count"] for f in r["per_frame"]] == [1, 1]


def test_method_registry():
    assert make_method("classical").name == "classical"
    samples = dataset()
    assert isinstance(Oracle(samples), Method) and make_method(Oracle(samples)).name == "oracle"
    with pytest.raises(ValueError, match="unknown method 'nope'.*classical"):
        make_method("nope")
    with pytest.raises(ValueError, match="takes no model"):
        make_method("classical", model="x.npz")
    with pytest.raises(ValueError, match="needs a model"):
        make_method("pixel-forest")


def test_bad_method_output_is_reported():
    class Wrong:
        name = "wrong"

        def segment(self, images):
            return np.zeros(images.shape[:2], np.int32)

    with pytest.raises(ValueError, match="'wrong' returned"):
        evaluate(dataset(), method=Wrong(), progress=False)


def test_summary_table_has_one_row_per_method():
    samples = dataset()
    results = {"a": evaluate(samples, method=Oracle(samples), progress=False),
               "b": evaluate(samples, method=Oracle(samples, drop=True), progress=False)}
    lines = summary_table(results).splitlines()
    assert len(lines) == 4 and lines[2].startswith("| a ") and "AP@0.5" in lines[0]
