"""Several models as one: the mean of their fg and edge maps (for the evaluation scripts).

``eval_maps.py``, ``eval_counts.py`` and ``sweep_separation.py`` take ``--mean-with M2``:
they score the mean of their model's maps and M2's (:func:`load_models`). Averaging the bundled default's maps with another
network's was measured to beat either alone (docs/accuracy.md, section 1, "The bundled
default and B together"); this makes that measurement one command. A bundle holds one
network, so this is not yet something ``fishseg segment`` can use.
"""

from __future__ import annotations

import dataclasses
import hashlib

from fishseg.config import override
from fishseg.model.bundle import load_model
from fishseg.separate import separation_maps


def load_models(name, mean_with=(), sets=()):
    """The model a script scores: ``name`` loaded, or the :class:`MeanMaps` of it and
    ``mean_with``. ``sets`` (``KEY=VALUE`` overrides) go to every network's own settings
    before the mean is made, so inference settings reach each network's maps and the
    rest (separation, tracking) the mean's, which are the first model's."""
    models = [load_model(n) for n in (name, *mean_with)]
    for m in models:
        m.cfg = override(m.cfg, list(sets))
    return MeanMaps(models) if mean_with else models[0]


class MeanMaps:
    """The mean of several models' (fg, edge) maps; everything else from the first.

    Args:
        models: loaded bundles (:class:`fishseg.model.bundle.FishsegModel`), the first
            giving the settings (separation, tracking, ...) and the other attributes.
    """

    def __init__(self, models):
        if len(models) < 2:
            raise ValueError("a mean of maps needs at least two models")
        self.models = list(models)
        self.cfg = dataclasses.replace(self.models[0].cfg)
        joined = "+".join(m.checksum for m in self.models)
        self.checksum = hashlib.sha256(joined.encode()).hexdigest()

    def predict_maps(self, frames, **kwargs):
        """frames (B, H, W, 3) uint8 -> (fg, edge), each (B, H, W) float32: the mean of
        the models' ``predict_maps(frames, **kwargs)`` (e.g. ``tta=True``), each model at
        its own inference settings."""
        return _mean([m.predict_maps(frames, **kwargs) for m in self.models])

    def separation_maps(self, frames):
        """frames (B, H, W, 3) uint8 -> (fg, boundary) float32 (B, H, W): the mean of the
        maps each model separates on (the pipeline and the sweeps ask for these)."""
        return _mean([separation_maps(m, frames) for m in self.models])

    def __getattr__(self, name):
        if name == "models":   # not set yet (a copy): no recursion
            raise AttributeError(name)
        return getattr(self.models[0], name)


def _mean(maps):
    """[(fg, boundary), ...] -> their mean, element by element, in the order given."""
    n = len(maps)
    return sum(fg for fg, _ in maps) / n, sum(b for _, b in maps) / n
