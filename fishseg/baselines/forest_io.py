"""Random forests stored without pickle, and predicted with a numpy tree traversal.

A scikit-learn forest pickled to disk runs code when it is loaded, so a model file from a
stranger could do anything. Here a forest is stored as plain arrays: for every tree the
arrays scikit-learn itself keeps (``children_left``, ``children_right``, ``feature``,
``threshold``, ``value``), concatenated over the trees with node offsets, in one ``.npz``
archive read with ``allow_pickle=False``. A JSON header (format, version, the forests'
names, shapes and classes, and any settings the caller adds) is stored in the same archive
as UTF-8 bytes. Loading validates every array (indices in range, children after their
parent, so no cycles) and raises :class:`ForestFileError` naming the file.

Prediction (:meth:`Forest.predict_proba`) walks all trees at once, vectorised over trees
and samples, and reproduces ``RandomForestClassifier.predict_proba`` bit for bit: features
are compared as float32 against float64 thresholds (``x <= t`` goes left), each tree
gives its leaf's class fractions, and the trees are summed in order and divided by their
number.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fishseg.io.images import atomic_write

FORMAT = "fishseg-forest"
VERSION = 1
_KEYS = ("offsets", "children_left", "children_right", "feature", "threshold", "value")


class ForestFileError(ValueError):
    """A forest file is missing, damaged or not a fishseg forest; the message names it."""


@dataclass(frozen=True)
class Forest:
    """A random forest classifier as flat arrays (all trees concatenated).

    Attributes:
        offsets: (T+1,) int64, tree t owns nodes ``offsets[t]:offsets[t+1]``.
        children_left: (N,) int64 per-tree node index of the left child, -1 at leaves.
        children_right: (N,) int64 per-tree node index of the right child, -1 at leaves.
        feature: (N,) int64 feature index tested at each node (ignored at leaves).
        threshold: (N,) float64, ``x[feature] <= threshold`` goes left.
        value: (N, C) float64 class fractions at each node (rows sum to 1).
        classes: (C,) the class labels, as in ``RandomForestClassifier.classes_``.
        n_features: number of input features.
    """

    offsets: np.ndarray
    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    classes: np.ndarray
    n_features: int

    @property
    def n_trees(self) -> int:
        return len(self.offsets) - 1

    def _flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Global-index arrays for traversal: leaves point to themselves; normalised values."""
        cached = self.__dict__.get("_flat_cache")
        if cached is not None:
            return cached
        tree_of = np.repeat(np.arange(self.n_trees), np.diff(self.offsets))
        base = self.offsets[:-1][tree_of]
        idx = np.arange(len(self.feature))
        leaf = self.children_left < 0
        left = np.where(leaf, idx, self.children_left + base)
        right = np.where(leaf, idx, self.children_right + base)
        feat = np.where(leaf, 0, self.feature)
        proba = self.value
        depth = _max_depth(self)
        cached = (left, right, feat, self.threshold, proba, depth)
        object.__setattr__(self, "_flat_cache", cached)
        return cached

    def predict_proba(self, X: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """Class probabilities, equal to scikit-learn's ``predict_proba``.

        Args:
            X: (n, F) feature rows; cast to float32 as scikit-learn does.
            chunk: rows traversed at once (memory is about 24 * n_trees * chunk bytes).

        Returns:
            (n, C) float64 probabilities, columns in the order of :attr:`classes`.
        """
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"forest expects (n, {self.n_features}) features, got shape {X.shape}")
        left, right, feat, thr, proba, depth = self._flat()
        out = np.empty((len(X), proba.shape[1]), np.float64)
        roots = self.offsets[:-1]
        for s in range(0, len(X), chunk):
            x = X[s:s + chunk]
            rows = np.arange(len(x))[None, :]
            node = np.repeat(roots[:, None], len(x), axis=1)
            for _ in range(depth):
                go_left = x[rows, feat[node]] <= thr[node]
                node = np.where(go_left, left[node], right[node])
            acc = np.zeros((len(x), proba.shape[1]), np.float64)
            for t in range(self.n_trees):  # in order, as scikit-learn accumulates
                acc += proba[node[t]]
            out[s:s + chunk] = acc / self.n_trees
        return out


def _max_depth(f: Forest) -> int:
    """Largest number of splits from a root to a leaf, by walking level by level."""
    base = np.repeat(f.offsets[:-1], np.diff(f.offsets))
    frontier, depth = f.offsets[:-1], 0
    while True:
        inner = frontier[f.children_left[frontier] >= 0]
        if not len(inner):
            return depth
        frontier = np.concatenate([f.children_left[inner] + base[inner],
                                   f.children_right[inner] + base[inner]])
        depth += 1


def from_sklearn(rf: Any) -> Forest:
    """Convert a fitted ``sklearn.ensemble.RandomForestClassifier`` (single output).

    Returns:
        the forest as flat arrays; ``value`` holds each tree's ``tree_.value[:, 0, :C]``
        (class fractions since scikit-learn 1.4; older versions' counts are normalised).
    """
    if getattr(rf, "n_outputs_", 1) != 1:
        raise ValueError("only single-output forests can be stored")
    trees = [e.tree_ for e in rf.estimators_]
    c = len(rf.classes_)
    sizes = [t.node_count for t in trees]
    value = np.concatenate([t.value[:, 0, :c] for t in trees]).astype(np.float64)
    total = value.sum(axis=1, keepdims=True)
    if not np.allclose(total, 1.0):  # scikit-learn < 1.4 stored weighted counts
        value = value / np.where(total == 0.0, 1.0, total)
    return Forest(
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        children_left=np.concatenate([t.children_left for t in trees]).astype(np.int64),
        children_right=np.concatenate([t.children_right for t in trees]).astype(np.int64),
        feature=np.concatenate([t.feature for t in trees]).astype(np.int64),
        threshold=np.concatenate([t.threshold for t in trees]).astype(np.float64),
        value=value,
        classes=np.asarray(rf.classes_),
        n_features=int(rf.n_features_in_),
    )


def save_forests(path: str | os.PathLike, forests: dict[str, Forest], header: dict | None = None) -> Path:
    """Write forests and a JSON header to one ``.npz`` archive, atomically.

    Args:
        path: target file (written as given, no suffix is added).
        forests: name -> forest (names: letters, digits, ``_``).
        header: extra JSON-serialisable settings stored with the forests.

    Returns:
        the path written.
    """
    path = Path(path)
    head = {"format": FORMAT, "version": VERSION, **(header or {}), "forests": {}}
    arrays: dict[str, np.ndarray] = {}
    for name, f in forests.items():
        if not name.isidentifier():
            raise ValueError(f"forest name {name!r} must be an identifier")
        head["forests"][name] = {"n_trees": f.n_trees, "n_nodes": len(f.feature),
                                 "n_features": f.n_features, "classes": f.classes.tolist()}
        for k in _KEYS:
            arrays[f"{name}.{k}"] = getattr(f, k)
    arrays["header"] = np.frombuffer(json.dumps(head).encode("utf-8"), np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(path, buf.getvalue())
    return path


def _check(name: str, f: Forest) -> None:
    """Raise ValueError if the arrays do not form valid trees."""
    n = len(f.feature)
    for k in ("children_left", "children_right", "feature"):
        a = getattr(f, k)
        if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"'{name}.{k}' must be ({n},) integers, got {a.dtype} {a.shape}")
    if f.threshold.shape != (n,) or f.value.shape != (n, len(f.classes)):
        raise ValueError(f"'{name}' threshold/value shapes {f.threshold.shape}/{f.value.shape} do not match {n} nodes")
    off = f.offsets
    if off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 1):
        raise ValueError(f"'{name}.offsets' are not increasing tree boundaries over {n} nodes")
    size = np.repeat(np.diff(off), np.diff(off))
    local = np.arange(n) - np.repeat(off[:-1], np.diff(off))
    leaf = f.children_left < 0
    if np.any(leaf != (f.children_right < 0)):
        raise ValueError(f"'{name}': a node has exactly one child")
    for k in ("children_left", "children_right"):
        c = getattr(f, k)[~leaf]
        if np.any(c <= local[~leaf]) or np.any(c >= size[~leaf]):
            raise ValueError(f"'{name}.{k}' points outside its tree or backwards")
    if np.any(f.feature[~leaf] < 0) or np.any(f.feature[~leaf] >= f.n_features):
        raise ValueError(f"'{name}.feature' out of range 0..{f.n_features - 1}")
    if not (np.all(np.isfinite(f.value)) and np.all(f.value >= 0)):
        raise ValueError(f"'{name}.value' holds negative or non-finite numbers")


def load_forests(path: str | os.PathLike) -> tuple[dict, dict[str, Forest]]:
    """Read and validate a forest archive written by :func:`save_forests`.

    Returns:
        ``(header, forests)``: the JSON header (dict) and name -> :class:`Forest`.

    Raises:
        ForestFileError: naming the file, if it is missing, damaged, of another format or
            version, or holds inconsistent trees.
    """
    path = Path(path)
    if not path.is_file():
        raise ForestFileError(f"{path}: forest file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        head = json.loads(bytes(data["header"]).decode("utf-8"))
        if head.get("format") != FORMAT:
            raise ValueError(f"format is {head.get('format')!r}, not {FORMAT!r}")
        if head.get("version") != VERSION:
            raise ValueError(f"version {head.get('version')!r} is not supported (this fishseg reads {VERSION})")
        forests = {}
        for name, info in head["forests"].items():
            f = Forest(**{k: data[f"{name}.{k}"] for k in _KEYS},
                       classes=np.asarray(info["classes"]), n_features=int(info["n_features"]))
            _check(name, f)
            forests[name] = f
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            UnicodeDecodeError) as e:
        raise ForestFileError(f"{path}: not a valid fishseg forest file ({type(e).__name__}: {e}); "
                              "retrain it with `fishseg train --method pixel-forest`") from e
    return head, forests
