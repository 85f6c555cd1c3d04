"""Seeded watershed in JAX against a Dijkstra cost reference and skimage's labels."""

from __future__ import annotations

import doctest
import heapq

import numpy as np
import pytest
from scipy import ndimage
from skimage.segmentation import watershed

import fishseg.watershed as ws
from fishseg.watershed import flood_cost, seeded_watershed

SHAPE = (24, 28)  # one shape: one compilation per (connectivity, method)
_OFFS = {1: [(-1, 0), (1, 0), (0, -1), (0, 1)]}
_OFFS[2] = _OFFS[1] + [(-1, -1), (-1, 1), (1, -1), (1, 1)]


def dijkstra_cost(elev, seeds, mask, connectivity):
    """Minimax path cost from any seed pixel, inside the mask (heapq); inf where unreached."""
    h, w = elev.shape
    cost = np.full(elev.shape, np.inf)
    heap = []
    for y, x in zip(*np.nonzero(seeds & mask)):
        cost[y, x] = elev[y, x]
        heap.append((elev[y, x], y, x))
    heapq.heapify(heap)
    while heap:
        c, y, x = heapq.heappop(heap)
        if c > cost[y, x]:
            continue
        for dy, dx in _OFFS[connectivity]:
            yy, xx = y + dy, x + dx
            if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and max(c, elev[yy, xx]) < cost[yy, xx]:
                cost[yy, xx] = max(c, elev[yy, xx])
                heapq.heappush(heap, (cost[yy, xx], yy, xx))
    return cost


def random_inputs(seed, n, plateaus):
    """n frames of (elevation, markers, mask): small integer levels if ``plateaus``."""
    rng = np.random.default_rng(seed)
    shape = (n, *SHAPE)
    elev = (rng.integers(0, 4, shape) if plateaus else rng.random(shape)).astype(np.float32)
    mask = rng.random(shape) < 0.85
    markers = np.zeros(shape, np.int32)
    for i in range(n):
        k = rng.integers(1, 6)
        markers[i, rng.integers(0, SHAPE[0], k), rng.integers(0, SHAPE[1], k)] = np.arange(1, k + 1)
    return elev, markers, mask


@pytest.mark.parametrize("method", ["sweep", "scan"])
@pytest.mark.parametrize("connectivity", [1, 2])
@pytest.mark.parametrize("plateaus", [True, False])
def test_cost_equals_dijkstra(method, connectivity, plateaus):
    elev, markers, mask = random_inputs(1 + connectivity, 8, plateaus)
    cost = np.asarray(flood_cost(elev, markers, mask, connectivity, method=method))
    for i in range(len(elev)):
        ref = dijkstra_cost(elev[i], markers[i] > 0, mask[i], connectivity)
        np.testing.assert_array_equal(cost[i], ref.astype(np.float32))


@pytest.mark.parametrize("method", ["sweep", "scan"])
@pytest.mark.parametrize("connectivity", [1, 2])
def test_labels_equal_skimage_without_ties(method, connectivity):
    # Distinct random elevations: no two floods ever reach a pixel at one cost and order.
    elev, markers, mask = random_inputs(10 + connectivity, 8, plateaus=False)
    labels = np.asarray(seeded_watershed(elev, markers, mask, connectivity, method=method))
    for i in range(len(elev)):
        ref = watershed(elev[i], markers[i], mask=mask[i], connectivity=connectivity)
        np.testing.assert_array_equal(labels[i], ref)


@pytest.mark.parametrize("connectivity", [1, 2])
def test_labels_on_plateaus(connectivity):
    """With ties: the unique-cheapest marker wins, and the result is a valid watershed."""
    elev, markers, mask = random_inputs(20 + connectivity, 8, plateaus=True)
    labels = np.asarray(seeded_watershed(elev, markers, mask, connectivity))
    structure = ndimage.generate_binary_structure(2, connectivity)
    agree = []
    for i in range(len(elev)):
        ref = watershed(elev[i], markers[i], mask=mask[i], connectivity=connectivity)
        agree.append((labels[i] == ref).mean())
        per_marker = np.stack([dijkstra_cost(elev[i], markers[i] == m, mask[i], connectivity)
                               for m in range(1, markers[i].max() + 1)])
        best = per_marker.min(axis=0)
        unique = np.isfinite(best) & ((per_marker == best).sum(axis=0) == 1)
        np.testing.assert_array_equal(labels[i][unique], per_marker.argmin(axis=0)[unique] + 1)
        assert np.all(labels[i][~mask[i]] == 0)
        assert np.array_equal(labels[i] > 0, mask[i] & np.isfinite(best))
        for m in np.unique(markers[i][mask[i]]):
            if m == 0:
                continue
            region = labels[i] == m
            assert np.all(region[(markers[i] == m) & mask[i]]), "region must hold its marker"
            assert ndimage.label(region, structure)[1] == 1, "region must be connected"
    assert np.mean(agree) > 0.97


def test_single_frame_and_batch_agree():
    elev, markers, mask = random_inputs(10 + 1, 8, plateaus=False)  # shape compiled above
    batch = np.asarray(seeded_watershed(elev, markers, mask))
    for i in range(2):
        np.testing.assert_array_equal(np.asarray(seeded_watershed(elev[i], markers[i], mask[i])), batch[i])


def test_stats_and_unmarked_component():
    elev = np.zeros(SHAPE, np.float32)
    mask = np.zeros(SHAPE, bool)
    mask[2:10, 2:20] = mask[14:20, 2:20] = True
    markers = np.zeros(SHAPE, np.int32)
    markers[5, 3] = 7
    labels, stats = seeded_watershed(elev, markers, mask, return_stats=True)
    labels = np.asarray(labels)
    assert np.all(labels[2:10, 2:20] == 7) and np.all(labels[14:20] == 0)  # no marker: 0
    assert stats.shape == (1, 3) and int(stats[0, 0]) >= 16  # 16 steps from x=3 to x=19


def test_errors_name_the_problem():
    e = np.zeros(SHAPE, np.float32)
    m = np.zeros(SHAPE, np.int32)
    with pytest.raises(ValueError, match="connectivity"):
        seeded_watershed(e, m, connectivity=3)
    with pytest.raises(ValueError, match="markers must be an integer array"):
        seeded_watershed(e, m[:-1])
    with pytest.raises(ValueError, match="mask must have"):
        seeded_watershed(e, m, np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="NaN"):
        seeded_watershed(np.full(SHAPE, np.nan, np.float32), m)
    with pytest.raises(ValueError, match="method"):
        seeded_watershed(e, m, method="bfs")


def test_doctest():
    assert doctest.testmod(ws).failed == 0
