"""The model file (``*.fishseg``) and the :class:`FishsegModel` it loads into.

A bundle is a zip archive (no pickle anywhere) holding

- ``manifest.json``: ``format`` ("fishseg-model"), ``format_version``, the fishseg
  version that wrote it, the full configuration, the input normalisation, metadata
  (training summary), the list of arrays with dtype, shape and sha256 of each, and a
  ``checksum``: the sha256 of the canonical JSON of everything else in the manifest;
- ``arrays/<name>.npy``: network weights (float32), PCA (float32), dictionary keys
  (float32) and values (float16), read back with ``allow_pickle=False``.

A bundle of several networks (format 2, :class:`fishseg.model.ensemble.EnsembleModel`)
has a ``members`` list in its manifest (each network's configuration, normalisation and
meta) and each network's arrays under ``arrays/members/<i>/``; its own ``config``
holds the settings of inference, separation and tracking, and its maps are the mean
of its networks' maps.

Loading checks all of it; a missing, damaged, truncated or newer-format file raises
:class:`BundleError` naming the file. Arrays are plain numpy, so the same file loads on
CPU and GPU.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import zipfile
import zlib
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fishseg.config import Config, ConfigError, UnknownKeyError, from_dict, to_dict
from fishseg.io.files import mkstemp_beside
from fishseg.model.fields import NORMALISATION, check_frame_size, dense_maps, pad_frames, prepare
from fishseg.model.network import FieldNet, get_params, set_params

FORMAT = "fishseg-model"
#: The newest format this fishseg reads and writes. 1: one network; 2 (written only for a
#: bundle of several networks, so one-network files stay readable by older versions):
#: ``members``, each network's configuration, normalisation and meta, its arrays under
#: ``arrays/members/<i>/``.
FORMAT_VERSION = 2
#: Where :func:`load_model` looks when no path is given.
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "data" / "default.fishseg"
#: Models shipped inside the package, by name (``load_model("fast")``, ``--model fast``):
#: "default" is the accurate one; "fast" has the 3.3x cheaper network for CPU-only users
#: (docs/accuracy.md). Files beside :data:`DEFAULT_MODEL`.
BUNDLED_MODELS = ("default", "fast")


def bundled_model_path(name: str) -> Path:
    """The file of the bundled model ``name`` (one of :data:`BUNDLED_MODELS`)."""
    return DEFAULT_MODEL if name == "default" else DEFAULT_MODEL.with_name(f"{name}.fishseg")


def is_bundled_name(path: str | Path | None) -> bool:
    """Whether ``path`` names a bundled model ("default", "fast") rather than a file."""
    return isinstance(path, str) and path in BUNDLED_MODELS and not Path(path).exists()


class BundleError(RuntimeError):
    """A model file is missing, damaged, truncated or of a newer format."""


def fishseg_version() -> str:
    try:
        return metadata.version("fishseg")
    except metadata.PackageNotFoundError:
        return "unknown"


class MapsModel:
    """What every model bundle gives: maps, the maps fish are separated on, instances.

    Subclasses define ``cfg`` and :meth:`predict_stack`: :class:`FishsegModel` (one
    network) and :class:`fishseg.model.ensemble.EnsembleModel` (the mean of several).
    """

    cfg: Config

    def predict_stack(self, frames: Any, *, tta: bool | None = None,
                      batch_size: int | None = None) -> jax.Array:
        raise NotImplementedError

    def predict_maps(self, frames: Any, *, tta: bool | None = None,
                     batch_size: int | None = None) -> tuple[jax.Array, jax.Array]:
        """Foreground and edge maps of frames (:meth:`predict_stack`'s first two).

        Returns:
            ``(fg, edge)``: (B, H, W) float32 jax arrays in [0, 1].
        """
        maps = self.predict_stack(frames, tta=tta, batch_size=batch_size)
        return maps[:, 0], maps[:, 1]

    def separation_maps(self, frames: Any, *, batch_size: int | None = None
                        ) -> tuple[jax.Array, jax.Array]:
        """The maps fish are separated on: fg and the boundary map.

        The boundary map is the contact map for a model that has one (boundaries between
        two fish only: markers then run through a fish's narrow tail neck), else the edge
        map.

        Returns:
            ``(fg, boundary)``: (B, H, W) float32 jax arrays in [0, 1].
        """
        maps = self.predict_stack(frames, batch_size=batch_size)
        return maps[:, 0], maps[:, 2 if maps.shape[1] > 2 else 1]

    def segment(self, frames: Any, *, batch_size: int | None = None) -> np.ndarray:
        """Instance labels of frames: maps, then separation (markers + watershed).

        Args:
            frames: (B, H, W, 3) uint8 RGB (or one (H, W, 3) frame).
            batch_size: frames per jitted call (default ``model.batch_size``).

        Returns:
            (B, H, W) int32 labels, 0 = belt, fish 1..n per frame (``cfg.separate``,
            tuned on the validation frames when the model was trained).
        """
        from fishseg.separate import separate

        fg, boundary = self.separation_maps(frames, batch_size=batch_size)
        return np.asarray(separate(fg, boundary, self.cfg.separate))

    @classmethod
    def load(cls, path: str | Path) -> MapsModel:
        """Read a bundle (one network or several). Raises :class:`BundleError` (naming
        ``path``) on any problem."""
        return _load(Path(path))


class FishsegModel(MapsModel):
    """A trained N^4-Fields model: network, PCA, dictionary and configuration.

    Args:
        cfg: the configuration it was trained with (``model`` settings are used here).
        params: network weights, ``{"conv1/kernel": array, ...}``.
        pca: ``{"mean", "components", "scale"}`` of the target codes.
        keys: (K, D) dictionary keys. values: (K, C, T, T) dictionary values in [0, 1],
            C = 2 (fg, edge) or 3 (fg, edge, contact), T = 16 * ``dictionary.value_scale``
            (kept at float16 precision, as stored in the file).
        meta: JSON-serialisable extra information (training summary).
    """

    def __init__(self, cfg: Config, params: dict[str, np.ndarray], pca: dict[str, np.ndarray],
                 keys: np.ndarray, values: np.ndarray, meta: dict | None = None):
        self.cfg = cfg
        self.net = FieldNet(cfg.model, rngs=nnx.Rngs(0))
        set_params(self.net, params)
        self.pca = {k: np.asarray(v, np.float32) for k, v in pca.items()}
        self.keys = np.asarray(keys, np.float32)
        self.values = np.asarray(values, np.float16).astype(np.float32)
        channels = 3 if cfg.targets.contact else 2
        t = 16 * cfg.dictionary.value_scale
        if (self.values.ndim != 4 or self.values.shape[1:] != (channels, t, t)
                or self.keys.ndim != 2 or len(self.keys) != len(self.values)):
            raise ValueError(f"dictionary keys {self.keys.shape} and values {self.values.shape} "
                             f"do not fit the configuration (K keys, K x {channels} x {t} x {t} "
                             f"values{' with the contact map' if cfg.targets.contact else ''})")
        self.meta = dict(meta or {})
        self._graphdef, self._state = nnx.split(self.net)
        self._keys_j, self._values_j = jnp.asarray(self.keys), jnp.asarray(self.values)

    @property
    def channels(self) -> int:
        """Maps the dictionary makes: 2 (fg, edge) or 3 (fg, edge, contact)."""
        return int(self.values.shape[1])

    def predict_stack(self, frames: Any, *, tta: bool | None = None,
                      batch_size: int | None = None, settings: Config | None = None) -> jax.Array:
        """Every map of frames: (B, C, H, W) float32 in [0, 1], C = :attr:`channels`.

        The maps are made at ``model.processing_width`` and at each of
        ``model.extra_widths`` (multi-scale inference), brought to the frame's size and
        averaged; with ``model.extra_widths_fg`` false the foreground (channel 0) is the
        processing width's alone and only the boundary maps are averaged.

        Args:
            frames: (B, H, W, 3) uint8 RGB (or (B, H, W) grey, or one (H, W, 3) frame).
            tta: also predict on the mirrored frames and average (default:
                ``model.tta`` of the configuration).
            batch_size: frames per jitted call (default ``model.batch_size``); a last,
                short batch is padded so every call has the same shape.
            settings: the configuration whose inference settings (``model.tta``,
                ``batch_size``, ``processing_width``, ``extra_widths``,
                ``extra_widths_fg``, ``dictionary.chunk``) are used (default: this
                model's own; an :class:`~fishseg.model.ensemble.EnsembleModel` passes
                its own). The network's input standardisation is always its own.
        """
        own = self.cfg
        cfg = settings or own
        frames = np.asarray(frames)
        if frames.ndim == 3 and frames.shape[-1] == 3:
            frames = frames[None]
        if frames.ndim not in (3, 4) or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (B, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        for w in (cfg.model.processing_width, *cfg.model.extra_widths):
            check_frame_size(frames.shape[1], frames.shape[2], w)
        tta = cfg.model.tta if tta is None else tta
        bs = batch_size or cfg.model.batch_size
        out = []
        for i in range(0, len(frames), bs):
            chunk = frames[i:i + bs]
            n = len(chunk)
            if len(frames) > bs and n < bs:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], bs - n, axis=0)])
            widths = (cfg.model.processing_width, *cfg.model.extra_widths)
            maps = first = None
            for w in widths:
                m = _maps(self._graphdef, self._state, self._keys_j, self._values_j, chunk,
                          w, cfg.dictionary.chunk, tta, own.model.std_floor)
                maps, first = (m, m) if maps is None else (maps + m, first)
            if len(widths) > 1:
                maps = maps / len(widths)
                if not cfg.model.extra_widths_fg:
                    maps = maps.at[:, 0].set(first[:, 0])
            out.append(maps[:n])
        return out[0] if len(out) == 1 else jnp.concatenate(out)

    @property
    def checksum(self) -> str:
        """sha256 of the weights, PCA, dictionary and configuration: identifies the model
        in outputs (the same training gives the same checksum; file timestamps do not count).

        The configuration enters as its settings that differ from the built-in defaults
        (:func:`_non_default`), so a new setting added to fishseg (at a default that
        keeps the old behaviour) does not change the checksum of the models before it.
        """
        h = hashlib.sha256(json.dumps(_non_default_cfg(self.cfg), sort_keys=True).encode())
        for name, arr in sorted(self.arrays().items()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def codewords(self, frames: Any) -> jax.Array:
        """(B, gh, gw, D) float32 codewords of (B, H, W, 3) uint8 frames on the padded
        stride-4 grid used by :meth:`predict_maps`."""
        return _codes(self._graphdef, self._state, np.asarray(frames), self.cfg.model.processing_width,
                      self.cfg.model.std_floor)

    # ------------------------------------------------------------------ file
    def arrays(self) -> dict[str, np.ndarray]:
        """Everything numeric in the bundle, by archive name."""
        out = {f"params/{k}": v for k, v in get_params(self.net).items()}
        out.update({f"pca/{k}": np.asarray(v, np.float32) for k, v in self.pca.items()})
        out["dictionary/keys"] = self.keys
        out["dictionary/values"] = self.values.astype(np.float16)
        return out

    def save(self, path: str | Path) -> Path:
        """Write the bundle (atomically: a temporary file renamed into place)."""
        return write_bundle(path, 1, {"config": _non_default_cfg(self.cfg),
                                      "normalisation": _normalisation(self.cfg),
                                      "meta": self.meta}, self.arrays())


def write_bundle(path: str | Path, version: int, fields: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write a bundle file atomically (a temporary file renamed into place).

    Args:
        path: the ``.fishseg`` file.
        version: its ``format_version``.
        fields: the manifest's own entries (``config``, ``meta``, ...).
        arrays: everything numeric, by archive name (stored as ``arrays/<name>.npy``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blobs = {}
    for name, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
        blobs[name] = buf.getvalue()
    manifest = {
        "format": FORMAT,
        "format_version": version,
        "fishseg_version": fishseg_version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **fields,
        "arrays": {n: {"dtype": str(a.dtype), "shape": list(a.shape),
                       "sha256": hashlib.sha256(blobs[n]).hexdigest()}
                   for n, a in arrays.items()},
    }
    manifest["checksum"] = _checksum(manifest)
    fd, tmp = mkstemp_beside(path, prefix=path.name)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
            for name, blob in blobs.items():
                z.writestr(f"arrays/{name}.npy", blob)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _non_default_cfg(cfg: Config) -> dict:
    """The settings of ``cfg`` that differ from the built-in defaults, as files and
    checksums record them: a setting added to fishseg later, left at its default, then
    neither changes old checksums nor stops an older fishseg from reading the file."""
    return _non_default(to_dict(cfg), to_dict(Config()))


def _normalisation(cfg: Config) -> dict:
    return {"method": NORMALISATION, "std_floor": cfg.model.std_floor,
            "processing_width": cfg.model.processing_width}


@partial(jax.jit, static_argnames=("graphdef", "width", "chunk", "tta", "std_floor"))
def _maps(graphdef, state, keys, values, frames, width, chunk, tta, std_floor):
    """Jitted :func:`dense_maps` (one compilation per architecture and frame shape)."""
    net = nnx.merge(graphdef, state)
    return dense_maps(net, keys, values, frames, width=width, chunk=chunk, tta=tta,
                      std_floor=std_floor)


@partial(jax.jit, static_argnames=("graphdef", "width", "std_floor"))
def _codes(graphdef, state, frames, width, std_floor):
    return nnx.merge(graphdef, state)(pad_frames(prepare(frames, width, std_floor)))


def _non_default(cfg: dict, default: dict) -> dict:
    """The entries of a nested config dict that differ from ``default``'s (empty
    sections dropped)."""
    out = {}
    for k, v in cfg.items():
        d = default.get(k)
        if isinstance(v, dict) and isinstance(d, dict):
            sub = _non_default(v, d)
            if sub:
                out[k] = sub
        elif k not in default or v != d:
            out[k] = v
    return out


def _checksum(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _load(path: Path) -> MapsModel:
    if not path.is_file():
        raise BundleError(f"{path}: no such model file")
    damaged = f"{path}: the model file is damaged or truncated"
    try:
        with zipfile.ZipFile(path) as z:
            try:
                manifest = json.loads(z.read("manifest.json"))
            except KeyError:
                raise BundleError(f"{path}: not a fishseg model (no manifest.json)") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise BundleError(f"{path}: not a fishseg model (format is not '{FORMAT}')")
            version = manifest.get("format_version")
            if not isinstance(version, int):
                raise BundleError(f"{damaged} (no format_version)")
            if version > FORMAT_VERSION:
                raise BundleError(
                    f"{path}: written by a newer fishseg ({manifest.get('fishseg_version')}, "
                    f"model format {version}); this fishseg ({fishseg_version()}) reads "
                    f"format {FORMAT_VERSION} and older: upgrade fishseg")
            if manifest.get("checksum") != _checksum(manifest):
                raise BundleError(f"{damaged} (manifest checksum mismatch)")
            arrays = {}
            for name, info in manifest["arrays"].items():
                blob = z.read(f"arrays/{name}.npy")
                if hashlib.sha256(blob).hexdigest() != info["sha256"]:
                    raise BundleError(f"{damaged} (checksum mismatch in '{name}')")
                arrays[name] = np.load(io.BytesIO(blob), allow_pickle=False)
    except BundleError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError, TypeError,
            AttributeError, zlib.error) as e:
        raise BundleError(f"{damaged} ({type(e).__name__}: {e})") from e
    members = manifest.get("members")
    if members is None:
        return _network(path, manifest.get("config"), manifest.get("normalisation"), arrays,
                        manifest.get("meta"), manifest)
    from fishseg.model.ensemble import EnsembleModel

    try:
        nets = [_network(path, m.get("config"), m.get("normalisation"),
                         {k[len(f"members/{i}/"):]: v for k, v in arrays.items()
                          if k.startswith(f"members/{i}/")}, m.get("meta"), manifest,
                         where=f" (network {i + 1} of {len(members)})")
                for i, m in enumerate(members)]
        return EnsembleModel(_config(path, manifest.get("config"), None, manifest), nets,
                             manifest.get("meta"))
    except (AttributeError, TypeError, ValueError) as e:
        raise BundleError(f"{path}: the model file does not match its configuration ({e})") from e


def _config(path: Path, config: Any, normalisation: Any, manifest: dict, where: str = "") -> Config:
    """A bundle's (or one of its networks') configuration, with clear errors."""
    try:
        model_section = config.get("model") if isinstance(config, dict) else None
        if isinstance(model_section, dict) and "std_floor" not in model_section:
            # format 1 files written before the floor was a setting record it here
            model_section["std_floor"] = float((normalisation or {}).get("std_floor", 4.0))
        return from_dict(config, where=f"{path}{where} (config)")
    except UnknownKeyError as e:
        raise BundleError(
            f"{path}: uses the setting '{e.key}', which this fishseg ({fishseg_version()}) "
            f"does not have: the model was written by a newer fishseg "
            f"({manifest.get('fishseg_version')}); upgrade fishseg to use it") from e
    except ConfigError as e:
        raise BundleError(f"{path}{where}: its configuration cannot be read by this fishseg: {e}") from e


def _network(path: Path, config: Any, normalisation: Any, arrays: dict[str, np.ndarray],
             meta: Any, manifest: dict, where: str = "") -> FishsegModel:
    """One network of a bundle from its configuration and arrays (names without the
    ``members/<i>/`` prefix)."""
    cfg = _config(path, config, normalisation, manifest, where)
    try:
        params = {k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")}
        pca = {k[len("pca/"):]: v for k, v in arrays.items() if k.startswith("pca/")}
        return FishsegModel(cfg, params, pca, arrays["dictionary/keys"],
                            arrays["dictionary/values"], meta)
    except (KeyError, ValueError) as e:
        raise BundleError(f"{path}{where}: the model file does not match its configuration ({e})") from e


def load_model(path: str | Path | None = None) -> MapsModel:
    """Load a model bundle: a ``.fishseg`` file, or the name of a bundled model
    (:data:`BUNDLED_MODELS`: "default", "fast"); ``None`` loads "default".

    Returns a :class:`FishsegModel` (one network) or, for a bundle of several networks
    whose maps are averaged, an :class:`~fishseg.model.ensemble.EnsembleModel`.

    Raises:
        BundleError: the file is missing, damaged, truncated or of a newer format.
    """
    if path is None or is_bundled_name(path):
        name = path or "default"
        path = bundled_model_path(name)
        if not path.is_file():
            raise BundleError(
                f"{path}: no bundled {name} model in this installation; build it "
                f"as `scripts/train_default.py` says (two trainings and `fishseg combine`) "
                f"or pass a model file (--model MODEL.fishseg)")
    return _load(Path(path))
