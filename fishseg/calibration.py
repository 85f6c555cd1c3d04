"""Perspective calibration: centimetres on the belt from pixels of an oblique camera.

``measure.cm_per_pixel`` is one scale for the whole frame: right for a camera looking
straight down. Belt cameras are usually mounted at an angle, and then a fish near the
far end of the belt covers fewer pixels than the same fish near the camera (by 30-50% in
typical installations), so a single scale mis-measures both. The belt is a plane, and a
plane is mapped to the image by a homography: four or more points whose position on the
belt is known (tape marks, the belt's edges at measured distances, a board laid on it)
fix it. ``measure.belt_points`` lists them as ``[x_px, y_px, x_cm, y_cm]`` (pixels of
the input frames; any origin and orientation of the belt coordinates).

:class:`BeltPlane` maps pixel centres to belt coordinates. A fish is then measured on
the belt (:func:`fishseg.measure.measure_instances` with ``plane=``): its area is the sum
of its pixels' areas on the belt (the homography's Jacobian, ``|det H| / w^3`` at each
pixel), its length and width the extents of its pixels' belt positions along and across
its principal axis, plus one pixel's size there. A fish lying on the belt is measured
correctly wherever it is in the frame; its thickness above the belt is not modelled
(a few percent for a flat-lying fish seen at a steep angle).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


class CalibrationError(ValueError):
    """The calibration points do not define a usable mapping."""


class BeltPlane:
    """Homography from image pixels to centimetres on the belt plane.

    Args:
        points: (n, 4) ``[x_px, y_px, x_cm, y_cm]`` with n >= 4, no three of the first
            four on a line; with more than four the least-squares fit is used.

    Attributes:
        H: (3, 3) float64 homography, pixel (x, y, 1) -> belt (X, Y, 1) up to scale.
        rms_cm: root mean square distance, on the belt, between the given belt positions
            and where the fitted mapping puts their pixels (0 for exactly 4 points).

    Raises:
        CalibrationError: fewer than 4 points, malformed points, or points that do not
            fix a mapping (collinear, repeated, or a mapping that folds the belt).
    """

    def __init__(self, points: Sequence[Sequence[float]]):
        try:
            p = np.asarray(points, np.float64)
        except (TypeError, ValueError):  # ragged or not numbers
            p = np.zeros((0, 0))
        if p.ndim != 2 or p.shape[1] != 4 or len(p) < 4 or not np.isfinite(p).all():
            raise CalibrationError(
                f"measure.belt_points: need 4 or more points [x_px, y_px, x_cm, y_cm], "
                f"got {points!r}")
        src, dst = p[:, :2], p[:, 2:]
        for name, q in (("pixel", src), ("belt", dst)):
            areas = _triangle_areas(q)
            # four points fix the mapping only when no three are on a line; more points
            # (least squares) need not all be in general position, but must span a plane
            spread = areas.min() if len(q) == 4 else areas.max()
            if spread < 1e-6 * max(1.0, np.ptp(q, axis=0).max()) ** 2:
                raise CalibrationError(
                    f"measure.belt_points: the {name} positions are (nearly) on one line "
                    "or repeated; they must span the belt")
        H, _ = cv2.findHomography(src, dst, 0)
        if H is None or not np.isfinite(H).all() or abs(np.linalg.det(H)) < 1e-300:
            raise CalibrationError("measure.belt_points: these points do not define a mapping")
        self.H = H / H[2, 2]
        w = src @ self.H[2, :2] + self.H[2, 2]
        if not ((w > 0).all() or (w < 0).all()):
            raise CalibrationError("measure.belt_points: the fitted mapping folds the belt "
                                   "(a point lies beyond the horizon); check the points")
        self._side = float(np.sign(w[0]))  # of the horizon, where the belt is
        X, Y = self.to_plane(src[:, 0], src[:, 1])
        self.rms_cm = float(np.sqrt(np.mean((X - dst[:, 0]) ** 2 + (Y - dst[:, 1]) ** 2)))
        self.points = p

    def scaled(self, scale: float) -> BeltPlane:
        """The same calibration for frames resized by ``scale`` (pixels x scale)."""
        out = object.__new__(BeltPlane)
        out.H = self.H @ np.diag([1.0 / scale, 1.0 / scale, 1.0])
        out.H /= out.H[2, 2]
        out.rms_cm, out.points, out._side = self.rms_cm, self.points, self._side
        return out

    def to_plane(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Belt coordinates (cm) of pixel positions.

        Args:
            xs, ys: (P,) pixel coordinates (pixel centres are integers).

        Returns:
            ``(X, Y)``: (P,) float64 each.
        """
        x, y = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        h = self.H
        w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        return (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w

    def pixel_area(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """(P,) float64 area in cm^2 on the belt of the pixels at ``(xs, ys)``: the
        Jacobian determinant of the homography, ``|det H| / w^3``."""
        x, y = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        w = self.H[2, 0] * x + self.H[2, 1] * y + self.H[2, 2]
        return np.abs(np.linalg.det(self.H) / w**3)

    def check_frame(self, width: int, height: int) -> None:
        """Raise :class:`CalibrationError` unless the whole ``width`` x ``height`` frame lies
        on the belt side of the mapping's horizon (else fish near it cannot be measured)."""
        self.check_points(np.array([0.0, width - 1, 0.0, width - 1]),
                          np.array([0.0, 0.0, height - 1, height - 1]), width=width,
                          height=height)

    def check_points(self, xs: np.ndarray, ys: np.ndarray, *, width: int, height: int) -> None:
        """:meth:`check_frame` for given corner positions (a lens's undistorted corners)."""
        w = self.H[2, 0] * xs + self.H[2, 1] * ys + self.H[2, 2]
        if not (np.sign(w) == self._side).all():
            raise CalibrationError(
                f"measure.belt_points: the belt plane they define has its horizon inside the "
                f"{width}x{height} frame; give points spread over the belt area in view")

    def describe(self) -> str:
        return f"belt plane from {len(self.points)} points (fit residual {self.rms_cm:.2f} cm)"


def _triangle_areas(q: np.ndarray) -> np.ndarray:
    """Areas of the triangles of every three of the points (0 where three are on a line)."""
    i, j, k = np.array([(i, j, k) for i in range(len(q)) for j in range(i + 1, len(q))
                        for k in range(j + 1, len(q))]).T
    a, b = q[j] - q[i], q[k] - q[i]
    return np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]) / 2
