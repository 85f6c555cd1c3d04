"""Benchmark the whole video pipeline: decode only, then decode -> maps -> separation ->
tracking -> export, at processing widths 640 and 1280, with the share of each stage.

    .venv/bin/python scripts/bench_pipeline.py [--model M] [--frames 32] [--batch 8]
        [--widths 640 1280] [--export-thread both|on|off] [--host-bound] [--frame-step 3]

The input is a generated 1280x720 H.264 discard-belt video. "network", "lookup" and
"overlap-add" split the measured map time by the shares of the three jitted pieces timed
alone on one batch (as in scripts/bench_inference.py). Frames/s is frames over the
whole ``segment_video`` call (finishing the files included). Each width is run with the
exports written from a background thread (the default) and inline, in the same run.
With an export thread, "export" is the time the pipeline waited on it. With the
tracking thread, "track" and "export" run beside the next batch's maps and separation
and "track_wait" is the time the main loop waited on them; the shares are of the summed
stage times, which then overlap.

``--host-bound`` adds rows where the maps were computed before the run (a GPU makes
them in under a millisecond a frame): what is left is the host's share of the work,
separation, tracking and export, which bounds the pipeline on a GPU.
With ``--host-bound`` those rows are run with the per-frame host work on one thread
(``FISHSEG_HOST_THREADS=1``) and on the default threads (:mod:`fishseg.frame_threads`),
and with tracking in the caller (the reference) and in its own thread beside the next
batch (``background_track``, the default), in the same run.
``--frame-step N`` adds rows that process every N-th frame (``fishseg segment
--frame-step``): "frames/s" counts processed frames, "video frames/s" the video's.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fishseg.config import SynthConfig
from fishseg.frame_threads import host_threads
from fishseg.io.video import FrameReader
from fishseg.model.bundle import load_model
from fishseg.model.dictionary import lookup
from fishseg.model.fields import maps_from_indices, pad_frames, prepare
from fishseg.pipeline import segment_video
from fishseg.separate import resolve_backend
from fishseg.synth import synthesize


def _timed(fn, *args, reps=2):
    out = jax.block_until_ready(fn(*args))
    t = time.perf_counter()
    for _ in range(reps):
        out = jax.block_until_ready(fn(*args))
    return (time.perf_counter() - t) / reps, out


def map_shares(model, frames: np.ndarray) -> dict[str, float]:
    """Shares of network, lookup and overlap-add in one batch's map time (summed over
    the networks of a model that averages several)."""
    width, chunk = model.cfg.model.processing_width, model.cfg.dictionary.chunk
    h, w = frames.shape[1:3]
    ph = round(h * width / w)
    t_net = t_look = t_oa = 0.0
    for one in getattr(model, "networks", [model]):
        graphdef, state = nnx.split(one.net)
        keys, values = jnp.asarray(one.keys), jnp.asarray(one.values)
        floor = one.cfg.model.std_floor
        net = jax.jit(lambda s, f, g=graphdef, fl=floor: nnx.merge(g, s)(pad_frames(prepare(f, width, fl))))
        look = jax.jit(lambda c, k=keys: lookup(c.reshape(-1, c.shape[-1]), k, chunk).reshape(c.shape[:3]))
        oa = jax.jit(lambda i, v=values: maps_from_indices(i, v, ph, width))
        dt, codes = _timed(net, state, frames)
        t_net += dt
        dt, idx = _timed(look, codes)
        t_look += dt
        dt, _ = _timed(oa, idx)
        t_oa += dt
    total = t_net + t_look + t_oa
    return {"network": t_net / total, "lookup": t_look / total, "overlap-add": t_oa / total}


class PrecomputedMaps:
    """A model stand-in whose maps were made before the timed run (the GPU case)."""

    def __init__(self, model, video: Path, batch: int):
        self.cfg, self.checksum = model.cfg, model.checksum
        maps = [tuple(np.asarray(m) for m in model.predict_maps(f))
                for _, f in FrameReader(video, batch)]
        self._fg = np.concatenate([m[0] for m in maps])
        self._edge = np.concatenate([m[1] for m in maps])
        self._done = 0

    def predict_maps(self, frames):
        n, i = len(frames), self._done
        self._done += n
        return jnp.asarray(self._fg[i:i + n]), jnp.asarray(self._edge[i:i + n])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--frames", type=int, default=32, help="frames of the test video")
    ap.add_argument("--batch", type=int, default=8, help="frames per device batch")
    ap.add_argument("--widths", type=int, nargs="+", default=[640, 1280])
    ap.add_argument("--export-thread", choices=["both", "on", "off"], default="both")
    ap.add_argument("--host-bound", action="store_true",
                    help="also time with maps made beforehand (the host's share, as on a GPU)")
    ap.add_argument("--frame-step", type=int, default=1,
                    help="also time processing every N-th frame (with the model's maps)")
    args = ap.parse_args()
    threads = {"both": (True, False), "on": (True,), "off": (False,)}[args.export_thread]
    model = load_model(args.model)
    tmp = Path(tempfile.mkdtemp(prefix="fishseg-bench-"))
    synthesize(tmp / "in", frames=args.frames, seed=77, cfg=SynthConfig(), progress=False)
    video = tmp / "in" / "video.mp4"

    t = time.perf_counter()
    n = sum(len(i) for i, _ in FrameReader(video, args.batch))
    decode_fps = n / (time.perf_counter() - t)

    print(f"jax {jax.__version__} on {jax.devices()[0].platform} "
          f"({platform.processor() or platform.machine()}); separation backend "
          f"{resolve_backend(model.cfg.separate.backend)}; video 1280x720, {n} frames, "
          f"batch {args.batch}; first batch (compilation) excluded")
    print()
    print(f"decode only: {decode_fps:.1f} frames/s")
    print()
    stages = ["decode", "network", "lookup", "overlap-add", "separate", "track", "export",
              "track_wait"]
    print("| processing width | maps | export thread | host threads | tracking thread | "
          "frame step | frames/s | video frames/s | " + " | ".join(stages) + " |")
    print("|---:|---|---|---:|---|---:|---:|---:|" + "---:|" * len(stages))
    auto = host_threads()
    for width in args.widths:
        model.cfg = dataclasses.replace(
            model.cfg, model=dataclasses.replace(model.cfg.model, processing_width=width))
        first = next(iter(FrameReader(video, args.batch)))[1]
        model.predict_maps(first)  # compile for this width outside the timing
        shares = map_shares(model, first)
        runs = [("model", model, bg, 1, auto, tt) for bg in threads for tt in (False, True)]
        if args.host_bound:
            before = PrecomputedMaps(model, video, args.batch)
            runs += [("made before", before, bg, 1, n, tt) for bg in threads
                     for n, tt in sorted({(1, False), (auto, False), (auto, True)})]
        if args.frame_step > 1:
            runs += [("model", model, bg, args.frame_step, auto, True) for bg in threads]
        for kind, m, bg, step, n_threads, track_thread in runs:
            os.environ["FISHSEG_HOST_THREADS"] = str(n_threads)
            if kind != "model":
                m._done = 0
            s = segment_video(video, tmp / f"out{width}", model=m, batch_size=args.batch,
                              overwrite=True, progress=False, background_export=bg,
                              frame_step=step, background_track=track_thread)
            st = s["stage_seconds"]
            total = sum(st.values())
            split = shares if kind == "model" else {"network": 1.0, "lookup": 0.0,
                                                    "overlap-add": 0.0}
            parts = {k: st[k] for k in ("decode", "separate", "track", "export", "track_wait")}
            parts.update({k: v * st["maps"] for k, v in split.items()})
            row = " | ".join(f"{100 * parts[k] / total:.0f}%" for k in stages)
            print(f"| {width} | {kind} | {'yes' if bg else 'no'} | {n_threads} | "
                  f"{'yes' if track_thread else 'no'} | {step} | "
                  f"{s['frames'] / s['seconds']:.2f} | {n / s['seconds']:.2f} | {row} |",
                  flush=True)


if __name__ == "__main__":
    main()
