"""Baselines on drawn discs and ellipses whose right answer is known; the no-pickle forest."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from fishseg.baselines import (
    ClassicalMethod,
    ForestFileError,
    load_pixel_forest,
    train_pixel_forest,
)
from fishseg.baselines.classical import segment_frame, tune_classical
from fishseg.baselines.forest_io import from_sklearn, load_forests, save_forests
from fishseg.config import ClassicalConfig, Config
from fishseg.metrics import foreground_scores, instance_scores


def ellipse_frame(seed: int, h: int = 72, w: int = 96, n: int = 3) -> SimpleNamespace:
    """Bright ellipses (fish) on a textured grey belt; labels 1..n (later ones on top)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.normal(90, 14, (h, w, 3)).clip(0, 255).astype(np.uint8), (3, 3), 0)
    lab = np.zeros((h, w), np.int32)
    for i in range(n):
        m = np.zeros((h, w), np.uint8)
        cv2.ellipse(m, (int(rng.integers(15, w - 15)), int(rng.integers(12, h - 12))),
                    (int(rng.integers(9, 15)), int(rng.integers(5, 8))), float(rng.uniform(0, 180)),
                    0, 360, 1, -1)
        img[m > 0] = (rng.uniform(150, 220, 3) + rng.normal(0, 8, (int(m.sum()), 3))).clip(0, 255)
        lab[m > 0] = i + 1
    return SimpleNamespace(name=f"f{seed}", image=img, labels=lab)


def two_discs(gap: float = 26.0) -> tuple[np.ndarray, np.ndarray]:
    """Two touching discs of radius 15 (centres ``gap`` apart) on a plain belt."""
    yy, xx = np.mgrid[:64, :100]
    lab = np.zeros((64, 100), np.int32)
    lab[(yy - 32) ** 2 + (xx - 35) ** 2 < 15**2] = 1
    lab[((yy - 32) ** 2 + (xx - 35 - gap) ** 2 < 15**2) & (lab == 0)] = 2
    img = np.full((64, 100, 3), (70, 80, 75), np.uint8)
    img[lab > 0] = (200, 170, 130)
    return img, lab


# ----------------------------------------------------------------------------- classical


def test_classical_separates_two_touching_discs():
    img, lab = two_discs()
    pred = segment_frame(img)
    assert pred.dtype == np.int32 and sorted(np.unique(pred)) == [0, 1, 2]
    s = instance_scores(lab, pred, (0.8,))[0.8]
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)


def test_classical_grey_feature_and_batch():
    img, lab = two_discs()
    batch = np.stack([img, img[:, ::-1]])
    pred = ClassicalMethod(ClassicalConfig(feature="grey")).segment(batch)
    assert pred.shape == (2, 64, 100)
    for p, t in zip(pred, (lab, lab[:, ::-1]), strict=True):
        assert instance_scores(t, p, (0.8,))[0.8]["ap"] == 1.0


def test_classical_finds_ellipses_on_texture_and_nothing_on_plain_belt():
    f = ellipse_frame(5, n=2)
    assert foreground_scores(f.labels, segment_frame(f.image))["iou"] > 0.8
    assert segment_frame(np.full((40, 50, 3), 90, np.uint8)).max() == 0


def test_tune_classical_keeps_the_best_try():
    img, lab = two_discs()
    frame = SimpleNamespace(image=img, labels=lab)
    best, table = tune_classical([frame], grid={"h": (0.0, 3.0)}, progress=False)
    assert [t["h"] for t in table] == [0.0, 3.0]
    assert best.h == max(table, key=lambda t: t["ap50"])["h"] and max(t["ap50"] for t in table) == 1.0


def test_classical_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        ClassicalMethod().segment(np.zeros((1, 8, 8, 3), np.float32))


# ----------------------------------------------------------------------------- forest storage


def random_forest(seed: int = 0, classes: int = 3) -> tuple[RandomForestClassifier, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1500, 6))
    y = ((X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 0.8)) % classes
    rf = RandomForestClassifier(n_estimators=7, max_depth=8, random_state=seed).fit(X, y)
    return rf, rng.normal(size=(4000, 6)) * 1.5


@pytest.mark.parametrize("classes", [2, 3])
def test_numpy_traversal_equals_sklearn_exactly(classes):
    rf, X = random_forest(classes, classes)
    f = from_sklearn(rf)
    np.testing.assert_array_equal(f.predict_proba(X, chunk=999), rf.predict_proba(X))
    X32 = X.astype(np.float32)  # features on a threshold in float32 go the same way
    np.testing.assert_array_equal(f.predict_proba(X32), rf.predict_proba(X32))


def test_forest_file_round_trip_without_pickle(tmp_path):
    rf, X = random_forest()
    path = save_forests(tmp_path / "m.forest", {"fg": from_sklearn(rf)}, {"note": "x"})
    assert path.name == "m.forest"  # no suffix added
    with np.load(path, allow_pickle=False) as z:  # nothing in it needs pickle
        assert all(z[k].dtype != object for k in z.files)
    head, forests = load_forests(path)
    assert head["note"] == "x" and head["forests"]["fg"]["classes"] == [0, 1, 2]
    np.testing.assert_array_equal(forests["fg"].predict_proba(X), rf.predict_proba(X))


def test_damaged_forest_file_names_the_file(tmp_path):
    rf, _ = random_forest()
    path = save_forests(tmp_path / "m.npz", {"fg": from_sklearn(rf)})
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ForestFileError, match="cut.npz"):
        load_forests(cut)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(ForestFileError, match="garbage.npz"):
        load_forests(garbage)
    with pytest.raises(ForestFileError, match="not found"):
        load_forests(tmp_path / "missing.npz")


def test_forest_file_with_bad_trees_is_refused(tmp_path):
    rf, _ = random_forest()
    f = from_sklearn(rf)
    left = f.children_left.copy()
    left[np.flatnonzero(left > 0)[0]] = 10**6  # a child outside its tree
    path = save_forests(tmp_path / "bad.npz", {"fg": dataclasses.replace(f, children_left=left)})
    with pytest.raises(ForestFileError, match="bad.npz.*children_left"):
        load_forests(path)
    other = tmp_path / "other.npz"  # a valid npz, but not a forest
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ForestFileError, match="other.npz"):
        load_forests(other)


# ----------------------------------------------------------------------------- pixel forest


SMALL = Config(pixel_forest=dataclasses.replace(Config().pixel_forest, n_estimators=8,
                                                samples_per_image=1500, max_depth=10))


@pytest.fixture(scope="module")
def forest_file(tmp_path_factory):
    train = [ellipse_frame(s) for s in range(3)]
    return train_pixel_forest(train, SMALL, tmp_path_factory.mktemp("pf") / "forest.npz", progress=False)


def test_pixel_forest_learns_fish_on_a_new_frame(forest_file):
    model = load_pixel_forest(forest_file)
    test = ellipse_frame(99)
    fg, edge = model.predict_maps(test.image[None])
    assert fg.shape == edge.shape == (1, 72, 96) and fg.dtype == np.float32
    assert foreground_scores(test.labels, fg[0] > 0.5)["iou"] > 0.8
    labels = model.segment(test.image[None])
    assert labels.shape == (1, 72, 96) and labels.dtype == np.int32
    assert foreground_scores(test.labels, labels)["iou"] > 0.8


def test_pixel_forest_keeps_its_config(forest_file):
    model = load_pixel_forest(forest_file)
    assert model.cfg.pixel_forest == SMALL.pixel_forest
    assert model.header["trained_on"]["frames"] == 3


def test_pixel_forest_refuses_other_forest_files(tmp_path):
    rf, _ = random_forest()
    path = save_forests(tmp_path / "plain.npz", {"fg": from_sklearn(rf)})
    with pytest.raises(ForestFileError, match="plain.npz.*not a pixel-forest"):
        load_pixel_forest(path)


def test_pixel_forest_needs_fish_to_train(tmp_path):
    empty = SimpleNamespace(name="e", image=np.full((32, 32, 3), 90, np.uint8),
                            labels=np.zeros((32, 32), np.int32))
    with pytest.raises(ValueError, match="no fish"):
        train_pixel_forest([empty], SMALL, tmp_path / "x.npz", progress=False)
