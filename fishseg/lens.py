"""Lens distortion: fish measured where the lens did not bend them.

Monitoring cameras on trawlers have wide-angle lenses, and their barrel distortion
shrinks what lies towards the frame's corners: with a typical k1 of -0.3 a fish near a
corner reads 10-20% shorter than the same fish in the middle, whatever the calibration
of the belt. ``measure.lens`` gives the camera's intrinsics and distortion in OpenCV's
model, ``[fx, fy, cx, cy, k1, k2, p1, p2]`` or with ``k3`` as a ninth number (pixels of
the input frames; what ``cv2.calibrateCamera`` returns, and what
``fishseg calibrate-lens`` measures from frames of a chessboard). Fish are then measured
on undistorted pixel positions: :class:`LensPlane` maps each pixel centre through the
inverse of the distortion and then through the belt's calibration (``belt_points``,
read off the distorted frames like the fish, or ``cm_per_pixel``, the scale at the
middle of the frame), with each pixel's area on the belt from the mapping's Jacobian.

:mod:`fishseg.lens_calibration` estimates the lens from chessboard views.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fishseg.calibration import BeltPlane, CalibrationError


class Lens:
    """A camera's intrinsics and distortion (OpenCV's model).

    Args:
        params: ``[fx, fy, cx, cy, k1, k2, p1, p2]`` or ``[..., k3]`` (pixels).

    Raises:
        CalibrationError: not 8 or 9 finite numbers, or focal lengths not positive.
    """

    def __init__(self, params: Sequence[float]):
        try:
            p = np.asarray(params, np.float64).ravel()
        except (TypeError, ValueError):
            p = np.zeros(0)
        if len(p) not in (8, 9) or not np.isfinite(p).all() or p[0] <= 0 or p[1] <= 0:
            raise CalibrationError(
                "measure.lens: need [fx, fy, cx, cy, k1, k2, p1, p2] (or with k3 as a ninth "
                f"number), focal lengths > 0, in pixels of the input frames; got {params!r}")
        self.params = p
        self.fx, self.fy, self.cx, self.cy = p[:4]
        self.k1, self.k2, self.p1, self.p2 = p[4:8]
        self.k3 = p[8] if len(p) == 9 else 0.0

    @property
    def camera_matrix(self) -> np.ndarray:
        """(3, 3) float64 K."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    @property
    def dist_coeffs(self) -> np.ndarray:
        """(5,) float64 ``[k1, k2, p1, p2, k3]``."""
        return np.array([self.k1, self.k2, self.p1, self.p2, self.k3])

    def scaled(self, scale: float) -> Lens:
        """The same lens for frames resized by ``scale`` (the distortion is unchanged)."""
        p = self.params.copy()
        p[:4] *= scale
        return Lens(p)

    def _distort_normalised(self, x: np.ndarray, y: np.ndarray):
        r2 = x * x + y * y
        radial = 1 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3))
        dx = 2 * self.p1 * x * y + self.p2 * (r2 + 2 * x * x)
        dy = self.p1 * (r2 + 2 * y * y) + 2 * self.p2 * x * y
        return x * radial + dx, y * radial + dy

    def distort(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where undistorted pixel positions appear in the frame (the lens's own mapping).

        Args:
            xs, ys: (P,) undistorted pixel coordinates.

        Returns:
            ``(x, y)``: (P,) float64 pixel coordinates in the (distorted) frame.
        """
        x = (np.asarray(xs, np.float64) - self.cx) / self.fx
        y = (np.asarray(ys, np.float64) - self.cy) / self.fy
        xd, yd = self._distort_normalised(x, y)
        return xd * self.fx + self.cx, yd * self.fy + self.cy

    def undistort(self, xs: np.ndarray, ys: np.ndarray, *, iterations: int = 50
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Undistorted pixel positions of frame positions (inverse of :meth:`distort`).

        Fixed-point iteration as in OpenCV's ``undistortPoints``, but run until it has
        converged (OpenCV stops after 5 rounds: up to 0.16 px off near the corners of a
        k1 = -0.3 lens), so that :meth:`distort` of the result gives the input back
        within 1e-6 px (tested).

        Args:
            xs, ys: (P,) pixel coordinates in the frame.

        Returns:
            ``(x, y)``: (P,) float64 undistorted pixel coordinates (same camera matrix).
        """
        xd = (np.asarray(xs, np.float64) - self.cx) / self.fx
        yd = (np.asarray(ys, np.float64) - self.cy) / self.fy
        x, y = xd.copy(), yd.copy()
        for _ in range(iterations):
            r2 = x * x + y * y
            radial = 1 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3))
            dx = 2 * self.p1 * x * y + self.p2 * (r2 + 2 * x * x)
            dy = self.p1 * (r2 + 2 * y * y) + 2 * self.p2 * x * y
            nx, ny = (xd - dx) / radial, (yd - dy) / radial
            done = np.abs(nx - x).max(initial=0) < 1e-12 and np.abs(ny - y).max(initial=0) < 1e-12
            x, y = nx, ny
            if done:
                break
        return x * self.fx + self.cx, y * self.fy + self.cy

    def check_frame(self, width: int, height: int) -> None:
        """Raise :class:`CalibrationError` when the lens does not fit frames of this size:
        a principal point outside the frame, or a distortion that folds its corners
        (the model fitted to a smaller field of view than the frame's)."""
        if not (0 <= self.cx < width and 0 <= self.cy < height):
            raise CalibrationError(
                f"measure.lens: principal point ({self.cx:g}, {self.cy:g}) lies outside the "
                f"{width}x{height} frame: was the lens calibrated on frames of another size?")
        xs = np.array([0.0, width - 1, 0.0, width - 1, (width - 1) / 2, 0.0])
        ys = np.array([0.0, 0.0, height - 1, height - 1, 0.0, (height - 1) / 2])
        ux, uy = self.undistort(xs, ys)
        bx, by = self.distort(ux, uy)
        if not (np.isfinite(ux).all() and np.hypot(bx - xs, by - ys).max() < 0.01):
            raise CalibrationError(
                f"measure.lens: the distortion cannot be undone at the edges of the {width}x"
                f"{height} frame (the model folds there); calibrate with the chessboard "
                "also near the frame's corners")

    def describe(self) -> str:
        return (f"lens fx {self.fx:.1f} fy {self.fy:.1f} cx {self.cx:.1f} cy {self.cy:.1f} "
                f"k1 {self.k1:.4f} k2 {self.k2:.4f}")


#: Prepared frames (:meth:`LensPlane.prepare`), by camera and frame size (at most 4).
_GRIDS: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


class TopDown:
    """A camera looking straight down: belt cm = undistorted pixels x ``cm_per_pixel``."""

    def __init__(self, cm_per_pixel: float):
        self.cm_per_pixel = float(cm_per_pixel)

    def to_plane(self, xs, ys):
        s = self.cm_per_pixel
        return np.asarray(xs, np.float64) * s, np.asarray(ys, np.float64) * s

    def scaled(self, scale: float) -> TopDown:
        return TopDown(self.cm_per_pixel / scale)

    def describe(self) -> str:
        return f"{self.cm_per_pixel:g} cm per pixel"


class LensPlane:
    """Pixel centres of distorted frames -> centimetres on the belt.

    The plane-like object :func:`fishseg.measure.measure_instances` takes (as
    :class:`fishseg.calibration.BeltPlane`): ``to_plane``, ``pixel_area``,
    ``scaled``, ``check_frame``, ``describe``.

    Args:
        lens: the camera's :class:`Lens`.
        belt: :class:`~fishseg.calibration.BeltPlane` fitted on *undistorted* pixel
            positions, or :class:`TopDown`.
    """

    def __init__(self, lens: Lens, belt: BeltPlane | TopDown):
        self.lens, self.belt = lens, belt
        self._grid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # X, Y, area

    def prepare(self, width: int, height: int) -> None:
        """Map every pixel of a ``width`` x ``height`` frame once (belt position and
        area), so that measuring a frame's fish is a lookup: 14 ms per 1280x720 frame
        with 10 fish (95k pixels) against 223 ms undistorting each fish pixel anew, for
        2.5 s once per camera and frame size (session 15, the 2-core CPU)."""
        key = (self.describe(), self.lens.params.tobytes(), getattr(self.belt, "H", None)
               if not isinstance(self.belt, TopDown) else self.belt.cm_per_pixel,
               width, height)
        key = repr(key)
        if key not in _GRIDS:  # a batch's inputs share their camera: map it once
            ys, xs = np.mgrid[0:height, 0:width]
            xs, ys = xs.ravel().astype(np.float64), ys.ravel().astype(np.float64)
            X, Y = self._to_plane(xs, ys)
            A = self._pixel_area(xs, ys)
            while len(_GRIDS) >= 4:
                _GRIDS.pop(next(iter(_GRIDS)))
            _GRIDS[key] = tuple(v.reshape(height, width) for v in (X, Y, A))
        self._grid = _GRIDS[key]

    def _lookup(self, xs, ys) -> tuple[np.ndarray, np.ndarray] | None:
        """Integer pixel positions inside the prepared frame, as index arrays, or None."""
        if self._grid is None:
            return None
        x, y = np.asarray(xs), np.asarray(ys)
        if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)):
            return None
        h, w = self._grid[0].shape
        if x.size and (x.min() < 0 or y.min() < 0 or x.max() >= w or y.max() >= h):
            return None
        return y, x

    @classmethod
    def from_config(cls, lens_params: Sequence[float], *, belt_points=None,
                    cm_per_pixel: float | None = None) -> LensPlane:
        """From ``measure.lens`` and ``measure.belt_points`` (pixels of the distorted
        frames, undistorted here) or ``measure.cm_per_pixel``.

        Raises:
            CalibrationError: a bad lens or belt points, or neither of the two scales.
        """
        lens = Lens(lens_params)
        if belt_points is not None:
            p = np.asarray(belt_points, np.float64)
            if p.ndim != 2 or p.shape[1] != 4:
                raise CalibrationError(f"measure.belt_points: need rows [x_px, y_px, x_cm, "
                                       f"y_cm], got {belt_points!r}")
            ux, uy = lens.undistort(p[:, 0], p[:, 1])
            return cls(lens, BeltPlane(np.stack([ux, uy, p[:, 2], p[:, 3]], axis=1)))
        if cm_per_pixel is None:
            raise CalibrationError("measure.lens needs measure.cm_per_pixel or "
                                   "measure.belt_points for lengths in cm")
        return cls(lens, TopDown(cm_per_pixel))

    def to_plane(self, xs, ys) -> tuple[np.ndarray, np.ndarray]:
        """Belt coordinates (cm) of frame pixel positions: (P,) float64 each (looked up
        for integer pixels of a :meth:`prepare` d frame)."""
        at = self._lookup(xs, ys)
        if at is not None:
            return self._grid[0][at], self._grid[1][at]
        return self._to_plane(xs, ys)

    def _to_plane(self, xs, ys):
        return self.belt.to_plane(*self.lens.undistort(xs, ys))

    def pixel_area(self, xs, ys) -> np.ndarray:
        """(P,) float64 area in cm^2 on the belt of the frame pixels at ``(xs, ys)``: the
        Jacobian determinant of the whole mapping, by central differences (+-0.5 px)."""
        at = self._lookup(xs, ys)
        if at is not None:
            return self._grid[2][at]
        return self._pixel_area(xs, ys)

    def _pixel_area(self, xs, ys) -> np.ndarray:
        x, y = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        xa, ya = self._to_plane(x + 0.5, y)
        xb, yb = self._to_plane(x - 0.5, y)
        xc, yc = self._to_plane(x, y + 0.5)
        xd, yd = self._to_plane(x, y - 0.5)
        return np.abs((xa - xb) * (yc - yd) - (ya - yb) * (xc - xd))

    def scaled(self, scale: float) -> LensPlane:
        """The same calibration for frames resized by ``scale``."""
        return LensPlane(self.lens.scaled(scale), self.belt.scaled(scale))

    def check_frame(self, width: int, height: int) -> None:
        """Raise :class:`CalibrationError` if the lens or the belt does not fit the frame;
        else :meth:`prepare` the frame's pixels."""
        self.lens.check_frame(width, height)
        if isinstance(self.belt, BeltPlane):
            xs = np.array([0.0, width - 1, 0.0, width - 1])
            ys = np.array([0.0, 0.0, height - 1, height - 1])
            self.belt.check_points(*self.lens.undistort(xs, ys), width=width, height=height)
        self.prepare(width, height)

    def describe(self) -> str:
        return f"{self.lens.describe()}; {self.belt.describe()}"


def belt_mapping(measure) -> BeltPlane | LensPlane | None:
    """The mapping from frame pixels to the belt that ``measure`` (a
    :class:`fishseg.config.MeasureConfig`) asks for, at the input frames' size: a
    :class:`LensPlane` when a lens is given, a :class:`~fishseg.calibration.BeltPlane`
    for belt points alone, None for ``cm_per_pixel`` alone (one scale) or nothing.

    Raises:
        CalibrationError: the settings do not define a usable mapping.
    """
    if measure.lens is not None:
        return LensPlane.from_config(measure.lens, belt_points=measure.belt_points,
                                     cm_per_pixel=measure.cm_per_pixel)
    if measure.belt_points is not None:
        return BeltPlane(measure.belt_points)
    return None
