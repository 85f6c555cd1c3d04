"""From foreground and edge maps to fish instances: markers, seeded watershed, clean-up.

Touching fish share one foreground blob; the network's edge map runs along the line
where they touch. :func:`separate` splits such blobs:

1. mask = ``fg > fg_threshold``;
2. markers = connected components of the cores ``fg > core_fg & edge < core_edge``
   (inside the mask), those under ``min_marker_area`` pixels dropped;
3. elevation = ``edge_weight * edge + (1 - edge_weight) * (1 - fg)``, flooded from the
   markers inside the mask (:func:`fishseg.watershed.seeded_watershed`);
4. connected parts of the mask that hold no marker (a small or thin fish whose core did
   not survive the thresholds) become instances of their own;
5. regions under ``min_area`` pixels are removed; the rest are numbered 1..n per frame;
6. with ``tail_ratio > 0``, tails cut off at the caudal peduncle are joined back to their
   fish (:mod:`fishseg.tails`; on the host, so the jax backend then returns numpy).

All numbers are in :class:`fishseg.config.SeparateConfig`. Backends: ``jax`` (one jitted
function per shape, vmapped over frames), ``skimage`` (scipy + skimage, frame by frame on
the CPU, the reference) and ``auto``: skimage when JAX runs on the CPU, jax on an
accelerator (measured by ``scripts/bench_watershed.py``, see docs/performance.md,
"Watershed": on the 2-core CPU skimage is the faster).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from fishseg.config import SeparateConfig
from fishseg.frame_threads import per_frame
from fishseg.labeling import _label_frame, _remove_frame
from fishseg.tails import merge_tails
from fishseg.watershed import _watershed_frame, skimage_watershed


def separation_maps(model, frames):
    """The maps a model's fish are separated on: ``(fg, boundary)``, (B, H, W) each.

    ``model.separation_maps`` where the model has it (a bundle with a contact map gives
    that map as the boundary), else ``model.predict_maps`` (fg and edge): so any object
    with ``predict_maps`` (a baseline, a test's oracle) works as a model.
    """
    fn = getattr(model, "separation_maps", None) or model.predict_maps
    return fn(frames)


def resolve_backend(backend: str) -> str:
    """``"jax"`` or ``"skimage"`` for a configured backend (``"auto"`` looks at the device)."""
    if backend == "auto":
        return "skimage" if jax.default_backend() == "cpu" else "jax"
    if backend not in ("jax", "skimage"):
        raise ValueError(f"separate.backend must be auto, jax or skimage, got {backend!r}")
    return backend


def _maps(fg, edge, fg_threshold, core_fg, core_edge, edge_weight):
    """(mask, cores, float32 elevation) of numpy or jax maps (same module as the input)."""
    xp = jnp if isinstance(fg, jax.Array) else np
    mask = fg > fg_threshold
    cores = mask & (fg > core_fg) & (edge < core_edge)
    elev = (edge_weight * edge + (1.0 - edge_weight) * (1.0 - fg)).astype(xp.float32)
    return mask, cores, elev


def _thresholds(cfg: SeparateConfig) -> tuple[float, float, float, float]:
    return cfg.fg_threshold, cfg.core_fg, cfg.core_edge, cfg.edge_weight


def _separate_frame(fg, edge, thresholds, areas, connectivity, method):
    mask, cores, elev = _maps(fg, edge, *thresholds)
    markers, _ = _label_frame(cores, connectivity)
    markers = _remove_frame(markers, areas[0])
    labels, _, _ = _watershed_frame(elev, markers, mask, connectivity, method, 4)
    # parts of the mask without a marker (small or thin fish with no core) are fish too
    rest, _ = _label_frame(mask & (labels == 0), connectivity)
    labels = jnp.where(rest > 0, rest + labels.max(), labels)
    return _remove_frame(labels, areas[1])


@functools.partial(jax.jit, static_argnames=("connectivity", "method"))
def _separate_jax(fg, edge, thresholds, areas, connectivity, method):
    """Thresholds and areas are traced: changing them does not recompile."""
    frame = functools.partial(_separate_frame, thresholds=thresholds, areas=areas,
                              connectivity=connectivity, method=method)
    return jax.vmap(frame)(fg, edge)


def _sequential_keep(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Numpy twin of :func:`fishseg.labeling.remove_small` for one frame."""
    area = np.bincount(labels.ravel(), minlength=1)
    keep = area >= min_area
    keep[0] = False
    new_id = np.cumsum(keep) * keep
    return new_id[labels].astype(np.int32)


def _separate_skimage_frame(fg: np.ndarray, edge: np.ndarray, cfg: SeparateConfig) -> np.ndarray:
    """One (H, W) frame's float32 maps -> (H, W) int32 labels (the skimage backend)."""
    structure = ndimage.generate_binary_structure(2, cfg.connectivity)
    mask, cores, elev = _maps(fg, edge, *_thresholds(cfg))
    markers = _sequential_keep(ndimage.label(cores, structure)[0], cfg.min_marker_area)
    labels = skimage_watershed(elev, markers, mask, cfg.connectivity)
    rest = ndimage.label(mask & (labels == 0), structure)[0]
    labels = np.where(rest > 0, rest + labels.max(), labels)
    return _sequential_keep(labels, cfg.min_area)


def _separate_skimage(fg: np.ndarray, edge: np.ndarray, cfg: SeparateConfig) -> np.ndarray:
    return np.stack(per_frame(_separate_skimage_frame, fg, edge, cfg=cfg)) \
        if len(fg) else np.zeros(fg.shape, np.int32)


def frame_areas(cfg: SeparateConfig, width: int) -> SeparateConfig:
    """``cfg`` with its areas in pixels of a frame ``width`` pixels wide.

    With ``cfg.area_width > 0`` the areas were given for frames of that width: they scale
    by ``(width / area_width) ** 2`` (a positive area stays at least 1 pixel), so a model
    tuned on 1280-px frames keeps the same fish on a 640-px video. The result has
    ``area_width`` 0 (areas already in this frame's pixels).
    """
    if not cfg.area_width:
        return cfg
    f = (width / cfg.area_width) ** 2
    scale = lambda a: max(int(round(a * f)), 1) if a > 0 else 0  # noqa: E731
    return dataclasses.replace(cfg, min_marker_area=scale(cfg.min_marker_area),
                               min_area=scale(cfg.min_area), area_width=0)


def separate(fg, edge, cfg: SeparateConfig | None = None):
    """Instance labels of touching fish from foreground and edge maps.

    Parameters
    ----------
    fg : (H, W) or (B, H, W) float array in [0, 1]
        Foreground probability.
    edge : (H, W) or (B, H, W) float array in [0, 1]
        Boundary probability.
    cfg : SeparateConfig, optional
        Thresholds, areas, connectivity and backend (default: ``SeparateConfig()``);
        areas are scaled to the maps' width when ``cfg.area_width`` is set
        (:func:`frame_areas`).

    Returns
    -------
    labels : (H, W) or (B, H, W) int32 array
        0 = belt; fish 1..n per frame. A jax array for the jax backend (unless
        ``tail_ratio`` is set), numpy otherwise.

    Raises
    ------
    ValueError
        Shapes differ or are not (H, W) / (B, H, W), or a map holds NaN or infinity.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.indices((40, 60))
    >>> a, b = (y - 20) ** 2 + (x - 18) ** 2 < 12 ** 2, (y - 20) ** 2 + (x - 40) ** 2 < 12 ** 2
    >>> fg = (a | b).astype(np.float32)
    >>> edge = (a & b | (np.abs(x - 29) <= 1) & (a | b)).astype(np.float32)
    >>> labels = separate(fg, edge, SeparateConfig(backend="jax"))
    >>> int(labels.max()), int(labels[20, 10]), int(labels[20, 50])
    (2, 1, 2)
    """
    cfg = cfg or SeparateConfig()
    backend = resolve_backend(cfg.backend)
    on_device = backend == "jax" and isinstance(fg, jax.Array) and isinstance(edge, jax.Array)
    xp = jnp if on_device else np  # jax maps stay on the device for the jax backend
    fg_np, edge_np = xp.asarray(fg, xp.float32), xp.asarray(edge, xp.float32)
    if fg_np.shape != edge_np.shape or fg_np.ndim not in (2, 3):
        raise ValueError(f"fg and edge must both be (H, W) or (B, H, W) of one shape, "
                         f"got {fg_np.shape} and {edge_np.shape}")
    for name, a in (("fg", fg_np), ("edge", edge_np)):
        if not bool(xp.all(xp.isfinite(a))):
            raise ValueError(f"{name} map holds NaN or infinite values")
    was_2d = fg_np.ndim == 2
    if was_2d:
        fg_np, edge_np = fg_np[None], edge_np[None]
    cfg = frame_areas(cfg, fg_np.shape[-1])
    if backend == "jax":
        thresholds = jnp.asarray(_thresholds(cfg), jnp.float32)
        areas = jnp.asarray([cfg.min_marker_area, cfg.min_area], jnp.int32)
        out = _separate_jax(jnp.asarray(fg_np), jnp.asarray(edge_np), thresholds, areas,
                            cfg.connectivity, cfg.method)
    else:
        out = _separate_skimage(fg_np, edge_np, cfg)
    if cfg.tail_ratio > 0:  # on the host: a few region moments per frame
        out = merge_tails(np.asarray(out), cfg.tail_ratio, cfg.tail_axial, cfg.tail_offaxis)
    return out[0] if was_2d else out
