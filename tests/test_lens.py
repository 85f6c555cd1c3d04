"""Lens distortion (fishseg.lens) and its calibration from a chessboard
(fishseg.lens_calibration, `fishseg calibrate-lens`), on frames rendered through a
known lens."""

import cv2
import numpy as np
import pytest

from fishseg.calibration import CalibrationError
from fishseg.cli import main
from fishseg.config import ConfigError, load_config, override
from fishseg.lens import Lens, LensPlane, TopDown, belt_mapping
from fishseg.lens_calibration import calibrate_lens
from fishseg.measure import measure_instances

W, H = 640, 480
TRUE = Lens([520.0, 515.0, 322.0, 236.0, -0.32, 0.11, 0.0008, -0.0006, -0.015])
BOARD = (9, 6)


def _pixels():
    ys, xs = np.mgrid[0:H, 0:W]
    return xs.ravel().astype(np.float64), ys.ravel().astype(np.float64)


def render_board(rvec, tvec, lens=TRUE, board=BOARD, supersample=2):
    """A chessboard (squares of 1 unit, inner corners at 0..cols-1 x 0..rows-1, one
    square of white margin) seen by a camera with ``lens``: every frame pixel is
    undistorted, mapped to the board by the inverse homography, and coloured."""
    s = supersample
    ys, xs = np.mgrid[0:H * s, 0:W * s]
    x = (xs.ravel() + 0.5) / s - 0.5
    y = (ys.ravel() + 0.5) / s - 0.5
    ux, uy = lens.undistort(x, y)
    R, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
    Hm = lens.camera_matrix @ np.column_stack([R[:, 0], R[:, 1], np.asarray(tvec, float)])
    b = np.linalg.solve(Hm, np.stack([ux, uy, np.ones_like(ux)]))
    X, Y = b[0] / b[2], b[1] / b[2]
    cols, rows = board
    inside = (X > -2) & (X < cols + 1) & (Y > -2) & (Y < rows + 1) & (b[2] > 0)
    squares = (X > -1) & (X < cols) & (Y > -1) & (Y < rows)
    dark = squares & ((np.floor(X) + np.floor(Y)) % 2 == 0)
    v = np.where(inside, np.where(dark, 20.0, 235.0), 120.0).reshape(H * s, W * s)
    v = v.reshape(H, s, W, s).mean(axis=(1, 3))
    return np.repeat(v[..., None], 3, axis=2).astype(np.uint8)


# board poses spread over the view, corners included (units: board squares)
POSES = [((0.1, -0.2, 0.05), (-6.5, -5.0, 16.0)), ((-0.2, 0.1, -0.1), (-0.5, -4.5, 15.0)),
         ((0.2, 0.25, 0.0), (-6.0, 1.5, 15.0)), ((-0.1, -0.3, 0.1), (1.5, 1.0, 14.0)),
         ((0.0, 0.0, 0.0), (-4.0, -2.5, 13.0)), ((0.35, 0.0, 0.2), (-3.0, -3.0, 18.0)),
         ((-0.3, 0.2, -0.2), (-5.0, -1.0, 17.0)), ((0.15, -0.35, 0.3), (-1.0, -4.0, 16.0))]


def test_distort_is_opencvs_model_and_undistort_inverts_it():
    xs, ys = _pixels()
    ux, uy = TRUE.undistort(xs, ys)
    bx, by = TRUE.distort(ux, uy)
    assert np.abs(bx - xs).max() < 1e-6 and np.abs(by - ys).max() < 1e-6
    # distort equals OpenCV's projectPoints of the undistorted normalised positions
    n = np.stack([(ux - TRUE.cx) / TRUE.fx, (uy - TRUE.cy) / TRUE.fy, np.ones_like(ux)], 1)
    ref, _ = cv2.projectPoints(np.ascontiguousarray(n[::97]).reshape(-1, 1, 3), np.zeros(3), np.zeros(3), TRUE.camera_matrix,
                               TRUE.dist_coeffs)
    np.testing.assert_allclose(ref.reshape(-1, 2), np.stack([bx, by], 1)[::97], atol=1e-6)
    # frames resized by 0.5: the same lens, scaled
    hx, hy = TRUE.scaled(0.5).undistort(xs[::50] / 2, ys[::50] / 2)
    np.testing.assert_allclose(np.stack([hx, hy]) * 2, np.stack([ux[::50], uy[::50]]), atol=1e-6)


def test_a_fish_near_the_corner_is_measured_at_its_true_length():
    """A 'fish' of 180 x 30 undistorted pixels near the top-left corner, as the lens shows
    it: with the lens its length is right within 2%; without, it reads far too short."""
    xs, ys = _pixels()
    ux, uy = TRUE.undistort(xs, ys)
    fish = ((ux > 60) & (ux < 240) & (uy > 40) & (uy < 70)).reshape(H, W)
    mid = ((ux > 230) & (ux < 410) & (uy > 225) & (uy < 255)).reshape(H, W)  # in the middle
    labels = fish.astype(np.int32) + 2 * mid.astype(np.int32)
    plane = LensPlane(TRUE, TopDown(0.1))                      # 0.1 cm per undistorted px
    m = measure_instances(labels, plane=plane)
    length, width = m.plane_cm[:, 1], m.plane_cm[:, 2]
    np.testing.assert_allclose(length, [18.0, 18.0], rtol=0.02)
    np.testing.assert_allclose(width, [3.0, 3.0], rtol=0.05)
    np.testing.assert_allclose(m.plane_cm[:, 0], [54.0, 54.0], rtol=0.03)   # area, cm^2
    plain = measure_instances(labels, cm_per_pixel=0.1)
    assert plain.length_cm[0] < 0.9 * 18.0                      # barrel: the corner shrinks
    assert abs(plain.length_cm[1] - 18.0) < 0.4                 # the middle barely


def test_belt_points_read_off_distorted_frames():
    """Belt points given where they appear in the (distorted) frame: the fitted plane
    with the lens puts them back at their belt positions."""
    und = np.array([[100.0, 80.0], [560.0, 90.0], [540.0, 400.0], [90.0, 390.0], [320, 240]])
    belt = np.array([[0.0, 0.0], [92.0, 2.0], [88.0, 64.0], [-2.0, 62.0], [45.0, 32.0]])
    dx, dy = TRUE.distort(und[:, 0], und[:, 1])
    pts = np.column_stack([dx, dy, belt])
    plane = LensPlane.from_config(TRUE.params, belt_points=pts.tolist())
    X, Y = plane.to_plane(dx, dy)
    np.testing.assert_allclose(np.stack([X, Y], 1), belt, atol=1.5)  # 5 points, one homography
    plane.scaled(0.5).check_frame(W // 2, H // 2)
    X2, Y2 = plane.scaled(0.5).to_plane(dx / 2, dy / 2)
    np.testing.assert_allclose(np.stack([X2, Y2]), np.stack([X, Y]), atol=1e-6)


def test_bad_lens_settings_are_named(tmp_path):
    cfg = override(load_config(None), ["measure.cm_per_pixel=0.1",
                                       "measure.lens=[500,500,320,240,-0.2,0,0,0]"])
    assert isinstance(belt_mapping(cfg.measure), LensPlane)
    with pytest.raises(ConfigError, match="measure.lens"):
        override(load_config(None), ["measure.cm_per_pixel=0.1", "measure.lens=[500,500,320]"])
    alone = override(load_config(None), ["measure.lens=[500,500,320,240,-0.2,0,0,0]"])
    with pytest.raises(CalibrationError, match="needs measure.cm_per_pixel or measure.belt"):
        belt_mapping(alone.measure)            # the scale may come later (--cm-per-pixel)
    with pytest.raises(CalibrationError, match="principal point"):
        belt_mapping(cfg.measure).check_frame(320, 200)         # calibrated on larger frames
    assert belt_mapping(load_config(None).measure) is None


def test_calibration_recovers_the_lens_from_rendered_views(tmp_path, capsys):
    frames = [(f"view{k}", render_board(r, t)) for k, (r, t) in enumerate(POSES)]
    cal = calibrate_lens(frames, BOARD)
    assert cal.missed == [] and cal.rms_px < 0.3
    # the fitted lens undoes the distortion as the true one does, over the frame
    xs, ys = _pixels()
    sel = slice(None, None, 37)
    got = np.stack(cal.lens.undistort(xs[sel], ys[sel]))
    want = np.stack(TRUE.undistort(xs[sel], ys[sel]))
    # compare as the lengths they give: undistorted positions up to the focal scale
    err = np.hypot(*(got - want))
    assert np.percentile(err, 95) < 1.5 and np.median(err) < 0.6
    # the command: a folder of images -> lens.yaml usable as --config, and a check picture
    d = tmp_path / "board"
    d.mkdir()
    for name, f in frames:
        cv2.imwrite(str(d / f"{name}.png"), f[:, :, ::-1])
    out = tmp_path / "lens.yaml"
    assert main(["-q", "calibrate-lens", str(d), "--board", "9x6", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "board found in 8 of 8 frames" in printed
    cfg = override(load_config(out), ["measure.cm_per_pixel=0.1"])
    np.testing.assert_allclose(cfg.measure.lens, cal.lens.params, rtol=1e-4, atol=1e-5)
    check = cv2.imread(str(tmp_path / "lens_check.png"))
    assert check.shape == (H, 2 * W, 3)


def test_calibration_without_the_board_says_what_it_saw(tmp_path, capsys):
    d = tmp_path / "blank"
    d.mkdir()
    for k in range(3):
        cv2.imwrite(str(d / f"{k}.png"), np.full((H, W, 3), 120, np.uint8))
    assert main(["calibrate-lens", str(d), "--board", "9x6"]) == 2
    err = capsys.readouterr().err
    assert "found in 0 of 3 frames" in err and "inner corners" in err
    with pytest.raises(SystemExit):                              # argparse: a bad board
        main(["calibrate-lens", str(d), "--board", "9"])
    assert "inner corners per row and column, e.g. 9x6" in capsys.readouterr().err


def test_segment_measures_through_the_lens(tmp_path, capsys):
    import csv
    import json

    assert main(["-q", "synth", str(tmp_path / "v"), "--frames", "6", "--seed", "5",
                 "--width", "320", "--height", "192"]) == 0
    (tmp_path / "lens.yaml").write_text("measure:\n  lens: [260, 260, 160, 96, -0.3, 0.1, 0, 0]\n")
    video = str(tmp_path / "v" / "video.mp4")
    base = ["-q", "segment", video, "--model", "fast", "--no-overlay", "--no-gallery"]
    assert main(base + ["--out", str(tmp_path / "no-scale"), "--config",
                        str(tmp_path / "lens.yaml")]) == 2
    assert "needs measure.cm_per_pixel or measure.belt_points" in capsys.readouterr().err
    assert not (tmp_path / "no-scale").exists()                # failed before any input
    runs = {}
    for name, extra in (("lens", ["--config", str(tmp_path / "lens.yaml")]), ("plain", [])):
        assert main(base + ["--out", str(tmp_path / name), "--cm-per-pixel", "0.1"] + extra) == 0
        with open(tmp_path / name / "video" / "fish.csv", newline="") as f:
            runs[name] = {r["track_id"]: float(r["length_cm"]) for r in csv.DictReader(f)}
    summary = json.loads((tmp_path / "lens" / "video" / "summary.json").read_text())
    assert summary["calibration"].startswith("lens fx 260.0") and "0.1 cm per pixel" in \
        summary["calibration"]
    assert runs["lens"].keys() == runs["plain"].keys()         # the same fish...
    assert sum(runs["lens"].values()) > 1.02 * sum(runs["plain"].values())  # ...longer


def test_a_prepared_frame_measures_the_same_by_lookup():
    xs, ys = _pixels()
    ux, uy = TRUE.undistort(xs, ys)
    labels = ((ux > 60) & (ux < 240) & (uy > 40) & (uy < 70)).reshape(H, W).astype(np.int32)
    direct = measure_instances(labels, plane=LensPlane(TRUE, TopDown(0.1))).plane_cm
    plane = LensPlane(TRUE, TopDown(0.1))
    plane.check_frame(W, H)                                   # prepares the frame's pixels
    assert plane._grid is not None
    # (the same to 1e-9: the iteration runs until all its points converged)
    np.testing.assert_allclose(measure_instances(labels, plane=plane).plane_cm, direct,
                               rtol=1e-9)
    np.testing.assert_allclose(plane.to_plane(np.array([10.5]), np.array([20.25])),
                               LensPlane(TRUE, TopDown(0.1)).to_plane([10.5], [20.25]))
