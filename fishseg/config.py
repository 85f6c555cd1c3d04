"""Typed, frozen configuration loaded from YAML.

A configuration is a tree of frozen dataclasses (:class:`Config` at the root). YAML files
in ``configs/`` give values for any subset of the fields; everything left out keeps its
default. Loading is strict: an unknown key, a value of the wrong type or a value out of
range raises :class:`ConfigError` naming the file and the dotted key, e.g.::

    configs/quick.yaml: unknown key 'train.stpes' (did you mean 'steps'?)

Command-line flags override file values through :func:`override` with dotted keys
(``--set train.steps=200``), validated the same way.

Each field may carry ``metadata={"min": a, "max": b, "choices": (...)}``; ``help`` in the
metadata documents the field and is shown by ``fishseg config --show``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


def _f(default: Any, help: str = "", **meta: Any) -> Any:
    """A dataclass field with a default, a help text and validation metadata."""
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class SynthConfig:
    """The synthetic discard-belt generator (``fishseg synth``)."""

    width: int = _f(1280, "frame width in pixels", min=64, max=7680)
    height: int = _f(720, "frame height in pixels", min=64, max=4320)
    fps: float = _f(25.0, "frames per second of the video", min=1.0, max=240.0)
    belt_speed: float = _f(0.012, "belt speed in frame widths per frame", min=0.0, max=0.2)
    fish_density: float = _f(9.0, "mean number of fish in view", min=0.0, max=100.0)
    min_length: float = _f(0.07, "smallest fish length, fraction of frame width", min=0.01, max=1.0)
    max_length: float = _f(0.5, "largest fish length, fraction of frame width", min=0.01, max=1.0)
    clump_prob: float = _f(0.45, "chance that a fish arrives in a clump of 2-5", min=0.0, max=1.0)
    flatfish_prob: float = _f(0.3, "share of flatfish among the fish", min=0.0, max=1.0)
    occluder_prob: float = _f(0.04, "chance per frame that a hand or tool enters", min=0.0, max=1.0)
    flicker: float = _f(0.06, "amplitude of fluorescent flicker (relative)", min=0.0, max=1.0)
    noise_sigma: float = _f(3.0, "sensor noise std in grey levels", min=0.0, max=50.0)
    motion_blur: bool = _f(True, "blur along the belt direction")
    shadow_strength: float = _f(0.45, "darkness of the soft shadows under fish and hands", min=0.0, max=1.0)
    highlight_strength: float = _f(0.5, "brightness of specular highlights on wet fish", min=0.0, max=2.0)
    crf: int = _f(28, "H.264 constant rate factor of the written video", min=0, max=51)


@dataclass(frozen=True)
class TargetsConfig:
    """Target maps derived from instance labels."""

    edge_width: int = _f(2, "edge thickness in pixels (each side of a boundary)", min=1, max=16)
    contact: bool = _f(False, "also learn a contact map (boundaries between two fish only) "
                       "and separate fish on it: a tail's narrow neck is then no cut")
    edge_code_weight: float = _f(1.0, "the edge channel's weight in the target codes: their "
                                 "PCA and the training loss see edge pixels this many times "
                                 "as large (3: edge F1 +0.008 / +0.011 on validation / test "
                                 "stills, docs/accuracy.md)", min=0.1, max=100.0)


@dataclass(frozen=True)
class ModelConfig:
    """The N^4-Fields network and its patch geometry."""

    features: tuple[int, ...] = _f((16, 32, 128), "channels of conv1, conv2 and the FC (5x5) layer "
                                   "(reference (32, 64, 256); smaller by measurement, see docs/performance.md)")
    code_dim: int = _f(16, "codeword dimension (PCA components of the target patches)", min=1, max=512)
    fc_rank: int = _f(0, "0: the FC layer is one 5x5 conv; r > 0: a 5x5 conv to r channels, "
                      "then a 1x1 conv (low rank: (25*c2 + c3)*r instead of 25*c2*c3 "
                      "multiply-adds per grid cell; make one from a trained model with "
                      "train.init, docs/performance.md)", min=0, max=4096)
    dropout: float = _f(0.5, "dropout after the FC layer", min=0.0, max=0.95)
    input_patch: int = _f(34, "input patch side", choices=(34,))
    target_patch: int = _f(16, "target (annotation) patch side", choices=(16,))
    stride: int = _f(4, "output grid stride of the dense network", choices=(4,))
    processing_width: int = _f(640, "frames are resized to this width before the network", min=64, max=7680)
    std_floor: float = _f(4.0, "input standardisation: per-frame std floored at this many grey "
                          "levels (20 was measured worse on held-out stills: docs/accuracy.md)",
                          min=0.1, max=255.0)
    tta: bool = _f(False, "test-time augmentation: average with the maps of the mirrored frame")
    extra_widths: tuple[int, ...] = _f((), "multi-scale inference: also make the maps at these "
                                       "processing widths and average them with the main one "
                                       "(e.g. [800, 960]: better placed edges, each width w costs "
                                       "(w / processing_width)^2 of the network's time)",
                                       min=64, max=7680)
    extra_widths_fg: bool = _f(True, "with extra_widths: average the foreground map over the "
                               "widths too (false: the foreground of processing_width only, "
                               "the edge and contact maps over every width; the larger widths "
                               "see belt texture as fish: docs/accuracy.md)")
    batch_size: int = _f(8, "frames per jitted inference call", min=1, max=1024)


@dataclass(frozen=True)
class TrainConfig:
    """Training of the network (``fishseg train``)."""

    seed: int = _f(0, "random seed: the same seed gives the same model", min=0)
    steps: int = _f(6000, "optimisation steps", min=1)
    batch_size: int = _f(256, "patches per step", min=1)
    learning_rate: float = _f(1e-3, "peak learning rate (Adam, warmup + cosine decay)", min=0.0)
    warmup_steps: int = _f(200, "linear warmup steps", min=0)
    weight_decay: float = _f(1e-4, "decoupled weight decay (AdamW)", min=0.0)
    val_fraction: float = _f(0.15, "share of the frames held out for validation", min=0.0, max=0.9)
    eval_every: int = _f(250, "steps between validation passes", min=1)
    patches_per_image: int = _f(2000, "patches sampled from each training frame", min=1)
    balance: tuple[float, ...] = _f((0.3, 0.3, 0.4), "sampling shares of belt, fish interior, edge")
    hard_share: float = _f(0.0, "share of the belt samples taken from its most textured pixels "
                           "(text, chevrons, glare) and of the edge samples from boundaries "
                           "between touching fish: hard examples", min=0.0, max=1.0)
    augment: bool = _f(True, "flips, rotations, photometric jitter, blur and noise")
    crop: int = _f(0, "0: each step trains on batch_size separate 34x34 patches; g > 0: on "
                   "crops of g x g overlapping stride-4 patches ((30 + 4g)-pixel inputs, "
                   "batch_size // g^2 crops per step), whose convolutions are shared: "
                   "~8x more patches per second on a CPU (docs/performance.md)",
                   min=0, max=64)
    max_frames: int = _f(0, "use at most this many frames (0 = all)", min=0)
    checkpoint_minutes: float = _f(5.0, "save the training's state this often (and on "
                                   "Ctrl-C) beside the model file, so that the same command "
                                   "resumes an interrupted training (0 = never)", min=0.0)
    tune_separation: bool = _f(True, "tune the separation thresholds on the validation frames "
                               "and store them in the model (fishseg.tune)")
    retune_min_fish: int = _f(50, "with init: re-tune the init model's separation settings "
                              "only when the validation frames hold at least this many fish "
                              "(fewer make the tuning noise: docs/accuracy.md, section 4)",
                              min=0)
    init: str = _f("", "start from this model's network: a .fishseg file or a bundled name "
                   "(default, fast); its features, processing_width and std_floor are used. "
                   "Empty: train from random weights")
    finetune: str = _f("head", "with init: 'head' trains only the FC and output layers on "
                       "cached outputs of the fixed convolutions (minutes on a CPU); 'all' "
                       "trains every layer", choices=("head", "all"))
    head_pool: int = _f(131072, "with init and finetune 'head': augmented training patches "
                        "whose convolution outputs are computed once and reused (memory "
                        "~50 bytes x conv2 channels each)", min=1)


@dataclass(frozen=True)
class DictionaryConfig:
    """The learned dictionary (keys = codewords, values = target patches)."""

    size: int = _f(2048, "K, number of dictionary entries after k-means (lookup cost ~ K)", min=1, max=65536)
    samples: int = _f(60000, "training patches whose codewords seed the dictionary", min=1)
    value_scale: int = _f(1, "resolution of the dictionary's target patches, as a multiple of "
                          "the processing resolution: 2 draws the maps at twice the "
                          "processing width from truth cut at that resolution (edges placed "
                          "closer; the network is the same)", min=1, max=4)
    kmeans_iters: int = _f(20, "k-means iterations", min=1, max=1000)
    chunk: int = _f(256, "query rows per chunk of the nearest-neighbour search (256: the "
                    "chunk x K distances stay in cache; memory ~ 4*chunk*K bytes)", min=1)
    with_init: str = _f("keep", "with train.init, when the target maps and code_dim are the "
                        "init model's: 'keep' its target codes (PCA) and dictionary, so only "
                        "the network adapts; 'extend' the dictionary with entries from the "
                        "new frames ('keep' and 'extend' keep its value_scale too); 'rebuild' codes "
                        "and dictionary from the new frames alone",
                        choices=("keep", "extend", "rebuild"))


@dataclass(frozen=True)
class SeparateConfig:
    """From fg/edge maps to instances: markers and seeded watershed."""

    fg_threshold: float = _f(0.5, "foreground: fg above this", min=0.0, max=1.0)
    core_fg: float = _f(0.7, "marker cores: fg above this ...", min=0.0, max=1.0)
    core_edge: float = _f(0.3, "... and edge below this", min=0.0, max=1.0)
    min_marker_area: int = _f(20, "markers smaller than this (pixels) are dropped", min=0)
    min_area: int = _f(60, "fragments smaller than this (pixels) are removed", min=0)
    area_width: int = _f(0, "the two areas above are in pixels of a frame this wide; on "
                         "frames of another width they scale with the square of the width "
                         "ratio (0: pixels of the frame as given). fishseg train sets it to "
                         "the width of the frames it tuned on", min=0, max=7680)
    split_edge: tuple[float, ...] = _f((), "lower edge thresholds, highest first: a marker core "
                                       "whose pixels with edge below one of them fall into two or "
                                       "more parts of split_area pixels or more is replaced by "
                                       "those parts (fish that overlap along a faint edge; "
                                       "empty = off)", min=0.0, max=1.0)
    split_area: int = _f(0, "least area (pixels, scaled as min_area) of each part of a split "
                         "marker core", min=0)
    edge_weight: float = _f(1.0, "elevation = edge_weight*edge + (1-edge_weight)*(1-fg)", min=0.0, max=1.0)
    connectivity: int = _f(1, "watershed connectivity: 1 (4-neighbours) or 2 (8)", choices=(1, 2))
    backend: str = _f("auto", "watershed backend: jax, skimage (CPU reference) or auto "
                      "(skimage on CPU, jax on an accelerator)", choices=("auto", "jax", "skimage"))
    method: str = _f("sweep", "jax flooding: sweep (Jacobi sweeps) or scan (row/column scans + sweeps)", choices=("sweep", "scan"))
    tail_ratio: float = _f(0.0, "join a region to its only fish neighbour when under this share of "
                           "its area and lying off its end along its major axis (a tail cut "
                           "off at the caudal peduncle, fishseg.tails; 0 = off)", min=0.0, max=1.0)
    tail_axial: float = _f(1.0, "... centroid at least this many of the neighbour's half-lengths "
                           "along its axis", min=0.0)
    tail_offaxis: float = _f(0.35, "... and at most this many across it", min=0.0)


@dataclass(frozen=True)
class TrackConfig:
    """Linking instances frame to frame into tracks (:class:`fishseg.tracking.Tracker`)."""

    iou_threshold: float = _f(0.3, "least IoU (after belt-motion shift) to link two instances", min=0.0, max=1.0)
    max_gap: int = _f(2, "frames a track may go unseen and still be re-linked", min=0, max=1000)
    edge_margin: int = _f(1, "a fish with a pixel in the outer N rows/columns touches the edge (0 = never)", min=0, max=1000)
    min_frames: int = _f(3, "a track counts as a distinct fish only if seen in this many frames "
                         "(a fish riding through the view is seen in many; 1 = count every track)",
                         min=1, max=10000)
    max_shift: float = _f(0.25, "largest belt motion per frame, fraction of the frame size", min=0.0, max=1.0)
    off_belt_share: float = _f(0.5, "a track whose moves in its first frames are explained better "
                               "by its own motion than by the belt's in more than this share of "
                               "the steps is not on the belt (a glove, a tool, a fixture) and "
                               "not counted (1 = the test off)", min=0.0, max=1.0)
    hidden_gap: int = _f(10, "frames a counted fish may go unseen while its predicted place "
                         "lies on other fish (merged into a neighbour's region) and still be "
                         "re-linked when it separates again (0 = max_gap for all)",
                         min=0, max=10000)
    min_fg: float = _f(0.0, "a track counts only if the median over its first frames (those "
                       "that decide whether it counts) of the 90th percentile of the "
                       "foreground map over its pixels is at least this: belt texture the "
                       "maps half take for fish scores 0.6-0.8, fish 0.8-1 (0 = the test "
                       "off; 0.85 on often empty, textured or low-resolution belts, but it "
                       "undercounts dense piles: docs/accuracy.md)", min=0.0, max=1.0)


@dataclass(frozen=True)
class MeasureConfig:
    """Per-fish measurements (:mod:`fishseg.measure`)."""

    cm_per_pixel: float | None = _f(None, "calibration: centimetres per pixel (null = report pixels only)", min=1e-6)
    belt_points: tuple[tuple[float, ...], ...] | None = _f(
        None, "perspective calibration for an oblique camera: 4 or more points "
        "[x_px, y_px, x_cm, y_cm] on the belt (pixels of the input frames); fish are then "
        "measured on the belt plane (fishseg.calibration; instead of cm_per_pixel)")
    lens: tuple[float, ...] | None = _f(
        None, "lens distortion of a wide-angle camera: [fx, fy, cx, cy, k1, k2, p1, p2] or "
        "with k3 (OpenCV's model, pixels of the input frames; `fishseg calibrate-lens` "
        "measures it); fish are measured on undistorted positions (fishseg.lens; needs "
        "cm_per_pixel or belt_points)")
    midline_views: int = _f(
        5, "each fish's length along its body (fish.csv midline_px: snout to tail tip along "
        "the midline, fishseg.midline; a bent fish's length_px is its chord) is measured in "
        "the first this many frames where it is not cut by the frame edge, and the median "
        "kept (about 1.5 ms each; 0 = off)", min=0)


@dataclass(frozen=True)
class ClassicalConfig:
    """The classical baseline: threshold + distance transform + marker watershed."""

    feature: str = _f("colour", "what is thresholded: distance to the belt's dominant colour or grey level",
                      choices=("colour", "grey"))
    blur_sigma: float = _f(1.5, "Gaussian blur of the feature image before Otsu (pixels)", min=0.0, max=20.0)
    threshold_scale: float = _f(1.0, "multiplies the Otsu threshold (<1 keeps more pixels as fish)", min=0.05, max=5.0)
    opening_radius: int = _f(2, "radius of the morphological opening of the mask (pixels)", min=0, max=50)
    h: float = _f(3.0, "h-maxima height of the distance transform for markers (pixels)", min=0.0, max=100.0)
    min_area: int = _f(60, "objects smaller than this (pixels) are removed", min=0)


@dataclass(frozen=True)
class PixelForestConfig:
    """The pixel-forest baseline: multiscale features + random forests for fg and edge."""

    processing_width: int = _f(320, "frames are resized to this width for features and prediction", min=32, max=7680)
    sigma_min: float = _f(1.0, "smallest feature scale (pixels at processing width)", min=0.1, max=64.0)
    sigma_max: float = _f(16.0, "largest feature scale", min=0.1, max=128.0)
    num_sigma: int = _f(5, "number of feature scales", min=1, max=16)
    n_estimators: int = _f(32, "trees per forest", min=1, max=1000)
    max_depth: int = _f(14, "maximal tree depth", min=1, max=64)
    min_samples_leaf: int = _f(4, "least training pixels per leaf", min=1)
    samples_per_image: int = _f(4000, "training pixels sampled per frame (a third each: belt, fish interior, edge band)", min=10)
    seed: int = _f(0, "random seed of sampling and forests", min=0)


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    synth: SynthConfig = field(default_factory=SynthConfig)
    targets: TargetsConfig = field(default_factory=TargetsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    dictionary: DictionaryConfig = field(default_factory=DictionaryConfig)
    separate: SeparateConfig = field(default_factory=SeparateConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    classical: ClassicalConfig = field(default_factory=ClassicalConfig)
    pixel_forest: PixelForestConfig = field(default_factory=PixelForestConfig)


# ----------------------------------------------------------------------------- loading


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it in canonical form."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: '{key}' may not be null")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: '{key}' must be a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{key}[{i}]", where) for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if (isinstance(value, str) and _SCI_NUMBER.fullmatch(value.strip())
                and float(value).is_integer()):
            value = int(float(value))  # 2e4
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: '{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _SCI_NUMBER.fullmatch(value.strip()):
            value = float(value)  # 1e-4: a number, though YAML 1.1 reads it as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: '{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: '{key}' has unsupported type {_type_name(tp)}")


#: A number in scientific notation without a decimal point ("1e-4", "3E5"): PyYAML (YAML
#: 1.1) reads it as a string, every user means the number.
_SCI_NUMBER = re.compile(r"[-+]?\d+[eE][-+]?\d+")


def _check_range(value: Any, f: dataclasses.Field, key: str, where: str) -> None:
    meta = f.metadata
    vals = value if isinstance(value, tuple) else (value,)
    for v in vals:
        if v is None:
            continue
        if "min" in meta and v < meta["min"]:
            raise ConfigError(f"{where}: '{key}' = {value!r} is below the minimum {meta['min']}")
        if "max" in meta and v > meta["max"]:
            raise ConfigError(f"{where}: '{key}' = {value!r} is above the maximum {meta['max']}")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{where}: '{key}' = {value!r} is not one of {list(meta['choices'])}")


class UnknownKeyError(ConfigError):
    """A configuration names a key this fishseg does not have; ``key`` is its dotted name."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def _unknown(key: str, prefix: str, known: list[str], where: str) -> UnknownKeyError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
    return UnknownKeyError(f"{where}: unknown key '{prefix}{key}'{hint}", prefix + key)


def _build(cls: type, data: Any, prefix: str, where: str, base: Any = None) -> Any:
    """Build dataclass ``cls`` from a mapping, starting from ``base`` (or the defaults)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    base = base if base is not None else cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    changes = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in fields:
            raise _unknown(str(key), prefix, list(fields), where)
        tp = hints[key]
        dotted = prefix + key
        if dataclasses.is_dataclass(tp):
            changes[key] = _build(tp, value if value is not None else {}, dotted + ".", where,
                                  getattr(base, key))
        else:
            v = _coerce(value, tp, dotted, where)
            _check_range(v, fields[key], dotted, where)
            changes[key] = v
    return dataclasses.replace(base, **changes)


def _validate(cfg: Config, where: str) -> Config:
    """Checks that involve more than one field."""
    s = cfg.synth
    if s.min_length > s.max_length:
        raise ConfigError(f"{where}: 'synth.min_length' ({s.min_length}) exceeds 'synth.max_length' ({s.max_length})")
    if cfg.measure.belt_points is not None:
        if cfg.measure.cm_per_pixel is not None:
            raise ConfigError(f"{where}: give 'measure.cm_per_pixel' or 'measure.belt_points', "
                              "not both")
        from fishseg.calibration import BeltPlane, CalibrationError

        try:
            BeltPlane(cfg.measure.belt_points)
        except CalibrationError as e:
            raise ConfigError(f"{where}: {e}") from None
    if cfg.measure.lens is not None:
        from fishseg.calibration import CalibrationError
        from fishseg.lens import Lens

        try:  # the scale it needs (cm_per_pixel, belt_points) may come from another layer
            Lens(cfg.measure.lens)
        except CalibrationError as e:
            raise ConfigError(f"{where}: {e}") from None
    if len(cfg.model.features) != 3:
        raise ConfigError(f"{where}: 'model.features' must list 3 channel counts, got {list(cfg.model.features)}")
    split = cfg.separate.split_edge
    if any(a <= b for a, b in zip(split, split[1:])):
        raise ConfigError(f"{where}: 'separate.split_edge' must be decreasing, got {list(split)}")
    if split and cfg.separate.split_area < 1:
        raise ConfigError(f"{where}: 'separate.split_edge' needs 'separate.split_area' of 1 "
                          f"pixel or more (the least area of a part that splits a marker core)")
    if len(cfg.train.balance) != 3 or abs(sum(cfg.train.balance) - 1.0) > 1e-6:
        raise ConfigError(f"{where}: 'train.balance' must be 3 shares summing to 1, got {list(cfg.train.balance)}")
    return cfg


def from_dict(data: dict | None, where: str = "<dict>", base: Config | None = None) -> Config:
    """Build a :class:`Config` from a nested mapping.

    Args:
        data: nested mapping of section -> key -> value; missing keys keep ``base``'s values.
        where: name used in error messages (usually the file path).
        base: starting configuration (default: all defaults).

    Raises:
        ConfigError: on an unknown key, a wrong type or a value out of range.
    """
    return _validate(_build(Config, data or {}, "", where, base), where)


def load_config(path: str | Path | None = None, base: Config | None = None) -> Config:
    """Load a YAML configuration file (``None`` gives ``base``, or the defaults).

    Args:
        path: YAML file; its values override ``base``'s.
        base: starting configuration (default: the built-in defaults).

    Raises:
        ConfigError: the file is missing, is not valid YAML, or holds a bad key or value.
    """
    if path is None:
        return base if base is not None else Config()
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file ({e.strerror or e})") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    return from_dict(data, str(path), base=base)


def override(cfg: Config, assignments: list[str], where: str = "command line") -> Config:
    """Apply ``section.key=value`` overrides (values parsed as YAML scalars/lists).

    Raises:
        ConfigError: malformed assignment, unknown key, wrong type or out of range.
    """
    data: dict = {}
    for a in assignments:
        if "=" not in a:
            raise ConfigError(f"{where}: override '{a}' must look like section.key=value")
        key, _, raw = a.partition("=")
        parts = key.strip().split(".")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: value of '{key}' is not valid: {e}") from e
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{where}: '{key}' conflicts with an earlier override")
        node[parts[-1]] = value
    return from_dict(data, where, base=cfg)


def to_dict(cfg: Any) -> dict:
    """The configuration as plain nested dicts/lists (YAML/JSON serialisable)."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            out[f.name] = to_dict(v)
        elif isinstance(v, tuple):
            out[f.name] = [list(x) if isinstance(x, tuple) else x for x in v]
        else:
            out[f.name] = v
    return out
