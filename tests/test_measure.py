"""Measurements of drawn shapes whose size is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fishseg.measure import measure_instances


def test_rectangles_exact_and_ids_sorted():
    lab = np.zeros((60, 100), np.int32)
    lab[10:16, 20:60] = 9   # 40 x 6
    lab[30:50, 70:75] = 4   # 5 wide, 20 long (vertical)
    m = measure_instances(lab)
    assert m.ids.tolist() == [4, 9] and m.ids.dtype == np.int32
    assert m.area.tolist() == [100, 240]
    np.testing.assert_allclose(m.length, [20, 40])
    np.testing.assert_allclose(m.width, [5, 6])
    np.testing.assert_allclose(m.centroid, [[39.5, 72.0], [12.5, 39.5]])
    assert m.bbox.tolist() == [[30, 70, 50, 75], [10, 20, 16, 60]]
    np.testing.assert_allclose(np.abs(m.angle), [np.pi / 2, 0], atol=1e-9)
    assert not m.touches_edge.any() and m.length_cm is None


def test_rotated_ellipse_and_rectangle():
    lab = np.zeros((200, 200), np.int32)
    cv2.ellipse(lab, (60, 60), (40, 10), 30, 0, 360, 1, -1)
    box = cv2.boxPoints(((140, 140), (60, 12), -35))
    cv2.fillPoly(lab, [np.round(box).astype(np.int32)], 2)
    m = measure_instances(lab)
    assert m.length[0] == pytest.approx(81, abs=1.5) and m.width[0] == pytest.approx(21, abs=1.5)
    assert m.area[0] == pytest.approx(np.pi * 40.5 * 10.5, rel=0.03)  # cv2 fills the rim
    # fillPoly also fills the rim: 61 x 13 pixels, plus up to ~0.4 px off the axes
    assert m.length[1] == pytest.approx(61, abs=1.5) and m.width[1] == pytest.approx(13, abs=1.5)
    assert np.degrees(m.angle[0]) == pytest.approx(30, abs=1)


def test_bent_fish_measures_close_to_its_arc():
    """A slender fish bent along a 60 degree arc: extent ~ arc, ellipse fit far off."""
    H, W, R = 200, 300, 120
    yy, xx = np.mgrid[:H, :W]
    r = np.hypot(yy + 60, xx - 150)
    theta = np.degrees(np.arctan2(xx - 150, yy + 60))
    lab = ((np.abs(r - R) <= 4) & (np.abs(theta) <= 30)).astype(np.int32)
    arc = R * np.pi / 3
    m = measure_instances(lab)
    ellipse = 4 * np.sqrt(np.linalg.eigvalsh(np.cov(np.nonzero(lab)))[-1])
    assert abs(m.length[0] - arc) / arc < 0.04
    assert abs(m.length[0] - arc) < abs(ellipse - arc) / 3
    assert m.width[0] == pytest.approx(9 + R * (1 - np.cos(np.pi / 6)), abs=2)


def test_cm_and_edge():
    lab = np.zeros((40, 50), np.int32)
    lab[0:5, 10:30] = 1      # touches the top edge
    lab[20:25, 10:30] = 2
    lab[20:25, 47:50] = 3    # touches the right edge
    m = measure_instances(lab, cm_per_pixel=0.5)
    assert m.touches_edge.tolist() == [True, False, True]
    np.testing.assert_allclose(m.length_cm, m.length * 0.5)
    np.testing.assert_allclose(m.width_cm, m.width * 0.5)
    np.testing.assert_allclose(m.area_cm2, m.area * 0.25)
    assert measure_instances(lab, edge_margin=0).touches_edge.sum() == 0
    assert measure_instances(lab, edge_margin=4).touches_edge.tolist() == [True, False, True]


def test_empty_and_bad_input():
    m = measure_instances(np.zeros((8, 8), np.uint16))
    assert len(m) == 0 and m.centroid.shape == (0, 2) and m.bbox.shape == (0, 4)
    with pytest.raises(ValueError, match="shape"):
        measure_instances(np.zeros((2, 8, 8), np.int32))
    with pytest.raises(ValueError, match=">= 0"):
        measure_instances(-np.ones((8, 8), np.int32))
    with pytest.raises(ValueError, match="cm_per_pixel"):
        measure_instances(np.ones((8, 8), np.int32), cm_per_pixel=0.0)
