"""Dictionary values at s times the processing resolution (``dictionary.value_scale``):
overlap-add geometry, value patches, values for fixed keys, training and re-cutting."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from test_train import TINY, toy_samples

from fishseg.config import from_dict
from fishseg.model.bundle import FishsegModel
from fishseg.model.dictionary import cluster_means, values_for_keys
from fishseg.model.fields import frame_padding, maps_from_indices, overlap_add, overlap_add_conv
from fishseg.model.patches import build_source, make_batch, sample_centres, value_patches
from fishseg.revalue import rescale_values, revalue
from fishseg.train import train_on_samples


def naive_overlap_add(p, s):
    """Patches (B, gh, gw, C, 16s, 16s) added at stride 4s, one by one."""
    b, gh, gw, c, t, _ = p.shape
    st = 4 * s
    out = np.zeros((b, c, st * gh + 12 * s, st * gw + 12 * s))
    for i in range(gh):
        for j in range(gw):
            out[:, :, st * i:st * i + t, st * j:st * j + t] += p[:, i, j]
    return out


@pytest.mark.parametrize("s", [2, 3])
def test_overlap_add_at_finer_resolution_equals_naive_loop(s):
    p = np.random.default_rng(s).random((1, 4, 5, 2, 16 * s, 16 * s)).astype(np.float32)
    ref = naive_overlap_add(p, s)
    np.testing.assert_allclose(np.asarray(overlap_add(jnp.asarray(p))), ref, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(np.asarray(overlap_add_conv(jnp.asarray(p))), ref, rtol=1e-6, atol=1e-5)


def test_maps_from_indices_at_twice_the_resolution():
    h, w = 41, 50
    gh, gw = frame_padding(h)[2], frame_padding(w)[2]
    rng = np.random.default_rng(3)
    values = rng.random((7, 2, 32, 32)).astype(np.float32)
    idx = rng.integers(0, 7, (2, gh, gw)).astype(np.int32)
    m = np.asarray(maps_from_indices(jnp.asarray(idx), jnp.asarray(values), h, w))
    assert m.shape == (2, 2, 2 * h, 2 * w)
    ref = naive_overlap_add(values[idx], 2)[:, :, 24:24 + 2 * h, 24:24 + 2 * w] / 16
    np.testing.assert_allclose(m, ref, rtol=1e-5, atol=1e-6)


def test_replicated_values_give_replicated_maps():
    """Values that are the 16x16 ones with every pixel doubled give the 1x maps with
    every pixel doubled: the 2x patches land exactly on the area of the 1x ones."""
    h, w = 37, 45
    gh, gw = frame_padding(h)[2], frame_padding(w)[2]
    rng = np.random.default_rng(4)
    v1 = rng.random((5, 2, 16, 16)).astype(np.float32)
    v2 = np.repeat(np.repeat(v1, 2, axis=2), 2, axis=3)
    idx = jnp.asarray(rng.integers(0, 5, (1, gh, gw)), jnp.int32)
    m1 = np.asarray(maps_from_indices(idx, jnp.asarray(v1), h, w))
    m2 = np.asarray(maps_from_indices(idx, jnp.asarray(v2), h, w))
    np.testing.assert_allclose(m2, np.repeat(np.repeat(m1, 2, axis=2), 2, axis=3), rtol=1e-6, atol=1e-7)


def test_odd_patch_size_is_refused():
    with pytest.raises(ValueError, match="16s x 16s"):
        maps_from_indices(jnp.zeros((1, 14, 14), jnp.int32), jnp.zeros((2, 2, 24, 24)), 40, 40)


def test_value_patches_at_scale_1_are_the_training_targets():
    samples = toy_samples(3)
    images, labels = [s.image for s in samples], [s.labels for s in samples]
    src = build_source(images, labels, 64, 2, hard=False)
    c = sample_centres(src, np.arange(3), 50, (0.3, 0.3, 0.4), np.random.default_rng(0))
    _, tgt = make_batch(jnp.asarray(src.frames), jnp.asarray(src.targets), jnp.asarray(c),
                        None, augment=False)
    np.testing.assert_array_equal(value_patches(labels, src.sizes, c, 1, 2), np.asarray(tgt))


def test_value_patches_at_scale_2_cut_the_full_resolution_truth():
    """A 64x96 frame processed at width 48 (32x48): its truth at full resolution is
    exactly twice the processing size, so a value patch is cut from it directly."""
    lab = np.zeros((64, 96), np.int32)
    lab[20:40, 30:60] = 1
    img = np.zeros((64, 96, 3), np.uint8)
    src = build_source([img], [lab], 48, 2, hard=False)
    assert tuple(src.sizes[0]) == (32, 48)
    p = value_patches([lab], src.sizes, np.array([[0, 16, 24]]), 2, 2)
    assert p.shape == (1, 2, 32, 32)
    # the patch covers full-resolution rows 16..47 and columns 32..63
    expect = np.zeros((32, 32), np.uint8)
    expect[4:24, 0:28] = 1
    np.testing.assert_array_equal(p[0, 0], expect)
    # the edge band is 4 px each side at twice the resolution (2 at the processing scale)
    edge = p[0, 1]
    assert edge[4:8, 10].all() and edge[0:4, 10].all() and not edge[8:20, 10].any()
    assert edge[10, 24:32].all() and edge[10, 0:2].all() and not edge[10, 2:24].any()


def test_value_patches_of_doubled_truth_pool_to_the_1x_patches():
    """Truth drawn at the processing size and doubled: the 2x patches, pooled 2x2, are the
    1x patches (fg and edge band alike), away from the reflect-padded border."""
    samples = toy_samples(2)
    labels = [s.labels for s in samples]
    doubled = [np.repeat(np.repeat(lab, 2, axis=0), 2, axis=1) for lab in labels]
    src = build_source([s.image for s in samples], labels, 64, 2, hard=False)
    ys, xs = np.meshgrid(np.arange(8, 40, 3), np.arange(8, 56, 3), indexing="ij")
    c = np.stack([np.repeat([0, 1], ys.size), np.tile(ys.ravel(), 2), np.tile(xs.ravel(), 2)], 1)
    p1 = value_patches(labels, src.sizes, c, 1, 2).astype(np.float32)
    p2 = value_patches(doubled, src.sizes, c, 2, 2).astype(np.float32)
    pooled = p2.reshape(*p2.shape[:2], 16, 2, 16, 2).mean(axis=(3, 5))
    np.testing.assert_array_equal(pooled, p1)


def test_cluster_means_and_values_for_fixed_keys():
    patches = np.arange(6 * 2 * 4, dtype=np.uint8).reshape(6, 2, 2, 2)
    assign = np.array([0, 2, 0, 2, 2, 0])
    means, counts = cluster_means(patches, assign, 4)
    assert counts.tolist() == [3, 0, 3, 0]
    np.testing.assert_allclose(means[0], patches[[0, 2, 5]].mean(axis=0))
    np.testing.assert_allclose(means[2], patches[[1, 3, 4]].mean(axis=0))
    np.testing.assert_array_equal(means[1], 0)
    keys = np.array([[0.0, 0.0], [10.0, 10.0], [0.0, 5.0]], np.float32)
    codes = np.array([[0.1, 0.0], [0.0, 4.0], [0.2, 0.3], [0.0, 6.0]], np.float32)
    fallback = np.full((3, 2, 2, 2), 0.5, np.float32)
    vals, counts = values_for_keys(codes, patches[:4], keys, fallback)
    assert counts.tolist() == [2, 0, 2]
    np.testing.assert_allclose(vals[0], patches[[0, 2]].mean(axis=0))
    np.testing.assert_allclose(vals[2], patches[[1, 3]].mean(axis=0))
    np.testing.assert_array_equal(vals[1], 0.5)  # no sample nearest: the fallback


def test_rescale_values():
    v = np.random.default_rng(0).random((3, 2, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(rescale_values(v, 2), np.repeat(np.repeat(v, 2, 2), 2, 3))
    assert rescale_values(rescale_values(v, 2), 3).shape == (3, 2, 48, 48)


def test_bundle_refuses_values_of_another_resolution():
    cfg = from_dict({**TINY, "dictionary": {**TINY["dictionary"], "value_scale": 2}})
    from flax import nnx

    from fishseg.model.network import FieldNet, get_params
    params = get_params(FieldNet(cfg.model, rngs=nnx.Rngs(0)))
    pca = {"mean": np.zeros(512, np.float32), "components": np.zeros((4, 512), np.float32),
           "scale": np.float32(1)}
    with pytest.raises(ValueError, match="32 x 32"):
        FishsegModel(cfg, params, pca, np.zeros((3, 4)), np.zeros((3, 2, 16, 16)))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("vs") / "m.fishseg"
    return FishsegModel.load(train_on_samples(toy_samples(4), from_dict(TINY), path, progress=False))


def test_training_with_values_at_twice_the_resolution(tmp_path):
    cfg = from_dict({**TINY, "dictionary": {**TINY["dictionary"], "value_scale": 2}})
    m = FishsegModel.load(train_on_samples(toy_samples(4), cfg, tmp_path / "v2.fishseg",
                                           progress=False))
    assert m.cfg.dictionary.value_scale == 2 and m.values.shape[1:] == (2, 32, 32)
    assert 0 <= m.values.min() and m.values.max() <= 1
    fg, edge = m.predict_maps(toy_samples(1, seed=9)[0].image)
    assert fg.shape == edge.shape == (1, 48, 64)


def test_revalue_keeps_the_network_and_keys(tiny, tmp_path):
    samples = toy_samples(4)
    out = revalue(tiny, samples, 2, 400, progress=False)
    assert out.values.shape == (len(tiny.keys), 2, 32, 32)
    assert out.cfg.dictionary.value_scale == 2 and out.cfg.dictionary.samples == 400
    assert out.cfg == dataclasses.replace(tiny.cfg, dictionary=out.cfg.dictionary)
    np.testing.assert_array_equal(out.keys, tiny.keys)
    for k, v in tiny.arrays().items():
        if not k.startswith("dictionary/"):
            np.testing.assert_array_equal(out.arrays()[k], v, err_msg=k)
    assert out.meta["revalued"]["from_checksum"] == tiny.checksum
    assert out.checksum != tiny.checksum
    back = FishsegModel.load(out.save(tmp_path / "r.fishseg"))
    np.testing.assert_array_equal(back.values, out.values.astype(np.float16).astype(np.float32))
    image = toy_samples(1, seed=9)[0].image
    fg, _ = back.predict_maps(image)
    assert fg.shape == (1, 48, 64)
    # the maps still find the toy fish: the values are the truth of the nearest keys
    truth = toy_samples(1, seed=9)[0].labels > 0
    fg_old, _ = tiny.predict_maps(image)
    iou = lambda a: np.sum(a & truth) / np.sum(a | truth)  # noqa: E731
    assert iou(np.asarray(fg[0]) > 0.5) > iou(np.asarray(fg_old[0]) > 0.5) - 0.1


def test_finetuning_keeps_or_rebuilds_at_the_right_resolution(tiny, tmp_path):
    """'keep' and 'extend' take the init model's values, so its value_scale; 'rebuild'
    cuts new values at the configuration's."""
    init = revalue(tiny, toy_samples(4), 2, 400, progress=False).save(tmp_path / "r.fishseg")
    base = FishsegModel.load(init)
    out = {}
    for mode in ("keep", "extend", "rebuild"):
        cfg = from_dict({**TINY, "dictionary": {**TINY["dictionary"], "with_init": mode},
                         "train": {**TINY["train"], "init": str(init), "steps": 5,
                                   "head_pool": 2000, "tune_separation": False}})
        out[mode] = FishsegModel.load(train_on_samples(toy_samples(3, seed=8), cfg,
                                                       tmp_path / f"{mode}.fishseg", progress=False))
    assert out["keep"].cfg.dictionary.value_scale == 2
    np.testing.assert_array_equal(out["keep"].values, base.values)
    assert out["extend"].cfg.dictionary.value_scale == 2
    assert out["extend"].values.shape[1:] == (2, 32, 32) and len(out["extend"].keys) > len(base.keys)
    assert out["rebuild"].cfg.dictionary.value_scale == 1
    assert out["rebuild"].values.shape[1:] == (2, 16, 16)


def test_rebuild_dictionary_script_recuts_a_users_model(tiny, tmp_path):
    """scripts/rebuild_dictionary.py --data DIR --keep-keys --value-scale 2: the model's
    own training frames from a dataset folder, keys and network kept."""
    import subprocess
    import sys
    from pathlib import Path

    from fishseg.io.images import write_image, write_labels

    data = tmp_path / "data"
    for s in toy_samples(4):
        write_image(data / "images" / f"{s.name}.png", s.image)
        write_labels(data / "masks" / f"{s.name}.png", s.labels)
    src = tiny.save(tmp_path / "tiny.fishseg")
    script = Path(__file__).resolve().parents[1] / "scripts" / "rebuild_dictionary.py"
    r = subprocess.run([sys.executable, str(script), "--model", str(src), "--data", str(data),
                        "--keep-keys", "--value-scale", "2", "--samples", "300",
                        "--out", str(tmp_path / "out.fishseg")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    out = FishsegModel.load(tmp_path / "out.fishseg")
    assert out.cfg.dictionary.value_scale == 2 and out.values.shape[1:] == (2, 32, 32)
    np.testing.assert_array_equal(out.keys, tiny.keys)
    assert out.meta["revalued"]["data"] == [str(data)]
    assert out.meta["revalued"]["training_frames"] == 3  # 4 frames, 1 held out
