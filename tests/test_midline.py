"""Length along the midline (``fishseg.midline``) on shapes whose length is known."""

import cv2
import numpy as np
import pytest

from fishseg.measure import measure_instances
from fishseg.midline import midline_length
from fishseg.synth.fish import make_fish


def ellipse(a, b, angle, size=420):
    m = np.zeros((size, size), np.uint8)
    cv2.ellipse(m, ((size / 2, size / 2), (2 * a, 2 * b), angle), 1, -1)
    return m.astype(bool)


def bent_band(radius, degrees, thickness, size=600):
    """A band of ``thickness`` along an arc of ``radius`` over ``degrees``, with round
    ends: its length along the middle, end to end, is radius * angle + thickness."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    c = size / 2
    r = np.hypot(yy - c, xx - c)
    th = np.degrees(np.arctan2(yy - c, xx - c))
    m = (np.abs(r - radius) <= thickness / 2) & (np.abs(th) <= degrees / 2)
    for s in (-1, 1):
        ey = c + radius * np.sin(np.radians(s * degrees / 2))
        ex = c + radius * np.cos(np.radians(s * degrees / 2))
        m |= np.hypot(yy - ey, xx - ex) <= thickness / 2
    return m


def extent(mask):
    return float(measure_instances(mask.astype(np.int32)).length[0])


@pytest.mark.parametrize("angle", [0, 10, 22.5, 45, 67, 90, 135])
def test_a_straight_object_measures_its_major_axis(angle):
    m = ellipse(100, 18, angle)
    assert midline_length(m) == pytest.approx(201, rel=0.01)
    assert abs(midline_length(m) - extent(m)) <= 1.0


@pytest.mark.parametrize("radius, degrees, thickness, rel", [
    (200, 30, 30, 0.01), (150, 60, 20, 0.01), (100, 180, 24, 0.06), (80, 270, 20, 0.10)])
def test_a_bent_band_measures_along_its_middle(radius, degrees, thickness, rel):
    m = bent_band(radius, degrees, thickness)
    true = radius * np.radians(degrees) + thickness
    assert midline_length(m) == pytest.approx(true, rel=rel)
    assert midline_length(m) <= true * 1.01  # the end parts are measured straight
    if degrees >= 180:  # where the chord fails: half a circle reads 2/pi of its length
        assert extent(m) < 0.7 * true < midline_length(m)


def test_synthetic_fish_measure_their_centre_curve():
    """Fish drawn by the synthetic renderer, which knows the length of each fish's
    centre curve (snout to tail tip): forked tails, fins and slight bends."""
    rng = np.random.default_rng(5)
    err = []
    for i in range(60):
        sprite = make_fish(rng, float(rng.uniform(60, 300)), flat=i % 4 == 0)
        err.append(midline_length(sprite.mask.astype(bool)) / sprite.length - 1)
    err = np.array(err)
    assert abs(err.mean()) < 0.03 and np.abs(err).max() < 0.10, err


def test_degenerate_masks():
    assert midline_length(np.zeros((10, 10), bool)) == 0
    one = np.zeros((10, 10), bool)
    one[4, 5] = True
    assert midline_length(one) == 1
    blob = np.zeros((20, 20), bool)
    blob[5:8, 4:10] = True  # too short for a skeleton path: its extent
    assert midline_length(blob) == extent(blob) == 6
    two = np.zeros((60, 200), bool)
    two[20:30, 10:150] = True
    two[20:30, 160:190] = True  # a second, smaller piece is left out
    assert midline_length(two) == pytest.approx(140, abs=1)
