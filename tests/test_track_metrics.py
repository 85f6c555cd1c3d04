"""Tracking scores (CLEAR MOT, IDF1) on sequences whose right answer is worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fishseg.cli import main
from fishseg.io.images import write_labels
from fishseg.track_metrics import frame_number, score_outputs, track_scores

H, W = 30, 60


def _frame(boxes):
    """Label image with ``{id: x}``: a 10x8 box per id at column x."""
    lab = np.zeros((H, W), np.int32)
    for i, x in boxes.items():
        lab[5 + 12 * (i % 2):13 + 12 * (i % 2), x:x + 10] = i
    return lab


def _truth(n=10):
    return [_frame({1: 2 + 3 * t, 2: 4 + 3 * t}) for t in range(n)]


def test_perfect_tracks_with_other_ids_score_one():
    true = _truth()
    found = [np.where(t == 1, 7, np.where(t == 2, 4, 0)) for t in true]
    s = track_scores(true, found)
    assert s["mota"] == s["idf1"] == s["idp"] == s["idr"] == 1.0
    assert s["id_switches"] == s["fragmentations"] == s["false_positives"] == s["misses"] == 0
    assert s["true_tracks"] == s["found_tracks"] == s["mostly_tracked"] == 2
    assert s["frames"] == 10 and s["true_instances"] == s["found_instances"] == 20


def test_a_broken_track_a_miss_and_a_false_fish():
    """Fish 1 found as id 5 in frames 0-4 and id 7 in 5-9 (one id switch); fish 2 as
    id 9 but missed in frame 3 (one miss, one fragmentation); a false fish (id 11) in
    frame 8. By hand: MOTA = 1 - (1 + 1 + 1) / 20 = 0.85; IDTP = 5 (1 with 5 or 7) +
    9 (2 with 9) = 14, IDF1 = 2 * 14 / (20 + 20) = 0.7."""
    true = _truth()
    found = []
    for t, lab in enumerate(true):
        f = np.zeros_like(lab)
        f[lab == 1] = 5 if t < 5 else 7
        if t != 3:
            f[lab == 2] = 9
        if t == 8:
            f[25:29, 50:58] = 11
        found.append(f)
    s = track_scores(true, found)
    assert (s["true_positives"], s["misses"], s["false_positives"]) == (19, 1, 1)
    assert s["id_switches"] == 1 and s["fragmentations"] == 1
    assert s["mota"] == pytest.approx(0.85) and s["idf1"] == pytest.approx(0.7)
    assert s["idp"] == pytest.approx(14 / 20) and s["idr"] == pytest.approx(14 / 20)
    assert s["found_tracks"] == 4 and s["mostly_tracked"] == 2 and s["mostly_lost"] == 0


def test_a_match_is_kept_while_it_qualifies():
    """At IoU 0.3 a true fish overlaps two found ones in frame 1; the one it was matched
    to before (IoU 0.4) is kept over the better fitting newcomer (0.6): no id switch, as
    CLEAR MOT counts it. Without that rule the Hungarian method would switch."""
    t0 = np.zeros((H, W), np.int32)
    t0[5:15, 10:20] = 1
    f0 = t0.copy()
    f1 = np.zeros((H, W), np.int32)
    f1[5:15, 10:14] = 1                                   # IoU 0.4 with the fish
    f1[5:15, 14:20] = 2                                   # IoU 0.6
    s = track_scores([t0, t0], [f0, f1], threshold=0.3)
    assert s["id_switches"] == 0 and s["true_positives"] == 2 and s["false_positives"] == 1
    s = track_scores([t0, t0], [np.where(f0 > 0, 2, 0), f1], threshold=0.3)
    assert s["id_switches"] == 0                          # matched to 2 before: still 2


def test_a_fish_mostly_lost():
    true = _truth()
    found = [np.where(lab == 1, 1, 0) if t < 2 else np.zeros_like(lab)
             for t, lab in enumerate(true)]
    s = track_scores(true, found)
    assert s["mostly_lost"] == 2 and s["mostly_tracked"] == 0      # 2/10 and 0/10 frames
    assert s["misses"] == 18 and s["mota"] == pytest.approx(1 - 18 / 20)


def test_bad_sequences_are_named():
    with pytest.raises(ValueError, match="differ in length"):
        track_scores(_truth(3), _truth(2))
    with pytest.raises(ValueError, match="frame 1"):
        track_scores(_truth(2), [_truth(1)[0], np.zeros((H + 1, W), np.int32)])


def test_frame_numbers_from_file_names():
    assert frame_number("frame_000012.png") == 12 and frame_number("cam2_0007.jpg") == 7
    assert frame_number("a.png") is None


def test_outputs_on_disk_every_second_frame_and_the_command(tmp_path, capsys):
    """Truth for 10 frames, an output with every second frame (--frame-step 2): the
    5 common frames are scored; the command prints and writes the same numbers."""
    truth, out = tmp_path / "truth", tmp_path / "out" / "video"
    for t, lab in enumerate(_truth()):
        write_labels(truth / f"frame_{t:06d}.png", lab)
        if t % 2 == 0:
            write_labels(out / "masks" / f"frame_{t:06d}.png", np.where(lab == 2, 3, lab))
    s = score_outputs(truth, out)
    assert s["frames"] == 5 and s["frames_only_in_truth"] == 5 and s["frames_only_found"] == 0
    assert s["idf1"] == 1.0 and s["true_instances"] == 10
    assert main(["score-tracks", "--truth", str(truth), "--found", str(out),
                 "--json", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert "MOTA 1.000  IDF1 1.000" in printed and "frames scored: 5" in printed
    assert json.loads((tmp_path / "s.json").read_text()) == s
    # a frame of another size is named; no common frame; nothing to read
    write_labels(out / "masks" / "frame_000004.png", np.zeros((H, W + 2), np.int32))
    with pytest.raises(ValueError, match="frame 4"):
        score_outputs(truth, out)
    other = tmp_path / "other"
    write_labels(other / "frame_000099.png", np.zeros((H, W), np.int32))
    with pytest.raises(ValueError, match="no frame number in common"):
        score_outputs(truth, other)
    (tmp_path / "empty").mkdir()
    assert main(["score-tracks", "--truth", str(tmp_path / "empty"), "--found", str(out)]) == 2
    assert "no label images" in capsys.readouterr().err
