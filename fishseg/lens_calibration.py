"""Measuring a lens from frames of a chessboard (``fishseg calibrate-lens``).

:func:`calibrate_lens` finds the board's inner corners in each frame (OpenCV's
``findChessboardCorners``, refined by ``cornerSubPix``) and fits the camera
(``calibrateCamera``: intrinsics and k1, k2, p1, p2, k3). :func:`calibrate_inputs` does
it for the command: frames from images, folders and videos, a configuration file with
``measure.lens``, and a picture of one view before and after undistortion (straight
board lines should come out straight).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm.auto import tqdm

from fishseg.calibration import CalibrationError
from fishseg.lens import Lens


@dataclass
class LensCalibration:
    """What :func:`calibrate_lens` found.

    Attributes:
        lens: the estimated :class:`Lens` (9 numbers, with k3).
        rms_px: root mean square reprojection error of the chessboard corners (pixels).
        views: frames in which the board was found, by name.
        missed: frames in which it was not.
        size: (width, height) of the frames.
    """

    lens: Lens
    rms_px: float
    views: list[str]
    missed: list[str]
    size: tuple[int, int]


def find_board(frame: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """Inner corners of a chessboard in a frame, refined to sub-pixel accuracy.

    Args:
        frame: (H, W, 3) uint8 RGB.
        board: inner corners per row and per column (a board of 10 x 7 squares: (9, 6)).

    Returns:
        (N, 1, 2) float32 corner positions, or None when the whole board is not found.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    ok, corners = cv2.findChessboardCorners(grey, board, flags=flags)
    if not ok:
        return None
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    return cv2.cornerSubPix(grey, corners, (5, 5), (-1, -1), crit)


def calibrate_lens(frames: Iterable[tuple[str, np.ndarray]], board: tuple[int, int], *,
                   min_views: int = 5) -> LensCalibration:
    """Estimate a lens from frames showing a flat chessboard in different places.

    The square size does not matter for the lens (only for where the board was), so
    any printed board works; it must be flat, seen whole, and the views should cover
    the frame, corners included, where the distortion is strongest.

    Args:
        frames: ``(name, (H, W, 3) uint8 RGB)`` pairs, all of one size.
        board: inner corners per row and column.
        min_views: views with the board found that are needed.

    Returns:
        :class:`LensCalibration`.

    Raises:
        CalibrationError: frames of different sizes, or the board found in fewer than
            ``min_views`` frames (naming how many were looked at).
    """
    cols, rows = board
    obj = np.zeros((cols * rows, 3), np.float32)
    obj[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2)
    views, missed, image_pts = [], [], []
    size = None
    for name, frame in frames:
        h, w = frame.shape[:2]
        if size is None:
            size = (w, h)
        elif size != (w, h):
            raise CalibrationError(f"{name}: {w}x{h}, but the frames before it are "
                                   f"{size[0]}x{size[1]}: calibrate one camera setting at a time")
        c = find_board(frame, board)
        (views if c is not None else missed).append(name)
        if c is not None:
            image_pts.append(c)
    if len(views) < min_views:
        raise CalibrationError(
            f"a {cols}x{rows} chessboard (inner corners) was found in {len(views)} of "
            f"{len(views) + len(missed)} frames; at least {min_views} views are needed "
            "(check --board: inner corners per row and column, not squares)")
    # OpenCV's plain model: k1, k2, p1, p2, k3
    rms, K, D, _, _ = cv2.calibrateCamera([obj] * len(image_pts), image_pts, size, None, None)
    d = np.asarray(D, np.float64).ravel()
    lens = Lens([K[0, 0], K[1, 1], K[0, 2], K[1, 2], d[0], d[1], d[2], d[3], d[4]])
    return LensCalibration(lens, float(rms), views, missed, size)


def _frames(inputs: Iterable[str | Path], every: int) -> Iterator[tuple[str, np.ndarray]]:
    from fishseg.io.video import FrameReader
    from fishseg.pipeline import VIDEO_SUFFIXES

    for src in inputs:
        p = Path(src)
        video = p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
        with FrameReader(p, 4, step=every if video else 1, on_error="skip") as reader:
            for idx, frames in reader:
                for i, f in zip(idx.tolist(), frames):
                    yield (f"{p}: frame {i}" if video or p.is_dir() else str(p)), f


def calibrate_inputs(inputs: Iterable[str | Path], board: tuple[int, int], *,
                     out: str | Path = "lens.yaml", every: int = 25,
                     progress: bool = True) -> LensCalibration:
    """``fishseg calibrate-lens``: calibrate, write ``out`` and a check picture, report.

    Args:
        inputs: images, folders of images and videos of the chessboard.
        board: inner corners per row and column.
        out: the YAML file to write (``measure: {lens: [...]}``, usable as ``--config``
            or copied into one); ``<out stem>_check.png`` is written beside it.
        every: look at every ``every``-th frame of a video.
        progress: a tqdm bar over the frames looked at.

    Returns:
        :class:`LensCalibration`.

    Raises:
        CalibrationError: too few views with the board (see :func:`calibrate_lens`).
        fishseg.io.video.VideoError: an input that cannot be read.
    """
    from fishseg.io.images import atomic_write, write_image

    out = Path(out)
    kept: dict[str, np.ndarray] = {}

    def frames():
        for name, f in tqdm(_frames(inputs, every), desc="looking for the board",
                            unit="frame", disable=not progress):
            if not kept:
                kept[name] = f  # the first frame, for the check picture
            yield name, f

    cal = calibrate_lens(frames(), board)
    lens = cal.lens
    params = [round(float(v), 6) for v in lens.params]
    text = (f"# fishseg calibrate-lens: {len(cal.views)} views of a {board[0]}x{board[1]} "
            f"board in {cal.size[0]}x{cal.size[1]} frames, reprojection error "
            f"{cal.rms_px:.3f} px RMS.\n# [fx, fy, cx, cy, k1, k2, p1, p2, k3] in pixels of "
            "these frames; add measure.cm_per_pixel (straight down) or measure.belt_points "
            "(oblique), read off the distorted frames as usual.\n"
            + yaml.safe_dump({"measure": {"lens": params}}, default_flow_style=None))
    atomic_write(out, text.encode("utf-8"))
    frame = next(iter(kept.values()))
    fixed = cv2.undistort(np.ascontiguousarray(frame), lens.camera_matrix, lens.dist_coeffs)
    write_image(out.with_name(out.stem + "_check.png"), np.concatenate([frame, fixed], axis=1))
    print(f"board found in {len(cal.views)} of {len(cal.views) + len(cal.missed)} frames; "
          f"reprojection error {cal.rms_px:.3f} px RMS" + (
              " (high: a board not flat, or blurred frames?)" if cal.rms_px > 1.0 else ""))
    print(f"measure.lens: {params}")
    print(f"written: {out} (use it with --config, or copy the lens line into your config); "
          f"before / after: {out.with_name(out.stem + '_check.png')}")
    return cal
