"""Tests for fishseg.io.coco: hand-written COCO files with known answers, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fishseg.io.coco import encode_instances, read_coco, write_coco
from fishseg.io.datasets import DatasetError, Sample, load_dataset
from fishseg.io.images import write_image

H, W = 30, 40
SQUARE = [10, 10, 20, 10, 20, 20, 10, 20]  # polygon -> rows 10..19, cols 10..19 (area 100)
# CVAT-like uncompressed RLE (column-major, starting with a zero run) of rows 2..5,
# cols 30..34: 30 full columns + 2 zeros, then (4 ones, 26 zeros) x 4, 4 ones, the rest.
RLE_COUNTS = [30 * H + 2] + [4, 26] * 4 + [4, 174]


def square_mask() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[10:20, 10:20] = True
    return m


def rle_mask() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[2:6, 30:35] = True
    return m


def write_json(
    root: Path,
    anns: list[dict],
    images: list[dict] | None = None,
    name: str = "annotations.json",
    image_dir: str = "images",
) -> Path:
    """Write a COCO JSON (and the image files it names) under ``root``."""
    images = images or [{"id": 1, "file_name": "frame_1.jpg", "width": W, "height": H}]
    for im in images:
        write_image(
            root / image_dir / Path(im["file_name"]).name,
            np.full((im["height"], im["width"], 3), 90, np.uint8),
        )
    doc = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "fish"}]}
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_polygon_square_and_uncompressed_rle(tmp_path):
    anns = [
        {"id": 11, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [SQUARE]},
        {
            "id": 12,
            "image_id": 1,
            "category_id": 1,
            "iscrowd": 1,
            "segmentation": {"size": [H, W], "counts": RLE_COUNTS},
        },
    ]
    [s] = read_coco(write_json(tmp_path, anns))
    assert s.name == "frame_1" and s.source == str(tmp_path / "images" / "frame_1.jpg")
    assert s.image.shape == (H, W, 3) and s.labels.dtype == np.int32
    expected = np.zeros((H, W), np.int32)
    expected[square_mask()] = 1
    expected[rle_mask()] = 2
    assert np.array_equal(s.labels, expected)
    assert (s.labels == 1).sum() == 100


def test_compressed_rle_string_counts(tmp_path):
    enc = encode_instances(rle_mask().astype(np.int32) * 5)
    anns = [{"id": 1, "image_id": 1, "segmentation": enc[0]["segmentation"]}]
    [s] = read_coco(write_json(tmp_path, anns))
    assert np.array_equal(s.labels, rle_mask().astype(np.int32))


def test_overlaps_painted_in_annotation_order_and_z_order(tmp_path):
    big = [5, 5, 25, 5, 25, 25, 5, 25]
    anns = [
        {"id": 1, "image_id": 1, "segmentation": [big]},
        {"id": 2, "image_id": 1, "segmentation": [SQUARE]},
    ]  # inside big, drawn later
    [s] = read_coco(write_json(tmp_path / "a", anns))
    assert (s.labels == 2).sum() == 100 and (s.labels == 1).sum() == 400 - 100
    anns[0]["z_order"] = 1  # CVAT: higher z is drawn on top
    [s] = read_coco(write_json(tmp_path / "b", anns))
    assert (s.labels == 1).sum() == 400 and (s.labels == 2).sum() == 0


def test_track_ids_and_collisions(tmp_path):
    anns = [
        {"id": 1, "image_id": 1, "segmentation": [SQUARE]},  # position 1 -> id 1... taken
        {
            "id": 2,
            "image_id": 1,
            "segmentation": {"size": [H, W], "counts": RLE_COUNTS},
            "attributes": {"track_id": 1, "occluded": False},
        },
        {"id": 3, "image_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]], "track_id": 9},
    ]
    [s] = read_coco(write_json(tmp_path, anns))
    assert set(np.unique(s.labels)) == {0, 1, 2, 9}
    assert np.all(s.labels[rle_mask()] == 1) and np.all(s.labels[square_mask()] == 2)


def test_cvat_track_id_zero_shifts_all(tmp_path):
    anns = [
        {"id": 1, "image_id": 1, "segmentation": [SQUARE], "attributes": {"track_id": 0}},
        {
            "id": 2,
            "image_id": 1,
            "segmentation": {"size": [H, W], "counts": RLE_COUNTS},
            "attributes": {"track_id": 4},
        },
    ]
    [s] = read_coco(write_json(tmp_path, anns))
    assert np.all(s.labels[square_mask()] == 1) and np.all(s.labels[rle_mask()] == 5)


def test_image_lookup_and_unannotated_image(tmp_path):
    images = [
        {"id": "x", "file_name": "sub/frame_b.png", "width": W, "height": H},
        {"id": "y", "file_name": "frame_a.png", "width": W, "height": H},
    ]
    path = write_json(
        tmp_path,
        [{"id": 1, "image_id": "x", "segmentation": [SQUARE]}],
        images,
        name="export/result.json",
        image_dir="export/images",
    )
    samples = read_coco(path)
    assert [s.name for s in samples] == ["frame_a", "frame_b"]
    assert samples[0].labels.max() == 0 and (samples[1].labels == 1).sum() == 100
    moved = tmp_path / "elsewhere"
    (tmp_path / "export" / "images").rename(moved)
    with pytest.raises(DatasetError, match="frame_a.png.*not found.*image_root"):
        read_coco(path)
    assert len(read_coco(path, image_root=moved)) == 2


def test_write_coco_fields(tmp_path):
    lab = np.zeros((H, W), np.int32)
    lab[square_mask()] = 42
    lab[rle_mask()] = 3
    s = Sample("f", np.zeros((H, W, 3), np.uint8), lab, "")
    path = write_coco([s], tmp_path / "out")
    doc = json.loads(path.read_text())
    assert doc["categories"] == [{"id": 1, "name": "fish", "supercategory": "animal"}]
    assert doc["images"] == [{"id": 1, "file_name": "images/f.png", "width": W, "height": H}]
    a3, a42 = doc["annotations"]
    assert a42["area"] == 100 and a42["bbox"] == [10.0, 10.0, 10.0, 10.0]
    assert a42["iscrowd"] == 0 and a42["attributes"] == {"track_id": 42}
    assert isinstance(a42["segmentation"]["counts"], str)
    assert a3["area"] == 20 and a3["bbox"] == [30.0, 2.0, 5.0, 4.0]
    assert {a["id"] for a in doc["annotations"]} == {1, 2}
    assert np.array_equal(read_coco(path)[0].labels, lab)


def test_write_coco_without_copying_images(tmp_path):
    write_image(tmp_path / "src" / "f.png", np.zeros((H, W, 3), np.uint8))
    lab = np.zeros((H, W), np.int32)
    lab[square_mask()] = 7
    s = Sample("f", np.zeros((H, W, 3), np.uint8), lab, str(tmp_path / "src" / "f.png"))
    path = write_coco([s], tmp_path / "out", copy_images=False)
    assert json.loads(path.read_text())["images"][0]["file_name"] == "../src/f.png"
    assert not (tmp_path / "out" / "images").exists()
    assert np.array_equal(load_dataset(tmp_path / "out")[0].labels, lab)
    with pytest.raises(DatasetError, match="'g'.*copy_images=True"):
        write_coco([Sample("g", s.image, lab, "")], tmp_path / "o2", copy_images=False)


def test_unknown_image_id_names_annotation_and_file(tmp_path):
    path = write_json(tmp_path, [{"id": 77, "image_id": 5, "segmentation": [SQUARE]}])
    with pytest.raises(DatasetError, match=r"annotations\.json.*annotation id 77.*image_id 5"):
        read_coco(path)


def test_missing_image_file(tmp_path):
    path = write_json(tmp_path, [])
    (tmp_path / "images" / "frame_1.jpg").unlink()
    with pytest.raises(DatasetError, match=r"annotations\.json.*frame_1\.jpg.*not found"):
        read_coco(path)


def test_size_mismatch_between_json_and_file(tmp_path):
    path = write_json(tmp_path, [])
    write_image(tmp_path / "images" / "frame_1.jpg", np.zeros((H + 2, W, 3), np.uint8))
    with pytest.raises(DatasetError, match=rf"frame_1\.jpg.*{W}x{H}.*JSON.*{W}x{H + 2}"):
        read_coco(path)


@pytest.mark.parametrize(
    "seg, why",
    [
        ([[10, 10, 20, 10, 20]], "even number"),
        ([[10, 10, 20, 10]], "even number"),
        ([], "non-empty list"),
        ([["a", 1, 2, 3, 4, 5]], "even number"),
        ({"size": [H + 1, W], "counts": RLE_COUNTS}, "RLE size"),
        ({"size": [H, W], "counts": RLE_COUNTS[:-1]}, "sum to"),
        ({"size": [H, W], "counts": 3.5}, "counts must be"),
        ({"counts": "abc"}, "expected polygons or an RLE"),
        ("oops", "expected polygons or an RLE"),
    ],
)
def test_malformed_segmentation(tmp_path, seg, why):
    path = write_json(tmp_path, [{"id": 31, "image_id": 1, "segmentation": seg}])
    with pytest.raises(DatasetError, match=rf"annotations\.json.*annotation id 31.*{why}"):
        read_coco(path)


def test_bad_json_files(tmp_path):
    with pytest.raises(DatasetError, match="nope.json.*not found"):
        read_coco(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DatasetError, match="broken.json.*not a readable JSON"):
        read_coco(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text('{"foo": 1}')
    with pytest.raises(DatasetError, match="other.json.*not a COCO file"):
        read_coco(tmp_path / "other.json")
    images = [
        {"id": 1, "file_name": "a/x.png", "width": W, "height": H},
        {"id": 2, "file_name": "b/x.png", "width": W, "height": H},
    ]
    path = write_json(tmp_path / "dup", [], images)
    with pytest.raises(DatasetError, match="two samples named 'x'"):
        read_coco(path)
    path = write_json(
        tmp_path / "tid",
        [{"id": 4, "image_id": 1, "segmentation": [SQUARE], "attributes": {"track_id": -3}}],
    )
    with pytest.raises(DatasetError, match="annotation id 4.*track_id -3"):
        read_coco(path)
