"""Training on crops (train.crop): a crop is exactly its patches, cut out one by one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from test_train import TINY, toy_samples

from fishseg.config import from_dict
from fishseg.model.bundle import FishsegModel
from fishseg.model.crops import class_weights, crop_corners, crop_loss, crop_sides, make_crop_batch
from fishseg.model.dictionary import encode, fit_pca
from fishseg.model.fit import crop_grid
from fishseg.model.network import FieldNet
from fishseg.model.patches import _dihedral, build_source, make_batch, sample_centres
from fishseg.train import train_on_samples

BALANCE = (0.3, 0.3, 0.4)


@pytest.fixture(scope="module")
def source():
    s = toy_samples(3, h=72, w=96, seed=4)
    return build_source([x.image for x in s], [x.labels for x in s], 96, 2, hard=False)


def crop_patch_centres(corners, g):
    """The (frame, y, x) centres of every patch of every crop, in crop-grid order."""
    return np.array([(f, y + 4 * i, x + 4 * j) for f, y, x in corners
                     for i in range(g) for j in range(g)], np.int32)


def test_crop_sides_are_centred():
    for g in (1, 4, 9):
        si, st = crop_sides(g)
        assert (si - st) % 2 == 0 and (si - st) // 2 == 9  # the patch's target offset
        assert si == 34 + 4 * (g - 1)


def test_corners_keep_every_patch_centre_in_the_frame(source):
    rng = np.random.default_rng(0)
    c = sample_centres(source, np.arange(3), 300, BALANCE, rng)
    g = 6
    corners = crop_corners(source, c, g)
    h, w = source.sizes[corners[:, 0]].T
    assert np.all(corners[:, 1] >= 0) and np.all(corners[:, 1] + 4 * (g - 1) < h)
    assert np.all(corners[:, 2] >= 0) and np.all(corners[:, 2] + 4 * (g - 1) < w)
    # the sampled centre lies inside its crop's patch-centre box (frames are large enough)
    assert np.all((c[:, 1] >= corners[:, 1]) & (c[:, 1] <= corners[:, 1] + 4 * (g - 1)))
    assert np.all((c[:, 2] >= corners[:, 2]) & (c[:, 2] <= corners[:, 2] + 4 * (g - 1)))
    # the grid shrinks for frames too small for it: 72 rows hold 18 patch centres
    assert crop_grid(source, np.arange(3), 40) == 18
    assert crop_grid(source, np.arange(3), 8) == 8


def test_crop_is_its_patches(source):
    """Targets identical, codewords within 1e-4, loss = the balanced patch loss."""
    rng = np.random.default_rng(1)
    g = 5
    corners = crop_corners(source, sample_centres(source, np.arange(3), 2, BALANCE, rng), g)
    frames, targets = jnp.asarray(source.frames), jnp.asarray(source.targets)
    inp, pat = make_crop_batch(frames, targets, jnp.asarray(corners), jax.random.key(0), g, False)
    assert inp.shape == (len(corners), 50, 50, 3) and pat.shape == (len(corners), g, g, 2, 16, 16)
    cc = crop_patch_centres(corners, g)
    pinp, ppat = make_batch(frames, targets, jnp.asarray(cc), jax.random.key(0), False)
    np.testing.assert_array_equal(np.asarray(pat).reshape(ppat.shape), np.asarray(ppat))

    cfg = from_dict({"model": {"features": [4, 8, 16], "code_dim": 4, "dropout": 0.0}})
    net = FieldNet(cfg.model, rngs=nnx.Rngs(params=3))
    dense = np.asarray(net(inp))
    single = np.asarray(net(pinp))[:, 0, 0]
    np.testing.assert_allclose(dense.reshape(single.shape), single, atol=1e-4)

    pca = fit_pca(np.asarray(ppat).reshape(len(cc), -1), 4)
    w = np.asarray(class_weights(ppat, BALANCE))
    se = np.sum((single - np.asarray(encode(pca, ppat))) ** 2, -1)
    np.testing.assert_allclose(float(crop_loss(net(inp), pat, pca, BALANCE)),
                               float(np.sum(w * se)), rtol=1e-5)


def test_class_weights_give_the_shares():
    p = np.zeros((10, 2, 16, 16), np.float32)
    p[:2, 1, 8, 8] = 1          # 2 edge patches
    p[2:5, 0, 8, 8] = 1         # 3 interior
    w = np.asarray(class_weights(jnp.asarray(p), BALANCE))  # 5 belt
    np.testing.assert_allclose([w[:2].sum(), w[2:5].sum(), w[5:].sum()], [0.4, 0.3, 0.3], rtol=1e-6)
    np.testing.assert_allclose(w[:2], 0.2, rtol=1e-6)
    p[5:, 0, 8, 8] = 1          # no belt patch: its share goes to the others
    w = np.asarray(class_weights(jnp.asarray(p), BALANCE))
    np.testing.assert_allclose([w[:2].sum(), w[2:].sum()], [0.4 / 0.7, 0.3 / 0.7], rtol=1e-6)


def test_augmented_crop_targets_are_a_flip_of_the_grid(source):
    """Augmentation flips/rotates the whole crop: its target patches are the plain
    crop's patches, each flipped alike, at the flipped grid positions."""
    g = 4
    corners = crop_corners(source, np.array([[1, 40, 50]], np.int32), g)
    frames, targets = jnp.asarray(source.frames), jnp.asarray(source.targets)
    _, plain = make_crop_batch(frames, targets, jnp.asarray(corners), jax.random.key(0), g, False)
    plain = np.asarray(plain)[0]                       # (g, g, C, 16, 16)
    found = set()
    for seed in range(12):
        _, aug = make_crop_batch(frames, targets, jnp.asarray(corners), jax.random.key(seed), g, True)
        aug = np.asarray(aug)[0]
        for k in range(8):
            # the dihedral k of the grid of patches: positions and patch contents alike
            grid = np.asarray(_dihedral(jnp.asarray(plain.reshape(g, g, -1)), k)).reshape(plain.shape)
            moved = np.stack([np.stack([np.asarray(_dihedral(jnp.asarray(
                grid[i, j].transpose(1, 2, 0)), k)).transpose(2, 0, 1)
                for j in range(g)]) for i in range(g)])
            if np.array_equal(moved, aug):
                found.add(k)
                break
        else:
            pytest.fail(f"augmented crop (seed {seed}) is no flip/rotation of the plain crop")
    assert len(found) >= 4  # several different flips were drawn


def test_training_on_crops(tmp_path):
    cfg = from_dict({**TINY, "train": {**TINY["train"], "crop": 4, "steps": 40}})
    a = train_on_samples(toy_samples(4), cfg, tmp_path / "a.fishseg", progress=False)
    b = train_on_samples(toy_samples(4), cfg, tmp_path / "b.fishseg", progress=False)
    ma, mb = FishsegModel.load(a), FishsegModel.load(b)
    assert ma.checksum == mb.checksum  # a fixed seed gives the same model
    for k, v in ma.arrays().items():
        np.testing.assert_array_equal(v, mb.arrays()[k], err_msg=k)
    assert ma.meta["best_val_loss"] < 0.8 * ma.meta["first_train_loss"]
    assert ma.meta["val_scores"]["fg_iou"] > 0.5
    assert ma.cfg.train.crop == 4
