"""The pixel-forest baseline: an ilastik-style trainable pixel classifier.

Every pixel is described by scikit-image's multiscale features (Gaussian-smoothed
intensity, gradient magnitude and Hessian eigenvalues of each colour channel, at
``num_sigma`` scales from ``sigma_min`` to ``sigma_max``), computed on the frame resized
to ``processing_width``. Two random forests (scikit-learn) learn the foreground
(fish vs belt) and the edge band (:func:`fishseg.targets.edge_map`) from pixels sampled
a third each from the belt, the fish interiors and the edge band. Their probabilities,
resized back to the frame, are the maps that :func:`fishseg.separate.separate` turns into
instances, exactly as for the N^4-Fields model, so the two differ only in the maps.

The forests are stored without pickle (:mod:`fishseg.baselines.forest_io`), together with
the configuration they were trained with; the separation settings travel with them.

Example::

    path = train_pixel_forest(load_dataset("train/"), Config(), "forest.npz")
    forest = load_pixel_forest(path)
    labels = forest.segment(frames)          # (B, H, W, 3) uint8 -> (B, H, W) int32
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage.feature import multiscale_basic_features
from tqdm import tqdm

from fishseg import __version__
from fishseg.baselines.forest_io import (
    Forest,
    ForestFileError,
    from_sklearn,
    load_forests,
    save_forests,
)
from fishseg.config import Config, ConfigError, PixelForestConfig, from_dict, to_dict
from fishseg.targets import edge_map


def processing_size(height: int, width: int, cfg: PixelForestConfig) -> tuple[int, int]:
    """(h, w) at which features are computed: ``processing_width`` wide, never enlarged."""
    w = min(width, cfg.processing_width)
    return max(1, round(height * w / width)), w


def pixel_features(image: np.ndarray, cfg: PixelForestConfig) -> np.ndarray:
    """Multiscale features of one frame at the processing size.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        cfg: the pixel-forest settings.

    Returns:
        (h, w, F) float32 features, ``F = 3 * 4 * num_sigma``.
    """
    h, w = processing_size(*image.shape[:2], cfg)
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != image.shape[:2] else image
    feats = multiscale_basic_features(small, intensity=True, edges=True, texture=True,
                                      sigma_min=cfg.sigma_min, sigma_max=cfg.sigma_max,
                                      num_sigma=cfg.num_sigma, channel_axis=-1)
    return np.ascontiguousarray(feats, dtype=np.float32)


def _targets(labels: np.ndarray, shape: tuple[int, int], edge_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and edge targets at the processing size; (h, w) bool each."""
    h, w = shape
    scale = w / labels.shape[1]
    small = cv2.resize(labels.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST) \
        if (h, w) != labels.shape else labels
    return small > 0, edge_map(small, max(1, round(edge_width * scale)))


def _sample(fg: np.ndarray, edge: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Flat pixel indices, up to n // 3 each from belt, fish interior and edge band."""
    picks = []
    for stratum in (~fg & ~edge, fg & ~edge, edge):
        idx = np.flatnonzero(stratum)
        k = min(len(idx), max(1, n // 3))
        if k:
            picks.append(rng.choice(idx, size=k, replace=False))
    return np.concatenate(picks) if picks else np.zeros(0, np.int64)


def _fit(X: np.ndarray, y: np.ndarray, cfg: PixelForestConfig, what: str) -> Forest:
    from sklearn.ensemble import RandomForestClassifier

    if len(np.unique(y)) < 2:
        raise ValueError(f"pixel-forest: the training frames hold no {'fish' if what == 'fg' else 'edges'} "
                         f"(or nothing else): cannot train the {what} forest")
    rf = RandomForestClassifier(n_estimators=cfg.n_estimators, max_depth=cfg.max_depth,
                                min_samples_leaf=cfg.min_samples_leaf, max_features="sqrt",
                                n_jobs=1, random_state=cfg.seed)
    return from_sklearn(rf.fit(X, y))


def train_pixel_forest(samples: Sequence[Any], cfg: Config | None, out: str | os.PathLike, *,
                       progress: bool = True) -> Path:
    """Train the fg and edge forests on annotated frames and write them (no pickle).

    Args:
        samples: objects with ``.image`` ((H, W, 3) uint8 RGB) and ``.labels`` ((H, W)
            int instance ids, 0 = belt), e.g. :func:`fishseg.io.datasets.load_dataset`.
        cfg: configuration; uses ``pixel_forest``, ``targets.edge_width`` and stores the
            whole configuration (``separate`` included) in the file. None = defaults.
        out: file to write (an ``.npz`` archive; the name is used as given).
        progress: show a tqdm bar over the frames.

    Returns:
        The path written.

    Raises:
        ValueError: no samples, or no fish / no belt in any of them.
    """
    cfg = cfg or Config()
    pf = cfg.pixel_forest
    samples = list(samples)
    if not samples:
        raise ValueError("pixel-forest: no training frames")
    started = time.perf_counter()
    rng = np.random.default_rng(pf.seed)
    xs, fgs, edges = [], [], []
    for s in tqdm(samples, desc="pixel-forest features", disable=not progress, unit="frame"):
        feats = pixel_features(np.asarray(s.image), pf)
        fg, edge = _targets(np.asarray(s.labels), feats.shape[:2], cfg.targets.edge_width)
        idx = _sample(fg, edge, pf.samples_per_image, rng)
        xs.append(feats.reshape(-1, feats.shape[-1])[idx])
        fgs.append(fg.ravel()[idx])
        edges.append(edge.ravel()[idx])
    X = np.concatenate(xs)
    forests = {"fg": _fit(X, np.concatenate(fgs).astype(np.int64), pf, "fg"),
               "edge": _fit(X, np.concatenate(edges).astype(np.int64), pf, "edge")}
    header = {"method": "pixel-forest", "fishseg_version": __version__, "config": to_dict(cfg),
              "trained_on": {"frames": len(samples), "pixels": int(len(X)),
                             "seconds": round(time.perf_counter() - started, 2)}}
    return save_forests(out, forests, header)


class PixelForest:
    """A trained pixel-forest: maps and instances of frames.

    Attributes:
        cfg: the configuration it was trained with (``pixel_forest``, ``separate``, ...).
        forests: ``{"fg": Forest, "edge": Forest}``.
        header: the file's JSON header.
    """

    name = "pixel-forest"

    def __init__(self, forests: dict[str, Forest], cfg: Config, header: dict | None = None):
        self.forests, self.cfg, self.header = forests, cfg, header or {}

    @classmethod
    def load(cls, path: str | os.PathLike) -> PixelForest:
        """Read a file written by :func:`train_pixel_forest`.

        Raises:
            ForestFileError: naming the file, if it is damaged, not a pixel-forest, or its
                stored configuration is not valid.
        """
        header, forests = load_forests(path)
        if header.get("method") != "pixel-forest" or set(forests) != {"fg", "edge"}:
            raise ForestFileError(f"{path}: not a pixel-forest model (needs forests 'fg' and 'edge')")
        try:
            cfg = from_dict(header.get("config", {}), where=f"{path} (stored config)")
        except ConfigError as e:
            raise ForestFileError(str(e)) from e
        n = 3 * 4 * cfg.pixel_forest.num_sigma
        if any(f.n_features != n for f in forests.values()):
            raise ForestFileError(f"{path}: forests expect {forests['fg'].n_features} features, "
                                  f"its config gives {n}")
        return cls(forests, cfg, header)

    def predict_maps(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Foreground and edge probabilities.

        Args:
            frames: (B, H, W, 3) uint8 RGB frames.

        Returns:
            ``(fg, edge)``: (B, H, W) float32 each, in [0, 1].
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (B, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
        B, H, W = frames.shape[:3]
        fg = np.zeros((B, H, W), np.float32)
        edge = np.zeros((B, H, W), np.float32)
        for b, frame in enumerate(frames):
            feats = pixel_features(frame, self.cfg.pixel_forest)
            X = feats.reshape(-1, feats.shape[-1])
            for name, out in (("fg", fg), ("edge", edge)):
                f = self.forests[name]
                p = f.predict_proba(X)[:, list(f.classes).index(1)].astype(np.float32)
                p = p.reshape(feats.shape[:2])
                out[b] = cv2.resize(p, (W, H), interpolation=cv2.INTER_LINEAR) if p.shape != (H, W) else p
        return fg, edge

    def segment(self, frames: np.ndarray) -> np.ndarray:
        """Instances: :meth:`predict_maps`, then :func:`fishseg.separate.separate`.

        Args:
            frames: (B, H, W, 3) uint8 RGB frames.

        Returns:
            (B, H, W) int32 instance labels.
        """
        from fishseg.separate import separate

        fg, edge = self.predict_maps(frames)
        return np.asarray(separate(fg, edge, self.cfg.separate), np.int32)


def load_pixel_forest(path: str | os.PathLike) -> PixelForest:
    """Load a pixel-forest model file (see :meth:`PixelForest.load`)."""
    return PixelForest.load(path)
