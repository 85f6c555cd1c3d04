"""Perspective calibration: fish on an obliquely seen belt measured in centimetres."""

from __future__ import annotations

import numpy as np
import pytest

from fishseg.calibration import BeltPlane, CalibrationError
from fishseg.measure import measure_instances

# a belt 100 cm across and 200 cm along, seen from its near end: the near edge spans
# 1080 px at the bottom of a 1280x720 frame, the far one 480 px at the top
POINTS = [[100, 700, 0, 0], [1180, 700, 100, 0], [880, 100, 100, 200], [400, 100, 0, 200]]


def render(plane, fish, shape=(720, 1280)):
    """Label image of rectangles lying on the belt: (cx, cy, length, width, angle) in cm."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    X, Y = plane.to_plane(xs.ravel(), ys.ravel())
    lab = np.zeros(shape[0] * shape[1], np.int32)
    for k, (cx, cy, length, width, ang) in enumerate(fish, start=1):
        c, s = np.cos(ang), np.sin(ang)
        u, v = (X - cx) * c + (Y - cy) * s, (Y - cy) * c - (X - cx) * s
        lab[(np.abs(u) <= length / 2) & (np.abs(v) <= width / 2)] = k
    return lab.reshape(shape)


def test_the_points_are_mapped_exactly():
    p = BeltPlane(POINTS)
    X, Y = p.to_plane(np.array([100, 1180, 880, 400]), np.array([700, 700, 100, 100]))
    assert np.allclose(np.stack([X, Y], 1), np.array(POINTS)[:, 2:], atol=1e-6)
    assert p.rms_cm < 1e-6
    # a point between: the belt's centre line is half way across
    X, _ = p.to_plane(np.array([640.0]), np.array([400.0]))
    assert X[0] == pytest.approx(50.0, abs=1e-6)


def test_fish_measure_the_same_near_and_far():
    plane = BeltPlane(POINTS)
    truth = [(50, 25, 30, 6, 0.5), (50, 170, 30, 6, 0.5), (25, 100, 40, 10, -1.2)]
    lab = render(plane, truth)
    m = measure_instances(lab, plane=plane)
    for k, (_, _, length, width, _) in enumerate(truth):
        assert m.length_cm[k] == pytest.approx(length, rel=0.04)
        assert m.width_cm[k] == pytest.approx(width, rel=0.12)
        assert m.area_cm2[k] == pytest.approx(length * width, rel=0.04)
    # in pixels the far fish is far smaller: no single cm-per-pixel scale fits both
    assert m.length[1] < 0.6 * m.length[0]
    # frames resized by 0.5: the scaled calibration measures the same fish the same
    small = lab[::2, ::2]
    ms = measure_instances(small, plane=plane.scaled(0.5))
    assert ms.length_cm[0] == pytest.approx(30, rel=0.06)
    assert ms.area_cm2[1] == pytest.approx(180, rel=0.08)


def test_more_points_least_squares_and_residual():
    p4 = BeltPlane(POINTS)
    X, Y = p4.to_plane(np.array([640.0, 300.0]), np.array([400.0, 650.0]))
    extra = [[640, 400, X[0] + 0.5, Y[0]], [300, 650, X[1], Y[1] - 0.5]]  # 0.5 cm off
    p6 = BeltPlane(POINTS + extra)
    assert 0.0 < p6.rms_cm < 0.5


@pytest.mark.parametrize("points, message", [
    (POINTS[:3], "need 4 or more points"),
    ([[0, 0, 0, 0], [10, 0, 10, 0], [20, 0, 20, 0], [5, 9, 5, 9]], "on one line"),
    ([[0, 0, 0, 0], [10, 0, 10, 0], [10, 10, 10, 10], [0, 10]], "need 4 or more points"),
    ([[0, 0, 0, 0], [10, 0, 10, 0], [10, 10, 10, 10], [0, 10, 0, 10], [5, 5, float("nan"), 1]],
     "need 4 or more points"),
])
def test_bad_points_are_clear_errors(points, message):
    with pytest.raises(CalibrationError, match=message):
        BeltPlane(points)


def test_a_horizon_inside_the_frame_is_refused():
    BeltPlane(POINTS).check_frame(1280, 720)  # the belt fills the frame
    # a belt that narrows fast: its vanishing line crosses the top of a 1280x720 frame
    steep = BeltPlane([[100, 700, 0, 0], [1180, 700, 100, 0], [660, 300, 100, 200],
                       [620, 300, 0, 200]])
    with pytest.raises(CalibrationError, match="horizon inside the 1280x720 frame"):
        steep.check_frame(1280, 720)


def test_check_frame_of_a_scaled_calibration():
    BeltPlane(POINTS).scaled(0.5).check_frame(640, 360)
