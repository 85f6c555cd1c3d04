"""The model file: round trip, damaged/truncated/newer files, the default model."""

import json
import zipfile

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fishseg.config import Config, from_dict, to_dict
from fishseg.model import bundle as bundle_mod
from fishseg.model.bundle import BundleError, FishsegModel, load_model
from fishseg.model.dictionary import lookup
from fishseg.model.fields import pad_frames, prepare
from fishseg.model.network import FieldNet, get_params, patch_codewords

CFG = from_dict({"model": {"features": [4, 8, 16], "code_dim": 4, "processing_width": 64},
                 "dictionary": {"chunk": 256}})


def random_model(seed=0, cfg=CFG, meta=None):
    """A model of random weights (code_dim 4; 64 keys, the codes of random patches)."""
    rng = np.random.default_rng(seed)
    net = FieldNet(cfg.model, rngs=nnx.Rngs(seed))
    pca = {"mean": np.zeros(512, np.float32),
           "components": rng.normal(size=(4, 512)).astype(np.float32),
           "scale": np.float32(1.0)}
    codes = np.asarray(net(jnp.asarray(rng.normal(size=(64, 34, 34, 3)), jnp.float32)))[:, 0, 0]
    values = rng.random((64, 3 if cfg.targets.contact else 2, 16, 16)).astype(np.float32)
    return FishsegModel(cfg, get_params(net), pca, codes, values,
                        {"note": "test"} if meta is None else meta)


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(1).integers(0, 255, (3, 48, 80, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("m") / "toy.fishseg")


def test_round_trip_gives_identical_maps(model, frames, saved):
    import os
    import stat

    from fishseg.io.files import FILE_MODE

    assert stat.S_IMODE(os.stat(saved).st_mode) == FILE_MODE   # not mkstemp's 0600
    loaded = FishsegModel.load(saved)
    assert loaded.meta == {"note": "test"} and loaded.cfg == CFG
    for tta in (False, True):
        a, b = model.predict_maps(frames, tta=tta), loaded.predict_maps(frames, tta=tta)
        for x, y in zip(a, b, strict=True):
            assert x.shape == (3, 48, 80) and x.dtype == jnp.float32
            assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_batching_does_not_change_maps(model, frames, exact_float32):
    fg, edge = model.predict_maps(frames)
    fg1, edge1 = model.predict_maps(frames, batch_size=2)       # padded last batch
    np.testing.assert_allclose(np.asarray(fg1), np.asarray(fg), atol=1e-5)
    np.testing.assert_allclose(np.asarray(edge1), np.asarray(edge), atol=1e-5)
    single = model.predict_maps(frames[0])[0]
    np.testing.assert_allclose(np.asarray(single[0]), np.asarray(fg[0]), atol=1e-5)


def test_model_codewords_equal_patch_by_patch(model, frames, exact_float32):
    dense = model.codewords(frames)
    x = pad_frames(prepare(frames, CFG.model.processing_width))
    ref = patch_codewords(model.net, x, chunk=512)
    np.testing.assert_allclose(np.asarray(dense), np.asarray(ref), atol=1e-4)
    keys = jnp.asarray(model.keys)
    np.testing.assert_array_equal(np.asarray(lookup(dense.reshape(-1, 4), keys, 256)),
                                  np.asarray(lookup(ref.reshape(-1, 4), keys, 256)))


def test_bundle_has_no_pickle(saved):
    with zipfile.ZipFile(saved) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
    assert "manifest.json" in names and all(n.endswith(".npy") for n in names if n != "manifest.json")
    assert manifest["format_version"] == 1      # one network: readable by older fishseg
    assert manifest["arrays"]["dictionary/values"]["dtype"] == "float16"
    assert all("object" not in a["dtype"] for a in manifest["arrays"].values())


def test_truncated_file(saved, tmp_path):
    bad = tmp_path / "truncated.fishseg"
    bad.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(BundleError, match="truncated.fishseg.*damaged or truncated"):
        FishsegModel.load(bad)


def test_damaged_file(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    for pos in (len(data) // 3, len(data) // 2):
        bad = tmp_path / f"damaged{pos}.fishseg"
        d = bytearray(data)
        d[pos] ^= 0xFF
        bad.write_bytes(bytes(d))
        with pytest.raises(BundleError, match=f"damaged{pos}.fishseg"):
            FishsegModel.load(bad)


def rewrite_manifest(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "manifest.json":
                m = json.loads(data)
                change(m)
                data = json.dumps(m).encode()
            zout.writestr(item, data)


def test_newer_format(saved, tmp_path):
    bad = tmp_path / "newer.fishseg"

    def newer(m):
        m["format_version"] = bundle_mod.FORMAT_VERSION + 1
        m["checksum"] = bundle_mod._checksum(m)
    rewrite_manifest(saved, bad, newer)
    with pytest.raises(BundleError, match="newer.fishseg: written by a newer fishseg.*upgrade"):
        FishsegModel.load(bad)


def test_manifest_keeps_the_settings_that_differ_from_the_defaults(model, saved):
    """A setting at its default is not written, so a setting added to fishseg later does
    not stop an older fishseg from reading the file; the model loads back the same."""
    with zipfile.ZipFile(saved) as z:
        written = json.loads(z.read("manifest.json"))["config"]
    assert written == bundle_mod._non_default(to_dict(CFG), to_dict(Config()))
    assert "synth" not in written and "value_scale" not in written.get("dictionary", {})
    assert FishsegModel.load(saved).cfg == model.cfg


def test_a_setting_of_a_newer_fishseg_says_upgrade(saved, tmp_path):
    newer = tmp_path / "newer_setting.fishseg"

    def add(m):
        m["config"].setdefault("separate", {})["future_knob"] = 3
        m["fishseg_version"] = "9.0.0"
        m["checksum"] = bundle_mod._checksum(m)
    rewrite_manifest(saved, newer, add)
    with pytest.raises(BundleError, match=r"newer_setting\.fishseg: uses the setting "
                                          r"'separate\.future_knob'.*newer fishseg \(9\.0\.0\)"
                                          r".*upgrade fishseg"):
        FishsegModel.load(newer)


def test_edited_manifest_fails_checksum(saved, tmp_path):
    bad = tmp_path / "edited.fishseg"
    rewrite_manifest(saved, bad, lambda m: m["config"]["model"].update(processing_width=32))
    with pytest.raises(BundleError, match="edited.fishseg.*checksum"):
        FishsegModel.load(bad)


def test_not_a_model(tmp_path):
    bad = tmp_path / "notes.fishseg"
    bad.write_text("hello")
    with pytest.raises(BundleError, match="notes.fishseg"):
        FishsegModel.load(bad)
    with pytest.raises(BundleError, match="missing.fishseg: no such model file"):
        load_model(tmp_path / "missing.fishseg")


def test_default_model_missing_is_clear(monkeypatch, tmp_path):
    monkeypatch.setattr(bundle_mod, "DEFAULT_MODEL", tmp_path / "default.fishseg")
    with pytest.raises(BundleError, match="no bundled default model.*train_default"):
        load_model()


def test_default_model_loads(monkeypatch, saved):
    monkeypatch.setattr(bundle_mod, "DEFAULT_MODEL", saved)
    assert load_model().meta == {"note": "test"}


def test_older_file_without_std_floor_setting_keeps_its_floor(saved, tmp_path):
    """Files written before the standardisation floor was a setting keep the floor they
    were trained with (recorded in the manifest's normalisation block)."""
    old = tmp_path / "old.fishseg"

    def older(m):
        m["config"]["model"].pop("std_floor", None)  # a default: not written since session 13
        m["normalisation"]["std_floor"] = 7.0
        m["checksum"] = bundle_mod._checksum(m)
    rewrite_manifest(saved, old, older)
    assert FishsegModel.load(old).cfg.model.std_floor == 7.0
    assert FishsegModel.load(saved).cfg.model.std_floor == 4.0


def test_multi_scale_maps_are_the_mean_of_the_single_scale_maps(exact_float32):
    import dataclasses

    from fishseg.model.bundle import load_model

    model = load_model("fast")
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (2, 90, 160, 3), dtype=np.uint8)
    base = model.cfg
    single = {}
    for w in (96, 128):
        model.cfg = dataclasses.replace(base, model=dataclasses.replace(
            base.model, processing_width=w, extra_widths=()))
        single[w] = [np.asarray(m) for m in model.predict_maps(frames)]
    model.cfg = dataclasses.replace(base, model=dataclasses.replace(
        base.model, processing_width=96, extra_widths=(128,)))
    fg, edge = (np.asarray(m) for m in model.predict_maps(frames))
    np.testing.assert_allclose(fg, (single[96][0] + single[128][0]) / 2, atol=1e-6)
    np.testing.assert_allclose(edge, (single[96][1] + single[128][1]) / 2, atol=1e-6)
    assert not np.allclose(single[96][1], single[128][1])  # the scales do differ
    assert model.checksum != load_model("fast").checksum   # inference settings are hashed
    # extra_widths_fg false: the fg of the processing width, the edges of every width
    multi = model.checksum
    model.cfg = dataclasses.replace(model.cfg, model=dataclasses.replace(
        model.cfg.model, extra_widths_fg=False))
    fg, edge = (np.asarray(m) for m in model.predict_maps(frames))
    np.testing.assert_array_equal(fg, single[96][0])
    np.testing.assert_allclose(edge, (single[96][1] + single[128][1]) / 2, atol=1e-6)
    assert model.checksum != multi


def test_a_contact_channel_is_kept_and_separates(frames, tmp_path):
    rng = np.random.default_rng(4)
    base = random_model(2)
    values = rng.random((len(base.keys), 3, 16, 16)).astype(np.float32)
    cfg3 = from_dict({**to_dict(CFG), "targets": {"contact": True}})
    m3 = FishsegModel(cfg3, get_params(base.net), base.pca, base.keys, values, {})
    assert (base.channels, m3.channels) == (2, 3)
    loaded = load_model(m3.save(tmp_path / "c.fishseg"))
    assert loaded.channels == 3 and loaded.checksum == m3.checksum != base.checksum
    stack = np.asarray(loaded.predict_stack(frames))
    assert stack.shape == (3, 3, 48, 80)
    fg, edge = (np.asarray(x) for x in loaded.predict_maps(frames))
    sfg, boundary = (np.asarray(x) for x in loaded.separation_maps(frames))
    assert np.array_equal(fg, stack[:, 0]) and np.array_equal(edge, stack[:, 1])
    assert np.array_equal(sfg, fg) and np.array_equal(boundary, stack[:, 2])
    # fg and edge channels alike: the same maps as the 2-channel model
    m2 = FishsegModel(CFG, get_params(base.net), base.pca, base.keys, values[:, :2], {})
    np.testing.assert_array_equal(np.asarray(m2.predict_maps(frames)[1]), edge)
    assert np.array_equal(np.asarray(m2.separation_maps(frames)[1]), edge)  # no contact: edge
    # values that do not fit the configuration are refused
    for cfg, vals in ((CFG, values), (cfg3, values[:, :2]), (CFG, values[:5, :2])):
        with pytest.raises(ValueError, match="do not fit the configuration"):
            FishsegModel(cfg, get_params(base.net), base.pca, base.keys, vals, {})


def test_checksum_counts_settings_that_differ_from_the_defaults(monkeypatch):
    from fishseg.model.bundle import _non_default

    base = random_model(5)
    before = base.checksum
    # a setting added to fishseg later, at its default, leaves existing checksums alone
    real = bundle_mod.to_dict

    def with_a_new_setting(cfg):
        d = real(cfg)
        d["targets"] = {**d["targets"], "a_future_knob": 1}
        return d

    monkeypatch.setattr(bundle_mod, "to_dict", with_a_new_setting)
    assert base.checksum == before
    monkeypatch.undo()
    args = (get_params(base.net), base.pca, base.keys, base.values, {})
    other = from_dict({**to_dict(CFG), "separate": {"core_fg": 0.65}})
    assert FishsegModel(other, *args).checksum != base.checksum
    assert _non_default({"a": {"x": 1, "y": 2}, "b": 3, "c": [1]},
                        {"a": {"x": 1, "y": 5}, "b": 3, "c": [1]}) == {"a": {"y": 2}}
    assert _non_default({"a": {"x": 1}, "n": 4}, {"a": {"x": 1}}) == {"n": 4}


def test_set_model_settings_script(saved, tmp_path):
    """scripts/set_model_settings.py rewrites separation settings, records the change,
    keeps weights and dictionary, and refuses settings that belong to the network."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "set_model_settings.py"
    out = tmp_path / "set.fishseg"
    r = subprocess.run([sys.executable, str(script), str(saved), "--set", "separate.core_edge=0.45",
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a, b = FishsegModel.load(saved), FishsegModel.load(out)
    assert b.cfg.separate.core_edge == 0.45 and a.cfg.separate.core_edge != 0.45
    assert b.meta["settings_changed"][-1] == {"separate.core_edge": {"from": a.cfg.separate.core_edge,
                                                                     "to": 0.45}}
    for k, v in a.arrays().items():
        np.testing.assert_array_equal(b.arrays()[k], v, err_msg=k)
    r = subprocess.run([sys.executable, str(script), str(saved), "--set", "model.features=[8,8,8]",
                        "--out", str(tmp_path / "bad.fishseg")], capture_output=True, text=True)
    assert r.returncode != 0 and "model.features" in r.stderr and not (tmp_path / "bad.fishseg").exists()
    r = subprocess.run([sys.executable, str(script), str(saved), "--set", "separate.nope=1",
                        "--out", str(tmp_path / "bad.fishseg")], capture_output=True, text=True)
    assert r.returncode != 0 and "nope" in r.stderr
