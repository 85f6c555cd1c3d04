"""A fish that carries on from one recording into the next is counted once in a batch."""

from __future__ import annotations

import csv

import jax.numpy as jnp
import numpy as np
import pytest

from fishseg.config import Config, SeparateConfig, SynthConfig
from fishseg.io.batch_fish import write_batch_fish
from fishseg.io.images import read_labels
from fishseg.io.stitch import camera_key, consecutive
from fishseg.io.video import FrameReader, VideoWriter
from fishseg.pipeline import segment_inputs, write_inputs_table
from fishseg.synth import synthesize
from fishseg.targets import target_maps

SPLIT = 25          # the recorder starts a new file at frame 25 (1.0 s at 25 fps)


def test_camera_key():
    assert camera_key("ch01_20261124053000.mp4") == "ch01_"
    assert camera_key("NVR_ch1_main_20261124053000_20261124063000.dav") == "NVR_ch1_main__"
    assert camera_key("2026-11-24_05-30-00.mp4") == ""
    assert camera_key("belt.mp4") == "belt"


class SplitOracle:
    """Maps = target maps of the true masks, each decoded frame found by its pixels in
    the files it was cut into."""

    def __init__(self, masks, files):
        self.masks = masks
        self.cfg = Config(separate=SeparateConfig(min_marker_area=60, min_area=60))
        self.checksum = "oracle"
        self.index = {}
        for path, offset in files:
            for idx, batch in FrameReader(path, 8):
                self.index.update({f.tobytes(): offset + int(i) for i, f in zip(idx, batch)})

    def predict_maps(self, frames):
        labels = np.stack([self.masks[self.index[f.tobytes()]] for f in frames])
        fg, edge = target_maps(labels, self.cfg.targets.edge_width)
        return jnp.asarray(fg), jnp.asarray(edge)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("stitch")
    synthesize(d / "src", frames=40, seed=5, cfg=SynthConfig(width=640, height=360),
               progress=False)
    frames = np.concatenate([b for _, b in FrameReader(d / "src" / "video.mp4", 8)])
    masks = [read_labels(p) for p in sorted((d / "src" / "masks").glob("*.png"))]
    parts = {"cam2_20261124_053000.mp4": (0, SPLIT),      # 05:30:00.00 - 05:30:00.96
             "cam2_20261124_053001.mp4": (SPLIT, 40),     # 05:30:01.00: the next file
             "cam3_20261124_053001.mp4": (SPLIT, 40),     # another camera
             "cam2_20261124_053005.mp4": (SPLIT, 40)}     # not where the file before ended
    files = []
    for name, (a, b) in parts.items():
        with VideoWriter(d / "in" / name, 25.0, 640, 360, crf=12) as w:
            for f in frames[a:b]:
                w.write(f)
        files.append((d / "in" / name, a))
    return d, masks, files


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fish_carried_on_into_the_next_file_are_counted_once(recordings, tmp_path):
    d, masks, files = recordings
    out = tmp_path / "out"
    results = segment_inputs([d / "in"], out, model=SplitOracle(masks, files), progress=False,
                             overlay=False, batch_size=8)
    assert [r.status for r in results] == ["done"] * 4
    write_inputs_table(results, out)
    a, b = "cam2_20261124_053000", "cam2_20261124_053001"
    assert consecutive(out, [r.out_dir.name for r in results]) == [(a, b)]
    batch = write_batch_fish(out)
    rows = read(batch.table)
    links = {(r["output"], int(r["track_id"])): r["continues"] for r in rows if r["continues"]}
    assert links and {k[0] for k in links} == {b}

    def truth_of(output, fish, frame):
        """The true fish a found fish mostly covers in a frame of the source video."""
        lab = read_labels(out / output / "masks" / f"frame_{frame:06d}.png")
        true = masks[frame if output == a else SPLIT + frame][lab == fish]
        ids, n = np.unique(true, return_counts=True)
        return int(ids[np.argmax(n)])

    # every link joins a fish to itself (the truth across the cut) ...
    for (_, fish_b), cont in links.items():
        name, fish_a = cont.split(":")
        assert name == a
        assert truth_of(b, fish_b, 0) == truth_of(a, int(fish_a), SPLIT - 1) > 0
    # ... and every fish found on both sides of the cut is linked
    last_a = read_labels(out / a / "masks" / f"frame_{SPLIT - 1:06d}.png")
    first_b = read_labels(out / b / "masks" / "frame_000000.png")
    both = {truth_of(a, f, SPLIT - 1) for f in np.unique(last_a[last_a > 0])} & {
        truth_of(b, f, 0) for f in np.unique(first_b[first_b > 0])}
    assert {truth_of(b, k[1], 0) for k in links} == both
    # the batch counts each once: the cut-in-time fish of the next file are not new
    assert batch.continued == len(links)
    assert batch.fish == sum(r["counted"] == "1" for r in rows) - len(links)


def test_a_haul_window_over_two_files_is_stitched_too(recordings, tmp_path):
    """A haul's clock window cuts the first file's start and the second's end: the fish
    crossing from one into the other are still counted once; a window that ends inside
    the first file leaves nothing to carry on."""
    from datetime import datetime, timedelta

    d, masks, files = recordings
    t0 = datetime(2026, 11, 24, 5, 30)
    pair = [d / "in" / "cam2_20261124_053000.mp4", d / "in" / "cam2_20261124_053001.mp4"]
    kw = dict(model=SplitOracle(masks, files), progress=False, overlay=False, batch_size=8)
    out = tmp_path / "haul"
    results = segment_inputs(pair, out, start_s=t0 + timedelta(seconds=0.4),
                             end_s=t0 + timedelta(seconds=1.4), **kw)
    write_inputs_table(results, out)
    batch = write_batch_fish(out)
    assert batch.continued > 0
    assert batch.fish == sum(r["counted"] == "1" for r in read(batch.table)) - batch.continued
    early = tmp_path / "early"
    results = segment_inputs(pair, early, start_s=t0, end_s=t0 + timedelta(seconds=0.8), **kw)
    assert [r.status for r in results] == ["done", "skipped"]   # the window ends in file 1
    results = segment_inputs(pair, early, start_s=t0 + timedelta(seconds=1.0),
                             end_s=t0 + timedelta(seconds=1.6), **kw)   # file 2 from its start
    assert [r.status for r in results] == ["skipped", "done"]
    write_inputs_table(results, early)
    assert consecutive(early, ["cam2_20261124_053000", "cam2_20261124_053001"]) == []
