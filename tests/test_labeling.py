"""Connected components in JAX against scipy.ndimage.label; small-region removal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from fishseg.labeling import label_components, remove_small


def same_up_to_renumbering(a: np.ndarray, b: np.ndarray) -> bool:
    """True if a and b are the same partition with the same background."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


@settings(max_examples=40, deadline=None)
@given(mask=arrays(bool, (3, 12, 16)), connectivity=st.sampled_from([1, 2]))
def test_equals_scipy_label(mask, connectivity):
    labels = np.asarray(label_components(mask, connectivity))
    structure = ndimage.generate_binary_structure(2, connectivity)
    for frame, lab in zip(mask, labels):
        ref, _ = ndimage.label(frame, structure)
        assert same_up_to_renumbering(lab, ref)
        np.testing.assert_array_equal(lab, ref)  # same raster numbering, in fact


@pytest.mark.parametrize("connectivity", [1, 2])
def test_serpentine_and_blobs(connectivity):
    """A long serpentine (many rounds) and random blobs, in one batch."""
    h = w = 40
    snake = np.zeros((h, w), bool)
    snake[::2] = True
    for i in range(1, h, 2):
        snake[i, -1 if (i // 2) % 2 == 0 else 0] = True
    rng = np.random.default_rng(0)
    blobs = ndimage.gaussian_filter(rng.random((h, w)), 2) > 0.5
    mask = np.stack([snake, blobs])
    labels, rounds = label_components(mask, connectivity, return_rounds=True)
    structure = ndimage.generate_binary_structure(2, connectivity)
    for frame, lab in zip(mask, np.asarray(labels)):
        np.testing.assert_array_equal(lab, ndimage.label(frame, structure)[0])
    assert rounds.shape == (2,)


def test_remove_small_renumbers():
    labels = np.array([[1, 1, 0, 2], [3, 3, 3, 0], [0, 4, 4, 4]], np.int32)
    out = np.asarray(remove_small(labels, 3))
    np.testing.assert_array_equal(out, [[0, 0, 0, 0], [1, 1, 1, 0], [0, 2, 2, 2]])
    np.testing.assert_array_equal(np.asarray(remove_small(labels, 0)), labels)


@settings(max_examples=20, deadline=None)
@given(labels=arrays(np.int32, (2, 8, 9), elements=st.integers(0, 6)), min_area=st.integers(0, 12))
def test_remove_small_matches_numpy(labels, min_area):
    out = np.asarray(remove_small(labels, min_area))
    for frame, res in zip(labels, out):
        area = np.bincount(frame.ravel(), minlength=7)
        kept = [lab for lab in range(1, 7) if area[lab] >= min_area]
        expect = np.zeros_like(frame)
        for new, old in enumerate(kept, start=1):
            expect[frame == old] = new
        np.testing.assert_array_equal(res, expect)


def test_errors():
    with pytest.raises(ValueError, match="connectivity"):
        label_components(np.ones((4, 4), bool), 3)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(B, H, W\)"):
        label_components(np.ones(4, bool))
    with pytest.raises(ValueError, match="relabel them sequentially"):
        remove_small(np.full((2, 2), 99, np.int32), 1)
    with pytest.raises(ValueError, match="min_area"):
        remove_small(np.zeros((2, 2), np.int32), -1)
