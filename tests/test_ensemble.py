"""Bundles of several networks whose maps are averaged (format 2), and `fishseg combine`."""

import json
import zipfile

import jax.numpy as jnp
import numpy as np
import pytest

from fishseg.cli import main
from fishseg.config import from_dict, override
from fishseg.model.bundle import BundleError, FishsegModel, load_model
from fishseg.model.dictionary import lookup
from fishseg.model.ensemble import EnsembleModel, combine
from fishseg.model.fields import pad_frames, prepare
from fishseg.model.network import get_params, patch_codewords
from tests.test_bundle import random_model


def toy(seed, features=(4, 8, 16), contact=False, std_floor=4.0, min_marker_area=60):
    cfg = from_dict({"model": {"features": list(features), "code_dim": 4, "processing_width": 64,
                               "std_floor": std_floor},
                     "targets": {"contact": contact},
                     "separate": {"min_marker_area": min_marker_area},
                     "dictionary": {"chunk": 256}})
    return random_model(seed, cfg, {"seed": seed})


@pytest.fixture(scope="module")
def nets():
    # different architectures and standardisation: each network keeps its own
    return [toy(0), toy(1, features=(8, 8, 24), std_floor=8.0, min_marker_area=20)]


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(5).integers(0, 255, (3, 48, 80, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def saved(nets, tmp_path_factory):
    return combine(nets, settings_from=1).save(tmp_path_factory.mktemp("e") / "pair.fishseg")


def test_maps_are_the_mean_of_each_networks_maps(nets, frames, saved):
    ens = load_model(saved)
    assert isinstance(ens, EnsembleModel) and len(ens.networks) == 2
    assert ens.cfg.separate.min_marker_area == 20           # settings of the second
    for tta in (False, True):
        want = (np.asarray(nets[0].predict_stack(frames, tta=tta))
                + np.asarray(nets[1].predict_stack(frames, tta=tta))) / 2
        got = np.asarray(ens.predict_stack(frames, tta=tta))
        assert got.shape == (3, 2, 48, 80) and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
        fg, edge = ens.predict_maps(frames, tta=tta)
        np.testing.assert_array_equal(np.asarray(fg), want[:, 0])
        np.testing.assert_array_equal(np.asarray(edge), want[:, 1])
    # and neither network's maps alone
    assert not np.allclose(np.asarray(ens.predict_stack(frames)),
                           np.asarray(nets[0].predict_stack(frames)))


def test_the_ensembles_inference_settings_reach_every_network(nets, frames, saved):
    ens = load_model(saved)
    sets = ["model.extra_widths=[96]", "model.tta=true", "model.batch_size=2"]
    ens.cfg = override(ens.cfg, sets)
    # low contrast, so the standardisation's floor (4 and 8) matters
    dull = (frames // 12 + 100).astype(np.uint8)   # std ~6
    for n in nets:
        alone = FishsegModel(override(n.cfg, sets), *_parts(n), n.meta)
        np.testing.assert_array_equal(np.asarray(alone.predict_stack(dull)),
                                      np.asarray(n.predict_stack(dull, settings=ens.cfg)))
    # each network keeps its own floor, not the settings' (the second's, 8)
    assert ens.cfg.model.std_floor == 8.0 and nets[0].cfg.model.std_floor == 4.0
    floor8 = FishsegModel(override(nets[0].cfg, [*sets, "model.std_floor=8.0"]),
                          *_parts(nets[0]), nets[0].meta)
    assert not np.allclose(np.asarray(floor8.predict_stack(dull)),
                           np.asarray(nets[0].predict_stack(dull, settings=ens.cfg)))
    want = sum(np.asarray(n.predict_stack(dull, settings=ens.cfg)) for n in nets) / 2
    np.testing.assert_array_equal(np.asarray(ens.predict_stack(dull)), want)
    assert np.asarray(ens.predict_stack(dull)).shape == (3, 2, 48, 80)


def _parts(net):
    arrays = net.arrays()
    return ({k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")},
            net.pca, net.keys, net.values)


def test_each_network_dense_equals_patch_by_patch_after_loading(saved, frames, exact_float32):
    ens = load_model(saved)
    for net in ens.networks:
        dense = net.codewords(frames)
        x = pad_frames(prepare(frames, 64, net.cfg.model.std_floor))
        ref = patch_codewords(net.net, x, chunk=512)
        np.testing.assert_allclose(np.asarray(dense), np.asarray(ref), atol=1e-4)
        keys = jnp.asarray(net.keys)
        np.testing.assert_array_equal(np.asarray(lookup(dense.reshape(-1, 4), keys, 256)),
                                      np.asarray(lookup(ref.reshape(-1, 4), keys, 256)))


def test_round_trip_keeps_everything_and_the_checksum(nets, saved):
    ens = load_model(saved)
    again = combine(nets, settings_from=1)
    assert ens.checksum == again.checksum
    for a, b in zip(ens.networks, nets, strict=True):
        assert a.checksum == b.checksum and a.cfg == b.cfg and a.meta == b.meta
    assert ens.meta["combined_from"] == [n.checksum for n in nets]
    # settings and every network count in the checksum; the order of networks too
    assert combine(nets, settings_from=0).checksum != ens.checksum
    assert combine(nets[::-1], settings_from=0).checksum != ens.checksum
    assert combine([nets[0], toy(2)]).checksum != combine(nets).checksum
    changed = load_model(saved)
    changed.cfg = override(changed.cfg, ["separate.core_edge=0.45"])
    assert changed.checksum != ens.checksum
    with zipfile.ZipFile(saved) as z:
        manifest = json.loads(z.read("manifest.json"))
        names = z.namelist()
    assert manifest["format_version"] == 2 and len(manifest["members"]) == 2
    assert all(n.startswith("members/") for n in manifest["arrays"])
    assert all(n.endswith(".npy") for n in names if n != "manifest.json")   # no pickle
    assert all("object" not in a["dtype"] for a in manifest["arrays"].values())


def test_one_network_bundles_stay_format_1(nets, tmp_path):
    path = nets[0].save(tmp_path / "one.fishseg")
    with zipfile.ZipFile(path) as z:
        assert json.loads(z.read("manifest.json"))["format_version"] == 1


def _rewrite(src, dst, fn):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, fn(item.filename, zin.read(item.filename)))
    return dst


def test_a_damaged_network_is_named(saved, tmp_path):
    def flip(name, data):
        if name == "arrays/members/1/dictionary/keys.npy":
            data = data[:-8] + bytes(8)
        return data

    bad = _rewrite(saved, tmp_path / "bad.fishseg", flip)
    with pytest.raises(BundleError, match=r"bad\.fishseg.*damaged.*members/1/dictionary/keys"):
        load_model(bad)


def test_a_network_that_does_not_match_its_configuration_is_named(saved, tmp_path):
    def edit(name, data):
        if name == "manifest.json":
            m = json.loads(data)
            m["members"][1]["config"]["model"]["features"] = [4, 8, 16]
            m["checksum"] = _checksum(m)
            data = json.dumps(m).encode()
        return data

    bad = _rewrite(saved, tmp_path / "mismatch.fishseg", edit)
    with pytest.raises(BundleError, match=r"mismatch\.fishseg \(network 2 of 2\).*does not match"):
        load_model(bad)


def _checksum(manifest):
    from fishseg.model.bundle import _checksum as c
    return c(manifest)


def test_networks_must_make_the_same_maps(nets):
    with pytest.raises(ValueError, match="contact map"):
        EnsembleModel(nets[0].cfg, [nets[0], toy(3, contact=True)])
    with pytest.raises(ValueError, match="at least two"):
        EnsembleModel(nets[0].cfg, [nets[0]])


def test_an_ensemble_in_combine_gives_its_networks(nets, frames):
    three = combine([combine(nets), toy(2)])
    assert len(three.networks) == 3
    want = sum(np.asarray(n.predict_stack(frames, settings=three.cfg))
               for n in [*nets, toy(2)]) / 3
    np.testing.assert_allclose(np.asarray(three.predict_stack(frames)), want, atol=1e-6)


def test_segment_uses_the_ensembles_separation_settings(nets, frames, saved):
    from fishseg.separate import separate

    ens = load_model(saved)
    fg, edge = ens.separation_maps(frames)
    labels = ens.segment(frames)
    np.testing.assert_array_equal(labels, np.asarray(separate(fg, edge, ens.cfg.separate)))


def test_combine_command(nets, tmp_path, capsys):
    a, b = nets[0].save(tmp_path / "a.fishseg"), nets[1].save(tmp_path / "b.fishseg")
    out = tmp_path / "ab.fishseg"
    assert main(["combine", str(a), str(b), "--out", str(out), "--settings-from", str(b),
                 "--set", "separate.core_edge=0.45"]) == 0
    said = capsys.readouterr().out
    m = load_model(out)
    assert "2 networks" in said and m.checksum[:12] in said and str(out) in said
    assert m.cfg.separate.min_marker_area == 20 and m.cfg.separate.core_edge == 0.45
    assert [n.checksum for n in m.networks] == [nets[0].checksum, nets[1].checksum]
    # bad uses: one model, --settings-from another, an unknown key; nothing written
    for argv, msg in (([str(a)], "two or more"),
                      ([str(a), str(b), "--settings-from", "c.fishseg"], "not one of the models"),
                      ([str(a), str(b), "--set", "separate.nope=1"], "separate.nope")):
        bad = tmp_path / "bad.fishseg"
        assert main(["combine", *argv, "--out", str(bad)]) == 2
        assert msg in capsys.readouterr().err and not bad.exists()


def test_fine_tuning_starts_from_the_first_network(nets, saved):
    ens = load_model(saved)
    first = ens.first_network()
    assert isinstance(first, FishsegModel)
    assert first.cfg.model == nets[0].cfg.model                 # its own architecture
    assert first.cfg.separate == ens.cfg.separate               # the ensemble's separation
    for k, v in get_params(first.net).items():
        np.testing.assert_array_equal(v, get_params(nets[0].net)[k])
