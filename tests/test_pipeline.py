"""The video pipeline end to end on real files, with an oracle model.

The oracle's maps are the target maps of the true masks, so what is tested here is
everything around the network: decoding, separation, tracking, counting, exports, the
skip-if-done rule and the handling of bad inputs. The bundled model's own accuracy on
the same kind of video is tested in ``test_default_model.py``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from fishseg.config import Config, SeparateConfig, SynthConfig, TrackConfig, override
from fishseg.io.images import read_image as read_image_rgb
from fishseg.io.images import read_labels, write_image
from fishseg.io.video import FrameReader, VideoWriter, probe
from fishseg.metrics import count_scores, true_count_range
from fishseg.pipeline import (
    InputResult,
    done_message,
    expand_inputs,
    named_inputs,
    results_table,
    segment_inputs,
    segment_video,
    write_inputs_table,
)
from fishseg.synth import synthesize
from fishseg.targets import target_maps

W, H = 640, 360


class OracleModel:
    """Maps = target maps of the true masks of the frames, in the order they are asked."""

    def __init__(self, masks_dir, step=1):
        self.masks = [read_labels(p) for p in sorted(masks_dir.glob("*.png"))][::step]
        # separation settings as fishseg.tune picks them for maps this sharp
        self.cfg = Config(separate=SeparateConfig(min_marker_area=60, min_area=60))
        self.checksum = "oracle"
        self.calls = 0

    def predict_maps(self, frames):
        n = len(frames)
        labels = np.stack(self.masks[self.calls:self.calls + n])
        self.calls += n
        fg, edge = target_maps(labels, self.cfg.targets.edge_width)
        return jnp.asarray(fg), jnp.asarray(edge)


@pytest.fixture(scope="module")
def belt(tmp_path_factory):
    d = tmp_path_factory.mktemp("belt")
    meta = synthesize(d, frames=40, seed=5, cfg=SynthConfig(width=W, height=H), progress=False)
    return d, meta


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_counts_tracks_and_exports_agree(belt, tmp_path):
    src, meta = belt
    out = tmp_path / "out" / "video"
    s = segment_video(src / "video.mp4", out, model=OracleModel(src / "masks"), batch_size=6,
                      progress=False)
    assert s["frames"] == 40 and s["model_checksum"] == "oracle"
    truth = np.stack(OracleModel(src / "masks").masks)
    sure, possible = true_count_range(truth)
    counts = [int(r["fish_in_view"]) for r in read_csv(out / "counts.csv")]
    # the bound, with fish of which fewer than 58 px show as "don't care"
    # (0.275 measured; every one of the 40 frames has a sure count)
    err = count_scores(sure, counts, true_max=possible)
    assert err["mae"] <= 0.5, (sure.tolist(), possible.tolist(), counts)
    # against every visible sliver: 0.575 measured (0.75 before short tracks were left
    # out of the outputs): fish occluded into several visible pieces are one fish in
    # the truth (docs/accuracy.md)
    assert count_scores(possible, counts)["mae"] <= 0.65, (possible.tolist(), counts)
    assert abs(s["distinct_fish"] - meta["fish_count"]) <= 0.1 * meta["fish_count"]
    # PNGs, COCO and CSVs tell the same story
    coco = json.loads((out / "instances.json").read_text())
    fish = {int(r["track_id"]): r for r in read_csv(out / "fish.csv")}
    # the outputs hold the counted fish only, numbered 1..n
    assert sorted(fish) == list(range(1, s["distinct_fish"] + 1))
    assert len(fish) == s["tracks"] == s["distinct_fish"] <= s["tracks_started"]
    assert s["track_settings"]["off_belt_share"] == 0.5 and s["track_settings"]["min_frames"] == 3
    assert all(int(r["counted"]) == 1 and int(r["frames_seen"]) >= 3 for r in fish.values())
    # the length along the body: measured on every fish seen whole (these synthetic fish
    # are nearly straight: about their chord), never on one always cut by the edge
    for r in fish.values():
        if r["partial"] == "1":
            assert r["midline_px"] == ""
        else:
            assert 0.85 < float(r["midline_px"]) / float(r["length_px"]) < 1.2, r
    # in view when the video starts or ends (here every fish: 40 frames are short)
    cut = {k for k, r in fish.items() if r["first_frame"] == "0" or r["last_frame"] == "39"}
    assert {k for k, r in fish.items() if r["cut_in_time"] == "1"} == cut
    by_image = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    seen = {}
    for img in coco["images"]:
        png = read_labels(out / "masks" / img["file_name"])
        ids = sorted(int(a["track_id"]) for a in by_image.get(img["id"], []))
        assert ids == sorted(np.unique(png[png > 0]).tolist())
        for a in by_image.get(img["id"], []):
            m = mask_utils.decode(a["segmentation"]).astype(bool)
            assert np.array_equal(m, png == a["track_id"])
            seen.setdefault(a["track_id"], []).append(img["frame_index"])
    for tid, frames in seen.items():
        assert int(fish[tid]["first_frame"]) == min(frames)
        assert int(fish[tid]["last_frame"]) == max(frames)
        assert int(fish[tid]["frames_seen"]) == len(frames)
    assert (out / "overlay.mp4").stat().st_size > 0
    assert all((out / c).stat().st_size > 0 for c in ("counts.png", "lengths.png"))
    assert set(s["stage_seconds"]) == {"decode", "maps", "separate", "track", "export",
                                       "track_wait"}


def test_min_fg_reaches_the_tracker(belt, tmp_path):
    """``track.min_fg``: maps sure of every fish at 0.8 inside it give every fish at a
    threshold of 0.75 and none at 0.85 (the maps reach the tracker)."""
    src, meta = belt

    class Unsure(OracleModel):
        def predict_maps(self, frames):
            fg, edge = super().predict_maps(frames)
            return 0.8 * fg, edge

    found = {}
    for t in (0.0, 0.75, 0.85):
        model = Unsure(src / "masks")
        model.cfg = dataclasses.replace(model.cfg, track=TrackConfig(min_fg=t))
        s = segment_video(src / "video.mp4", tmp_path / str(t), model=model, batch_size=8,
                          progress=False, overlay=False, gallery=False)
        found[t] = s["distinct_fish"]
    assert found[0.75] == found[0.0] > 0 and found[0.85] == 0, found


def test_every_nth_frame(belt, tmp_path):
    """--frame-step 2: half the frames, with the video's own frame numbers and times."""
    src, meta = belt
    out = tmp_path / "out" / "video"
    (res,) = segment_inputs([src / "video.mp4"], tmp_path / "out",
                            model=OracleModel(src / "masks", step=2), batch_size=6,
                            frame_step=2, progress=False)
    s = res.summary
    assert res.status == "done" and s["frames"] == 20 and s["frame_step"] == 2
    rows = read_csv(out / "counts.csv")
    fps = probe(src / "video.mp4").fps
    assert [int(r["frame"]) for r in rows] == list(range(0, 40, 2))
    assert [float(r["time_s"]) for r in rows] == pytest.approx([i / fps for i in range(0, 40, 2)],
                                                               abs=1e-3)
    assert sorted(p.name for p in (out / "masks").iterdir()) == [
        f"frame_{i:06d}.png" for i in range(0, 40, 2)]
    truth = np.stack(OracleModel(src / "masks", step=2).masks)
    sure, possible = true_count_range(truth)
    counts = [int(r["fish_in_view"]) for r in rows]
    assert count_scores(sure, counts, true_max=possible)["mae"] <= 0.5, (sure, possible, counts)
    assert abs(s["distinct_fish"] - meta["fish_count"]) <= 0.1 * meta["fish_count"]
    fish = read_csv(out / "fish.csv")
    assert all(int(r[k]) % 2 == 0 for r in fish for k in ("first_frame", "last_frame"))
    assert all(int(r["frames_seen"]) >= 3 for r in fish)  # processed frames
    overlay = probe(out / "overlay.mp4")  # plays at the belt's speed
    assert overlay.frames == 20 and overlay.fps == pytest.approx(fps / 2, rel=1e-3)
    (row,) = read_csv(write_inputs_table([res], tmp_path / "out"))
    assert float(row["video_s"]) == pytest.approx(40 / fps, abs=0.01)  # the video's length


def test_bad_inputs_are_reported_and_others_processed(belt, tmp_path):
    src, _ = belt
    good = src / "video.mp4"
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    empty = tmp_path / "empty.mp4"
    with VideoWriter(empty, 10, W, H):
        pass
    cut = tmp_path / "cut.mp4"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    grey = tmp_path / "grey.mp4"
    with VideoWriter(grey, 10, W, H) as w:
        for i in range(5):
            w.write(np.full((H, W), 40 + 20 * i, np.uint8))
    folder = tmp_path / "stills"
    (folder).mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(folder / f"f{i}.png", rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    (folder / "f1.png").write_bytes(b"broken")

    class Model(OracleModel):
        def predict_maps(self, frames):
            z = jnp.zeros(frames.shape[:3], jnp.float32)
            return z, z

    out = tmp_path / "out"
    inputs = [text, good, empty, cut, grey, folder, tmp_path / "missing.mp4"]
    results = segment_inputs(inputs, out, model=Model(src / "masks"), progress=False)
    status = {r.input.split("/")[-1]: r for r in results}
    assert status["missing.mp4"].status == "failed" and "missing.mp4" in status["missing.mp4"].message
    assert status["notes.mp4"].status == "failed" and "notes.mp4" in status["notes.mp4"].message
    assert status["empty.mp4"].status == "failed" and "zero frames" in status["empty.mp4"].message
    assert status["cut.mp4"].status == "failed"
    assert "cut.mp4" in status["cut.mp4"].message  # moov atom lost: cannot open
    assert status["video.mp4"].status == "done" and status["grey.mp4"].status == "done"
    assert status["stills"].status == "done" and "1 frame skipped (frame " in status["stills"].message
    assert json.loads((out / "stills" / "summary.json").read_text())["frames"] == 2
    # failed inputs leave nothing that a rerun would take for finished work
    assert not (out / "cut").exists() and not list(out.glob(".*partial"))
    table = results_table(results)
    assert "3 done, 0 skipped, 4 failed" in table
    # a rerun skips what is done and tries the failed ones again
    before = (out / "video" / "summary.json").stat().st_mtime_ns
    again = segment_inputs([good, cut], out, model=Model(src / "masks"), progress=False)
    assert [r.status for r in again] == ["skipped", "failed"]
    assert (out / "video" / "summary.json").stat().st_mtime_ns == before
    # OUT/inputs.csv: the whole batch in one table, kept up to date across reruns
    write_inputs_table(results, out)
    first = {r["output"]: r for r in read_csv(out / "inputs.csv")}
    write_inputs_table(again, out)
    rows = {r["output"]: r for r in read_csv(out / "inputs.csv")}
    assert set(rows) == set(first) == {"notes", "video", "empty", "cut", "grey", "stills", "missing"}
    assert rows["video"]["status"] == "skipped" and first["video"]["status"] == "done"
    video = json.loads((out / "video" / "summary.json").read_text())
    counts = [int(r["fish_in_view"]) for r in read_csv(out / "video" / "counts.csv")]
    for r in (first["video"], rows["video"]):   # numbers from summary.json when skipped
        assert int(r["frames"]) == video["frames"] == 40
        assert float(r["video_s"]) == pytest.approx(40 / video["fps"], abs=0.01)
        assert int(r["distinct_fish"]) == video["distinct_fish"]
        assert float(r["mean_fish_in_view"]) == pytest.approx(np.mean(counts), abs=0.01)
        assert int(r["max_fish_in_view"]) == max(counts)
    assert rows["stills"] == first["stills"] and rows["stills"]["frames"] == "2"
    assert rows["cut"]["status"] == "failed" and "cut.mp4" in rows["cut"]["message"]
    assert rows["cut"]["frames"] == rows["missing"]["distinct_fish"] == ""


def test_interrupted_input_leaves_no_output(belt, tmp_path):
    src, _ = belt

    class Boom(OracleModel):
        def predict_maps(self, frames):
            if self.calls:
                raise KeyboardInterrupt
            return super().predict_maps(frames)

    out = tmp_path / "out" / "video"
    with pytest.raises(KeyboardInterrupt):
        segment_video(src / "video.mp4", out, model=Boom(src / "masks"), batch_size=4,
                      progress=False)
    assert not out.exists() and not list(out.parent.glob(".*"))


def test_expand_inputs(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "b.avi").write_bytes(b"")
    (tmp_path / "x.png").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("")
    units = expand_inputs([tmp_path])
    assert units == [tmp_path / "a.mp4", tmp_path / "b.avi", tmp_path]
    with pytest.raises(FileNotFoundError, match="nope"):
        expand_inputs([tmp_path / "nope"])


def test_a_recorders_export_tree(tmp_path):
    """Folders are searched to the bottom: every video below them is an input, named by
    its path below the folder given; label folders, hidden folders and the output
    folder are not inputs; a folder with nothing to segment is an error saying so."""
    root = tmp_path / "export"
    for f in ("a.mp4", "a.avi", "x.png", "notes.txt", "ch01/0001.mp4", "ch01/0002.h265",
              "ch02/0001.mp4", "ch10/0001.dav", "day1/stills/2.png", "day1/stills/10.png",
              "masks/x.png", ".hidden/v.mp4", "results/a/overlay.mp4"):
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(b"")
    named, errors = named_inputs([root], exclude=root / "results")
    assert errors == []
    assert named == [(root / "a.avi", "a"), (root / "a.mp4", "a-2"), (root, "export"),
                     (root / "ch01" / "0001.mp4", "ch01_0001"),
                     (root / "ch01" / "0002.h265", "ch01_0002"),
                     (root / "ch02" / "0001.mp4", "ch02_0001"),
                     (root / "ch10" / "0001.dav", "ch10_0001"),     # natural order: 2 < 10
                     (root / "day1" / "stills", "day1_stills")]
    # a linked camera folder is followed; a link back up the tree is not a loop
    (root / "ch20").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "0001.mp4").write_bytes(b"")
    (root / "ch01" / "up").symlink_to(root, target_is_directory=True)
    named, errors = named_inputs([root], exclude=root / "results")
    assert named[-2:] == [(root / "ch20" / "0001.mp4", "ch20_0001"),
                          (root / "day1" / "stills", "day1_stills")] and len(named) == 9
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "sub" / "log.txt").write_text("")
    (tmp_path / "docs" / "a.json").write_text("")
    named, errors = named_inputs([tmp_path / "empty", tmp_path / "docs", tmp_path / "nope.mp4"])
    assert named == [] and [e[0] for e in errors] == [
        str(tmp_path / "empty"), str(tmp_path / "docs"), str(tmp_path / "nope.mp4")]
    assert errors[0][1].endswith("no video or image in this folder or its subfolders "
                                 "(it is empty)")
    assert "(it holds .json, .txt files; videos are .mp4, " in errors[1][1]
    assert errors[2][1].endswith("nope.mp4: no such file or folder")


def test_a_tree_of_recordings_end_to_end(belt, tmp_path):
    src, _ = belt
    root = tmp_path / "export"
    for cam in ("ch01", "ch02"):
        (root / cam).mkdir(parents=True)
        shutil.copy(src / "video.mp4", root / cam / "0001.mp4")
    out = root / "results"                        # the outputs inside the input folder
    kw = dict(model=ContentOracle(src), progress=False, overlay=False, batch_size=8)
    results = segment_inputs([root], out, **kw)
    assert [(Path(r.input).parent.name, r.status, r.out_dir.name) for r in results] == [
        ("ch01", "done", "ch01_0001"), ("ch02", "done", "ch02_0001")]
    again = segment_inputs([root], out, **kw)     # its own outputs are not inputs
    assert [r.status for r in again] == ["skipped", "skipped"]


def test_region_of_interest(belt, tmp_path):
    src, _ = belt
    out = tmp_path / "out"
    roi = "0,0,320,360"  # the left half of the view
    s = segment_video(src / "video.mp4", out / "video", model=OracleModel(src / "masks"),
                      batch_size=8, roi=roi, overlay=False, progress=False)
    full = segment_video(src / "video.mp4", out / "full", model=OracleModel(src / "masks"),
                         batch_size=8, overlay=False, progress=False)
    assert s["roi"] == roi and full["roi"] is None
    pngs = sorted((out / "video" / "masks").glob("*.png"))
    assert len(pngs) == 40
    inside = 0
    for p in pngs:
        lab = read_labels(p)
        assert not lab[:, 320:].any()          # nothing is fish outside the ROI
        inside += int(lab[:, :320].any())
    assert inside > 0
    assert 0 < s["distinct_fish"] < full["distinct_fish"]
    # the ROI is in pixels of the input: with --scale it follows the frames
    class HalfOracle(OracleModel):
        def predict_maps(self, frames):
            self.masks = [m[::2, ::2] if m.shape != frames.shape[1:3] else m for m in self.masks]
            return super().predict_maps(frames)

    segment_video(src / "video.mp4", out / "half", model=HalfOracle(src / "masks"),
                  batch_size=8, roi=roi, scale=0.5, overlay=False, progress=False)
    half = [read_labels(p) for p in sorted((out / "half" / "masks").glob("*.png"))]
    assert half[0].shape == (H // 2, W // 2)
    assert any(h[:, :160].any() for h in half) and not any(h[:, 160:].any() for h in half)
    fish = read_csv(out / "video" / "fish.csv")
    # the belt carries every fish across the ROI's right side: each was cut there at
    # some time, and a fish seen only while crossing it is partial
    crossing = {int(r["track_id"]) for r in fish if int(r["partial"])}
    assert crossing
    for r in fish:
        frames = range(int(r["first_frame"]), int(r["last_frame"]) + 1)
        cut_always = all((read_labels(pngs[f]) == int(r["track_id"]))[:, 318:320].any()
                         or not (read_labels(pngs[f]) == int(r["track_id"])).any()
                         for f in frames)
        if cut_always:
            assert int(r["track_id"]) in crossing


def test_roi_that_does_not_fit_an_input_fails_that_input_only(belt, tmp_path):
    src, _ = belt
    mask = np.zeros((H, W), np.uint8)
    mask[:, : W // 2] = 1
    roi = tmp_path / "belt_roi.png"
    write_image(roi, np.dstack([mask * 255] * 3))
    small = tmp_path / "small"
    small.mkdir()
    write_image(small / "f0.png", np.zeros((H // 2, W // 2, 3), np.uint8))
    results = segment_inputs([src / "video.mp4", small], tmp_path / "out", roi=str(roi),
                             model=OracleModel(src / "masks"), overlay=False, progress=False)
    status = {r.input.split("/")[-1]: r for r in results}
    assert status["video.mp4"].status == "done"
    assert status["small"].status == "failed"
    assert "belt_roi.png" in status["small"].message and "320x180" in status["small"].message
    assert not (tmp_path / "out" / "small").exists()


def test_background_threads_write_the_same_files(belt, tmp_path):
    """Exports from a thread and tracking in a thread: the same files, byte for byte."""
    src, _ = belt
    outs = {}
    for bg in ((True, True), (False, False), (True, False)):
        outs[bg] = tmp_path / f"bg{bg[0]}{bg[1]}" / "video"
        segment_video(src / "video.mp4", outs[bg], model=OracleModel(src / "masks"),
                      batch_size=4, progress=False, overlay=False, background_export=bg[0],
                      background_track=bg[1])
    ref = outs[False, False]
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    fish = len(read_csv(ref / "fish.csv"))
    # masks; instances, counts, fish, summary; 2 charts; a picture per fish, a sheet and
    # the fish's features; the page of the fish
    assert len(files) == 40 + 6 + fish + 3
    for bg in ((True, True), (True, False)):
        assert files == sorted(p.relative_to(outs[bg]) for p in outs[bg].rglob("*") if p.is_file())
        for f in files:
            if f.name != "summary.json":     # which holds the seconds taken
                assert (outs[bg] / f).read_bytes() == (ref / f).read_bytes(), (bg, f)


def test_an_error_in_the_tracking_thread_fails_the_input(belt, tmp_path, monkeypatch):
    """An error raised while tracking in the thread reaches the caller with its frame,
    and leaves no output behind."""
    from fishseg import tracking

    src, _ = belt
    real = tracking.Tracker.update

    def update(self, labels, frame_index):
        if frame_index == 13:
            raise ValueError(f"frame {frame_index}: broken labels")
        return real(self, labels, frame_index)

    monkeypatch.setattr(tracking.Tracker, "update", update)
    out = tmp_path / "out" / "video"
    with pytest.raises(ValueError, match="frame 13: broken labels"):
        segment_video(src / "video.mp4", out, model=OracleModel(src / "masks"), batch_size=4,
                      progress=False, overlay=False, checkpoint_every=0)
    assert not out.exists()


class ContentOracle(OracleModel):
    """The oracle, finding each frame's truth by its decoded pixels (so it works however
    the frames are batched, and from wherever a run starts); ``stop_after`` calls, it
    raises KeyboardInterrupt, as Ctrl-C would."""

    def __init__(self, src, stop_after=None, error=KeyboardInterrupt, frames=None):
        super().__init__(src / "masks")
        self.error = error
        self.index = {f.tobytes(): int(i) for idx, b in FrameReader(frames or src / "video.mp4", 8)
                      for i, f in zip(idx, b)}
        self.stop_after = stop_after

    def predict_maps(self, frames):
        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            raise self.error("out of memory")
        labels = np.stack([self.masks[self.index[f.tobytes()]] for f in frames])
        fg, edge = target_maps(labels, self.cfg.targets.edge_width)
        return jnp.asarray(fg), jnp.asarray(edge)


def test_an_interrupted_run_resumes_with_the_same_outputs(belt, tmp_path):
    src, _ = belt
    video = src / "video.mp4"
    kw = dict(batch_size=4, checkpoint_every=8, progress=False)
    ref = tmp_path / "ref" / "video"
    segment_video(video, ref, model=ContentOracle(src), **kw)
    out = tmp_path / "out" / "video"
    stage = out.parent / ".video.partial"
    # Ctrl-C in the 6th batch (frames 20-23): checkpoints were saved after frames 7 and 15
    with pytest.raises(KeyboardInterrupt):
        segment_video(video, out, model=ContentOracle(src, stop_after=5), **kw)
    assert not out.exists() and (stage / "checkpoint.json").is_file()
    assert json.loads((stage / "checkpoint.json").read_text())["next_frame"] == 16
    # a rerun goes on from frame 16 and ends with what an uninterrupted run writes
    resumed = ContentOracle(src)
    s = segment_video(video, out, model=resumed, **kw)
    assert s["resumed_at_frames"] == [16] and resumed.calls == 6  # frames 16-39 only
    assert not stage.exists() and not list(out.glob("checkpoint*"))
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    for f in files:
        if f.name not in ("summary.json", "overlay.mp4"):  # times; separately encoded parts
            assert (ref / f).read_bytes() == (out / f).read_bytes(), f
    a, b = json.loads((ref / "summary.json").read_text()), s
    for k in ("frames", "distinct_fish", "tracks", "tracks_started", "skipped_frames"):
        assert a[k] == b[k], k
    # the overlay: two segments joined without re-encoding, every frame in order
    assert probe(out / "overlay.mp4").frames == 40
    got = np.concatenate([f for _, f in FrameReader(out / "overlay.mp4", 8)])
    want = np.concatenate([f for _, f in FrameReader(ref / "overlay.mp4", 8)])
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 2.0


def test_a_checkpoint_of_other_settings_is_not_resumed(belt, tmp_path):
    src, _ = belt
    video = src / "video.mp4"
    kw = dict(batch_size=4, checkpoint_every=8, progress=False, overlay=False)
    out = tmp_path / "out" / "video"
    with pytest.raises(KeyboardInterrupt):
        segment_video(video, out, model=ContentOracle(src, stop_after=3), **kw)
    assert (out.parent / ".video.partial" / "checkpoint.json").is_file()
    # another frame step: the checkpoint does not apply, the input starts afresh
    model = ContentOracle(src)
    s = segment_video(video, out, model=model, frame_step=2, **kw)
    assert s["resumed_at_frames"] == [] and s["frames"] == 20 and model.calls == 5
    # --overwrite ignores a checkpoint too
    with pytest.raises(KeyboardInterrupt):
        segment_video(video, out, model=ContentOracle(src, stop_after=3), overwrite=True, **kw)
    model = ContentOracle(src)
    s = segment_video(video, out, model=model, overwrite=True, **kw)
    assert s["resumed_at_frames"] == [] and model.calls == 10


def test_a_failed_input_keeps_its_progress_and_says_so(belt, tmp_path):
    src, _ = belt
    kw = dict(batch_size=4, checkpoint_every=12, progress=False, overlay=False)
    (r,) = segment_inputs([src / "video.mp4"], tmp_path, **kw,
                          model=ContentOracle(src, stop_after=7, error=MemoryError))
    assert r.status == "failed" and "MemoryError: out of memory" in r.message
    assert "progress kept: a rerun resumes at frame 24" in r.message
    (r,) = segment_inputs([src / "video.mp4"], tmp_path, model=ContentOracle(src), **kw)
    assert r.status == "done" and r.summary["resumed_at_frames"] == [24]
    assert "resumed at frame 24" in r.message
    with pytest.raises(ValueError, match="checkpoint_every must be >= 0"):
        segment_video(src / "video.mp4", tmp_path / "x", model=ContentOracle(src),
                      checkpoint_every=-1)


def test_an_image_sequence_with_broken_images_resumes(belt, tmp_path):
    src, _ = belt
    seq = tmp_path / "seq"
    seq.mkdir()
    for p in sorted((src / "images").iterdir())[:24]:
        (seq / p.name).write_bytes(p.read_bytes())
    broken = sorted(seq.iterdir())
    for k in (5, 17):
        broken[k].write_bytes(b"not a png")
    kw = dict(batch_size=4, checkpoint_every=4, progress=False, overlay=False, fps=12.0)
    ref = segment_video(seq, tmp_path / "ref" / "seq", model=ContentOracle(src, frames=seq), **kw)
    assert [e.split(":")[0] for e in ref["skipped_frames"]] == ["frame 5", "frame 17"]
    with pytest.raises(KeyboardInterrupt):
        segment_video(seq, tmp_path / "out" / "seq", **kw,
                      model=ContentOracle(src, stop_after=4, frames=seq))
    s = segment_video(seq, tmp_path / "out" / "seq", model=ContentOracle(src, frames=seq), **kw)
    assert s["resumed_at_frames"] and s["skipped_frames"] == ref["skipped_frames"]
    for name in ("counts.csv", "fish.csv", "instances.json"):
        assert ((tmp_path / "ref" / "seq" / name).read_bytes()
                == (tmp_path / "out" / "seq" / name).read_bytes())


def test_belt_plane_calibration_in_the_outputs(belt, tmp_path):
    """A top-down camera's belt plane (0.1 cm per pixel) gives what cm_per_pixel gives; the
    perspective case and --scale are measured in tests/test_calibration.py."""
    src, _ = belt
    flat = [[0, 0, 0, 0], [W, 0, W / 10, 0], [W, H, W / 10, H / 10], [0, H, 0, H / 10]]
    rows, summaries = {}, {}
    for name, setting in (("scale", "measure.cm_per_pixel=0.1"),
                          ("plane", f"measure.belt_points={flat}")):
        model = ContentOracle(src)
        summaries[name] = segment_video(src / "video.mp4", tmp_path / name, model=model,
                                        cfg=override(model.cfg, [setting]), overlay=False,
                                        progress=False)
        rows[name] = read_csv(tmp_path / name / "fish.csv")
    assert rows["scale"] and len(rows["scale"]) == len(rows["plane"])
    for a, b in zip(rows["scale"], rows["plane"], strict=True):
        for k in ("length_cm", "width_cm", "area_cm2"):
            assert float(a[k]) == pytest.approx(float(b[k]), rel=2e-3), k
    assert summaries["scale"]["calibration"] == "0.1 cm per pixel"
    assert summaries["plane"]["calibration"].startswith("belt plane from 4 points")


def test_a_time_window(belt, tmp_path):
    src, _ = belt
    fps = probe(src / "video.mp4").fps  # 25
    kw = dict(progress=False, overlay=False, batch_size=4)
    s = segment_video(src / "video.mp4", tmp_path / "w", model=ContentOracle(src),
                      start_s=10 / fps, end_s=30 / fps, frame_step=3, **kw)
    frames = [int(r["frame"]) for r in read_csv(tmp_path / "w" / "counts.csv")]
    assert frames == list(range(10, 30, 3)) and s["window_s"] == [10 / fps, 30 / fps]
    assert all(10 <= int(r["first_frame"]) <= int(r["last_frame"]) < 30
               for r in read_csv(tmp_path / "w" / "fish.csv"))
    with pytest.raises(ValueError, match=r"starts at 9 s, after the end of the input \(its "
                                         r"last frame, 39, is at 1\.56 s\)"):
        segment_video(src / "video.mp4", tmp_path / "x", model=ContentOracle(src), start_s=9,
                      **kw)
    with pytest.raises(ValueError, match="0 <= start < end"):
        segment_video(src / "video.mp4", tmp_path / "x", model=ContentOracle(src), start_s=1,
                      end_s=0.5, **kw)
    assert not (tmp_path / "x").exists()


def test_clock_times_and_a_clock_window_over_a_batch(belt, tmp_path, write_vfr):
    """Recordings named by their start get clock times in counts.csv and fish.csv, and a
    haul's clock-time window is cut out of each recording by its own start: recordings
    the window misses are skipped, one without a start fails, naming why."""
    src, _ = belt
    frames = np.concatenate([f for _, f in FrameReader(src / "video.mp4", 8)])
    times = np.round(np.arange(len(frames)) * 0.04, 3)          # 40 frames, 0 .. 1.56 s
    d = tmp_path / "in"
    d.mkdir()
    a = write_vfr(d / "cam2_20261124_053000.mp4", frames, times)
    b = write_vfr(d / "cam2_20261124_053001.mp4", frames, times)       # 1 s later
    early = write_vfr(d / "cam2_20261124_050000.mp4", frames, times)   # over before
    late = write_vfr(d / "cam2_20261124_060000.mp4", frames, times)    # starts after
    nameless = write_vfr(d / "belt.mp4", frames, times)
    t0 = datetime(2026, 11, 24, 5, 30)
    kw = dict(batch_size=4, progress=False, overlay=False)
    # the whole of one recording: clock time = start + the frame's time
    s = segment_video(a, tmp_path / "whole", model=ContentOracle(src, frames=a), **kw)
    assert s["recording_start"] == {"time": "2026-11-24T05:30:00", "from": "file name"}
    rows = read_csv(tmp_path / "whole" / "counts.csv")
    assert [r["datetime"] for r in rows] == [
        (t0 + timedelta(seconds=t)).isoformat(timespec="milliseconds") for t in times]
    fish = read_csv(tmp_path / "whole" / "fish.csv")
    assert fish and all(r[f"{k}_datetime"] == rows[int(r[f"{k}_frame"])]["datetime"]
                        for r in fish for k in ("first", "last"))
    # 05:30:01.200 to 05:30:02: frames at 1.2 .. 1.56 s of a, 0.2 .. 0.96 s of b
    results = segment_inputs(
        [a, b, early, late, nameless], tmp_path / "out", model=ContentOracle(src, frames=a),
        start_s=t0 + timedelta(seconds=1.2), end_s=t0 + timedelta(seconds=2), **kw)
    status = {Path(r.input).name: (r.status, r.message) for r in results}
    got = {n: [int(r["frame"]) for r in read_csv(tmp_path / "out" / n / "counts.csv")]
           for n in ("cam2_20261124_053000", "cam2_20261124_053001")}
    assert got == {"cam2_20261124_053000": list(range(30, 40)),
                   "cam2_20261124_053001": list(range(5, 25))}
    assert read_csv(tmp_path / "out" / "cam2_20261124_053001" / "counts.csv")[0][
        "datetime"] == "2026-11-24T05:30:01.200"
    assert status[early.name][0] == "skipped" and "after the end of the input" in status[
        early.name][1]
    assert status[late.name] == ("skipped", f"{late}: the time window ends before the "
                                            "recording starts (2026-11-24T06:00:00)")
    assert status[nameless.name][0] == "failed" and "recording's start is unknown" in status[
        nameless.name][1]
    assert not (tmp_path / "out" / "cam2_20261124_060000").exists()
    table = {r["output"]: r for r in read_csv(write_inputs_table(results, tmp_path / "out"))}
    assert table["cam2_20261124_050000"]["status"] == "skipped"
    assert table["belt"]["status"] == "failed"
    assert table["cam2_20261124_053001"]["recording_start"] == "2026-11-24T05:30:01"
    # a start given by hand (with its zone), for one input; none turns the columns off
    segment_video(nameless, tmp_path / "given", model=ContentOracle(src, frames=a),
                  recording_start="2026-11-24T07:00:00+01:00", **kw)
    assert read_csv(tmp_path / "given" / "counts.csv")[1]["datetime"] == (
        "2026-11-24T07:00:00.040+01:00")
    s = segment_video(a, tmp_path / "none", model=ContentOracle(src, frames=a),
                      recording_start="none", **kw)
    assert s["recording_start"] is None
    assert {r["datetime"] for r in read_csv(tmp_path / "none" / "counts.csv")} == {""}
    with pytest.raises(ValueError, match="2 inputs were given"):
        segment_inputs([a, b], tmp_path / "two", model=ContentOracle(src, frames=a),
                       recording_start="2026-11-24T05:30:00", **kw)


def test_times_of_a_variable_frame_rate_video(belt, tmp_path, write_vfr):
    """counts.csv and fish.csv give each frame the time the container gives it (a
    recorder that drops frames), through a checkpoint and a resumed run too."""
    src, _ = belt
    frames = np.concatenate([f for _, f in FrameReader(src / "video.mp4", 8)])
    # 40 ms steps, every 4th step 120 ms (two frames dropped)
    steps = [0.12 if k % 4 == 3 else 0.04 for k in range(len(frames) - 1)]
    times = np.round(np.concatenate([[0.0], np.cumsum(steps)]), 3)
    video = write_vfr(tmp_path / "vfr.mp4", frames, times)
    kw = dict(batch_size=4, checkpoint_every=8, progress=False, overlay=False)
    ref = tmp_path / "ref" / "vfr"
    segment_video(video, ref, model=ContentOracle(src, frames=video), **kw)
    rows = read_csv(ref / "counts.csv")
    assert [int(r["frame"]) for r in rows] == list(range(40))
    assert [float(r["time_s"]) for r in rows] == times.tolist()
    fish = read_csv(ref / "fish.csv")
    assert fish and all(float(r[f"{k}_s"]) == times[int(r[f"{k}_frame"])]
                        for r in fish for k in ("first", "last"))
    # the video's length in inputs.csv is its times' (fps is the average rate)
    summary = json.loads((ref / "summary.json").read_text())
    assert summary["span_s"] == [0.0, times[-1]]
    (row,) = read_csv(write_inputs_table([InputResult(str(video), "done", ref)], tmp_path))
    assert float(row["video_s"]) == pytest.approx(times[-1] + 1 / summary["fps"], abs=0.01)
    # Ctrl-C after 5 batches, then resumed from the checkpoint: the same times
    out = tmp_path / "out" / "vfr"
    with pytest.raises(KeyboardInterrupt):
        segment_video(video, out, model=ContentOracle(src, stop_after=5, frames=video), **kw)
    s = segment_video(video, out, model=ContentOracle(src, frames=video), **kw)
    assert s["resumed_at_frames"] == [16]
    for f in ("counts.csv", "fish.csv"):
        assert (out / f).read_bytes() == (ref / f).read_bytes(), f
    # a time window is placed by the same times: frames from 0.5 s to before 1.0 s
    segment_video(video, tmp_path / "w", model=ContentOracle(src, frames=video),
                  start_s=0.5, end_s=1.0, **kw)
    got = [float(r["time_s"]) for r in read_csv(tmp_path / "w" / "counts.csv")]
    assert got == [t for t in times.tolist() if 0.5 <= t < 1.0] and len(got) >= 5


def test_inputs_a_recorder_may_still_be_writing_wait(belt, tmp_path):
    """--min-age: a file changed moments ago is skipped (a stream format being written
    reads as a shorter video that would then count as complete); a later run takes it."""
    import os
    import time

    src, _ = belt
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(src / "video.mp4", folder / "new.mp4")          # just written
    shutil.copy(src / "video.mp4", folder / "old.mp4")
    hours_ago = time.time() - 7200
    os.utime(folder / "old.mp4", (hours_ago, hours_ago))
    kw = dict(model=ContentOracle(src), progress=False, overlay=False, batch_size=8,
              min_age_s=600)
    first = {Path(r.input).name: (r.status, r.message)
             for r in segment_inputs([folder], tmp_path / "out", **kw)}
    assert first["old.mp4"][0] == "done" and first["new.mp4"][0] == "skipped"
    assert "may still be being written (--min-age 600)" in first["new.mp4"][1]
    assert not (tmp_path / "out" / "new").exists()
    os.utime(folder / "new.mp4", (hours_ago, hours_ago))        # the recorder is done
    later = {Path(r.input).name: r.status for r in segment_inputs([folder], tmp_path / "out", **kw)}
    assert later == {"new.mp4": "done", "old.mp4": "skipped"}


def test_inference_settings_in_cfg_are_flagged(belt, tmp_path):
    """``segment_video``'s cfg does not make the maps (``model.cfg`` does): a cfg asking
    for other inference settings is warned about, naming them; separation settings and
    the model's own settings pass quietly."""
    import warnings

    src, _ = belt
    oracle = OracleModel(src / "masks")
    cfg = override(oracle.cfg, ["model.tta=true", "model.std_floor=16", "separate.min_area=80"])
    with pytest.warns(UserWarning, match=r"model\.std_floor, model\.tta differently"):
        segment_video(src / "video.mp4", tmp_path / "a", model=oracle, cfg=cfg,
                      progress=False, overlay=False, gallery=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = OracleModel(src / "masks")
        segment_video(src / "video.mp4", tmp_path / "b", model=quiet, progress=False,
                      overlay=False, gallery=False,
                      cfg=override(quiet.cfg, ["separate.min_area=80"]))


@pytest.mark.parametrize("n, kind", [(1, "images"), (2, "images"), (4, "images"),
                                     (2, "video"), (4, "video")])
def test_a_single_still_or_a_short_input_counts_its_fish(tmp_path, n, kind):
    """A fish counts once seen in ``track.min_frames`` (3) frames; an input with fewer
    frames lowers that to its frame count, or a still could never show a fish. Three
    separate drawn fish, riding 6 px a frame: all three are counted whatever n."""
    import cv2

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for k in range(n):
        lab = np.zeros((H, W), np.uint16)
        for i, (x, y) in enumerate([(150, 100), (330, 200), (500, 120)]):
            cv2.ellipse(lab, (x + 6 * k, y), (60, 22), 15.0 * i, 0, 360, i + 1, -1)
        rgb = np.full((H, W, 3), 60, np.uint8)
        rgb[lab > 0] = (200, 170, 90)
        write_image(images / f"f_{k:02d}.png", rgb)
        write_image(masks / f"f_{k:02d}.png", lab)
    src = images / "f_00.png" if n == 1 else images
    if kind == "video":
        src = tmp_path / "clip.mp4"
        with VideoWriter(src, 25.0, W, H, crf=18) as vw:
            vw.write(np.stack([read_image_rgb(p) for p in sorted(images.glob("*.png"))]))
    s = segment_video(src, tmp_path / "out", model=OracleModel(masks), overlay=False,
                      gallery=False, progress=False)
    assert s["frames"] == n and s["distinct_fish"] == 3
    assert s["min_track_frames"] == s["track_settings"]["min_frames"] == min(n, 3)
    for k in range(n):
        ids = np.unique(read_labels(tmp_path / "out" / "masks" / f"frame_{k:06d}.png"))
        assert ids.tolist() == [0, 1, 2, 3]


def test_done_message_counts_and_skipped_frames():
    """The results table's detail: singular and plural, and the first skipped frame's
    reason with a pointer to the rest."""
    assert done_message({"frames": 1, "distinct_fish": 3}) == "1 frame, 3 fish"
    one = done_message({"frames": 4, "distinct_fish": 2, "skipped_frames": ["frame 2: b.png: broken"]})
    assert one == "4 frames, 2 fish, 1 frame skipped (frame 2: b.png: broken)"
    two = done_message({"frames": 4, "distinct_fish": 2,
                        "skipped_frames": ["frame 2: b.png: broken", "frame 3: c.png: broken"]})
    assert two == ("4 frames, 2 fish, 2 frames skipped (frame 2: b.png: broken; all listed in "
                   "summary.json)")
