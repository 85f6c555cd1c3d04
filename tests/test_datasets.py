"""Tests for fishseg.io.datasets: folder datasets, auto-detection, errors, round trips."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from fishseg.io.coco import read_coco, write_coco
from fishseg.io.datasets import (
    DatasetError,
    Sample,
    iter_dataset,
    load_dataset,
    load_datasets,
    write_folder,
)
from fishseg.io.images import write_image, write_labels

H, W = 40, 60


def ellipse(cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    """(H, W) bool mask of an axis-aligned ellipse."""
    yy, xx = np.mgrid[:H, :W]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def fish_labels() -> np.ndarray:
    """Overlapping, touching, holed, non-sequential instances: (H, W) int32."""
    lab = np.zeros((H, W), np.int32)
    lab[ellipse(12, 15, 8, 12)] = 7
    lab[ellipse(14, 30, 7, 10)] = 3  # overlaps 7, drawn over it
    lab[ellipse(30, 40, 6, 14)] = 1000
    lab[ellipse(30, 40, 2, 4)] = 0  # a hole in 1000
    lab[25:35, 5:15] = 65535
    lab[25:35, 15:20] = 2  # touches 65535 along a straight edge
    return lab


def image_for(lab: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
    img[lab > 0] += 150
    return img


def make_folder(root: Path, names=("b", "a"), suffix=".png") -> dict[str, np.ndarray]:
    """Write a folder dataset; return the labels by name."""
    out = {}
    for k, n in enumerate(names):
        lab = np.roll(fish_labels(), 3 * k, axis=1)
        write_image(root / "images" / f"{n}{suffix}", image_for(lab, k))
        write_labels(root / "masks" / f"{n}.png", lab)
        out[n] = lab
    return out


def test_load_folder_sorted_and_exact(tmp_path):
    labs = make_folder(tmp_path / "ds", names=("frame_10", "frame_02", "frame_07"))
    samples = load_dataset(tmp_path / "ds")
    assert [s.name for s in samples] == ["frame_02", "frame_07", "frame_10"]
    for s in samples:
        assert isinstance(s, Sample)
        assert s.image.shape == (H, W, 3) and s.image.dtype == np.uint8
        assert s.labels.shape == (H, W) and s.labels.dtype == np.int32
        assert np.array_equal(s.labels, labs[s.name])
        assert s.source == str(tmp_path / "ds" / "images" / f"{s.name}.png")


def test_iter_dataset_is_lazy_and_same_order(tmp_path):
    make_folder(tmp_path / "ds", names=("c", "a", "b"))
    it = iter_dataset(tmp_path / "ds")
    assert not isinstance(it, list)
    assert [s.name for s in it] == [s.name for s in load_dataset(tmp_path / "ds")]
    # a corrupt file is only hit when the iterator reaches it
    (tmp_path / "ds" / "images" / "c.png").write_bytes(b"broken")
    it = iter_dataset(tmp_path / "ds")
    assert next(it).name == "a" and next(it).name == "b"
    with pytest.raises(DatasetError, match="c.png"):
        next(it)


def test_jpg_tif_bmp_and_uint8_masks(tmp_path):
    root = tmp_path / "ds"
    lab = fish_labels() % 200  # fits uint8
    (root / "masks").mkdir(parents=True)
    for n, suf in (("j", ".jpg"), ("t", ".TIF"), ("b", ".bmp")):
        write_image(root / "images" / f"{n}{suf}", image_for(lab))
        cv2.imwrite(str(root / "masks" / f"{n}.png"), lab.astype(np.uint8))
    samples = load_dataset(root)
    assert [s.name for s in samples] == ["b", "j", "t"]
    assert all(np.array_equal(s.labels, lab) for s in samples)


def test_load_datasets_concatenates(tmp_path):
    make_folder(tmp_path / "one", names=("x",))
    make_folder(tmp_path / "two", names=("y", "x"))
    samples = load_datasets([tmp_path / "one", str(tmp_path / "two")])
    assert [s.name for s in samples] == ["x", "x", "y"]
    assert len(load_datasets(tmp_path / "one")) == 1
    with pytest.raises(DatasetError, match="no dataset paths"):
        load_datasets([])


def test_folder_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="nowhere.*not found"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "masks").mkdir()
    with pytest.raises(DatasetError, match="images.*no images found"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DatasetError, match="plain.*no images/ folder"):
        load_dataset(tmp_path / "plain")
    (tmp_path / "file.txt").write_text("hi")
    with pytest.raises(DatasetError, match="file.txt.*not a dataset"):
        load_dataset(tmp_path / "file.txt")


def test_image_without_mask(tmp_path):
    root = tmp_path / "ds"
    make_folder(root, names=("a", "b"))
    write_image(root / "images" / "lonely.jpg", image_for(fish_labels()))
    with pytest.raises(DatasetError, match=r"no mask for 1 image.*lonely\.jpg"):
        load_dataset(root)
    assert [s.name for s in load_dataset(root, skip_unlabelled=True)] == ["a", "b"]


def test_mask_without_image_warns(tmp_path):
    root = tmp_path / "ds"
    make_folder(root, names=("a",))
    write_labels(root / "masks" / "ghost.png", fish_labels())
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert len(load_dataset(root)) == 1
    assert any("ghost" in str(w.message) for w in rec)


def test_size_mismatch_gives_both_sizes(tmp_path):
    root = tmp_path / "ds"
    make_folder(root, names=("a",))
    write_labels(root / "masks" / "a.png", np.zeros((H, W + 1), np.int32))
    with pytest.raises(DatasetError, match=rf"a\.png.*{W + 1}x{H}.*a\.png.*{W}x{H}"):
        load_dataset(root)


def test_bad_masks_name_the_file(tmp_path):
    root = tmp_path / "ds"
    make_folder(root, names=("a",))
    colour = np.zeros((H, W, 3), np.uint8)
    colour[5:10, 5:10] = (0, 255, 0)
    cv2.imwrite(str(root / "masks" / "a.png"), colour)
    with pytest.raises(DatasetError, match=r"masks.a\.png.*colour"):
        load_dataset(root)
    (root / "masks" / "a.png").write_bytes(b"corrupt")
    with pytest.raises(DatasetError, match=r"masks.a\.png.*not a readable image"):
        load_dataset(root)


def test_duplicate_stems_are_an_error(tmp_path):
    root = tmp_path / "ds"
    make_folder(root, names=("a",))
    write_image(root / "images" / "a.jpg", image_for(fish_labels()))
    with pytest.raises(DatasetError, match="two images named 'a'"):
        load_dataset(root)


def test_write_folder_errors(tmp_path):
    s = Sample("a", image_for(fish_labels()), fish_labels(), "")
    with pytest.raises(DatasetError, match="two samples named 'a'"):
        write_folder([s, s], tmp_path / "out")
    with pytest.raises(DatasetError, match="not a plain file name"):
        write_folder([Sample("x/y", s.image, s.labels)], tmp_path / "out")
    big = Sample("big", s.image, np.full((H, W), 70000, np.int32))
    with pytest.raises(DatasetError, match="big.png.*0..65535.*sample 'big'"):
        write_folder([big], tmp_path / "out")
    small = Sample("small", s.image, np.zeros((H - 1, W), np.int32))
    with pytest.raises(DatasetError, match="small.png.*does not match"):
        write_folder([small], tmp_path / "out")


def test_roundtrip_folder_coco_folder_exact(tmp_path):
    labs = make_folder(tmp_path / "ds", names=("f1", "f0", "f2"))
    empty = tmp_path / "ds"
    write_image(empty / "images" / "f3.png", image_for(np.zeros((H, W), np.int32)))
    write_labels(empty / "masks" / "f3.png", np.zeros((H, W), np.int32))  # no fish
    labs["f3"] = np.zeros((H, W), np.int32)
    first = load_dataset(tmp_path / "ds")

    write_coco(first, tmp_path / "coco")
    via_coco = load_dataset(tmp_path / "coco")  # auto-detected as COCO
    assert [s.name for s in via_coco] == ["f0", "f1", "f2", "f3"]
    write_folder(via_coco, tmp_path / "back")
    back = load_dataset(tmp_path / "back")

    for a, b, c in zip(first, via_coco, back, strict=True):
        assert a.name == b.name == c.name
        assert np.array_equal(a.labels, labs[a.name])
        assert np.array_equal(b.labels, a.labels) and np.array_equal(c.labels, a.labels)
        assert np.array_equal(b.image, a.image) and np.array_equal(c.image, a.image)
    assert set(np.unique(back[0].labels)) == {0, 2, 3, 7, 1000, 65535}


def test_detects_coco_json_file_and_cvat_layout(tmp_path):
    samples = load_dataset(make_folder_and_load(tmp_path))
    write_coco(samples, tmp_path / "coco")
    by_file = load_dataset(tmp_path / "coco" / "annotations.json")
    assert [s.name for s in by_file] == ["a", "b"]
    # CVAT: <root>/annotations/instances_default.json beside <root>/images/
    cvat = tmp_path / "cvat"
    (cvat / "annotations").mkdir(parents=True)
    (tmp_path / "coco" / "images").rename(cvat / "images")
    (tmp_path / "coco" / "annotations.json").rename(cvat / "annotations" / "instances_default.json")
    got = load_dataset(cvat)
    assert all(np.array_equal(g.labels, s.labels) for g, s in zip(got, samples, strict=True))
    assert read_coco(cvat / "annotations" / "instances_default.json")[0].name == "a"


def make_folder_and_load(tmp_path: Path) -> Path:
    make_folder(tmp_path / "ds", names=("b", "a"))
    return tmp_path / "ds"
