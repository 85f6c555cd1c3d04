"""Fine-tuning from a trained model (train.init): the head on cached convolution outputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from test_train import TINY, toy_samples

from fishseg.config import SeparateConfig, from_dict
from fishseg.io.images import write_image, write_labels
from fishseg.model.bundle import BundleError, FishsegModel
from fishseg.model.dictionary import fit_pca
from fishseg.model.head import (
    RIDGE,
    _head,
    _to_head,
    fit_head,
    low_rank_fc,
    solve_output_layer,
)
from fishseg.model.network import FieldNet, get_params
from fishseg.model.patches import build_source, sample_centres
from fishseg.train import train_on_samples


def test_head_on_trunk_features_equals_the_network(exact_float32):
    cfg = from_dict({"model": {"features": [4, 8, 16], "code_dim": 5}})
    net = FieldNet(cfg.model, rngs=nnx.Rngs(3))
    x = jax.random.normal(jax.random.key(0), (7, 34, 34, 3))
    params = get_params(net)
    p = {**_to_head(params), "out_k": params["out/kernel"][0, 0], "out_b": params["out/bias"]}
    feats = net.trunk(x)
    assert feats.shape == (7, 5, 5, 8)
    np.testing.assert_allclose(np.asarray(_head(p, feats.reshape(7, -1))),
                               np.asarray(net(x)[:, 0, 0, :]), atol=1e-5)


def test_solve_output_layer_is_ridge_least_squares():
    rng = np.random.default_rng(0)
    fc_k, fc_b = rng.normal(size=(20, 12)), rng.normal(size=12)
    feats = rng.normal(size=(400, 20)).astype(np.float32)
    true_k, true_b = rng.normal(size=(12, 3)), rng.normal(size=3)
    h = np.maximum(feats @ fc_k + fc_b, 0)
    codes = (h @ true_k + true_b).astype(np.float32)
    out_k, out_b = solve_output_layer(h, codes)
    # the reference: lstsq on the system stacked with sqrt(penalty) rows (bias unpenalised)
    a = np.concatenate([h, np.ones((len(h), 1))], 1)
    pen = RIDGE * np.trace(h.T @ h) / h.shape[1]
    stacked = np.concatenate([a, np.sqrt(pen) * np.eye(13)[:12]])
    ref = np.linalg.lstsq(stacked, np.concatenate([codes, np.zeros((12, 3))]), rcond=None)[0]
    np.testing.assert_allclose(out_k, ref[:-1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out_b, ref[-1], rtol=1e-4, atol=1e-4)
    # a tiny penalty: the exact linear map is recovered
    np.testing.assert_allclose(out_k, true_k, atol=0.05)


def test_low_rank_fc_is_exact_on_low_rank_outputs_and_matches_the_network(exact_float32):
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(500, 200)).astype(np.float32)
    kernel = (rng.normal(size=(200, 5)) @ rng.normal(size=(5, 24))).astype(np.float32)
    bias = rng.normal(size=24).astype(np.float32)
    a, b, new_bias = low_rank_fc(kernel, bias, feats, 5)
    assert a.shape == (200, 5) and b.shape == (5, 24)
    np.testing.assert_allclose(feats @ a @ b + new_bias, feats @ kernel + bias, atol=1e-3)
    # rank below the outputs' rank: the best rank-r fit of the centred outputs (PCA)
    a2, b2, bias2 = low_rank_fc(kernel, bias, feats, 2)
    y = feats @ kernel + bias
    yc = y - y.mean(0)
    s = np.linalg.svd(yc, compute_uv=False)
    err = np.linalg.norm(feats @ a2 @ b2 + bias2 - y) ** 2
    np.testing.assert_allclose(err, np.sum(s[2:] ** 2), rtol=1e-3)
    with pytest.raises(ValueError, match="fc_rank"):
        low_rank_fc(kernel, bias, feats, 24)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    return train_on_samples(toy_samples(4), from_dict(TINY), d / "base.fishseg", progress=False)


FINETUNE = {**TINY, "train": {**TINY["train"], "steps": 100, "head_pool": 3000},
            # other features and width than the base model: taken from it instead
            "model": {"features": [8, 8, 8], "code_dim": 6, "processing_width": 96}}


def test_finetune_head_keeps_the_convolutions(base, tmp_path):
    cfg = from_dict({**FINETUNE, "targets": {"contact": True},
                     "train": {**FINETUNE["train"], "init": str(base)}})
    path = train_on_samples(toy_samples(4, seed=5), cfg, tmp_path / "ft.fishseg", progress=False)
    b, m = FishsegModel.load(base), FishsegModel.load(path)
    assert m.cfg.model.features == b.cfg.model.features == (4, 8, 16)
    assert m.cfg.model.processing_width == 64 and m.cfg.model.code_dim == 6
    assert m.meta["init"] == {"model": str(base), "checksum": b.checksum, "finetune": "head",
                              "codes_and_dictionary": "rebuild"}  # contact: new codes
    pb, pm = get_params(b.net), get_params(m.net)
    for k in ("conv1/kernel", "conv1/bias", "conv2/kernel", "conv2/bias"):
        np.testing.assert_array_equal(pm[k], pb[k], err_msg=k)
    assert m.meta["best_step"] > 0 and not np.allclose(pm["fc/kernel"], pb["fc/kernel"])
    assert pm["out/kernel"].shape == (1, 1, 16, 6)
    assert m.channels == 3
    stack = np.asarray(m.predict_stack(toy_samples(1, seed=9)[0].image[None]))
    assert stack.shape == (1, 3, 48, 64) and 0 <= stack.min() and stack.max() <= 1


def test_fit_head_improves_on_the_solved_start(base):
    b = FishsegModel.load(base)
    cfg = from_dict({**FINETUNE, "model": {**TINY["model"], "dropout": 0.0}})
    samples = toy_samples(6, seed=7)
    src = build_source([s.image for s in samples], [s.labels for s in samples], 64, 2)
    rng = np.random.default_rng(0)
    tr = sample_centres(src, np.arange(5), 300, (0.3, 0.3, 0.4), rng)
    va = sample_centres(src, np.array([5]), 300, (0.3, 0.3, 0.4), rng)
    from fishseg.model.head import start_params
    from fishseg.model.patches import batches
    tg = np.concatenate([np.asarray(t) for _, t in batches(src, tr, 256, jax.random.key(0))])
    pca = fit_pca(tg.reshape(len(tr), -1), 4)
    start = start_params(b.net, cfg, src, tr, pca, jax.random.key(0))
    net, hist = fit_head(start, src, tr, va, pca, cfg, progress=False)
    assert hist.val_steps[0] == 0 and hist.best_step > 0
    assert hist.best_val < 0.95 * hist.val[0]  # training beat the solved output layer
    out = get_params(net)
    np.testing.assert_array_equal(out["conv2/kernel"], start["conv2/kernel"])
    # the returned network computes what the head computed at its best step
    x = jnp.asarray(np.asarray(src.frames[:1, :34, :34], np.float32))
    p = {**_to_head(out), "out_k": out["out/kernel"][0, 0], "out_b": out["out/bias"]}
    np.testing.assert_allclose(np.asarray(_head(p, net.trunk(x).reshape(1, -1))),
                               np.asarray(net(x)[:, 0, 0, :]), atol=1e-4)


def test_finetune_to_a_low_rank_fc(base, tmp_path, exact_float32):
    """Factoring the FC layer: the start equals the base network where the FC outputs
    have rank <= r (here r = the FC width - 1 keeps nearly everything), the factored
    network's dense pass equals its patch-by-patch pass, and a low-rank init stays low rank."""
    cfg = from_dict({**FINETUNE, "model": {"fc_rank": 12, "dropout": 0.0},
                     "train": {**FINETUNE["train"], "init": str(base), "tune_separation": False}})
    path = train_on_samples(toy_samples(4, seed=5), cfg, tmp_path / "lr.fishseg", progress=False)
    m = FishsegModel.load(path)
    assert m.cfg.model.fc_rank == 12
    p = get_params(m.net)
    assert p["fc_a/kernel"].shape == (5, 5, 8, 12) and p["fc/kernel"].shape == (1, 1, 12, 16)
    from fishseg.model.network import patch_codewords
    x = jax.random.normal(jax.random.key(4), (1, 50, 62, 3))
    np.testing.assert_allclose(np.asarray(m.net(x)), np.asarray(patch_codewords(m.net, x, 32)),
                               atol=1e-4)
    again = from_dict({**FINETUNE, "train": {**FINETUNE["train"], "init": str(path),
                                             "steps": 10, "tune_separation": False}})
    path2 = train_on_samples(toy_samples(3, seed=6), again, tmp_path / "lr2.fishseg", progress=False)
    assert FishsegModel.load(path2).cfg.model.fc_rank == 12


def test_finetune_keeps_or_extends_the_init_codes_and_dictionary(base, tmp_path):
    b = FishsegModel.load(base)
    out = {}
    for mode in ("keep", "extend", "rebuild"):
        cfg = from_dict({**FINETUNE, "model": {"code_dim": 4},
                         "dictionary": {**TINY["dictionary"], "with_init": mode},
                         "train": {**FINETUNE["train"], "init": str(base), "steps": 10,
                                   "tune_separation": False}})
        m = FishsegModel.load(train_on_samples(toy_samples(3, seed=8), cfg,
                                               tmp_path / f"{mode}.fishseg", progress=False))
        assert m.meta["init"]["codes_and_dictionary"] == mode
        out[mode] = m
    keep, extend, rebuild = out["keep"], out["extend"], out["rebuild"]
    for k in b.pca:
        np.testing.assert_array_equal(keep.pca[k], b.pca[k])
        np.testing.assert_array_equal(extend.pca[k], b.pca[k])
    np.testing.assert_array_equal(keep.keys, b.keys)
    np.testing.assert_array_equal(keep.values, b.values)
    assert len(extend.keys) > len(b.keys)
    np.testing.assert_array_equal(extend.keys[:len(b.keys)], b.keys)
    assert not np.array_equal(rebuild.pca["components"], b.pca["components"])
    # other target maps (or code_dim) than the init model's: codes cannot be kept
    cfg = from_dict({**FINETUNE, "model": {"code_dim": 4}, "targets": {"contact": True},
                     "train": {**FINETUNE["train"], "init": str(base), "steps": 5,
                               "tune_separation": False}})
    m = FishsegModel.load(train_on_samples(toy_samples(3, seed=8), cfg, tmp_path / "c.fishseg",
                                           progress=False))
    assert m.meta["init"]["codes_and_dictionary"] == "rebuild" and m.channels == 3


@pytest.mark.parametrize("min_fish", [0, 1000])
def test_finetune_retunes_separation_only_on_enough_fish(base, tmp_path, min_fish):
    cfg = from_dict({**FINETUNE, "model": {"code_dim": 4},
                     "train": {**FINETUNE["train"], "init": str(base), "steps": 5,
                               "retune_min_fish": min_fish}})
    m = FishsegModel.load(train_on_samples(toy_samples(4, seed=8), cfg, tmp_path / "t.fishseg",
                                           progress=False))
    report = m.meta["separation_tuning"]
    if min_fish:
        assert "fewer than train.retune_min_fish (1000)" in report["skipped"]
        assert m.cfg.separate == FishsegModel.load(base).cfg.separate
    else:
        assert report["after"]["ap50"] >= report["before"]["ap50"]


def test_finetune_all_trains_every_layer(base, tmp_path):
    cfg = from_dict({**FINETUNE, "train": {**FINETUNE["train"], "init": str(base),
                                           "finetune": "all", "steps": 20,
                                           "tune_separation": False}})
    path = train_on_samples(toy_samples(4, seed=5), cfg, tmp_path / "all.fishseg", progress=False)
    b, m = FishsegModel.load(base), FishsegModel.load(path)
    pb, pm = get_params(b.net), get_params(m.net)
    assert not np.allclose(pm["conv1/kernel"], pb["conv1/kernel"])
    # untuned, the fine-tuned model separates with the base model's tuned settings
    assert b.cfg.separate != SeparateConfig() and m.cfg.separate == b.cfg.separate


def test_unknown_or_damaged_init_model_is_named(tmp_path):
    missing = tmp_path / "nope.fishseg"
    cfg = from_dict({**TINY, "train": {**TINY["train"], "init": str(missing)}})
    with pytest.raises(BundleError, match="nope.fishseg"):
        train_on_samples(toy_samples(2), cfg, tmp_path / "x.fishseg", progress=False)
    damaged = tmp_path / "damaged.fishseg"
    damaged.write_bytes(b"PK\x03\x04 not a model")
    cfg = from_dict({**TINY, "train": {**TINY["train"], "init": str(damaged)}})
    with pytest.raises(BundleError, match="damaged.fishseg"):
        train_on_samples(toy_samples(2), cfg, tmp_path / "x.fishseg", progress=False)
    assert not (tmp_path / "x.fishseg").exists()


def test_cli_train_init(base, tmp_path, capsys):
    from fishseg.cli import main
    data = tmp_path / "data"
    for s in toy_samples(3, seed=11):
        write_image(data / "images" / f"{s.name}.png", s.image)
        write_labels(data / "masks" / f"{s.name}.png", s.labels)
    out = tmp_path / "cli.fishseg"
    rc = main(["train", "--data", str(data), "--out", str(out), "--init", str(base),
               "--steps", "10", "--set", "train.head_pool=500", "--set", "train.eval_every=5"])
    assert rc == 0 and out.is_file()
    m = FishsegModel.load(out)
    assert m.meta["init"]["checksum"] == FishsegModel.load(base).checksum
    printed = capsys.readouterr().out
    assert "validated on 1" in printed and "validation frames: fg IoU" in printed
    assert f"model written to {out}" in printed
