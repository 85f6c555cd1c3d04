"""The picture of each fish's best view (fishseg.io.gallery) and contact sheets."""

import csv

import cv2
import numpy as np

from fishseg.io.gallery import PER_SHEET, TILE, FishGallery, crop_name
from fishseg.io.sheets import contact_sheet, fit_tile

H, W = 120, 200


def _frame(k):
    """Belt grey, with frame k's fish painted in a grey level that names the frame."""
    return np.full((H, W, 3), 20, np.uint8), 40 + 10 * k


def _read(path):
    img = cv2.imread(str(path))
    assert img is not None, path
    return img[:, :, ::-1]


def test_the_largest_whole_view_is_kept(tmp_path):
    """Fish 1 enters at the left edge (large but cut), then shows whole and small, then
    whole and larger, then smaller again: the whole, larger view is its picture."""
    g = FishGallery(tmp_path / "fish")
    views = {0: (slice(30, 90), slice(0, 90)),     # 5400 px, cut by the edge: scores 1350
             1: (slice(40, 70), slice(20, 60)),    # 1200 px, whole
             2: (slice(30, 80), slice(30, 90)),    # 3000 px, whole: the best
             3: (slice(40, 60), slice(50, 80))}    # 600 px
    for k, (ys, xs) in views.items():
        frame, level = _frame(k)
        lab = np.zeros((H, W), np.int32)
        lab[ys, xs] = 1
        frame[ys, xs] = level
        g.add(k, frame, lab)
    g.finish([{"track_id": 1, "length_px": 60.0}])
    pic = _read(tmp_path / "fish" / crop_name(1))
    pad = max(8, int(0.15 * 60))                   # the box of frame 2, padded
    assert pic.shape[:2] == (50 + 2 * pad, 60 + 2 * pad)
    centre = pic[pic.shape[0] // 2, pic.shape[1] // 2].astype(int)
    assert np.all(np.abs(centre - (40 + 10 * 2)) <= 6)      # the fish of frame 2 (JPEG)
    assert (tmp_path / "fish" / "sheet_001.jpg").is_file()


def test_a_fish_gone_for_long_is_written_and_a_resumed_gallery_keeps_its_best(tmp_path):
    g = FishGallery(tmp_path / "fish", flush_after=3)
    lab = np.zeros((H, W), np.int32)
    lab[40:80, 60:120] = 1
    frame = np.full((H, W, 3), 90, np.uint8)
    g.add(0, frame, lab)
    assert not (tmp_path / "fish" / crop_name(1)).exists()   # held while it may grow
    empty = np.zeros((H, W), np.int32)
    for k in range(1, 5):
        g.add(k, frame, empty)
    assert (tmp_path / "fish" / crop_name(1)).exists()       # gone 4 > 3 frames: written
    state = g.get_state()
    assert state["ids"].tolist() == [1] and state["scores"].tolist() == [40 * 60]
    # a resumed run: a smaller view of fish 1 does not replace its picture, a larger does
    g2 = FishGallery(tmp_path / "fish", scores=dict(zip(state["ids"], state["scores"])))
    small = np.zeros((H, W), np.int32)
    small[50:60, 70:90] = 1
    g2.add(5, np.full((H, W, 3), 200, np.uint8), small)
    g2.flush()
    assert np.abs(_read(tmp_path / "fish" / crop_name(1))[30, 40].astype(int) - 90).max() <= 6
    big = np.zeros((H, W), np.int32)
    big[20:100, 30:170] = 1
    g2.add(6, np.full((H, W, 3), 200, np.uint8), big)
    g2.flush()
    assert np.abs(_read(tmp_path / "fish" / crop_name(1))[40, 60].astype(int) - 200).max() <= 6


def test_contact_sheets_hold_a_hundred_fish_each(tmp_path):
    g = FishGallery(tmp_path / "fish")
    rows = []
    lab = np.zeros((H, W), np.int32)
    lab[40:80, 60:120] = 1
    for i in range(1, PER_SHEET + 31):
        g.add(i, np.full((H, W, 3), i % 250, np.uint8), lab * i)
        rows.append({"track_id": i, "length_cm": 12.5})
    sheets = g.finish(rows, cm=True)
    assert [p.name for p in sheets] == ["sheet_001.jpg", "sheet_002.jpg"]
    assert _read(sheets[0]).shape[:2] == (10 * (TILE + 4), 10 * (TILE + 4))
    assert _read(sheets[1]).shape[:2] == (3 * (TILE + 4), 10 * (TILE + 4))
    assert len(list((tmp_path / "fish").glob("0*.jpg"))) == PER_SHEET + 30


def test_fit_tile_and_sheet_shapes():
    tile = fit_tile(np.full((30, 90, 3), 255, np.uint8), 60)
    assert tile.shape == (60, 60, 3)
    assert tile[30, 30].tolist() == [255, 255, 255] and tile[0, 30].tolist() == [48, 48, 48]
    sheet = contact_sheet([tile] * 7, ["a"] * 7, columns=3)
    assert sheet.shape == (3 * 64, 3 * 64, 3)


def test_contact_sheet_of_thumbnails_of_other_sizes():
    """Frames of videos of other shapes (a 16:9 and a 5:3 camera) on one sheet: each in a
    cell of the largest size, centred, nothing cut off."""
    wide = np.full((135, 240, 3), 200, np.uint8)
    tall = np.full((145, 240, 3), 100, np.uint8)
    narrow = np.full((60, 100, 3), 150, np.uint8)
    sheet = contact_sheet([wide, tall, narrow], ["", "", ""], columns=2)
    assert sheet.shape == (2 * (145 + 4), 2 * (240 + 4), 3)
    cell = lambda k: sheet[(k // 2) * 149 + 2:(k // 2) * 149 + 147,   # noqa: E731
                           (k % 2) * 244 + 2:(k % 2) * 244 + 242]
    assert (cell(0) == 200).all(axis=2).sum() == 135 * 240   # all of each, nothing else
    assert (cell(1) == 100).all(axis=2).sum() == 145 * 240
    assert (cell(2) == 150).all(axis=2).sum() == 60 * 100
    assert (cell(2)[42:102, 70:170] == 150).all()             # centred in its cell
    assert (cell(0)[:5] == 32).all() and (cell(0)[-5:] == 32).all()


def test_segment_writes_a_picture_of_every_counted_fish(tmp_path):
    from fishseg.cli import main

    assert main(["-q", "synth", str(tmp_path / "v"), "--frames", "12", "--seed", "5",
                 "--width", "320", "--height", "192"]) == 0
    video = str(tmp_path / "v" / "video.mp4")
    assert main(["-q", "segment", video, "--out", str(tmp_path / "a"), "--model", "fast",
                 "--no-overlay"]) == 0
    with open(tmp_path / "a" / "video" / "fish.csv", newline="") as f:
        ids = sorted(int(r["track_id"]) for r in csv.DictReader(f))
    pics = sorted(int(p.stem) for p in (tmp_path / "a" / "video" / "fish").glob("0*.jpg"))
    assert pics == ids and ids
    with open(tmp_path / "a" / "all_fish.csv", newline="") as f:  # the batch's table
        linked = [r["picture"] for r in csv.DictReader(f)]
    assert linked == [f"video/fish/{i:06d}.jpg" for i in ids]
    assert main(["-q", "segment", video, "--out", str(tmp_path / "b"), "--model", "fast",
                 "--no-overlay", "--no-gallery"]) == 0
    assert not (tmp_path / "b" / "video" / "fish").exists()
