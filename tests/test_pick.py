"""Picking frames for annotation (fishseg.pick, `fishseg pick`) and COCO polygons."""

import csv
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from scipy import ndimage as ndi

from fishseg.cli import main
from fishseg.io.coco import encode_instances, mask_polygons, read_coco
from fishseg.io.images import read_image
from fishseg.io.video import FrameReader, VideoWriter
from fishseg.pick import choose, describe, pick_frames

BELTS = [(40, 40, 45), (170, 140, 100), (40, 120, 60)]  # dark, tan, green: three "hauls"


def _belt_video(path, seg_frames=30, size=(96, 160), seed=0):
    """An H.264 video of three stretches of belt, each of its own colour, with noise and
    a bright blob riding along; returns the number of frames."""
    rng = np.random.default_rng(seed)
    h, w = size
    frames = []
    for colour in BELTS:
        for k in range(seg_frames):
            f = np.clip(np.array(colour, float) + rng.normal(0, 6, (h, w, 3)), 0, 255)
            x = (5 * k) % (w - 20)
            f[40:56, x:x + 20] = 230
            frames.append(f.astype(np.uint8))
    with VideoWriter(path, 25.0, w, h, crf=18) as vw:
        vw.write(np.stack(frames))
    return len(frames)


def _decoded(path):
    with FrameReader(path, batch_size=16) as r:
        return np.concatenate([f for _, f in r])


def test_mask_polygons_rasterise_back_exactly():
    rng = np.random.default_rng(1)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(4, 50, 2))
        m = ndi.binary_fill_holes(rng.random((h, w)) < rng.uniform(0.05, 0.7))
        if not m.any():
            continue
        polys = mask_polygons(m)
        back = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))
        np.testing.assert_array_equal(back.astype(bool), m)
        assert all(len(p) >= 8 and len(p) % 2 == 0 for p in polys)


def test_polygon_annotations_read_back_as_the_labels(tmp_path):
    """A fish lying inside another's outline survives: the larger is painted first."""
    labels = np.zeros((60, 80), np.int32)
    labels[5:55, 5:75] = 3                      # a ring-shaped fish...
    labels[20:40, 30:50] = 7                    # ...around a small one
    labels[50:58, 0:10] = 2                     # and one at the edge, touching it
    anns = encode_instances(labels, polygons=True)
    assert [a["attributes"]["track_id"] for a in anns] == [3, 7, 2]   # largest first
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 80, "height": 60}],
           "annotations": [{"id": k + 1, "image_id": 1, **a} for k, a in enumerate(anns)],
           "categories": [{"id": 1, "name": "fish"}]}
    from fishseg.io.images import write_image

    write_image(tmp_path / "a.png", np.zeros((60, 80, 3), np.uint8))
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    (sample,) = read_coco(tmp_path / "annotations.json")
    np.testing.assert_array_equal(sample.labels, labels)


def test_choose_takes_one_frame_of_each_look_and_spreads_over_time():
    rng = np.random.default_rng(0)
    looks = np.repeat(np.eye(3) * 5, [50, 10, 40], axis=0)   # a rare look in the middle
    desc = looks + rng.normal(0, 0.05, looks.shape)
    places = np.linspace(0, 1, len(desc))
    picked = choose(desc.astype(np.float32), places, 3)
    assert sorted(np.argmax(looks[picked], axis=1)) == [0, 1, 2]
    # frames that all look alike: the picks spread over the time
    same = rng.normal(0, 0.002, (200, 6)).astype(np.float32)
    picked = choose(same, np.linspace(0, 1, 200), 4)
    assert len(picked) == 4
    assert sorted(picked // 50) == [0, 1, 2, 3]
    assert list(choose(same[:3], np.linspace(0, 1, 3), 5)) == [0, 1, 2]   # fewer than asked


def test_describe_shape_and_range():
    d = describe(np.full((90, 160, 3), 200, np.uint8))
    assert d.shape == (32 * 18 * 3,) and d.dtype == np.float32
    assert 0.0 <= d.min() <= d.max() <= 1.0


def test_pick_frames_from_videos_one_per_look_and_lossless(tmp_path):
    a, b = tmp_path / "haul_a.mp4", tmp_path / "haul_b.mp4"
    _belt_video(a, seed=1)
    _belt_video(b, seg_frames=10, seed=2)
    res = pick_frames([a, b], tmp_path / "out", count=3, progress=False)
    assert res.failed == [] and len(res.picked) == 3
    step = (90 + 30) // (3 * 10)                      # ~10 candidates a pick, one step
    assert res.candidates == -(-90 // step) + -(-30 // step)
    decoded = {"haul_a": _decoded(a), "haul_b": _decoded(b)}
    looks = set()
    for row in res.picked:
        src = row["name"].rsplit("_", 1)[0]
        frame = decoded[src][row["frame"]]
        written = read_image(tmp_path / "out" / "images" / f"{row['name']}.png")
        np.testing.assert_array_equal(written, frame)        # the very frame, lossless
        looks.add(int(np.argmin([np.abs(frame.reshape(-1, 3).mean(0) - c).sum()
                                 for c in BELTS])))
    assert looks == {0, 1, 2}                                 # one frame of each belt
    assert not (tmp_path / "out" / "proposals.json").exists()  # no model, no proposals
    rows = list(csv.DictReader(open(tmp_path / "out" / "frames.csv")))
    assert [r["name"] for r in rows] == [r["name"] for r in res.picked]
    assert read_image(tmp_path / "out" / "picked.png").shape[1] == 3 * 244


def test_pick_from_cameras_of_other_frame_shapes(tmp_path):
    """Videos of two cameras, 160x96 and 120x100: the frames of both are picked and the
    contact sheet holds them all (its cells fit the taller thumbnail)."""
    a, b = tmp_path / "cam_a.mp4", tmp_path / "cam_b.mp4"
    _belt_video(a, seg_frames=10, seed=1)
    _belt_video(b, seg_frames=10, size=(100, 120), seed=2)
    res = pick_frames([a, b], tmp_path / "out", count=6, progress=False)
    assert res.failed == [] and len(res.picked) == 6
    assert {r["name"].rsplit("_", 1)[0] for r in res.picked} == {"cam_a", "cam_b"}
    for row in res.picked:
        shape = read_image(tmp_path / "out" / "images" / f"{row['name']}.png").shape
        assert shape == ((96, 160, 3) if row["name"].startswith("cam_a") else (100, 120, 3))
    tallest = round(100 * 240 / 120)   # thumbnails are 240 wide
    assert read_image(tmp_path / "out" / "picked.png").shape[:2] == (tallest + 4, 6 * 244)


def test_pick_with_proposals_reads_back_as_the_models_fish(tmp_path):
    from fishseg.model.bundle import load_model
    assert main(["-q", "synth", str(tmp_path / "v"), "--frames", "12", "--seed", "5",
                 "--width", "320", "--height", "192"]) == 0
    model = load_model("fast")
    res = pick_frames([tmp_path / "v" / "video.mp4"], tmp_path / "p", count=3, model=model,
                      progress=False)
    with open(tmp_path / "p" / "proposals.json") as f:
        doc = json.load(f)
    from pycocotools.coco import COCO

    coco = COCO(str(tmp_path / "p" / "proposals.json"))
    assert len(coco.getAnnIds()) == sum(r["proposed_fish"] for r in res.picked) > 0
    assert all(isinstance(a["segmentation"], list) for a in doc["annotations"])  # editable
    samples = {s.name: s for s in read_coco(tmp_path / "p" / "proposals.json")}
    assert set(samples) == {r["name"] for r in res.picked}
    for s in samples.values():
        expect = model.segment(s.image[None])[0]
        np.testing.assert_array_equal(s.labels, expect)
    # not a dataset by accident: the folder has no annotations.json, no masks/
    from fishseg.io.datasets import DatasetError, load_dataset

    with pytest.raises(DatasetError):
        load_dataset(tmp_path / "p")


def test_pick_cli_bad_inputs_reported_others_used_and_nothing_lost(tmp_path, capsys):
    good = tmp_path / "cam2_20261124_053000.mp4"
    _belt_video(good, seg_frames=10, seed=3)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:700])
    out = tmp_path / "out"
    rc = main(["-q", "pick", str(good), str(text), str(cut), "--out", str(out), "--count",
               "4", "--no-proposals"])
    printed = capsys.readouterr().out
    assert rc == 1
    assert "notes.mp4" in printed and "cut.mp4" in printed and "picked 4 frames" in printed
    rows = list(csv.DictReader(open(out / "frames.csv")))
    assert {r["input"] for r in rows} == {str(good)}
    first = rows[0]
    assert first["datetime"].startswith("2026-11-24T05:30:0")   # from the file's name
    assert float(first["time_s"]) == pytest.approx(int(first["frame"]) / 25, abs=1e-3)
    before = sorted(p.name for p in (out / "images").iterdir())
    # a second run into the same folder refuses and leaves the picks as they are
    assert main(["-q", "pick", str(good), "--out", str(out), "--no-proposals"]) == 2
    assert "already holds picked frames" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "images").iterdir()) == before
    # --overwrite replaces them: images of picks no longer made are removed
    assert main(["-q", "pick", str(good), "--out", str(out), "--no-proposals", "--count", "2",
                 "--seed", "3", "--overwrite"]) == 0
    rows = list(csv.DictReader(open(out / "frames.csv")))
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(
        f"{r['name']}.png" for r in rows) and len(rows) == 2


def test_uncertainty_and_the_hardest_frame_of_each_kind():
    from fishseg.pick import uncertainty

    assert uncertainty(np.zeros((8, 8), np.float32)) < 1e-4
    assert uncertainty(np.ones((8, 8), np.float32)) < 1e-4
    assert uncertainty(np.full((8, 8), 0.5, np.float32)) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    looks = np.repeat(np.eye(3) * 5, [30, 30, 30], axis=0)
    desc = (looks + rng.normal(0, 0.05, looks.shape)).astype(np.float32)
    scores = np.zeros(90)
    scores[[7, 44, 81]] = 1.0                          # one hard frame of each look
    picked = choose(desc, np.linspace(0, 1, 90), 3, scores=scores)
    assert picked.tolist() == [7, 44, 81]


def test_pick_the_frames_the_model_is_least_sure_of(tmp_path):
    from fishseg.model.bundle import load_model

    assert main(["-q", "synth", str(tmp_path / "v"), "--frames", "30", "--seed", "5",
                 "--width", "320", "--height", "192"]) == 0
    model = load_model("fast")
    video = [tmp_path / "v" / "video.mp4"]
    runs = {}
    for prefer in ("spread", "uncertain"):
        res = pick_frames(video, tmp_path / prefer, count=3, model=model, prefer=prefer,
                          candidates_per_pick=5, progress=False)
        runs[prefer] = res.picked
    # the same clusters: of each, the hardest frame for the model (here harder than the
    # most typical one of every cluster)
    assert sum(r["uncertainty"] for r in runs["uncertain"]) > \
        sum(r["uncertainty"] for r in runs["spread"])
    assert all(0 < r["uncertainty"] < 1 for r in runs["uncertain"])
    with pytest.raises(ValueError, match="needs a model"):
        pick_frames(video, tmp_path / "x", count=3, prefer="uncertain", progress=False)


def test_a_second_round_leaves_out_frames_near_the_first_rounds(tmp_path, capsys):
    video = tmp_path / "haul.mp4"
    _belt_video(video, seg_frames=60, seed=4)                  # 180 frames, 7.2 s
    first = tmp_path / "round1"
    assert main(["-q", "pick", str(video), "--out", str(first), "--count", "1",
                 "--no-proposals", "--every", "0.04"]) == 0
    t1 = [float(r["time_s"]) for r in csv.DictReader(open(first / "frames.csv"))]
    capsys.readouterr()
    second = tmp_path / "round2"
    assert main(["-q", "pick", str(video), "--out", str(second), "--count", "2",
                 "--no-proposals", "--every", "0.04", "--exclude", str(first)]) == 0
    assert "left out as near an earlier pick" in capsys.readouterr().out
    t2 = [float(r["time_s"]) for r in csv.DictReader(open(second / "frames.csv"))]
    assert t2 and all(abs(a - b) >= 2.0 for a in t2 for b in t1)
    assert main(["-q", "pick", str(video), "--out", str(tmp_path / "r3"), "--no-proposals",
                 "--exclude", str(tmp_path / "nothing")]) == 2
    assert "no frames.csv of an earlier `fishseg pick`" in capsys.readouterr().err
    short = tmp_path / "short.mp4"                             # 2.4 s: all near the pick
    _belt_video(short, seg_frames=20, seed=4)
    assert main(["-q", "pick", str(short), "--out", str(tmp_path / "s1"), "--count", "2",
                 "--no-proposals"]) == 0
    assert main(["-q", "pick", str(short), "--out", str(tmp_path / "s2"), "--no-proposals",
                 "--exclude", str(tmp_path / "s1")]) == 2
    assert "nothing new to pick" in capsys.readouterr().err
