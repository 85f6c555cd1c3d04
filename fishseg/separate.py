"""From foreground and edge maps to fish instances: markers, seeded watershed, clean-up.

Touching fish share one foreground blob; the network's edge map runs along the line
where they touch. :func:`separate` splits such blobs:

1. mask = ``fg > fg_threshold``;
2. markers = connected components of the cores ``fg > core_fg & edge < core_edge``
   (inside the mask), those under ``min_marker_area`` pixels dropped;
   with ``split_edge`` set, a core whose pixels with edge below a lower threshold fall
   into two or more parts of ``split_area`` pixels or more is replaced by those parts
   (:func:`split_markers`: fish overlapping along a faint edge keep a marker each,
   while a core cut by a short or faint line elsewhere stays whole);
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


def split_markers(markers: np.ndarray, edge: np.ndarray, levels, split_area: int,
                  structure: np.ndarray) -> np.ndarray:
    """Split marker cores that fall apart into large parts at lower edge thresholds.

    For each threshold t of ``levels`` in turn: the pixels of each marker with
    ``edge < t`` are split into connected parts; a marker with two or more parts of
    ``split_area`` pixels or more is replaced by those parts (its smaller parts are
    dropped: the watershed floods them), any other marker stays as it is.

    Args:
        markers: (H, W) int32 labels 0..n (0 = no marker).
        edge: (H, W) float32 edge map.
        levels: decreasing edge thresholds. split_area: least pixels of a part.
        structure: scipy connectivity structure.

    Returns:
        (H, W) int32 markers numbered 1..m in raster order of their first pixel.
    """
    for t in levels:
        parts, n = ndimage.label((markers > 0) & (edge < t), structure)
        if n == 0:
            continue
        flat = parts.ravel()
        big = np.bincount(flat, minlength=n + 1) >= split_area
        big[0] = False
        parent = np.zeros(n + 1, np.int64)
        parent[flat] = markers.ravel()  # every pixel of a part lies in one marker
        split = np.bincount(parent[big], minlength=int(markers.max()) + 1) >= 2
        split[0] = False
        if not split.any():
            continue
        # the new markers are not adjacent to each other (different components of the
        # cores, or parts cut apart by the edge): their union's components are they
        keep = (markers > 0) & ~split[markers] | (big & split[parent])[parts]
        markers = ndimage.label(keep, structure)[0].astype(np.int32)
    return markers


def _split_frame(markers, edge, levels, split_area, connectivity):
    """:func:`split_markers` in JAX for one frame (``levels``: (L,) float32, traced)."""
    n = markers.size
    for i in range(levels.shape[0]):
        parts, _ = _label_frame((markers > 0) & (edge < levels[i]), connectivity)
        flat = parts.ravel()
        area = jnp.zeros(n + 1, jnp.int32).at[flat].add(1)
        big = (area >= split_area).at[0].set(False)
        parent = jnp.zeros(n + 1, jnp.int32).at[flat].max(markers.ravel())
        nbig = jnp.zeros(n + 1, jnp.int32).at[jnp.where(big, parent, 0)].add(big.astype(jnp.int32))
        split = (nbig >= 2).at[0].set(False)
        keep = (markers > 0) & ~split[markers] | (big & split[parent])[parts]
        markers, _ = _label_frame(keep, connectivity)
    return markers


def _thresholds(cfg: SeparateConfig) -> tuple[float, float, float, float]:
    return cfg.fg_threshold, cfg.core_fg, cfg.core_edge, cfg.edge_weight


def _separate_frame(fg, edge, thresholds, areas, levels, connectivity, method):
    mask, cores, elev = _maps(fg, edge, *thresholds)
    markers, _ = _label_frame(cores, connectivity)
    markers = _remove_frame(markers, areas[0])
    markers = _split_frame(markers, edge, levels, areas[2], connectivity)
    labels, _, _ = _watershed_frame(elev, markers, mask, connectivity, method, 4)
    # parts of the mask without a marker (small or thin fish with no core) are fish too
    rest, _ = _label_frame(mask & (labels == 0), connectivity)
    labels = jnp.where(rest > 0, rest + labels.max(), labels)
    return _remove_frame(labels, areas[1])


@functools.partial(jax.jit, static_argnames=("connectivity", "method"))
def _separate_jax(fg, edge, thresholds, areas, levels, connectivity, method):
    """Thresholds, areas and split levels are traced: changing them does not recompile
    (their number does)."""
    frame = functools.partial(_separate_frame, thresholds=thresholds, areas=areas,
                              levels=levels, connectivity=connectivity, method=method)
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
    markers = split_markers(markers, edge, cfg.split_edge, cfg.split_area, structure)
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
                               min_area=scale(cfg.min_area), split_area=scale(cfg.split_area),
                               area_width=0)


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
        areas = jnp.asarray([cfg.min_marker_area, cfg.min_area, cfg.split_area], jnp.int32)
        levels = jnp.asarray(cfg.split_edge, jnp.float32).reshape(-1)
        out = _separate_jax(jnp.asarray(fg_np), jnp.asarray(edge_np), thresholds, areas,
                            levels, cfg.connectivity, cfg.method)
    else:
        out = _separate_skimage(fg_np, edge_np, cfg)
    if cfg.tail_ratio > 0:  # on the host: a few region moments per frame
        out = merge_tails(np.asarray(out), cfg.tail_ratio, cfg.tail_axial, cfg.tail_offaxis)
    return out[0] if was_2d else out
