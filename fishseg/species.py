"""Species proposed from the fish an observer has named.

fishseg does not know species. An observer names some fish in ``OUT/all_fish.csv``
(a ``species`` column, looking at each fish's picture); :func:`propose` learns from them
and proposes a species, with its probability, for every fish not named yet, so that the
rest is confirming rather than typing. What it learns from is :func:`fish_features`,
measured on each fish's best view when its picture is cut (:mod:`fishseg.io.gallery`,
``fish/features.csv``): colour and its spread in CIE Lab, texture, shape. A random forest
(scikit-learn) is trained on the named fish; its accuracy is estimated by
cross-validation on them and printed, so the observer knows how far to trust it.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

#: What :func:`fish_features` measures, in order.
FEATURES = ("L_mean", "a_mean", "b_mean", "L_std", "a_std", "b_std", "L_p10", "L_p90",
            "dark_L", "dark_a", "dark_b", "light_L", "light_a", "light_b",
            "texture", "aspect", "solidity", "area_px")
#: Named fish needed per species, and species needed, before anything is proposed.
MIN_PER_SPECIES, MIN_SPECIES = 3, 2


def fish_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """What a fish looks like, from one view.

    Args:
        crop: (h, w, 3) uint8 RGB around the fish.
        mask: (h, w) bool, the fish's pixels (its one-pixel rim, mixed with the belt, is
            left out of the colour measures when the fish is large enough).

    Returns:
        (len(FEATURES),) float32: mean and standard deviation of L, a, b (OpenCV's 8-bit
        Lab), the 10th and 90th percentile of L, the mean L, a, b of the darkest and of the
        lightest quarter of the pixels (back and belly; spots and skin), texture (mean
        gradient magnitude of L inside), aspect (principal axes' ratio, >= 1), solidity
        (area / convex hull area) and area in pixels.
    """
    m = np.asarray(mask, bool)
    inner = cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    core = inner if inner.sum() >= 20 else m
    lab = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2LAB).astype(np.float32)
    px = lab[core]
    gx = cv2.Sobel(lab[..., 0], cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lab[..., 0], cv2.CV_32F, 0, 1, ksize=3)
    texture = float(np.hypot(gx, gy)[core].mean()) if core.any() else 0.0
    ys, xs = np.nonzero(m)
    if len(xs) >= 3:
        ev = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(np.float64)))
        aspect = float(np.sqrt(max(ev[1], 1e-9) / max(ev[0], 1e-9)))
        hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32))
        solidity = float(len(xs) / max(cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True)
                                       + 1.0, 1.0))
    else:
        aspect, solidity = 1.0, 1.0
    if len(px) == 0:
        px = np.zeros((1, 3), np.float32)
    q25, q75 = np.percentile(px[:, 0], [25, 75])
    dark, light = px[px[:, 0] <= q25], px[px[:, 0] >= q75]  # back and belly, spots and skin
    return np.array([*px.mean(0), *px.std(0), *np.percentile(px[:, 0], [10, 90]),
                     *dark.mean(0), *light.mean(0), texture, aspect, min(solidity, 1.0),
                     float(m.sum())], np.float32)


def read_features(folder: str | Path) -> dict[int, np.ndarray]:
    """``fish/features.csv`` of one output: fish id -> (len(FEATURES),) float32 (empty if
    there is none)."""
    path = Path(folder) / "features.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {int(r["track_id"]): np.array([float(r[k]) for k in FEATURES], np.float32)
                for r in csv.DictReader(f)}


def propose(rows: Sequence[Mapping], features: Mapping[tuple[str, int], np.ndarray], *,
            key: str = "species", seed: int = 0) -> tuple[dict[int, tuple[str, float]], str]:
    """Species proposals for the rows not named yet.

    Args:
        rows: ``all_fish.csv`` rows (``output``, ``track_id``, ``key``).
        features: ``(output, track_id)`` -> :func:`fish_features` vector.
        key: the column with the names.
        seed: the forest's seed.

    Returns:
        ``({row index: (species, probability)}, a line saying what was done)``; no
        proposals (and the line says why) with fewer than :data:`MIN_SPECIES` species of
        :data:`MIN_PER_SPECIES` named fish with features each.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    def vec(r):
        return features.get((r.get("output", ""), int(r["track_id"])))

    named = [(i, str(r.get(key, "")).strip()) for i, r in enumerate(rows)
             if str(r.get(key, "")).strip() and vec(r) is not None]
    names, counts = np.unique([n for _, n in named], return_counts=True) if named else ([], [])
    usable = {n for n, c in zip(names, counts) if c >= MIN_PER_SPECIES}
    if len(usable) < MIN_SPECIES:
        return {}, (f"no species proposed: name at least {MIN_PER_SPECIES} fish of each of "
                    f"{MIN_SPECIES} species (named with pictures: {len(named)})")
    train = [(i, n) for i, n in named if n in usable]
    X = np.stack([vec(rows[i]) for i, _ in train])
    y = np.array([n for _, n in train])
    forest = RandomForestClassifier(n_estimators=300, class_weight="balanced",
                                    random_state=seed, min_samples_leaf=1)
    folds = min(5, int(min(counts[list(names).index(n)] for n in usable)))
    acc = cross_val_score(forest, X, y, cv=StratifiedKFold(folds, shuffle=True,
                                                           random_state=seed)).mean()
    forest.fit(X, y)
    todo = [i for i, r in enumerate(rows) if not str(r.get(key, "")).strip()
            and vec(r) is not None]
    out: dict[int, tuple[str, float]] = {}
    if todo:
        p = forest.predict_proba(np.stack([vec(rows[i]) for i in todo]))
        best = p.argmax(1)
        out = {i: (str(forest.classes_[b]), float(p[k, b])) for k, (i, b) in
               enumerate(zip(todo, best))}
    left = sorted(set(names) - usable)
    return out, (f"species proposed for {len(out)} fish from {len(train)} named "
                 f"({len(usable)} species; {folds}-fold cross-validated accuracy on the named "
                 f"fish {acc:.2f})" + (f"; too few named to learn: {', '.join(left)}"
                                       if left else ""))
