"""Dense fields: padding geometry, overlap-add, normalisation, patch sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fishseg.model.fields import (
    MIN_SIDE,
    check_frame_size,
    coverage,
    frame_padding,
    maps_from_indices,
    overlap_add,
    overlap_add_conv,
    pad_frames,
    prepare,
    processing_size,
)
from fishseg.model.network import INPUT_PATCH, grid_size
from fishseg.model.patches import _dihedral, build_source, make_batch, sample_centres


def naive_overlap_add(p):
    b, gh, gw, c, t, _ = p.shape
    out = np.zeros((b, c, 4 * gh + 12, 4 * gw + 12))
    for i in range(gh):
        for j in range(gw):
            out[:, :, 4 * i:4 * i + t, 4 * j:4 * j + t] += p[:, i, j]
    return out


def test_overlap_add_equals_naive_loop():
    p = np.random.default_rng(0).random((2, 5, 7, 2, 16, 16)).astype(np.float32)
    ref = naive_overlap_add(p)
    np.testing.assert_allclose(np.asarray(overlap_add(jnp.asarray(p))), ref, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(np.asarray(overlap_add_conv(jnp.asarray(p))), ref, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("n", [40, 97, 360, 361, 362, 363, 640])
def test_padding_gives_uniform_coverage(n):
    before, after, grid = frame_padding(n)
    assert grid_size(n + before + after) == grid
    assert n + before + after == 4 * (grid - 1) + INPUT_PATCH
    np.testing.assert_array_equal(coverage(n, 37), 16.0)


def test_smallest_side_that_can_be_padded():
    """MIN_SIDE is the smallest side the reflect padding takes, and every larger one does."""
    for n in range(MIN_SIDE, 120):
        assert pad_frames(jnp.zeros((1, n, n, 1))).shape[1] == n + sum(frame_padding(n)[:2])
    with pytest.raises(ValueError):
        pad_frames(jnp.zeros((1, MIN_SIDE - 1, 64, 1)))


def test_a_frame_too_flat_to_segment_gets_a_clear_error(tiny_model_path):
    """A 300x1 image (a cut strip, a corrupt header) is 640x2 at processing width 640: the
    error gives the frame's size and what it becomes, not a padding detail."""
    from fishseg.model.bundle import load_model

    check_frame_size(360, 640, 640)
    check_frame_size(12, 24, 640)  # small frames are enlarged to the processing width
    with pytest.raises(ValueError, match=r"300x1 pixels is 640x2 at processing width 640"):
        check_frame_size(1, 300, 640)
    model = load_model(tiny_model_path)
    w = model.cfg.model.processing_width
    h = (MIN_SIDE - 1) * 1000 // w  # (MIN_SIDE - 1) rows once resized
    with pytest.raises(ValueError, match=rf"1000x{h} pixels .* too small to segment"):
        model.predict_maps(np.zeros((1, h, 1000, 3), np.uint8))


def test_constant_dictionary_gives_constant_maps():
    h, w = 45, 61
    gh, gw = frame_padding(h)[2], frame_padding(w)[2]
    values = jnp.stack([jnp.full((2, 16, 16), 0.25), jnp.full((2, 16, 16), 0.75)])
    idx = jnp.asarray(np.random.default_rng(0).integers(0, 2, (1, gh, gw)), jnp.int32)
    m = maps_from_indices(jnp.zeros_like(idx), values, h, w)
    np.testing.assert_allclose(np.asarray(m), 0.25, rtol=1e-6)
    m = np.asarray(maps_from_indices(idx, values, h, w))
    assert m.shape == (1, 2, h, w) and 0.25 - 1e-6 <= m.min() and m.max() <= 0.75 + 1e-6


def test_maps_from_indices_equals_overlap_add_of_gathered_patches():
    h, w = 41, 50
    gh, gw = frame_padding(h)[2], frame_padding(w)[2]
    rng = np.random.default_rng(2)
    values = jnp.asarray(rng.random((7, 2, 16, 16)), jnp.float32)
    idx = jnp.asarray(rng.integers(0, 7, (2, gh, gw)), jnp.int32)
    ref = naive_overlap_add(np.asarray(values)[np.asarray(idx)])[:, :, 12:12 + h, 12:12 + w] / 16
    np.testing.assert_allclose(np.asarray(maps_from_indices(idx, values, h, w)), ref, rtol=1e-5, atol=1e-6)


def test_maps_place_patches_where_the_patch_by_patch_pass_would():
    """A single non-zero patch at grid cell (i, j) lands on the target area of the
    34x34 input patch at (4i, 4j) of the padded frame: pixels 4i+9-21 .. +15."""
    h, w = 40, 44
    gh, gw = frame_padding(h)[2], frame_padding(w)[2]
    values = jnp.stack([jnp.zeros((2, 16, 16)), jnp.ones((2, 16, 16))])
    idx = np.zeros((1, gh, gw), np.int32)
    idx[0, 5, 6] = 1
    m = np.asarray(maps_from_indices(jnp.asarray(idx), values, h, w))[0, 0]
    expect = np.zeros((h, w))
    expect[4 * 5 + 9 - 21:4 * 5 + 25 - 21, 4 * 6 + 9 - 21:4 * 6 + 25 - 21] = 1 / 16
    np.testing.assert_allclose(m, expect, atol=1e-7)


def test_prepare_removes_gain_and_offset_per_channel():
    rng = np.random.default_rng(0)
    a = rng.integers(40, 120, (1, 36, 64, 3)).astype(np.uint8)
    b = np.clip(a.astype(np.float32) * [1.5, 1.0, 2.0] + [10, 30, 0], 0, 255).astype(np.uint8)
    pa, pb = np.asarray(prepare(a, 64)), np.asarray(prepare(b, 64))
    np.testing.assert_allclose(pa, pb, atol=0.05)
    np.testing.assert_allclose(pa.mean(axis=(1, 2)), 0, atol=1e-5)
    assert prepare(a, 32).shape == (1, 18, 32, 3)
    assert prepare(a[..., 0], 64).shape == (1, 36, 64, 3)
    assert processing_size(720, 1280, 640) == (360, 640)


def test_dihedral_commutes_with_centre_crop():
    a = jnp.asarray(np.random.default_rng(0).random((34, 34, 2)))
    for k in range(8):
        np.testing.assert_array_equal(_dihedral(a, k)[9:25, 9:25], _dihedral(a[9:25, 9:25], k))
    assert len({np.asarray(_dihedral(a, k)).tobytes() for k in range(8)}) == 8


def test_patches_cut_and_balanced():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (50, 60, 3)).astype(np.uint8)
    lab = np.zeros((50, 60), np.int32)
    lab[10:30, 20:45] = 1
    src = build_source([img], [lab], 60, edge_width=1)
    c = sample_centres(src, np.array([0]), 3000, (0.5, 0.25, 0.25), rng)
    cls = src.classes[0][c[:, 1], c[:, 2]]
    np.testing.assert_allclose(np.bincount(cls, minlength=3) / len(c), [0.5, 0.25, 0.25], atol=0.04)
    inp, tgt = make_batch(src.frames, src.targets, jnp.asarray(c[:50]), jax.random.key(0), False)
    assert inp.shape == (50, 34, 34, 3) and tgt.shape == (50, 2, 16, 16)
    prepared = np.pad(np.asarray(prepare(img[None], 60))[0], ((17, 17), (17, 17), (0, 0)), mode="reflect")
    fgpad = np.pad(lab > 0, 17, mode="reflect")
    for (_, y, x), i, t in zip(c[:50], np.asarray(inp), np.asarray(tgt), strict=True):
        np.testing.assert_allclose(i, prepared[y:y + 34, x:x + 34], atol=0.02)   # float16 store
        np.testing.assert_array_equal(t[0], fgpad[y + 9:y + 25, x + 9:x + 25])
    aug, tgt2 = make_batch(src.frames, src.targets, jnp.asarray(c[:50]), jax.random.key(0), True)
    assert np.isfinite(np.asarray(aug)).all() and not np.allclose(aug, inp)
    np.testing.assert_array_equal(np.sort(np.asarray(tgt2).sum(axis=(2, 3)), 0),
                                  np.sort(np.asarray(tgt).sum(axis=(2, 3)), 0))


def test_hard_examples_are_textured_belt_and_fish_fish_boundaries():
    rng = np.random.default_rng(1)
    img = np.full((80, 120, 3), 100, np.uint8)
    img[60:76, 5:40] = rng.integers(0, 255, (16, 35, 3))     # "text": strong texture on the belt
    lab = np.zeros((80, 120), np.int32)
    lab[10:40, 50:80] = 1                                     # two fish touching at x = 80
    lab[10:40, 80:110] = 2
    img[lab == 1] = 160
    img[lab == 2] = 60
    src = build_source([img], [lab], 120, edge_width=1)
    belt, contact = src.hard[0]
    by, bx = np.divmod(belt, 120)
    # mostly the textured block (+ the 9x9 blur); the rest hugs the fish outlines
    assert belt.size > 0 and np.mean((by >= 52) & (bx <= 47)) > 0.8
    cy, cx = np.divmod(contact, 120)
    assert contact.size > 0 and np.all(np.abs(cx - 79.5) <= 3) and np.all((cy >= 8) & (cy <= 41))
    c = sample_centres(src, np.array([0]), 2000, (0.5, 0.1, 0.4), rng, hard_share=1.0)
    cls = src.classes[0][c[:, 1], c[:, 2]]
    flat = c[:, 1] * 120 + c[:, 2]
    assert np.isin(flat[cls == 0], belt).all() and np.isin(flat[cls == 2], contact).all()
    np.testing.assert_allclose(np.bincount(cls, minlength=3) / len(c), [0.5, 0.1, 0.4], atol=0.04)
    c0 = sample_centres(src, np.array([0]), 2000, (0.5, 0.1, 0.4), rng, hard_share=0.0)
    flat0 = c0[:, 1] * 120 + c0[:, 2]
    cls0 = src.classes[0][c0[:, 1], c0[:, 2]]
    assert np.isin(flat0[cls0 == 0], belt).mean() < 0.3         # uniform: mostly plain belt
    plain = build_source([img], [lab], 120, edge_width=1, hard=False)   # not asked for
    assert plain.hard is None
    c1 = sample_centres(plain, np.array([0]), 2000, (0.5, 0.1, 0.4), rng, hard_share=1.0)
    assert np.isin((c1[:, 1] * 120 + c1[:, 2])[src.classes[0][c1[:, 1], c1[:, 2]] == 0],
                   belt).mean() < 0.3
