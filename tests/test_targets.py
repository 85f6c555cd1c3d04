"""Tests for fishseg.targets: edge bands and foreground maps from hand-made labels."""

from __future__ import annotations

import numpy as np
import pytest

from fishseg.targets import edge_map, target_maps

H, W = 32, 40


def box(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """(H, W) bool, True on rows r0..r1-1 and columns c0..c1-1."""
    m = np.zeros((H, W), bool)
    m[max(r0, 0) : r1, max(c0, 0) : c1] = True
    return m


def touching_squares() -> np.ndarray:
    """Two 10x10 squares, ids 1 and 2, sharing the edge between columns 19 and 20."""
    lab = np.zeros((H, W), np.int32)
    lab[10:20, 10:20] = 1
    lab[10:20, 20:30] = 2
    return lab


def brute_edge(lab: np.ndarray, width: int) -> np.ndarray:
    """The definition, pixel by pixel: another label within Chebyshev distance ``width``
    (inside the frame) and at least one of the two is fish."""
    out = np.zeros(lab.shape, bool)
    for y in range(lab.shape[0]):
        for x in range(lab.shape[1]):
            win = lab[max(y - width, 0) : y + width + 1, max(x - width, 0) : x + width + 1]
            other = win[win != lab[y, x]]
            out[y, x] = other.size > 0 and (lab[y, x] > 0 or (other > 0).any())
    return out


@pytest.mark.parametrize("width", [1, 2, 3])
def test_touching_squares_band(width):
    lab = touching_squares()
    w = width
    # Around the pair: w pixels outside and w inside the outline of their union
    # (rows 10..19, cols 10..29); between them: w pixels on each side of the seam.
    expected = (box(10 - w, 20 + w, 10 - w, 30 + w) & ~box(10 + w, 20 - w, 10 + w, 30 - w)) | box(
        10, 20, 20 - w, 20 + w
    )
    edge = edge_map(lab, width)
    assert edge.dtype == bool and edge.shape == (H, W)
    assert np.array_equal(edge, expected)
    assert np.array_equal(edge, brute_edge(lab, width))


def test_band_thickness_between_and_around():
    edge = edge_map(touching_squares(), 2)
    mid_row = edge[15]
    # along row 15: outside band 8..9, inside 10..11, seam 18..21, inside 28..29, outside 30..31
    assert np.flatnonzero(mid_row).tolist() == [8, 9, 10, 11, 18, 19, 20, 21, 28, 29, 30, 31]
    assert not edge[12:18, 12:18].any() and not edge[12:18, 22:28].any()  # cores
    assert not edge[:8].any() and not edge[22:].any()


def test_no_edge_at_frame_border():
    lab = np.zeros((H, W), np.int32)
    lab[:10, :10] = 4  # a fish cut by the top-left corner of the frame
    lab[:, 30:] = 5  # a fish filling the right side, touching three borders
    edge = edge_map(lab, 2)
    assert not edge[:8, :8].any()  # along the frame border: no band
    assert edge[:12, 8:12].all() and edge[8:12, :12].all()  # the real boundary with belt
    assert not edge[:, 32:].any() and edge[:, 28:32].all()
    assert np.array_equal(edge, brute_edge(lab, 2))
    assert not edge_map(np.full((H, W), 3, np.int32), 2).any()  # one fish filling the frame
    assert not edge_map(np.zeros((H, W), np.int32), 2).any()  # no fish


def test_fg_exact_and_dtypes():
    lab = touching_squares()
    lab[0, 0] = 65535
    fg, edge = target_maps(lab, edge_width=2)
    assert fg.dtype == np.float32 and edge.dtype == np.float32
    assert np.array_equal(fg, (lab > 0).astype(np.float32))
    assert set(np.unique(edge)) <= {0.0, 1.0}
    assert np.array_equal(edge, edge_map(lab, 2).astype(np.float32))


def test_batch_equals_per_frame():
    a = touching_squares()
    b = np.roll(a, (5, -7), axis=(0, 1)) * 3
    c = np.zeros((H, W), np.int32)
    d = np.zeros((H, W), np.int32)
    d[:, :20] = 1  # a frame that differs strongly from its neighbours in the batch
    batch = np.stack([a, b, c, d]).astype(np.uint16)
    fg, edge = target_maps(batch, 2)
    assert fg.shape == edge.shape == (4, H, W)
    for i, frame in enumerate(batch):
        f1, e1 = target_maps(frame, 2)
        assert np.array_equal(fg[i], f1) and np.array_equal(edge[i], e1)
    assert not edge[2].any()  # nothing leaks from neighbouring frames


def test_rejects_float_labels_and_bad_width():
    with pytest.raises(TypeError, match="integer"):
        edge_map(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="width"):
        edge_map(np.zeros((4, 4), np.int32), 0)


def brute_contact(lab: np.ndarray, width: int) -> np.ndarray:
    """The definition, pixel by pixel: two different fish ids within Chebyshev distance
    ``width`` (inside the frame)."""
    out = np.zeros(lab.shape, bool)
    for y in range(lab.shape[0]):
        for x in range(lab.shape[1]):
            win = lab[max(y - width, 0):y + width + 1, max(x - width, 0):x + width + 1]
            out[y, x] = len(np.unique(win[win > 0])) >= 2
    return out


@pytest.mark.parametrize("width", [1, 2, 3])
def test_contact_map_is_its_definition(width):
    from fishseg.targets import contact_map

    rng = np.random.default_rng(width)
    lab = touching_squares()
    lab[25:30, 2:8] = 3                      # a fish alone on the belt: no contact
    lab[0:6, 30:40] = 7                      # two fish with a 1-px gap of belt
    lab[7:12, 30:40] = 4
    lab[rng.random(lab.shape) < 0.01] = 5    # specks
    np.testing.assert_array_equal(contact_map(lab, width), brute_contact(lab, width))
    batch = np.stack([lab, np.zeros_like(lab), touching_squares()])
    assert np.array_equal(contact_map(batch, width)[2], contact_map(touching_squares(), width))
    assert not contact_map(batch, width)[1].any()


def test_contact_map_leaves_a_narrow_neck_alone():
    from fishseg.targets import contact_map, target_stack

    # a body, a 3-px neck and a tail fan: one fish, all edge at the neck, no contact
    lab = np.zeros((H, W), np.int32)
    lab[8:24, 4:22] = 1
    lab[15:18, 22:28] = 1
    lab[10:22, 28:34] = 1
    edge = edge_map(lab, 2)
    assert edge[15:18, 22:28].all() and not contact_map(lab, 2).any()
    lab[10:22, 34:38] = 2                     # another fish touching the tail
    c = contact_map(lab, 2)
    assert c[10:22, 32:36].all() and not c[:, :30].any()
    t = target_stack(lab, 2, contact=True)
    assert t.shape == (H, W, 3) and t.dtype == np.uint8
    assert np.array_equal(t[..., 2], c) and np.array_equal(t[..., 1], edge_map(lab, 2))
    assert target_stack(lab, 2).shape == (H, W, 2)
    with pytest.raises(ValueError, match="contact width"):
        contact_map(lab, 0)
