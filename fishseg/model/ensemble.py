"""Several trained networks as one model: the mean of their maps.

Averaging the maps of networks trained with different recipes gives better maps than
either alone (as the multi-scale and flipped maps of one network do, and as deep
ensembles do in general): the bundled default is the mean of two networks
(docs/accuracy.md, "The default: two networks"). An :class:`EnsembleModel` is what
``load_model`` returns for a bundle of several networks (format 2, ``fishseg.model.bundle``);
``fishseg combine A B --out C`` (:func:`combine`) makes one from trained bundles.

The ensemble's own configuration holds the inference settings (``model.tta``,
``processing_width``, ``extra_widths``, ``batch_size``, ``dictionary.chunk``), which
every network uses, and the separation and tracking settings; each network keeps its
own architecture, input standardisation and dictionary. It costs one network pass,
lookup and overlap-add per network: twice the map time of one network on a CPU for
two, nothing noticeable on a GPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax

from fishseg.config import Config, override
from fishseg.model.bundle import (
    FishsegModel,
    MapsModel,
    _non_default_cfg,
    _normalisation,
    load_model,
    write_bundle,
)
from fishseg.model.network import get_params


class EnsembleModel(MapsModel):
    """Networks whose (fg, edge[, contact]) maps are averaged, frame by frame.

    Args:
        cfg: the ensemble's settings: inference (``model.tta``, widths, batch size,
            ``dictionary.chunk``), separation and tracking. Each network's own
            architecture, standardisation and dictionary stay its own.
        networks: two or more one-network models (:class:`FishsegModel`) making the
            same maps (the same number of channels).
        meta: JSON-serialisable information (what it was combined from).
    """

    def __init__(self, cfg: Config, networks: Sequence[FishsegModel], meta: dict | None = None):
        networks = list(networks)
        if len(networks) < 2:
            raise ValueError(f"an ensemble needs at least two networks, got {len(networks)}")
        for i, n in enumerate(networks):
            if not isinstance(n, FishsegModel):
                raise ValueError(f"network {i + 1} is a {type(n).__name__}, not one network "
                                 "(an ensemble's networks cannot be ensembles)")
        channels = {n.channels for n in networks}
        if len(channels) > 1:
            raise ValueError(f"the networks make different maps ({sorted(channels)} channels): "
                             "a model with a contact map can only be averaged with others "
                             "that have one")
        self.cfg = cfg
        self.networks = networks
        self.meta = dict(meta or {})

    @property
    def channels(self) -> int:
        """Maps each network makes: 2 (fg, edge) or 3 (fg, edge, contact)."""
        return self.networks[0].channels

    def predict_stack(self, frames: Any, *, tta: bool | None = None,
                      batch_size: int | None = None) -> jax.Array:
        """The mean of the networks' maps: (B, C, H, W) float32 in [0, 1].

        Args:
            frames: (B, H, W, 3) uint8 RGB (or (B, H, W) grey, or one (H, W, 3) frame).
            tta: also predict on the mirrored frames (default ``model.tta``).
            batch_size: frames per jitted call (default ``model.batch_size``).
        """
        total = None
        for net in self.networks:
            maps = net.predict_stack(frames, tta=tta, batch_size=batch_size, settings=self.cfg)
            total = maps if total is None else total + maps
        return total / len(self.networks)

    @property
    def checksum(self) -> str:
        """sha256 of the ensemble's settings (those that differ from the built-in
        defaults) and of each network's checksum, in order."""
        h = hashlib.sha256(json.dumps(_non_default_cfg(self.cfg), sort_keys=True).encode())
        for net in self.networks:
            h.update(net.checksum.encode())
        return h.hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write the bundle (format 2; atomically)."""
        members, arrays = [], {}
        for i, net in enumerate(self.networks):
            members.append({"config": _non_default_cfg(net.cfg),
                            "normalisation": _normalisation(net.cfg), "meta": net.meta})
            arrays.update({f"members/{i}/{k}": v for k, v in net.arrays().items()})
        return write_bundle(path, 2, {"config": _non_default_cfg(self.cfg), "meta": self.meta,
                                      "members": members}, arrays)

    def first_network(self) -> FishsegModel:
        """The first network alone, with the ensemble's settings of separation and
        tracking (e.g. to fine-tune from, which needs one network)."""
        net = self.networks[0]
        return FishsegModel(dataclasses.replace(net.cfg, separate=self.cfg.separate,
                                                track=self.cfg.track),
                            get_params(net.net), net.pca, net.keys, net.values, net.meta)


def combine(models: Sequence[MapsModel], settings_from: int = 0,
            meta: dict | None = None) -> EnsembleModel:
    """One model from several trained ones: the mean of all their networks' maps.

    Args:
        models: loaded bundles; an ensemble among them gives its networks.
        settings_from: index of the model whose settings (inference, separation,
            tracking) the result keeps; tune them afterwards (``fishseg tune``) or pass
            ``--set`` overrides.
        meta: extra information to store (``combined_from`` is added: each model's
            checksum).

    Raises:
        ValueError: fewer than two networks in all, or networks that make different maps.
    """
    if not 0 <= settings_from < len(models):
        raise ValueError(f"settings_from must be 0..{len(models) - 1}, got {settings_from}")
    networks = []
    for m in models:
        networks.extend(m.networks if isinstance(m, EnsembleModel) else [m])
    info = {"combined_from": [m.checksum for m in models], "settings_from": settings_from}
    info.update(meta or {})
    return EnsembleModel(dataclasses.replace(models[settings_from].cfg), networks, info)


def load_mean(names: Sequence[str | Path | None], sets: Sequence[str] = ()) -> MapsModel:
    """The model the evaluation scripts score (their ``--model M --mean-with M2 ...``):
    ``names[0]`` loaded, or, for several names, the mean of their maps with the first
    one's settings (:func:`combine`, in memory); ``sets`` (``KEY=VALUE`` overrides) go
    to the result's settings, so inference settings (``model.tta``, widths) reach every
    network and the rest (separation, tracking) the mean."""
    models = [load_model(n) for n in names]
    model = models[0] if len(models) == 1 else combine(models)
    model.cfg = override(model.cfg, list(sets))
    return model
