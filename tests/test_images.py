"""Tests for fishseg.io.images: normalisation, image and label I/O, error messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fishseg.io.images import (
    ImageError,
    normalize_image,
    read_image,
    read_label_folder,
    read_labels,
    to_uint8,
    write_image,
    write_labels,
)


def _rgb(h: int = 12, w: int = 16) -> np.ndarray:
    """A small RGB image with distinct channels (R ramps in x, G in y, B constant)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    img[:, :, 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    img[:, :, 2] = 77
    return img


# --- to_uint8 / normalize_image ------------------------------------------------------


def test_to_uint8_16bit_ramp_is_monotonic_onto_full_range():
    ramp = np.arange(0, 65536, 16, dtype=np.uint16).reshape(64, 64)
    out = to_uint8(ramp)
    assert out.dtype == np.uint8 and out.shape == ramp.shape
    flat = out.ravel()
    assert np.all(np.diff(flat.astype(int)) >= 0)
    assert flat[0] == 0 and flat[-1] == 255
    assert len(np.unique(flat)) > 200  # the range is used, not squashed


def test_to_uint8_ignores_a_few_hot_pixels():
    img = np.full((100, 100), 1000, np.uint16)
    img[:, :50] = 2000
    img[0, 0] = 65535  # one hot pixel (0.01 % of the image)
    out = to_uint8(img)
    assert out[50, 10] == 255 and out[50, 80] == 0


def test_to_uint8_passthrough_bool_and_constant():
    u8 = _rgb()
    assert to_uint8(u8) is u8
    assert to_uint8(np.array([[True, False]])).tolist() == [[255, 0]]
    assert np.all(to_uint8(np.zeros((4, 4), np.uint16)) == 0)
    assert np.all(to_uint8(np.full((4, 4), 65535, np.uint16)) == 255)
    assert np.all(to_uint8(np.full((4, 4), 1.0, np.float32)) == 255)


def test_to_uint8_float_with_nan_and_inf():
    x = np.linspace(-1.0, 3.0, 100, dtype=np.float32).reshape(10, 10)
    x[0, 0], x[0, 1], x[0, 2] = np.nan, np.inf, -np.inf
    out = to_uint8(x)
    assert out.dtype == np.uint8 and out.shape == (10, 10)
    assert np.all(np.diff(out.ravel()[3:].astype(int)) >= 0)


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12 * 16, dtype=np.uint8).reshape(12, 16),  # grey (H, W)
        np.arange(12 * 16, dtype=np.uint8).reshape(12, 16, 1),  # grey (H, W, 1)
        np.zeros((12, 16, 3), np.uint8),  # RGB
        np.zeros((12, 16, 4), np.uint8),  # RGBA
        np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 300,  # 16-bit grey
        np.random.default_rng(0).random((12, 16, 3)).astype(np.float32),  # float RGB
    ],
    ids=["grey", "grey1", "rgb", "rgba", "u16", "float"],
)
def test_normalize_image_shapes_and_dtype(arr):
    out = normalize_image(arr)
    assert out.shape == (12, 16, 3) and out.dtype == np.uint8
    assert out.flags.c_contiguous
    if arr.ndim == 2 or arr.shape[2] == 1:
        assert np.array_equal(out[:, :, 0], out[:, :, 1])
        assert np.array_equal(out[:, :, 0], out[:, :, 2])


def test_normalize_image_rgba_drops_alpha_keeps_order():
    rgba = np.dstack([_rgb(), np.full((12, 16), 9, np.uint8)])
    assert np.array_equal(normalize_image(rgba), _rgb())


def test_normalize_image_rejects_bad_shape():
    with pytest.raises(ImageError, match="frame7"):
        normalize_image(np.zeros((4, 4, 2), np.uint8), source="frame7")
    with pytest.raises(ImageError, match="unsupported image shape"):
        normalize_image(np.zeros((2, 4, 4, 3), np.uint8))


# --- read_image / write_image --------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_write_read_image_roundtrip_lossless(tmp_path, suffix):
    path = tmp_path / "sub" / f"a{suffix}"
    write_image(path, _rgb())
    back = read_image(path)
    assert back.dtype == np.uint8 and np.array_equal(back, _rgb())
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_read_image_jpg_is_rgb_order(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    img[:, :, 0] = 200  # red
    write_image(tmp_path / "r.jpg", img)
    back = read_image(tmp_path / "r.jpg")
    assert back[8, 8, 0] > 180 and back[8, 8, 2] < 30


def test_read_image_grey_rgba_16bit_and_float_files(tmp_path):
    grey = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    out = read_image(tmp_path / "g.png")
    assert out.shape == (12, 16, 3) and np.array_equal(out[:, :, 1], grey)

    bgra = np.dstack([_rgb()[:, :, ::-1], np.full((12, 16), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    assert np.array_equal(read_image(tmp_path / "a.png"), _rgb())

    ramp = (np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 300).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), ramp)
    cv2.imwrite(str(tmp_path / "d.tif"), ramp)
    for name in ("d.png", "d.tif"):
        out = read_image(tmp_path / name)
        assert out.shape == (12, 16, 3) and out.dtype == np.uint8
        assert np.all(np.diff(out[:, :, 0].ravel().astype(int)) >= 0)
        assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255

    f = np.linspace(0.0, 1.0, 12 * 16, dtype=np.float32).reshape(12, 16)
    cv2.imwrite(str(tmp_path / "f.tif"), f)
    out = read_image(tmp_path / "f.tif")
    assert out.shape == (12, 16, 3) and out[0, 0, 0] == 0 and out[-1, -1, 0] == 255


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(ImageError, match="nope.png.*not found"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"this is not a png")
    with pytest.raises(ImageError, match="bad.png.*not a readable image"):
        read_image(tmp_path / "bad.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty.jpg"):
        read_image(tmp_path / "empty.jpg")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageError, match="folder.png.*folder"):
        read_image(tmp_path / "folder.png")


def test_read_image_unsupported_channels_names_the_file(tmp_path, monkeypatch):
    # OpenCV cannot write a 2-channel file, so make the decoder return one.
    write_image(tmp_path / "two.tif", _rgb())
    monkeypatch.setattr(cv2, "imdecode", lambda data, flags: np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageError, match="two.tif.*unsupported image shape"):
        read_image(tmp_path / "two.tif")


def test_write_image_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ImageError, match="x.gif"):
        write_image(tmp_path / "x.gif", _rgb())


# --- labels --------------------------------------------------------------------------


def test_labels_roundtrip_uint16(tmp_path):
    lab = np.zeros((20, 30), np.int64)
    lab[2:8, 3:9] = 1
    lab[10:15, 10:25] = 65535
    lab[0, 0] = 300
    write_labels(tmp_path / "m.png", lab)
    raw = cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    back = read_labels(tmp_path / "m.png")
    assert back.dtype == np.int32 and np.array_equal(back, lab)


def test_read_labels_uint8_and_grey_rgb(tmp_path):
    lab = np.zeros((10, 10), np.uint8)
    lab[2:5, 2:5] = 3
    cv2.imwrite(str(tmp_path / "u8.png"), lab)
    assert np.array_equal(read_labels(tmp_path / "u8.png"), lab)
    cv2.imwrite(str(tmp_path / "rgb.png"), np.dstack([lab] * 3))
    assert np.array_equal(read_labels(tmp_path / "rgb.png"), lab)


def test_read_labels_errors_name_the_file(tmp_path):
    with pytest.raises(ImageError, match="missing.png.*not found"):
        read_labels(tmp_path / "missing.png")
    colour = np.zeros((10, 10, 3), np.uint8)
    colour[2:5, 2:5] = (255, 0, 0)
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    with pytest.raises(ImageError, match="colour.png.*colour channels"):
        read_labels(tmp_path / "colour.png")
    cv2.imwrite(str(tmp_path / "float.tif"), np.ones((5, 5), np.float32))
    with pytest.raises(ImageError, match="float.tif.*dtype float32"):
        read_labels(tmp_path / "float.tif")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ImageError, match="junk.png"):
        read_labels(tmp_path / "junk.png")


def test_write_labels_errors_name_the_file(tmp_path):
    with pytest.raises(ImageError, match="big.png.*0..65535"):
        write_labels(tmp_path / "big.png", np.full((3, 3), 70000, np.int32))
    with pytest.raises(ImageError, match="neg.png.*0..65535"):
        write_labels(tmp_path / "neg.png", np.full((3, 3), -1, np.int32))
    with pytest.raises(ImageError, match="m.jpg.*png"):
        write_labels(tmp_path / "m.jpg", np.zeros((3, 3), np.int32))
    with pytest.raises(ImageError, match="f.png.*integers"):
        write_labels(tmp_path / "f.png", np.zeros((3, 3), np.float32))
    with pytest.raises(ImageError, match="s.png.*shape"):
        write_labels(tmp_path / "s.png", np.zeros((3, 3, 3), np.int32))
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_read_label_folder_stacks_in_name_order(tmp_path):
    frames = [np.full((4, 5), i, np.int32) for i in (3, 1, 2)]
    for name, lab in zip(("b.png", "c.png", "a.png"), frames):
        write_labels(tmp_path / name, lab)
    (tmp_path / "notes.txt").write_text("not a mask")
    out = read_label_folder(tmp_path)
    assert out.shape == (3, 4, 5) and out.dtype == np.int32
    assert [int(o[0, 0]) for o in out] == [2, 3, 1]  # a, b, c
    write_labels(tmp_path / "d.png", np.zeros((6, 5), np.int32))
    with pytest.raises(ValueError, match="different sizes"):
        read_label_folder(tmp_path)
    with pytest.raises(ValueError, match="no label images"):
        read_label_folder(tmp_path / "empty")
