"""separate(): touching ellipses split like skimage's reference backend."""

from __future__ import annotations

import dataclasses
import doctest

import numpy as np
import pytest
from scipy import ndimage

import fishseg.separate as sep
from fishseg.config import SeparateConfig
from fishseg.separate import resolve_backend, separate
from fishseg.targets import edge_map


def touching_ellipses(rng, h=160, w=224, n=5):
    """Truth labels and blurred, noisy (fg, edge) maps of a clump of touching ellipses."""
    labels = np.zeros((h, w), np.int32)
    yy, xx = np.indices((h, w), dtype=np.float32)
    cy, cx = h / 2, w / 2
    for i in range(1, n + 1):
        length, width = rng.uniform(50, 80), rng.uniform(18, 26)
        ang = rng.uniform(0, 2 * np.pi)
        y0, x0 = cy + 0.3 * length * np.sin(ang) * (i > 1), cx + 0.45 * length * np.cos(ang) * (i > 1)
        t = rng.uniform(0, np.pi)
        u = (xx - x0) * np.cos(t) + (yy - y0) * np.sin(t)
        v = -(xx - x0) * np.sin(t) + (yy - y0) * np.cos(t)
        labels[(2 * u / length) ** 2 + (2 * v / width) ** 2 < 1] = i
    fg = ndimage.gaussian_filter((labels > 0).astype(np.float32), 1.5)
    edge = ndimage.gaussian_filter(edge_map(labels, 2).astype(np.float32), 1.5) * 1.6
    fg += rng.normal(0, 0.05, fg.shape).astype(np.float32)
    edge += rng.normal(0, 0.05, fg.shape).astype(np.float32)
    return labels, np.clip(fg, 0, 1), np.clip(edge, 0, 1)


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """ARI of two label images (0 counts as one more cluster)."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia.ravel(), ib.ravel()), 1)
    comb = lambda x: (x * (x - 1) / 2).sum()  # noqa: E731
    index, sa, sb, total = comb(table), comb(table.sum(1)), comb(table.sum(0)), comb(np.array(a.size))
    expected = sa * sb / total
    return float((index - expected) / ((sa + sb) / 2 - expected))


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(7)
    truth, fg, edge = zip(*(touching_ellipses(rng) for _ in range(4)))
    return np.stack(truth), np.stack(fg), np.stack(edge)


@pytest.mark.parametrize("connectivity", [1, 2])
def test_jax_agrees_with_skimage(scenes, connectivity):
    truth, fg, edge = scenes
    got = np.asarray(separate(fg, edge, SeparateConfig(backend="jax", connectivity=connectivity)))
    ref = separate(fg, edge, SeparateConfig(backend="skimage", connectivity=connectivity))
    assert got.dtype == np.int32 and got.shape == fg.shape
    for i in range(len(fg)):
        assert ref[i].max() >= 3, "the clump should be split into several fish"
        for lab in range(1, ref[i].max() + 1):
            region = ref[i] == lab
            match = np.bincount(got[i][region]).argmax()
            assert match > 0 and (got[i][region] == match).mean() >= 0.999
        assert adjusted_rand_index(got[i], ref[i]) >= 0.95
        assert adjusted_rand_index(got[i], truth[i]) >= 0.8  # sanity: close to the truth


def test_regions_are_clean(scenes):
    _, fg, edge = scenes
    cfg = SeparateConfig(backend="jax", min_area=200)
    got = np.asarray(separate(fg, edge, cfg))
    for i in range(len(fg)):
        assert np.all(got[i][fg[i] <= cfg.fg_threshold] == 0)
        ids = np.unique(got[i])
        np.testing.assert_array_equal(ids, np.arange(ids.size))  # sequential 0..n
        for lab in ids[1:]:
            region = got[i] == lab
            assert region.sum() >= cfg.min_area and ndimage.label(region)[1] == 1


def test_backend_choice_and_errors(monkeypatch):
    monkeypatch.setattr(sep.jax, "default_backend", lambda: "cpu")
    assert resolve_backend("auto") == "skimage"
    monkeypatch.setattr(sep.jax, "default_backend", lambda: "gpu")
    assert resolve_backend("auto") == "jax" and resolve_backend("skimage") == "skimage"
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("opencv")
    with pytest.raises(ValueError, match="one shape"):
        separate(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="edge map holds NaN"):
        separate(np.zeros((4, 4)), np.full((4, 4), np.nan))


def test_doctest():
    assert doctest.testmod(sep).failed == 0


@pytest.mark.parametrize("backend", ["skimage", "jax"])
def test_fish_without_a_core_is_kept(backend):
    """A thin fish whose core does not survive the edge band is still one instance."""
    fg = np.zeros((40, 60), np.float32)
    fg[5:25, 5:25] = 1.0            # a big fish: has a core
    fg[30:33, 10:50] = 1.0          # a thin fish, 3 px wide: all edge, no core
    edge = np.zeros_like(fg)
    edge[5:25, 5:25][[0, 1, -2, -1], :] = 1.0
    edge[5:25, 5:25][:, [0, 1, -2, -1]] = 1.0
    edge[30:33, 10:50] = 1.0
    cfg = SeparateConfig(backend=backend, min_area=50, min_marker_area=5)
    labels = np.asarray(separate(fg, edge, cfg))
    assert labels.max() == 2
    assert len(np.unique(labels[5:25, 5:25])) == 1 and len(np.unique(labels[30:33, 10:50])) == 1
    assert labels[6, 6] != labels[31, 30] and labels[31, 30] > 0


def test_jax_maps_give_the_same_labels_as_numpy_maps():
    """Maps that are jax arrays stay on the device for the jax backend; same answer."""
    import jax.numpy as jnp

    fg = np.zeros((2, 40, 60), np.float32)
    fg[:, 5:25, 5:30] = 1.0
    fg[:, 5:25, 30:55] = 1.0
    edge = np.zeros_like(fg)
    edge[:, 5:25, 28:32] = 1.0
    cfg = SeparateConfig(backend="jax", min_area=10, min_marker_area=5)
    a = np.asarray(separate(jnp.asarray(fg), jnp.asarray(edge), cfg))
    b = np.asarray(separate(fg, edge, cfg))
    np.testing.assert_array_equal(a, b)
    assert a.max() == 2
    with pytest.raises(ValueError, match="NaN"):
        separate(jnp.asarray(fg) * jnp.nan, jnp.asarray(edge), cfg)


def test_areas_scale_with_the_frame_width():
    from fishseg.separate import frame_areas

    cfg = SeparateConfig(min_marker_area=160, min_area=240, area_width=1280)
    half = frame_areas(cfg, 640)
    assert (half.min_marker_area, half.min_area, half.area_width) == (40, 60, 0)
    assert frame_areas(cfg, 1280).min_area == 240
    assert frame_areas(SeparateConfig(min_area=240), 640).min_area == 240   # 0: as given
    assert frame_areas(SeparateConfig(min_area=1, area_width=1280), 64).min_area == 1


@pytest.mark.parametrize("backend", ["skimage", "jax"])
def test_same_fish_on_a_smaller_frame(backend):
    """A 10x10 fish on a 40-px-wide frame is the 20x20 fish of the 80-px frame the areas
    were set for (min_area 300 there, 75 here): kept on both; a 6x6 speck is not."""
    def scene(s):
        fg = np.zeros((40 * s, 40 * s), np.float32)
        fg[5 * s:15 * s, 5 * s:15 * s] = 1.0
        fg[25 * s:28 * s, 25 * s:28 * s] = 1.0
        return fg, np.zeros_like(fg)

    cfg = SeparateConfig(backend=backend, min_marker_area=20, min_area=300, area_width=80)
    for s in (1, 2):
        labels = np.asarray(separate(*scene(s), cfg))
        assert labels.max() == 1 and labels[10 * s, 10 * s] == 1, s
    plain = SeparateConfig(backend=backend, min_marker_area=20, min_area=300)
    assert np.asarray(separate(*scene(1), plain)).max() == 0   # pixels as given: lost


def overlapping_pair(faint=0.25, nick=False):
    """Two 30x40 fish side by side whose shared border is only a faint edge (``faint``),
    and a strong outline; with ``nick`` a faint line also cuts a 6-px-wide strip off the
    right fish's far end (a fin line, not a fish)."""
    fg = np.zeros((50, 100), np.float32)
    fg[10:40, 10:90] = 1.0
    edge = np.zeros_like(fg)
    edge[10:40, 10:90][[0, 1, -2, -1], :] = 1.0
    edge[10:40, 10:90][:, [0, 1, -2, -1]] = 1.0
    edge[12:38, 49:51] = faint                  # the border between the two fish
    if nick:
        edge[12:38, 80:82] = faint              # cuts off columns 82-87
    truth = np.zeros((50, 100), np.int32)
    truth[10:40, 10:50], truth[10:40, 50:90] = 1, 2
    return truth, fg, edge


@pytest.mark.parametrize("backend", ["skimage", "jax"])
def test_a_faint_border_splits_a_core_into_large_parts(backend):
    truth, fg, edge = overlapping_pair()
    cfg = SeparateConfig(backend=backend, core_edge=0.4, min_marker_area=5, min_area=20)
    assert np.asarray(separate(fg, edge, cfg)).max() == 1   # the core leaks across
    split = dataclasses.replace(cfg, split_edge=(0.2,), split_area=200)   # parts: 962 px
    labels = np.asarray(separate(fg, edge, split))
    assert labels.max() == 2 and adjusted_rand_index(labels, truth) >= 0.9
    # either part under split_area, or the border not above the threshold: no split
    assert np.asarray(separate(fg, edge, dataclasses.replace(split, split_area=1000))).max() == 1
    assert np.asarray(separate(fg, edge, dataclasses.replace(split, split_edge=(0.3,)))).max() == 1
    # a second, lower level splits what the first left whole
    two = dataclasses.replace(split, split_edge=(0.3, 0.2))
    assert np.asarray(separate(fg, edge, two)).max() == 2
    # a faint line cutting off a small strip (under split_area) does not make a fish
    truth, fg, edge = overlapping_pair(nick=True)
    labels = np.asarray(separate(fg, edge, split))
    assert labels.max() == 2 and adjusted_rand_index(labels, truth) >= 0.9


@pytest.mark.parametrize("connectivity", [1, 2])
def test_split_markers_jax_agrees_with_scipy(scenes, connectivity):
    """Marker splitting alone, JAX against the numpy reference: identical markers."""
    import jax.numpy as jnp

    _, fg, edge = scenes
    structure = ndimage.generate_binary_structure(2, connectivity)
    levels = (0.6, 0.4, 0.2)
    n_split = 0
    for f, e in zip(fg, edge):
        cores = (f > 0.5) & (e < 0.9)
        markers = ndimage.label(cores, structure)[0].astype(np.int32)
        ref = sep.split_markers(markers, e, levels, 30, structure)
        got = sep._split_frame(jnp.asarray(markers), jnp.asarray(e),
                               jnp.asarray(levels, jnp.float32), 30, connectivity)
        np.testing.assert_array_equal(np.asarray(got), ref)
        n_split += ref.max() > markers.max()
    assert n_split >= 2  # the scenes do exercise a split


def test_split_settings_are_checked_and_scaled():
    from fishseg.config import ConfigError, from_dict
    from fishseg.separate import frame_areas

    cfg = from_dict({"separate": {"split_edge": [0.3, 0.2], "split_area": 800}})
    assert cfg.separate.split_edge == (0.3, 0.2)
    with pytest.raises(ConfigError, match="split_edge.*decreasing"):
        from_dict({"separate": {"split_edge": [0.2, 0.3], "split_area": 800}})
    with pytest.raises(ConfigError, match="split_area"):
        from_dict({"separate": {"split_edge": [0.3]}})
    half = frame_areas(SeparateConfig(split_edge=(0.3,), split_area=800, area_width=1280), 640)
    assert half.split_area == 200
