"""Reading and writing images and instance label images.

Images come from CCTV frames and annotation tools in many forms: 8-bit colour JPEGs,
grey PNGs, 16-bit or float TIFFs, PNGs with an alpha channel. Everything that enters
fishseg is brought to one form, ``(H, W, 3) uint8`` RGB, by :func:`normalize_image`.
Deeper-than-8-bit data is mapped to 8 bits by :func:`to_uint8`, a per-image robust
percentile stretch.

Label images are single-channel integer images, 0 = background, 1.. = instance ids,
read as ``(H, W) int32`` and written as 16-bit PNGs.

All writes are atomic: the encoded bytes go to a temporary file in the target folder,
which then replaces the target with :func:`os.replace`, so a reader never sees a
half-written file. Files are read and written through ``cv2.imdecode``/``cv2.imencode``
so that paths with non-ASCII characters work on every platform.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from fishseg.io.files import replaced_on_success

#: Percentiles of the robust stretch used by :func:`to_uint8`.
LOW_PERCENTILE = 0.1
HIGH_PERCENTILE = 99.9

#: File suffixes that :func:`read_image` accepts (lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

#: Largest id a 16-bit label PNG can hold.
MAX_LABEL = 65535


class ImageError(ValueError):
    """An image or label file is missing, unreadable or of an unsupported kind."""


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Map an image of any numeric dtype to uint8, keeping its shape.

    ``uint8`` is returned unchanged and ``bool`` maps to 0/255. Every other dtype
    (uint16, other integers, floats) gets a per-image robust stretch: the
    ``LOW_PERCENTILE`` (0.1) and ``HIGH_PERCENTILE`` (99.9) percentiles over all pixels
    and channels together (so colour balance is kept) map to 0 and 255, values outside
    are clipped, and the map in between is linear, hence monotonic. A few hot or dead
    pixels therefore cannot squash the contrast of a 16-bit frame. NaNs become 0 and
    infinities the largest / smallest finite value. A constant image (no range to
    stretch) is scaled by its dtype's range instead: integers by ``value / max(dtype)``,
    floats as if in [0, 1].

    Args:
        img: array of any shape, any integer, bool or float dtype.

    Returns:
        uint8 array of the same shape.
    """
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if not (np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)):
        raise ImageError(f"cannot convert an image of dtype {img.dtype} to uint8")
    if img.size == 0:
        return np.zeros(img.shape, np.uint8)
    x = img.astype(np.float64)
    finite = np.isfinite(x)
    if not finite.all():  # NaN -> 0, +-inf -> the largest / smallest finite value
        vals = x[finite]
        top = vals.max() if vals.size else 0.0
        bottom = vals.min() if vals.size else 0.0
        x = np.nan_to_num(x, nan=0.0, posinf=max(top, 0.0), neginf=min(bottom, 0.0))
    lo, hi = np.percentile(x, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if hi <= lo:  # constant (or nearly) image: use the dtype's own range
        scale = np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else 1.0
        out = np.clip(x / scale, 0.0, 1.0) * 255.0
    else:
        out = (np.clip(x, lo, hi) - lo) * (255.0 / (hi - lo))
    return np.rint(out).astype(np.uint8)


def normalize_image(arr: np.ndarray, *, source: str = "image") -> np.ndarray:
    """Bring an in-memory image to ``(H, W, 3) uint8`` RGB.

    Grey ``(H, W)`` or ``(H, W, 1)`` is repeated into 3 channels, RGBA ``(H, W, 4)``
    loses its alpha channel, and a dtype other than uint8 goes through :func:`to_uint8`.
    Channel order is kept (give RGB, get RGB).

    Args:
        arr: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array; uint8, uint16, any other
            integer, bool or float dtype.
        source: name used in error messages (e.g. the file the array came from).

    Returns:
        (H, W, 3) uint8 array, C-contiguous.

    Raises:
        ImageError: for any other number of dimensions or channels.
    """
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        arr = arr[:, :, :3]
    elif arr.ndim != 2:
        raise ImageError(
            f"{source}: unsupported image shape {arr.shape}; expected (H, W) grey or "
            "(H, W, C) with C = 1 (grey), 3 (colour) or 4 (colour + alpha)"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{source}: empty image of shape {arr.shape}")
    arr = to_uint8(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def _decode(path: str | os.PathLike) -> np.ndarray:
    """Read a file with ``cv2.IMREAD_UNCHANGED``; errors name the file."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder, not an image file" if p.is_dir() else "not found"
        raise ImageError(f"{p}: {what}")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as e:
        raise ImageError(f"{p}: cannot read file ({e})") from e
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ImageError(f"{p}: not a readable image (empty, corrupt or unknown format)")
    return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8.

    Any format OpenCV decodes (png, jpg, tif, bmp, ...); 16-bit and float data are
    normalised by :func:`to_uint8`, grey becomes 3 channels and alpha is dropped.

    Args:
        path: image file.

    Returns:
        (H, W, 3) uint8 array in RGB order.

    Raises:
        ImageError: naming the file, if it is missing, unreadable or corrupt, or has an
            unsupported number of channels.
    """
    img = _decode(path)
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[:, :, ::-1]  # BGR -> RGB
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, [2, 1, 0]]  # BGRA -> RGB
    return normalize_image(img, source=str(path))


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and os.replace."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with replaced_on_success(p) as tmp, open(tmp, "wb") as f:
        f.write(data)


def _encode(path: str | os.PathLike, img: np.ndarray) -> bytes:
    """Encode ``img`` in the format named by ``path``'s suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageError(
            f"{path}: unsupported image suffix {suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}"
        )
    ok, buf = cv2.imencode(suffix, img)
    if not ok:
        raise ImageError(f"{path}: OpenCV could not encode the image as {suffix}")
    return buf.tobytes()


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB image atomically, format chosen by the suffix.

    Args:
        path: target file (.png, .jpg, .jpeg, .tif, .tiff or .bmp); parent folders are
            created.
        rgb: (H, W, 3) RGB array, or anything :func:`normalize_image` accepts (it is
            normalised first, so the file always holds 8-bit RGB).

    Raises:
        ImageError: naming the file, for an unsupported suffix or image shape.
    """
    img = normalize_image(rgb, source=str(path))
    atomic_write(path, _encode(path, np.ascontiguousarray(img[:, :, ::-1])))


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read an instance label image.

    A single-channel integer image (uint8, uint16 or int32 as OpenCV reads them). A
    3- or 4-channel file whose colour channels are all equal (a grey label image saved
    as RGB) is accepted; real colour (a colour-coded visualisation) is not.

    Args:
        path: label image file, normally a 16-bit PNG.

    Returns:
        (H, W) int32 array, 0 = background.

    Raises:
        ImageError: naming the file, if it is missing or unreadable, has colour
            channels that differ, a float dtype, or negative values.
    """
    lab = _decode(path)
    if lab.ndim == 3:
        if lab.shape[2] not in (3, 4):
            raise ImageError(
                f"{path}: label image has {lab.shape[2]} channels; "
                "expected a single-channel image of instance ids"
            )
        col = lab[:, :, :3]
        if not ((col[:, :, 0] == col[:, :, 1]).all() and (col[:, :, 0] == col[:, :, 2]).all()):
            raise ImageError(
                f"{path}: label image has colour channels that differ (a colour-coded "
                "mask?); expected a single-channel image of integer instance ids, "
                "0 = background (e.g. a 16-bit PNG)"
            )
        lab = col[:, :, 0]
    if not np.issubdtype(lab.dtype, np.integer):
        raise ImageError(
            f"{path}: label image has dtype {lab.dtype}; expected integer "
            "instance ids (uint8 or uint16), 0 = background"
        )
    if np.issubdtype(lab.dtype, np.signedinteger) and lab.size and lab.min() < 0:
        raise ImageError(f"{path}: label image has negative values (min {lab.min()})")
    return lab.astype(np.int32)


def read_label_folder(folder: str | os.PathLike) -> np.ndarray:
    """Every ``*.png`` label image of a folder (e.g. the ``masks/`` of ``fishseg synth``),
    in name order, stacked: (N, H, W) int32.

    Raises:
        ValueError: the folder has no PNG, or their sizes differ (both name the folder).
    """
    paths = sorted(Path(folder).glob("*.png"))
    if not paths:
        raise ValueError(f"{folder}: no label images (*.png)")
    labels = [read_labels(p) for p in paths]
    if len({lab.shape for lab in labels}) > 1:
        raise ValueError(f"{folder}: label images of different sizes")
    return np.stack(labels).astype(np.int32)


def write_labels(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write an instance label image atomically as a 16-bit PNG.

    Args:
        path: target file; must end in ``.png``. Parent folders are created.
        labels: (H, W) integer (or bool) array with ids in 0..65535, 0 = background.

    Raises:
        ImageError: naming the file, for a wrong suffix, shape or dtype, or ids outside
            0..65535.
    """
    labels = np.asarray(labels)
    if Path(path).suffix.lower() != ".png":
        raise ImageError(f"{path}: label images are written as 16-bit PNG; use a .png suffix")
    if labels.ndim != 2:
        raise ImageError(f"{path}: labels must be (H, W), got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise ImageError(f"{path}: labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > MAX_LABEL):
        raise ImageError(
            f"{path}: label ids must be in 0..{MAX_LABEL} for a 16-bit PNG, got "
            f"{labels.min()}..{labels.max()}; relabel (e.g. skimage.segmentation."
            "relabel_sequential) first"
        )
    atomic_write(path, _encode(path, labels.astype(np.uint16)))
