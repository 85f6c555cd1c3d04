"""fishseg: find, separate, count and measure fish in CCTV video of trawler discard belts.

Public entry points (imported lazily, so ``import fishseg`` stays cheap):

- :func:`fishseg.load_model` — a trained N^4-Fields model bundle (``None`` = the bundled default).
- :func:`fishseg.separate` — fg/edge maps (B,H,W) float32 -> instance labels (B,H,W) int32.
- :func:`fishseg.synthesize` — a synthetic annotated discard-belt video.
- :func:`fishseg.load_config` — the typed configuration.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_model": ("fishseg.model.bundle", "load_model"),
    "separate": ("fishseg.separate", "separate"),
    "synthesize": ("fishseg.synth", "synthesize"),
    "load_config": ("fishseg.config", "load_config"),
    "Config": ("fishseg.config", "Config"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fishseg' has no attribute {name!r}")
