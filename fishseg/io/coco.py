"""COCO instance annotations: read (polygons, RLE) and write (compressed RLE or polygons).

Reading follows what CVAT ("COCO 1.0") and Label Studio ("COCO") exports hold:

- ``images``: ``id``, ``file_name``, ``width``, ``height``. ``file_name`` is looked up,
  in order, relative to ``image_root`` (when given), the JSON's folder, its
  ``images/`` subfolder, and the parent folder's ``images/`` (CVAT puts the JSON in
  ``annotations/`` beside ``images/``); in each, the full relative path and then the
  bare file name are tried.
- ``annotations``: ``segmentation`` as polygons (a list of ``[x0, y0, x1, y1, ...]``),
  uncompressed RLE (``{"size": [h, w], "counts": [ints]}``, CVAT's masks) or compressed
  RLE (``counts`` a string). Polygons are rasterised and RLE decoded by pycocotools.
  Every category counts as fish.

Instance ids. An annotation carrying ``attributes.track_id`` (or a top-level
``track_id``) gets that id, so several annotations with one track id form one instance
and ids survive a round trip through :func:`write_coco`. If the file uses track id 0
(CVAT numbers tracks from 0), every track id in the file is shifted by +1. An annotation
without one gets its position in the image's annotation list + 1, or, if a track id
already took that, the next free id.

Overlaps. Annotations are painted in file order (stably sorted by ``z_order`` when
present, as CVAT draws), later ones over earlier ones; ``occluded`` flags are not used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from fishseg.io.datasets import DatasetError, Sample, check_names
from fishseg.io.images import ImageError, atomic_write, read_image, write_image

CATEGORY = {"id": 1, "name": "fish", "supercategory": "animal"}


def _load_json(json_path: Path) -> dict[str, Any]:
    if not json_path.is_file():
        raise DatasetError(f"{json_path}: COCO annotation file not found")
    try:
        with open(json_path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{json_path}: not a readable JSON file ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{json_path}: not a COCO file (no 'images' list)")
    if not isinstance(data.get("annotations", []), list):
        raise DatasetError(f"{json_path}: 'annotations' is not a list")
    return data


def _find_image(file_name: str, json_path: Path, image_root: Path | None) -> Path:
    """Resolve an image's ``file_name``; see the module docstring for the order."""
    roots = [image_root] if image_root is not None else []
    d = json_path.parent
    roots += [d, d / "images", d.parent / "images"]
    rel = Path(file_name)
    tried = []
    for root in roots:
        for cand in (root / rel, root / rel.name):
            if cand.is_file():
                return cand
            tried.append(str(cand))
    raise DatasetError(
        f"{json_path}: image file {file_name!r} not found; looked at "
        f"{', '.join(dict.fromkeys(tried))}; pass image_root to say where "
        "the images are"
    )


def _track_id(ann: dict[str, Any]) -> Any:
    attrs = ann.get("attributes")
    if isinstance(attrs, dict) and attrs.get("track_id") is not None:
        return attrs["track_id"]
    return ann.get("track_id")


def _decode_segmentation(ann: dict[str, Any], h: int, w: int, where: str) -> np.ndarray:
    """Decode one annotation's segmentation to an (h, w) bool mask."""
    seg = ann.get("segmentation")
    try:
        if isinstance(seg, list):
            if not seg or not all(isinstance(p, list) for p in seg):
                raise ValueError("expected a non-empty list of polygons [x0, y0, x1, y1, ...]")
            for p in seg:
                if (
                    len(p) < 6
                    or len(p) % 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
                ):
                    raise ValueError("a polygon needs an even number (>= 6) of numbers")
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
        elif isinstance(seg, dict) and "counts" in seg and "size" in seg:
            size = [int(v) for v in seg["size"]]
            if size != [h, w]:
                raise ValueError(f"RLE size {size} (h, w) differs from the image's [{h}, {w}]")
            counts = seg["counts"]
            if isinstance(counts, list):
                if sum(counts) != h * w or any(c < 0 for c in counts):
                    raise ValueError(
                        f"uncompressed RLE counts sum to {sum(counts)}, not h*w = {h * w}"
                    )
                rle = mask_utils.frPyObjects(seg, h, w)
            elif isinstance(counts, (str, bytes)):
                rle = {
                    "size": size,
                    "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
                }
            else:
                raise ValueError("RLE counts must be a list of ints or a string")
        else:
            raise ValueError("expected polygons or an RLE dict with 'size' and 'counts'")
        m = mask_utils.decode(rle)
    except (ValueError, TypeError, KeyError, IndexError, UnicodeError) as e:
        raise DatasetError(f"{where}: malformed segmentation: {e}") from e
    if m.shape != (h, w):
        raise DatasetError(
            f"{where}: malformed segmentation: decodes to {m.shape}, image is {(h, w)}"
        )
    return m.astype(bool)


def _plan(json_path: Path) -> list[tuple[str, dict[str, Any], int]]:
    """Parse and check the JSON; return per-image work items sorted by name."""
    data = _load_json(json_path)
    images: dict[Any, dict[str, Any]] = {}
    for im in data["images"]:
        try:
            iid, fn, h, w = im["id"], str(im["file_name"]), int(im["height"]), int(im["width"])
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(
                f"{json_path}: image entry {im!r} lacks a valid id/file_name/width/height ({e})"
            ) from e
        if iid in images:
            raise DatasetError(f"{json_path}: image id {iid!r} appears twice")
        images[iid] = {"file_name": fn, "h": h, "w": w, "anns": []}
    anns = data.get("annotations", [])
    tids = []
    for a in anns:
        if not isinstance(a, dict):
            raise DatasetError(f"{json_path}: annotation {a!r} is not an object")
        if a.get("image_id") not in images:
            raise DatasetError(
                f"{json_path}: annotation id {a.get('id')!r} refers to unknown "
                f"image_id {a.get('image_id')!r}"
            )
        images[a["image_id"]]["anns"].append(a)
        t = _track_id(a)
        if t is not None:
            if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < 2**31 - 1:
                raise DatasetError(
                    f"{json_path}: annotation id {a.get('id')!r}: track_id "
                    f"{t!r} is not an integer in 0..{2**31 - 2}"
                )
            tids.append(t)
    shift = 1 if tids and min(tids) == 0 else 0
    items = []
    for im in images.values():
        name = Path(im["file_name"]).stem
        items.append((name, im, shift))
    items.sort(key=lambda t: t[0])
    check_names([Sample(n, None, None, im["file_name"]) for n, im, _ in items], json_path)
    return items


def _labels_for(im: dict[str, Any], shift: int, json_path: Path) -> np.ndarray:
    """Paint one image's annotations into an (H, W) int32 label image."""
    h, w = im["h"], im["w"]
    anns = im["anns"]
    used = {_track_id(a) + shift for a in anns if _track_id(a) is not None}
    ids, nxt = [], 1
    for pos, a in enumerate(anns):
        t = _track_id(a)
        if t is not None:
            ids.append(t + shift)
            continue
        nxt = max(nxt, pos + 1)
        while nxt in used:
            nxt += 1
        ids.append(nxt)
        used.add(nxt)
    order = sorted(range(len(anns)), key=lambda i: _z_order(anns[i]))
    labels = np.zeros((h, w), np.int32)
    for i in order:
        where = f"{json_path}: annotation id {anns[i].get('id')!r} ({im['file_name']})"
        labels[_decode_segmentation(anns[i], h, w, where)] = ids[i]
    return labels


def _z_order(ann: dict[str, Any]) -> float:
    z = ann.get("z_order", (ann.get("attributes") or {}).get("z_order", 0))
    return float(z) if isinstance(z, (int, float)) else 0.0


def iter_coco(
    json_path: str | os.PathLike, image_root: str | os.PathLike | None = None
) -> Iterator[Sample]:
    """Lazily read a COCO dataset; the JSON is parsed and checked on the call.

    Args:
        json_path: COCO instances JSON.
        image_root: folder the images' ``file_name`` are relative to; default: searched
            as the module docstring says.

    Yields:
        :class:`Sample`, sorted by name (the file_name's stem), image (H, W, 3) uint8,
        labels (H, W) int32, source the image file.

    Raises:
        DatasetError: naming the file, for an unreadable JSON, an annotation with an
            unknown ``image_id`` (its id is named), a missing or unreadable image, a
            malformed segmentation, or an image whose size differs from the JSON's.
    """
    json_path = Path(json_path)
    root = None if image_root is None else Path(image_root)
    return _read_items(_plan(json_path), json_path, root)


def _read_items(items: list[tuple], json_path: Path, root: Path | None) -> Iterator[Sample]:
    for name, im, shift in items:
        path = _find_image(im["file_name"], json_path, root)
        try:
            image = read_image(path)
        except ImageError as e:
            raise DatasetError(str(e)) from e
        if image.shape[:2] != (im["h"], im["w"]):
            raise DatasetError(
                f"{json_path}: image {im['file_name']!r} is {im['w']}x{im['h']} (WxH) in the "
                f"JSON but the file {path} is {image.shape[1]}x{image.shape[0]}"
            )
        yield Sample(
            name=name, image=image, labels=_labels_for(im, shift, json_path), source=str(path)
        )


def read_coco(
    json_path: str | os.PathLike, image_root: str | os.PathLike | None = None
) -> list[Sample]:
    """Read a COCO dataset into memory; see :func:`iter_coco`.

    Returns:
        list of :class:`Sample` sorted by name.
    """
    return list(iter_coco(json_path, image_root))


def mask_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer outlines of a mask as COCO polygons that rasterise back to it exactly.

    The outlines are traced on the mask doubled in size (each pixel 2x2, OpenCV's
    ``findContours``, corners kept), so they run along the pixels' edges rather than
    through the centres of the boundary pixels, and pycocotools fills exactly the mask's
    pixels again (tested). Holes are not outlined: a fish's outline covers anything
    inside it (:func:`encode_instances` orders the annotations so that one painted
    later, as readers do, lies on top).

    Args:
        mask: (H, W) bool (or 0/1) array.

    Returns:
        one ``[x0, y0, x1, y1, ...]`` list of floats per connected piece, in pixels.
    """
    m = np.ascontiguousarray(np.asarray(mask, bool), np.uint8)
    h, w = m.shape
    up = cv2.resize(m, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64) / 2.0  # >= 4 corners: a pixel is 2x2
        polys.append([round(float(v), 2) for v in pts.ravel()])
    return polys


def encode_instances(labels: np.ndarray, *, polygons: bool = False) -> list[dict[str, Any]]:
    """COCO annotation fields of every instance in a label image.

    Args:
        labels: (H, W) integer array, 0 = background.
        polygons: outlines as polygons (:func:`mask_polygons`: what annotation tools
            such as CVAT let one edit point by point; exact for masks without holes),
            largest instance first, so that one lying inside another's outline is
            painted over it; else compressed RLE (exact), in id order.

    Returns:
        one dict per id: ``segmentation`` (compressed RLE, counts as str, or a list of
        polygons), ``area`` (int, pixels), ``bbox`` ([x, y, w, h] floats), ``iscrowd``
        0, ``category_id`` 1 and ``attributes: {"track_id": id}``.
    """
    labels = np.asarray(labels)
    out = []
    for i in np.unique(labels):
        if i == 0:
            continue
        m = labels == i
        rle = mask_utils.encode(np.asfortranarray(m, dtype=np.uint8))
        seg: Any = {
            "size": [int(v) for v in rle["size"]],
            "counts": rle["counts"].decode("ascii"),
        }
        if polygons:
            seg = mask_polygons(m)
        out.append(
            {
                "category_id": CATEGORY["id"],
                "segmentation": seg,
                "area": int(mask_utils.area(rle)),
                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "iscrowd": 0,
                "attributes": {"track_id": int(i)},
            }
        )
    if polygons:
        out.sort(key=lambda a: -a["area"])
    return out


def write_coco(
    samples: list[Sample], out_dir: str | os.PathLike, *, copy_images: bool = True
) -> Path:
    """Write samples as a COCO dataset: ``out_dir/annotations.json`` (+ ``images/``).

    Each instance is one annotation with compressed RLE and ``attributes.track_id`` =
    its id, so :func:`read_coco` gives back the same label images exactly.

    Args:
        samples: samples with unique names.
        out_dir: target folder, created if needed.
        copy_images: write each image as ``out_dir/images/NAME.png`` (lossless); if
            False, ``file_name`` is the path of ``sample.source`` relative to
            ``out_dir`` (it must exist).

    Returns:
        path of the written ``annotations.json`` (written atomically).

    Raises:
        DatasetError: for duplicate names, or with ``copy_images=False`` a sample whose
            source file does not exist.
    """
    out = Path(out_dir)
    samples = list(samples)
    check_names(samples, out)
    images, annotations = [], []
    for k, s in enumerate(samples, start=1):
        h, w = np.asarray(s.labels).shape[:2]
        if tuple(np.asarray(s.image).shape[:2]) != (h, w):
            raise DatasetError(
                f"{out}: sample {s.name!r}: image {s.image.shape[:2]} and "
                f"labels {(h, w)} differ in size"
            )
        if copy_images:
            file_name = f"images/{s.name}.png"
            write_image(out / file_name, s.image)
        else:
            if not s.source or not Path(s.source).is_file():
                raise DatasetError(
                    f"{out}: sample {s.name!r}: source {s.source!r} is not a "
                    "file; use copy_images=True"
                )
            file_name = Path(os.path.relpath(Path(s.source).resolve(), out.resolve())).as_posix()
        images.append({"id": k, "file_name": file_name, "width": int(w), "height": int(h)})
        for a in encode_instances(s.labels):
            annotations.append({"id": len(annotations) + 1, "image_id": k, **a})
    doc = {
        "info": {"description": "written by fishseg"},
        "licenses": [],
        "categories": [CATEGORY],
        "images": images,
        "annotations": annotations,
    }
    path = out / "annotations.json"
    atomic_write(path, json.dumps(doc).encode("utf-8"))
    return path
