"""The typed configuration: defaults, strict loading, overrides, error messages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fishseg.config import Config, ConfigError, from_dict, load_config, override, to_dict

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_frozen():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.steps = 3  # type: ignore[misc]


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    # a round trip through plain dicts gives the same configuration
    assert from_dict(to_dict(cfg)) == cfg


def test_file_values_override_defaults(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 123\nmodel:\n  features: [8, 16, 32]\n")
    cfg = load_config(f)
    assert cfg.train.steps == 123
    assert cfg.model.features == (8, 16, 32)
    assert cfg.dictionary == Config().dictionary  # untouched sections keep defaults


def test_unknown_key_names_key_and_file(tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text("train:\n  stpes: 10\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    msg = str(e.value)
    assert "train.stpes" in msg and str(f) in msg and "did you mean 'steps'" in msg


def test_unknown_section(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("trian:\n  steps: 10\n")
    with pytest.raises(ConfigError, match=r"unknown key 'trian'"):
        load_config(f)


@pytest.mark.parametrize("text, key", [
    ("train:\n  steps: ten\n", "train.steps"),
    ("train:\n  steps: 1.5\n", "train.steps"),
    ("train:\n  augment: 1\n", "train.augment"),
    ("separate:\n  backend: 3\n", "separate.backend"),
    ("model:\n  features: 32\n", "model.features"),
    ("train: 5\n", "train"),
])
def test_wrong_type_names_key(tmp_path, text, key):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert f"'{key}'" in str(e.value) and str(f) in str(e.value)


@pytest.mark.parametrize("text, key", [
    ("train:\n  steps: 0\n", "train.steps"),
    ("separate:\n  fg_threshold: 1.5\n", "separate.fg_threshold"),
    ("separate:\n  backend: gpu\n", "separate.backend"),
    ("separate:\n  connectivity: 3\n", "separate.connectivity"),
])
def test_out_of_range_names_key(tmp_path, text, key):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(f)


def test_cross_field_check():
    with pytest.raises(ConfigError, match="train.balance"):
        from_dict({"train": {"balance": [0.5, 0.5, 0.5]}})


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    f = tmp_path / "broken.yaml"
    f.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)


def test_override_assignments():
    cfg = override(Config(), ["train.steps=7", "separate.backend=skimage", "model.features=[4,8,16]"])
    assert cfg.train.steps == 7 and cfg.separate.backend == "skimage"
    assert cfg.model.features == (4, 8, 16)
    with pytest.raises(ConfigError, match="command line: unknown key 'train.nope'"):
        override(cfg, ["train.nope=1"])
    with pytest.raises(ConfigError, match="section.key=value"):
        override(cfg, ["train.steps"])


def test_scientific_notation_is_a_number(tmp_path):
    """PyYAML reads 1e-4 (no decimal point) as a string; it is a number to the user."""
    cfg = override(Config(), ["train.learning_rate=1e-4", "train.steps=2e4",
                              "separate.fg_threshold=5E-1", "train.balance=[2e-1, 3E-1, 5e-1]"])
    assert cfg.train.learning_rate == 1e-4 and cfg.train.steps == 20000
    assert cfg.separate.fg_threshold == 0.5 and cfg.train.balance == (0.2, 0.3, 0.5)
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  learning_rate: 3e-4\n  weight_decay: -1e-5\n")
    with pytest.raises(ConfigError, match="weight_decay"):  # still range-checked
        load_config(f)
    f.write_text("train:\n  learning_rate: 3e-4\n")
    assert load_config(f).train.learning_rate == 3e-4
    for bad, key in (["train.steps=25e-1", "train.steps"], ["train.learning_rate=1e-4x",
                                                           "train.learning_rate"]):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            override(Config(), [bad])


def test_extra_widths():
    cfg = override(Config(), ["model.extra_widths=[800, 960]"])
    assert cfg.model.extra_widths == (800, 960) and Config().model.extra_widths == ()
    with pytest.raises(ConfigError, match=r"model\.extra_widths.*below the minimum 64"):
        override(Config(), ["model.extra_widths=[32]"])
