"""An empty belt between hauls: the network looks at one frame per batch there, and the
outputs are those of looking at every frame (fishseg.pipeline, ``idle_skip``).

The maps come from an oracle (the target maps of the true masks, found by each frame's
decoded pixels, as in ``test_pipeline.py``): what is tested is the pipeline's skipping,
not the network. (The bundled networks find "fish" on plain or stained empty belts they
never saw in training, so on such footage they never let the belt be idle: session 15
note, docs/accuracy.md.)
"""

import json

import jax.numpy as jnp
import numpy as np

from fishseg.cli import main
from fishseg.config import Config, SeparateConfig
from fishseg.io.images import read_labels
from fishseg.io.video import FrameReader, VideoWriter
from fishseg.pipeline import segment_video
from fishseg.targets import target_maps


class Oracle:
    """Target maps of the true masks of each frame it is given, by its pixels."""

    def __init__(self, video, truth):
        with FrameReader(video, 16) as r:
            self.index = {f.tobytes(): int(i) for idx, b in r for i, f in zip(idx, b)}
        self.truth = truth
        self.cfg = Config(separate=SeparateConfig(min_marker_area=60, min_area=60))
        self.checksum = "oracle"
        self.frames_seen = 0

    def predict_maps(self, frames):
        self.frames_seen += len(frames)
        labels = np.stack([self.truth[self.index[f.tobytes()]] for f in frames])
        fg, edge = target_maps(labels, self.cfg.targets.edge_width)
        return jnp.asarray(fg), jnp.asarray(edge)


def test_an_empty_belt_is_passed_over_with_the_same_outputs(tmp_path):
    assert main(["-q", "synth", str(tmp_path / "fish"), "--frames", "24", "--seed", "5",
                 "--width", "320", "--height", "192"]) == 0
    with FrameReader(tmp_path / "fish" / "video.mp4", 16) as r:
        fish = np.concatenate([f for _, f in r])
    masks = np.stack([read_labels(p) for p in sorted((tmp_path / "fish" / "masks").iterdir())])
    rng = np.random.default_rng(0)   # an empty belt: dark rubber, a different noise each frame
    empty = [np.clip(rng.normal((40, 42, 45), 3, (32, 192, 320, 3)), 0, 255).astype(np.uint8)
             for _ in range(2)]
    trip = np.concatenate([empty[0], fish, empty[1]])            # empty, a haul, empty
    truth = np.concatenate([np.zeros((32, 192, 320), np.int32), masks,
                            np.zeros((32, 192, 320), np.int32)])
    video = tmp_path / "trip.mp4"
    with VideoWriter(video, 25.0, 320, 192, crf=12) as vw:
        vw.write(trip)
    out, calls = {}, {}
    for skip in (True, False):
        oracle = Oracle(video, truth)
        out[skip] = tmp_path / f"skip{skip}" / "trip"
        s = segment_video(video, out[skip], model=oracle, batch_size=4, idle_skip=skip,
                          overlay=False, progress=False)
        calls[skip] = (s["idle_frames_skipped"], oracle.frames_seen)
    assert calls[False] == (0, 88)
    # each empty stretch: 8 frames (2 batches) to become idle, then 1 frame of each batch
    # of 4 looked at; the haul: every frame, and its first batch's last frame twice (it
    # woke the pipeline up)
    assert calls[True] == (2 * (32 - 8) * 3 // 4, 88 - 36 + 1)
    a, b = out[True], out[False]
    for name in ("counts.csv", "fish.csv", "instances.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    names = sorted(p.name for p in (a / "masks").iterdir())
    assert names == sorted(p.name for p in (b / "masks").iterdir()) and len(names) == 88
    for m in names:
        assert (a / "masks" / m).read_bytes() == (b / "masks" / m).read_bytes(), m
    summary = json.loads((a / "summary.json").read_text())
    assert summary["distinct_fish"] > 0
    assert summary["model_uncertainty"] < 1e-3     # perfect maps: no doubt anywhere
