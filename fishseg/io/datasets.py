"""Annotated datasets: frames with instance label images.

A dataset is either

- a **folder** with ``images/NAME.(png|jpg|jpeg|tif|tiff|bmp)`` and ``masks/NAME.png``
  (uint8 or uint16 instance ids, 0 = background), or
- a **COCO JSON** with polygons and/or RLE, as CVAT and Label Studio export it: a
  ``.json`` file, or a folder holding ``annotations.json`` (or, CVAT's layout, exactly
  one ``annotations/*.json``). See :mod:`fishseg.io.coco`.

Either way it reads as a list of :class:`Sample` sorted by name. Every problem a user can
cause (a missing folder, an image without a mask, a mask of the wrong size, a colour
mask, a corrupt file) raises :class:`DatasetError` naming the file.

Example::

    samples = load_datasets(["belt1/", "belt2/annotations.json"])
    write_folder(samples, "all/")
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fishseg.io.images import (
    IMAGE_SUFFIXES,
    ImageError,
    read_image,
    read_labels,
    write_image,
    write_labels,
)


class DatasetError(ValueError):
    """A dataset is missing, incomplete or inconsistent; the message names the file."""


@dataclass
class Sample:
    """One annotated frame.

    Attributes:
        name: unique name within its dataset (the image file's stem).
        image: (H, W, 3) uint8 RGB.
        labels: (H, W) int32 instance ids, 0 = background.
        source: the image file it came from ("" for samples made in memory).
    """

    name: str
    image: np.ndarray
    labels: np.ndarray
    source: str = ""


def _check_pair(image: np.ndarray, labels: np.ndarray, image_path: str, mask_path: str) -> None:
    """Raise DatasetError if an image and its labels differ in size."""
    if image.shape[:2] != labels.shape:
        raise DatasetError(
            f"{mask_path}: mask size {labels.shape[1]}x{labels.shape[0]} (WxH) does not "
            f"match image {image_path} of size {image.shape[1]}x{image.shape[0]}"
        )


def _coco_json(path: Path) -> Path | None:
    """The COCO JSON a path names or a folder holds, or None."""
    if path.is_file() and path.suffix.lower() == ".json":
        return path
    if (path / "annotations.json").is_file():
        return path / "annotations.json"
    found = sorted((path / "annotations").glob("*.json")) if path.is_dir() else []
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise DatasetError(
            f"{path / 'annotations'}: holds several JSON files "
            f"({', '.join(f.name for f in found)}); pass the one to use as the dataset path"
        )
    return None


def _folder_pairs(root: Path, skip_unlabelled: bool) -> list[tuple[str, Path, Path]]:
    """(name, image path, mask path) of a folder dataset, sorted by name."""
    img_dir, mask_dir = root / "images", root / "masks"
    if not img_dir.is_dir():
        raise DatasetError(
            f"{root}: no images/ folder (expected images/NAME.png and "
            "masks/NAME.png, or a COCO annotations.json)"
        )
    images: dict[str, Path] = {}
    for p in sorted(img_dir.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            if p.stem in images:
                raise DatasetError(
                    f"{img_dir}: two images named {p.stem!r}: "
                    f"{images[p.stem].name} and {p.name}; rename one"
                )
            images[p.stem] = p
    if not images:
        raise DatasetError(f"{img_dir}: no images found (suffixes {', '.join(IMAGE_SUFFIXES)})")
    masks = {p.stem: p for p in mask_dir.glob("*.png")} if mask_dir.is_dir() else {}
    missing = [images[n] for n in sorted(images) if n not in masks]
    if missing and not skip_unlabelled:
        shown = ", ".join(str(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DatasetError(
            f"{mask_dir}: no mask for {len(missing)} image(s): {shown}{more}; expected "
            f"{mask_dir / (missing[0].stem + '.png')} (pass skip_unlabelled=True to skip "
            "images without masks)"
        )
    orphans = sorted(set(masks) - set(images))
    if orphans:
        warnings.warn(
            f"{mask_dir}: {len(orphans)} mask(s) without an image are ignored: "
            f"{', '.join(orphans[:5])}",
            stacklevel=3,
        )
    return [(n, images[n], masks[n]) for n in sorted(images) if n in masks]


def _iter_folder(root: Path, skip_unlabelled: bool) -> Iterator[Sample]:
    pairs = _folder_pairs(root, skip_unlabelled)  # checked eagerly, before the first yield
    return _read_pairs(pairs)


def _read_pairs(pairs: list[tuple[str, Path, Path]]) -> Iterator[Sample]:
    for name, img_path, mask_path in pairs:
        try:
            image = read_image(img_path)
            labels = read_labels(mask_path)
        except ImageError as e:
            raise DatasetError(str(e)) from e
        _check_pair(image, labels, str(img_path), str(mask_path))
        yield Sample(name=name, image=image, labels=labels, source=str(img_path))


def iter_dataset(path: str | os.PathLike, *, skip_unlabelled: bool = False) -> Iterator[Sample]:
    """Iterate over a dataset lazily, one decoded sample at a time, sorted by name.

    The dataset's structure (folders, pairing of images and masks, the COCO JSON) is
    checked when this is called; the files themselves are read as the iterator advances.

    Args:
        path: a folder dataset, a folder with a COCO ``annotations.json`` (or CVAT's
            ``annotations/*.json``), or a COCO ``.json`` file.
        skip_unlabelled: for a folder dataset, skip images that have no mask instead of
            raising. (In a COCO file an image without annotations is a frame with no
            fish and reads as all-zero labels.)

    Yields:
        :class:`Sample` with image (H, W, 3) uint8 and labels (H, W) int32.

    Raises:
        DatasetError: naming the file, for a missing path, a folder that is not a
            dataset, no images, an image without a mask, sizes that differ, a mask that
            is not an integer label image, or an unreadable file.
    """
    root = Path(path)
    if not root.exists():
        raise DatasetError(f"{root}: dataset not found")
    is_folder = (root / "images").is_dir() and (root / "masks").is_dir()
    json_path = None if is_folder else _coco_json(root)
    if json_path is not None:
        from fishseg.io import coco  # coco imports Sample from here

        return coco.iter_coco(json_path)
    if root.is_file():
        raise DatasetError(
            f"{root}: not a dataset; expected a folder with images/ and "
            "masks/, or a COCO .json file"
        )
    return _iter_folder(root, skip_unlabelled)


def load_dataset(path: str | os.PathLike, *, skip_unlabelled: bool = False) -> list[Sample]:
    """Read a whole dataset into memory; see :func:`iter_dataset`.

    Returns:
        list of :class:`Sample`, sorted by name.
    """
    return list(iter_dataset(path, skip_unlabelled=skip_unlabelled))


def load_datasets(
    paths: Iterable[str | os.PathLike] | str | os.PathLike, *, skip_unlabelled: bool = False
) -> list[Sample]:
    """Read several datasets (e.g. repeated ``--data`` arguments) into one list.

    Samples keep each dataset's order, datasets the order given. Names may repeat across
    datasets; ``Sample.source`` tells them apart.

    Args:
        paths: dataset paths (a single path is accepted too).
        skip_unlabelled: see :func:`iter_dataset`.

    Returns:
        list of :class:`Sample`.

    Raises:
        DatasetError: see :func:`iter_dataset`; also when ``paths`` is empty.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise DatasetError("no dataset paths given")
    out: list[Sample] = []
    for p in paths:
        out.extend(load_dataset(p, skip_unlabelled=skip_unlabelled))
    return out


def check_names(samples: list[Sample], out_dir: str | os.PathLike) -> None:
    """Raise DatasetError unless sample names are unique, non-empty file stems."""
    seen: dict[str, str] = {}
    for s in samples:
        if not s.name or s.name != Path(s.name).name or s.name in (".", ".."):
            raise DatasetError(
                f"{out_dir}: sample name {s.name!r} (from {s.source or 'memory'}) "
                "is not a plain file name"
            )
        if s.name in seen:
            raise DatasetError(
                f"{out_dir}: two samples named {s.name!r} (from "
                f"{seen[s.name] or 'memory'} and {s.source or 'memory'}); "
                "rename one before writing"
            )
        seen[s.name] = s.source


def write_folder(samples: Iterable[Sample], out_dir: str | os.PathLike) -> None:
    """Write samples as a folder dataset.

    Writes ``out_dir/images/NAME.png`` (8-bit RGB, lossless) and ``out_dir/masks/NAME.png``
    (16-bit ids) for each sample, each file atomically.

    Args:
        samples: samples with unique names; labels ids in 0..65535.
        out_dir: target folder, created if needed.

    Raises:
        DatasetError: for duplicate or invalid names, image/labels size mismatch, or ids
            that do not fit 16 bits (naming the sample).
    """
    samples = list(samples)
    out = Path(out_dir)
    check_names(samples, out)
    for s in samples:
        img_path, mask_path = out / "images" / f"{s.name}.png", out / "masks" / f"{s.name}.png"
        _check_pair(np.asarray(s.image), np.asarray(s.labels), str(img_path), str(mask_path))
        try:
            write_image(img_path, s.image)
            write_labels(mask_path, s.labels)
        except ImageError as e:
            raise DatasetError(f"{e} (sample {s.name!r} from {s.source or 'memory'})") from e
