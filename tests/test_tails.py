"""Tails cut off at the caudal peduncle are joined back to their fish (fishseg.tails)."""

import numpy as np
import pytest

from fishseg.config import SeparateConfig
from fishseg.separate import separate
from fishseg.tails import adjacent_pairs, merge_tails, merge_tails_frame, region_moments

RULE = (0.3, 1.0, 0.35)


def _fish(shape=(120, 240), cy=60, cx=90, a=50, b=15):
    """A horizontal elliptic body (label 1) and a tail beyond its right end (label 2)."""
    y, x = np.indices(shape)
    lab = np.zeros(shape, np.int32)
    body = ((y - cy) / b) ** 2 + ((x - cx) / a) ** 2 <= 1
    lab[body] = 1
    tail = (np.abs(y - cy) <= 8) & (x > cx + a) & (x <= cx + a + 30)
    lab[tail & ~body] = 2
    return lab


def test_region_moments_axis_and_half_length():
    y, x = np.indices((200, 200))
    lab = np.zeros((200, 200), np.int32)
    lab[((y - 100) / 20.0) ** 2 + ((x - 100) / 60.0) ** 2 <= 1] = 1     # along columns
    lab[((y - 40) / 25.0) ** 2 + ((x - 30) / 8.0) ** 2 <= 1] = 2         # along rows
    m = region_moments(lab)
    assert np.allclose(np.abs(m["u"][1]), [0, 1], atol=1e-6)
    assert np.allclose(np.abs(m["u"][2]), [1, 0], atol=1e-6)
    assert m["h"][1] == pytest.approx(60, rel=0.03) and m["h"][2] == pytest.approx(25, rel=0.03)
    assert np.allclose(m["c"][1], [100, 100], atol=1e-6)
    # a diagonal ellipse: the axis is the diagonal
    d = ((((y - 100) + (x - 100)) / np.sqrt(2)) / 10.0) ** 2 + ((((x - 100) - (y - 100)) / np.sqrt(2)) / 50.0) ** 2 <= 1
    m = region_moments(d.astype(np.int32))
    assert abs(abs(m["u"][1] @ np.array([-1, 1]) / np.sqrt(2)) - 1) < 1e-3


def test_adjacent_pairs():
    lab = np.array([[1, 1, 0, 3],
                    [2, 2, 0, 3],
                    [0, 4, 4, 3]])
    assert adjacent_pairs(lab).tolist() == [[1, 2], [2, 4], [3, 4]]
    assert adjacent_pairs(np.zeros((4, 4), np.int32)).shape == (0, 2)


def test_tail_off_the_end_is_joined():
    lab = _fish()
    out = merge_tails_frame(lab, *RULE)
    assert out.max() == 1 and out.dtype == np.int32
    assert np.array_equal(out > 0, lab > 0)


def test_other_fish_are_kept_apart():
    lab = _fish()
    # the same small region on the side of the body: a fish lying against it
    side = np.zeros_like(lab)
    side[lab == 1] = 1
    y, x = np.indices(lab.shape)
    side[(np.abs(x - 90) <= 8) & (y > 60 + 15) & (y <= 60 + 45) & (side == 0)] = 2
    assert merge_tails_frame(side, *RULE).max() == 2
    # a "tail" that also touches a third fish is no tail
    third = lab.copy()
    third[40:80, 151:170] = 3
    assert merge_tails_frame(third, *RULE).max() == 3
    # as large as the body: two fish end to end
    assert merge_tails_frame(lab, 0.05, 1.0, 0.35).max() == 2
    # apart (not touching): nothing to join
    apart = lab.copy()
    apart[:, 141] = 0
    assert merge_tails_frame(apart, *RULE).max() == 2


def test_merge_keeps_numbering_sequential_over_frames():
    lab = _fish()
    other = np.zeros_like(lab)
    other[5:20, 5:30] = 1          # a fish alone
    other[100:115, 200:230] = 2
    both = lab.copy()
    both[both == 2] = 3
    both[5:20, 5:30] = 2           # labels 1 (body), 2 (lone fish), 3 (tail)
    out = merge_tails(np.stack([both, other]), *RULE)
    assert out.shape == (2, *lab.shape)
    assert sorted(np.unique(out[0])) == [0, 1, 2] and sorted(np.unique(out[1])) == [0, 1, 2]
    assert out[0][lab == 2].tolist() == [1] * int((lab == 2).sum())


@pytest.mark.parametrize("backend", ["skimage", "jax"])
def test_separate_joins_a_tail_cut_at_the_neck(backend):
    """Maps of one fish whose narrow neck is all edge: two regions without the rule, one
    with it, on both watershed backends."""
    lab = _fish()
    y, x = np.indices(lab.shape)
    neck = (x >= 136) & (x <= 146)
    fish = (lab > 0) & ~(neck & (np.abs(y - 60) > 4))      # a narrow peduncle
    fg = fish.astype(np.float32)
    edge = np.zeros_like(fg)
    edge[fish & neck] = 1.0
    ring = fish & ~np.pad(fish, 1)[2:, 1:-1] | fish & ~np.pad(fish, 1)[:-2, 1:-1]
    edge[ring] = 1.0
    cfg = SeparateConfig(backend=backend, min_marker_area=10, min_area=10)
    plain = np.asarray(separate(fg, edge, cfg))
    assert plain.max() == 2
    joined = separate(fg, edge, SeparateConfig(backend=backend, min_marker_area=10, min_area=10,
                                               tail_ratio=0.3))
    assert isinstance(joined, np.ndarray) and joined.max() == 1
    assert np.array_equal(joined > 0, plain > 0)
