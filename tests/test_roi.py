"""Regions of interest: parsing, clear errors, borders, and their effect on the pipeline."""

import numpy as np
import pytest

from fishseg.io.images import write_image, write_labels
from fishseg.measure import measure_instances
from fishseg.roi import RoiError, load_roi, roi_border


def test_rectangle_and_processed_size():
    m = load_roi("10,5,30,15", 40, 20)
    assert m.shape == (20, 40) and m.sum() == 20 * 10
    assert m[5:15, 10:30].all() and not m[:5].any() and not m[:, 30:].any()
    half = load_roi("10,6,30,16", 40, 20, size=(20, 10))
    assert half.shape == (10, 20) and np.array_equal(np.argwhere(half).min(0), [3, 5])
    assert load_roi(None, 40, 20) is None


@pytest.mark.parametrize("spec, match", [
    ("1,2,3", "four integers"),
    ("a,b,c,d", "four integers"),
    ("0,0,41,10", "inside the 40x20"),
    ("10,5,10,15", "x0 < x1"),
    ("no_such_mask.png", "no such mask image file"),
])
def test_bad_rectangles_and_paths_name_the_problem(spec, match):
    with pytest.raises(RoiError, match=match):
        load_roi(spec, 40, 20)


def test_mask_files(tmp_path):
    mask = np.zeros((20, 40), np.uint8)
    mask[2:18, 4:36] = 255
    write_labels(tmp_path / "belt.png", mask)
    got = load_roi(tmp_path / "belt.png", 40, 20)
    assert np.array_equal(got, mask > 0)
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[2:18, 4:36, 1] = 200
    write_image(tmp_path / "belt_rgb.png", rgb)
    assert np.array_equal(load_roi(str(tmp_path / "belt_rgb.png"), 40, 20), mask > 0)
    with pytest.raises(RoiError, match=r"belt.png.*40x20.*frames are 80x20"):
        load_roi(tmp_path / "belt.png", 80, 20)
    write_labels(tmp_path / "empty.png", np.zeros((20, 40), np.uint8))
    with pytest.raises(RoiError, match="empty.png.*empty"):
        load_roi(tmp_path / "empty.png", 40, 20)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(RoiError, match="text.png.*not a readable image"):
        load_roi(tmp_path / "text.png", 40, 20)


def test_border_is_the_inner_ring_but_not_the_frame_edge():
    roi = load_roi("0,5,30,20", 40, 20)      # touches the frame's left and bottom edges
    b = roi_border(roi, 2)
    assert b[5:7, :28].all() and b[5:, 28:30].all()   # top and right sides, 2 px wide
    assert not b[7:, :28].any()                        # inside, and along the frame edges
    assert not (b & ~roi).any() and not roi_border(roi, 0).any()


def test_fish_cut_by_the_roi_border_touches_the_edge():
    roi = load_roi("0,0,30,20", 60, 20)
    lab = np.zeros((20, 60), np.int32)
    lab[5:10, 10:20] = 1    # well inside
    lab[5:10, 24:30] = 2    # reaches the ROI's right side (cut there)
    m = measure_instances(lab, border=roi_border(roi, 1))
    assert m.touches_edge.tolist() == [False, True]
    assert measure_instances(lab).touches_edge.tolist() == [False, False]
    with pytest.raises(ValueError, match="border mask"):
        measure_instances(lab, border=np.zeros((5, 5), bool))
