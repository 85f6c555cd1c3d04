"""Export: COCO RLE vs label PNGs, ids agree across files, atomic writes, overlay."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from fishseg.io import export
from fishseg.io.export import (
    LEFT_OUT_COLOURS,
    ExportWriter,
    _rle,
    atomic_write,
    draw_overlay,
    is_complete,
    mark_left_out,
    track_colours,
)
from fishseg.io.images import read_labels
from fishseg.tracking import Tracker

H, W = 48, 80


def belt(n=6):
    """Label images of three moving ellipses with arbitrary per-frame ids."""
    out = []
    for t in range(n):
        lab = np.zeros((H, W), np.int32)
        cv2.ellipse(lab, (10 + 6 * t, 12), (8, 4), 0, 0, 360, 40 + t, -1)
        cv2.ellipse(lab, (-4 + 6 * t, 32), (9, 5), 15, 0, 360, 7, -1)
        if t != 2:
            cv2.ellipse(lab, (40 + 6 * t, 38), (6, 3), 0, 0, 360, 3, -1)
        out.append(lab)
    return out


def export_belt(tmp_path, cm=None, overlay=False):
    tr = Tracker()
    out = tmp_path / "vid"
    with ExportWriter(out, input_name="vid.mp4", fps=5.0, width=W, height=H,
                      cm_per_pixel=cm, overlay=overlay) as ex:
        for t, lab in enumerate(belt()):
            tl = tr.update(lab, t)
            frame = np.full((H, W, 3), 90, np.uint8)
            ex.add_frame(t, tl, frame)
        summary = ex.finish(tr.tracks, distinct_fish=tr.distinct_count, model_checksum="abc",
                            seconds=0.5)
    return out, tr, summary


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_coco_masks_equal_pngs_and_ids_agree(tmp_path):
    out, tr, summary = export_belt(tmp_path)
    assert is_complete(out)
    coco = COCO(str(out / "instances.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["fish"]
    assert len(coco.imgs) == 6
    counts = read_csv(out / "counts.csv")
    png_ids = set()
    for img in coco.imgs.values():
        png = read_labels(out / "masks" / img["file_name"])
        png_ids |= set(np.unique(png[png > 0]).tolist())
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        rebuilt = np.zeros_like(png)
        for a in anns:
            assert a["track_id"] == a["attributes"]["track_id"]
            m = coco.annToMask(a).astype(bool)
            assert m.sum() == a["area"]
            rebuilt[m] = a["track_id"]
        np.testing.assert_array_equal(rebuilt, png)
        row = counts[img["frame_index"]]
        assert int(row["frame"]) == img["frame_index"]
        assert int(row["fish_in_view"]) == len(anns)
        spanning = [t for t in tr.tracks.values()
                    if t.first_frame <= img["frame_index"] <= t.last_frame]
        assert int(row["tracks_in_view"]) == len(spanning)   # min_frames 1: all tracks count
        assert float(row["time_s"]) == pytest.approx(img["frame_index"] / 5.0, abs=1e-3)
    fish = read_csv(out / "fish.csv")
    assert {int(r["track_id"]) for r in fish} == png_ids == set(tr.tracks)
    assert summary["distinct_fish"] == len(fish) == 3
    assert json.loads((out / "summary.json").read_text())["model_checksum"] == "abc"
    gap = next(r for r in fish if int(r["frames_seen"]) == 5)  # hidden in frame 2
    assert (int(gap["first_frame"]), int(gap["last_frame"])) == (0, 5)
    assert "length_cm" not in fish[0]
    assert not list(out.glob(".*"))  # no spool or temp files left


def test_calibrated_columns(tmp_path):
    out, _, _ = export_belt(tmp_path, cm=0.25)
    for r in read_csv(out / "fish.csv"):
        assert float(r["length_cm"]) == pytest.approx(float(r["length_px"]) * 0.25, rel=1e-3)
        assert float(r["area_cm2"]) == pytest.approx(float(r["area_px"]) * 0.0625, rel=1e-3)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write("half of a new fi")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failed_finish_writes_no_summary(tmp_path, monkeypatch):
    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(export.csv, "writer", broken)
    with pytest.raises(OSError):
        export_belt(tmp_path)
    out = tmp_path / "vid"
    assert not is_complete(out)
    assert not (out / "counts.csv").exists()
    assert not list(out.glob(".*"))  # temp and spool files removed


def test_overlay_video_and_colours(tmp_path):
    from fishseg.io.video import FrameReader

    out, _, _ = export_belt(tmp_path, overlay=True)
    batches = list(FrameReader(out / "overlay.mp4", 4))
    assert sum(len(i) for i, _ in batches) == 6
    np.testing.assert_array_equal(track_colours([5, 9, 5])[0], track_colours([5])[0])
    lab = np.zeros((H, W), np.int32)
    lab[10:30, 20:60] = 4
    frame = np.zeros((H, W, 3), np.uint8)
    img = draw_overlay(frame, lab)
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    assert (img[0, 0] == 0).all()  # belt untouched
    np.testing.assert_array_equal(img[10, 40], track_colours([4])[0])  # outline in full colour
    assert img[20:30, 30:50].any()
    capt = draw_overlay(frame, lab, caption="frame 7   fish in view 1")
    assert capt[36:, :20].any() and not img[36:, :20].any()  # written at the bottom left


def test_left_out_detections_are_outlined_not_filled():
    left = np.zeros((H, W), np.uint8)
    left[5:20, 5:30] = 1                                     # a short track
    left[25:45, 40:75] = 2                                   # off the belt
    left[5:22, 40:75] = 3                                    # the maps unsure of it
    frame = np.full((H, W, 3), 50, np.uint8)
    img = mark_left_out(frame, left)
    assert (frame == 50).all()                               # a new array
    for kind, (y0, y1, x0, x1) in ((1, (5, 20, 5, 30)), (2, (25, 45, 40, 75)),
                                   (3, (5, 22, 40, 75))):
        colour = LEFT_OUT_COLOURS[kind]
        ring = np.zeros((H, W), bool)
        ring[y0:y1, x0:x1] = True
        ring[y0 + 3:y1 - 3, x0 + 3:x1 - 3] = False
        assert (img[ring] == colour).all(axis=1).sum() > 30   # outlined in its colour
        inside = img[y0 + 5:y1 - 5, x0 + 5:x1 - 5]
        if kind == 1:
            assert (inside == 50).all()                      # not filled
        else:
            assert (inside != 50).any()                      # "off belt" / "unsure" on it
    assert (img[30:, :30] == 50).all()                       # belt away from both untouched
    assert mark_left_out(frame, np.zeros((H, W), np.uint8)) is frame


def test_touching_left_out_tracks_get_one_outline_each():
    """Two short tracks side by side (ids 3 and 7): with the tracker labels each is
    outlined on its own, so the line between them is drawn; without, one outline."""
    left = np.zeros((H, W), np.uint8)
    left[10:30, 10:60] = 1
    ids = np.zeros((H, W), np.int32)
    ids[10:30, 10:35], ids[10:30, 35:60] = 3, 7
    ids[40:50, 70:80] = 5                                    # a counted fish: not outlined
    frame = np.full((H, W, 3), 50, np.uint8)
    grey = np.asarray(LEFT_OUT_COLOURS[1])
    between = lambda img: (img[14:26, 34:36] == grey).all(axis=-1).any(axis=1)  # noqa: E731
    assert between(mark_left_out(frame, left, ids)).all()
    assert not between(mark_left_out(frame, left)).any()
    assert (mark_left_out(frame, left, ids)[38:52, 68:82] == 50).all()


def test_bbox_rle_equals_pycocotools_encode():
    rng = np.random.default_rng(3)
    for _ in range(100):
        h, w = rng.integers(1, 30, 2)
        full = rng.random((h, w)) < rng.uniform(0.05, 1.0)
        if not full.any():
            continue
        ys, xs = np.nonzero(full)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        ours = _rle(full[y0:y1, x0:x1], y0, x0, h, w)
        ref = mask_utils.encode(np.asfortranarray(full[:, :, None].astype(np.uint8)))[0]
        assert ours["counts"] == ref["counts"]


def test_tracks_in_view_counts_counted_tracks_across_gaps():
    from types import SimpleNamespace as T

    from fishseg.io.export import tracks_in_view

    frames = [0, 1, 2, 3, 5, 6]                       # frame 4 failed to decode
    tracks = [T(first_frame=0, last_frame=6), T(first_frame=2, last_frame=3),
              T(first_frame=3, last_frame=5), T(first_frame=7, last_frame=9)]
    assert tracks_in_view(frames, tracks) == [1, 1, 2, 3, 2, 1]
    assert tracks_in_view(frames, []) == [0] * 6


def test_fish_in_view_at_the_start_or_end_are_cut_in_time(tmp_path):
    """A fish in view in the first or last frame may have been in view before or after
    (the recording before or after, or outside the time window): fish.csv says so."""
    tr = Tracker()
    with ExportWriter(tmp_path / "v", input_name="v.mp4", fps=5.0, width=W, height=H) as ex:
        for t in range(9):                 # fish 1 all along, fish 2 in frames 3-5 only
            lab = np.zeros((H, W), np.int32)
            cv2.ellipse(lab, (14 + 2 * t, 12), (8, 4), 0, 0, 360, 1, -1)
            if 3 <= t <= 5:
                cv2.ellipse(lab, (30 + 2 * t, 34), (8, 4), 0, 0, 360, 2, -1)
            ex.add_frame(t, tr.update(lab, t), np.full((H, W, 3), 90, np.uint8))
        ex.finish(tr.tracks)
    rows = [(r["first_frame"], r["last_frame"], r["cut_in_time"])
            for r in read_csv(tmp_path / "v" / "fish.csv")]
    assert rows == [("0", "8", "1"), ("3", "5", "0")]
    # one still: nothing before or after it
    with ExportWriter(tmp_path / "s", input_name="s.png", fps=1.0, width=W, height=H) as ex:
        lab = np.zeros((H, W), np.int32)
        cv2.ellipse(lab, (20, 20), (8, 4), 0, 0, 360, 1, -1)
        tr = Tracker()
        ex.add_frame(0, tr.update(lab, 0), None)
        ex.finish(tr.tracks)
    assert [r["cut_in_time"] for r in read_csv(tmp_path / "s" / "fish.csv")] == ["0"]


@pytest.mark.parametrize("height", [360, 720, 1080])
def test_caption_rim_stays_under_its_text(height):
    """The black rim of the overlay's text is the text one pixel off, not a thicker
    stroke (OpenCV advances thicker glyphs further: the rim ran ahead of a long line)."""
    from fishseg.io.export import draw_overlay

    f = np.full((height, 2 * height, 3), 120, np.uint8)
    o = draw_overlay(f, np.zeros(f.shape[:2], np.int32),
                     caption="2026-11-24 05:30:00   frame 123456   fish in view 12")
    band = o[height // 2:]
    white = np.nonzero((band > 200).all(-1))[1]
    dark = np.nonzero((band < 60).all(-1))[1]
    assert white.size and dark.size
    assert abs(int(dark.min()) - int(white.min())) <= 2
    assert abs(int(dark.max()) - int(white.max())) <= 2


def test_overlay_caption():
    from fishseg.io.export import overlay_caption

    assert overlay_caption(12, 3) == "frame 12   fish in view 3"
    assert overlay_caption(12, 3, "2026-11-24T05:30:01.480+01:00") == (
        "2026-11-24 05:30:01   frame 12   fish in view 3")
