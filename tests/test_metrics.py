"""Metrics on hand-made label images whose scores are known."""

from __future__ import annotations

import numpy as np
import pytest

from fishseg.metrics import (
    count_instances,
    count_scores,
    edge_scores,
    foreground_scores,
    instance_scores,
    iou_matrix,
)


def two_fish() -> np.ndarray:
    lab = np.zeros((40, 60), np.int32)
    lab[5:15, 5:25] = 1      # 200 px
    lab[20:35, 30:50] = 2    # 300 px
    return lab


def at(scores, thr=0.5):
    return scores[thr]


def test_perfect_match_with_other_ids():
    t = two_fish()
    p = np.where(t == 1, 7, np.where(t == 2, 3, 0))
    s = at(instance_scores(t, p))
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)
    assert s["ap"] == 1.0 and s["pq"] == 1.0 and s["mean_matched_iou"] == 1.0
    assert foreground_scores(t, p)["iou"] == 1.0


def test_one_split():
    t = two_fish()
    p = t.copy()
    p[20:35, 40:50] = 3      # fish 2 split into two halves of 150 px (IoU 0.5 each)
    s = instance_scores(t, p, thresholds=(0.5, 0.51))
    assert (s[0.5]["tp"], s[0.5]["fp"], s[0.5]["fn"]) == (2, 1, 0)
    assert s[0.5]["ap"] == pytest.approx(2 / 3)
    assert (s[0.51]["tp"], s[0.51]["fp"], s[0.51]["fn"]) == (1, 2, 1)
    assert foreground_scores(t, p)["iou"] == 1.0  # pixels are all right


def test_one_merge():
    t = two_fish()
    p = (t > 0).astype(np.int32)   # both fish one instance: IoU with fish 2 is 300/500
    s = at(instance_scores(t, p))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1)
    assert s["mean_matched_iou"] == pytest.approx(0.6)
    assert s["pq"] == pytest.approx(0.6 / 1.5)


def test_missed_and_false_fish():
    t = two_fish()
    missed = np.where(t == 1, 1, 0)
    s = at(instance_scores(t, missed))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1) and s["recall"] == 0.5 and s["precision"] == 1.0
    false = t.copy()
    false[0:4, 50:60] = 9
    s = at(instance_scores(t, false))
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 0) and s["precision"] == pytest.approx(2 / 3)


def test_empty_frames():
    z = np.zeros((3, 10, 10), np.int32)
    s = at(instance_scores(z, z))
    assert (s["tp"], s["fp"], s["fn"]) == (0, 0, 0) and s["ap"] == 1.0
    assert foreground_scores(z, z)["iou"] == 1.0
    t = np.zeros_like(z)
    t[1, 2:5, 2:5] = 1
    s = at(instance_scores(t, z))
    assert (s["fn"], s["ap"]) == (1, 0.0)
    assert count_instances(t).tolist() == [0, 1, 0]


def test_iou_matrix_values():
    t = two_fish()
    p = np.zeros_like(t)
    p[5:15, 5:15] = 4       # half of fish 1
    iou, tids, pids = iou_matrix(t, p)
    assert tids.tolist() == [1, 2] and pids.tolist() == [4]
    assert iou[0, 0] == pytest.approx(0.5) and iou[1, 0] == 0.0


def greedy_ap50(t, p):
    """Reference: at IoU > 0.5 a match is unique, so counting pairs with IoU > 0.5 is exact."""
    tp = fp = fn = 0
    for tb, pb in zip(t, p):
        tids = [i for i in np.unique(tb) if i]
        pids = [j for j in np.unique(pb) if j]
        m = 0
        for i in tids:
            for j in pids:
                a, b = tb == i, pb == j
                if (a & b).sum() / (a | b).sum() > 0.5:
                    m += 1
        tp, fp, fn = tp + m, fp + len(pids) - m, fn + len(tids) - m
    return tp / max(tp + fp + fn, 1)


def random_labels(rng, n, shape=(32, 32)):
    out = np.zeros((n, *shape), np.int32)
    for b in range(n):
        for k in range(1, rng.integers(1, 7)):
            y, x = rng.integers(0, shape[0] - 6), rng.integers(0, shape[1] - 6)
            h, w = rng.integers(3, 12, size=2)
            out[b, y:y + h, x:x + w] = k
    return out


def test_ap50_agrees_with_reference_on_random_labels():
    rng = np.random.default_rng(0)
    for _ in range(10):
        t = random_labels(rng, 3)
        p = t.copy()
        p = np.roll(p, rng.integers(-2, 3, size=2), axis=(1, 2))  # shifted prediction
        p[rng.random(p.shape) < 0.02] = 0
        extra = random_labels(rng, 3)
        p = np.where((p == 0) & (extra > 0), extra + 50, p)
        # the reference counts IoU > 0.5 strictly; ours counts IoU >= threshold
        thr = 0.5 + 1e-9
        ours = instance_scores(t, p, thresholds=(thr,))[thr]
        assert ours["ap"] == pytest.approx(greedy_ap50(t, p))


def test_edge_tolerance():
    t = np.zeros((20, 20), bool)
    t[:, 10] = True
    p = np.zeros_like(t)
    p[:, 12] = True                       # 2 px off
    assert edge_scores(t, p, tolerance=2)["f1"] == 1.0
    assert edge_scores(t, p, tolerance=1)["f1"] == 0.0
    p2 = p.copy()
    p2[:, 18] = True                      # a false edge far away: precision halves
    s = edge_scores(t, p2, tolerance=2)
    assert s["precision"] == 0.5 and s["recall"] == 1.0


def test_count_scores():
    s = count_scores([10, 20, 10], [9, 22, 10])
    assert s["mae"] == pytest.approx(1.0)
    assert s["relative_error"] == pytest.approx(3 / 40)
    assert s["total_relative_error"] == pytest.approx(1 / 40)



def test_count_scores_against_a_range_of_true_counts():
    # frame 0: 2 sure + 1 don't-care fish; counting 2 or 3 is right, 1 or 4 is one off
    s = count_scores([2, 2, 2, 2], [1, 2, 3, 4], true_max=[3, 3, 3, 3])
    assert s["mae"] == pytest.approx(0.5)
    assert s["relative_error"] == pytest.approx(2 / 8)
    assert s["total_relative_error"] == 0.0      # 10 lies in [8, 12]
    assert count_scores([2], [5], true_max=[3])["total_relative_error"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="below"):
        count_scores([3], [3], true_max=[2])
    with pytest.raises(ValueError, match="shape"):
        count_scores([3, 1], [3, 1], true_max=[3])


def test_true_count_range_leaves_slivers_as_dont_care():
    from fishseg.metrics import min_visible_pixels, true_count_range

    lab = np.zeros((2, 360, 640), np.int32)
    lab[0, 10:40, 10:40] = 1          # 900 px: a fish
    lab[0, 100:103, 0:5] = 2          # 15 px at the frame edge: don't care
    lab[1, 200:208, 300:308] = 3      # 64 px: just above 58 px for 640x360
    assert min_visible_pixels(360, 640) == 58 and min_visible_pixels(720, 1280) == 230
    sure, possible = true_count_range(lab)
    assert sure.tolist() == [1, 1] and possible.tolist() == [2, 1]
    sure, _ = true_count_range(lab, min_visible=100)
    assert sure.tolist() == [1, 0]
    assert count_instances(lab, min_area=16).tolist() == [1, 1]

def test_boundary_pixels_of_two_touching_squares():
    from fishseg.metrics import boundary_pixels
    lab = np.zeros((8, 10), np.int32)
    lab[2:6, 1:5] = 1
    lab[2:6, 5:9] = 2
    b = boundary_pixels(lab)
    assert b[3, 4] and b[3, 5]            # both sides of the shared edge
    assert b[2, 2] and b[5, 7]            # outlines against the belt
    assert not b[3, 2] and not b[0, 0]    # interior and belt
    assert b.sum() == 2 * (4 * 4 - 2 * 2)  # two 4x4 squares' outlines


def test_map_scores_perfect_and_shifted():
    from fishseg.metrics import map_scores
    from fishseg.targets import target_maps
    lab = np.zeros((40, 60), np.int32)
    lab[5:30, 5:28] = 1
    lab[5:30, 28:55] = 2
    fg, edge = target_maps(lab, 2)
    s = map_scores(fg, edge, lab)
    assert s["fg_iou"] == 1.0 and s["edge_f1"] > 0.95
    far = np.roll(edge, (8, 8), axis=(0, 1))  # edges 8 px off: only crossings match
    assert map_scores(fg, far, lab)["edge_f1"] < 0.2


def test_map_scores_thinning_choices():
    from fishseg.metrics import map_scores
    from fishseg.targets import target_maps
    lab = np.zeros((40, 60), np.int32)
    lab[5:30, 5:28] = 1
    lab[5:30, 28:55] = 2
    fg, edge = target_maps(lab, 2)
    assert map_scores(fg, edge, lab, thinning="skeleton")["edge_f1"] > 0.95
    with pytest.raises(ValueError, match="thinning"):
        map_scores(fg, edge, lab, thinning="canny")
