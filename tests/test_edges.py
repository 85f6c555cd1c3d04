"""Non-maximum suppression of edge maps: ridges of known position give one-pixel lines on them."""

import numpy as np
import pytest

from fishseg.edges import edge_nms, thin_edges


def _ridge(dist: np.ndarray, width: float = 1.5) -> np.ndarray:
    return np.exp(-dist ** 2 / (2 * width ** 2)).astype(np.float32)


def test_straight_ridges_give_the_centre_line():
    yy, xx = np.mgrid[0:48, 0:64].astype(np.float32)
    vertical = thin_edges(_ridge(xx - 20.0))
    assert np.array_equal(np.nonzero(vertical.any(0))[0], [20])
    assert vertical[:, 20].all()
    horizontal = thin_edges(_ridge(yy - 30.0))
    assert np.array_equal(np.nonzero(horizontal.any(1))[0], [30])
    assert horizontal[30].all()


def test_circle_ridge_is_thin_closed_and_on_the_circle():
    yy, xx = np.mgrid[0:80, 0:80].astype(np.float32)
    r = np.hypot(yy - 40.0, xx - 40.0)
    lines = thin_edges(_ridge(r - 20.0))
    assert np.abs(r[lines] - 20.0).max() <= 1.0
    # every direction around the circle has a kept pixel: the line is not broken
    angles = np.degrees(np.arctan2(yy[lines] - 40.0, xx[lines] - 40.0)) % 360
    assert np.unique((angles // 5).astype(int)).size == 72
    # thin: about one pixel per unit of length (a 2-3 px band would give 2-3x)
    assert lines.sum() <= 1.5 * 2 * np.pi * 20


def test_flat_band_gives_one_line():
    e = np.zeros((40, 60), np.float32)
    e[:, 28:32] = 1.0  # the 4 px band target_maps draws around a boundary at x = 29.5
    lines = thin_edges(e)
    cols = np.nonzero(lines[5:-5].any(0))[0]
    assert cols.size == 1 and cols[0] in (29, 30)


def test_threshold_and_batch():
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    strong, weak = _ridge(xx - 10.0), 0.4 * _ridge(xx - 10.0)
    assert thin_edges(strong).any() and not thin_edges(weak).any()
    assert thin_edges(weak, threshold=0.3)[:, 10].all()
    batch = np.stack([strong, weak])
    assert np.array_equal(edge_nms(batch), np.stack([edge_nms(strong), edge_nms(weak)]))
    with pytest.raises(ValueError, match="shape"):
        edge_nms(np.zeros(5))
