"""Benchmark the whole video pipeline: decode only, then decode -> maps -> separation ->
tracking -> export, at processing widths 640 and 1280, with the share of each stage.

    .venv/bin/python scripts/bench_pipeline.py [--model M] [--frames 32] [--batch 8]

The input is a generated 1280x720 H.264 discard-belt video. "network", "lookup" and
"overlap-add" split the measured map time by the shares of the three jitted pieces timed
alone on one batch (as in scripts/bench_inference.py). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fishseg.config import SynthConfig
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
    """Shares of network, lookup and overlap-add in one batch's map time."""
    width, chunk = model.cfg.model.processing_width, model.cfg.dictionary.chunk
    graphdef, state = nnx.split(model.net)
    keys, values = jnp.asarray(model.keys), jnp.asarray(model.values)
    h, w = frames.shape[1:3]
    net = jax.jit(lambda s, f: nnx.merge(graphdef, s)(pad_frames(prepare(f, width))))
    look = jax.jit(lambda c: lookup(c.reshape(-1, c.shape[-1]), keys, chunk).reshape(c.shape[:3]))
    ph = round(h * width / w)
    oa = jax.jit(lambda i: maps_from_indices(i, values, ph, width))
    t_net, codes = _timed(net, state, frames)
    t_look, idx = _timed(look, codes)
    t_oa, _ = _timed(oa, idx)
    total = t_net + t_look + t_oa
    return {"network": t_net / total, "lookup": t_look / total, "overlap-add": t_oa / total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: the bundled model)")
    ap.add_argument("--frames", type=int, default=32, help="frames of the test video")
    ap.add_argument("--batch", type=int, default=8, help="frames per device batch")
    ap.add_argument("--widths", type=int, nargs="+", default=[640, 1280])
    args = ap.parse_args()
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
    stages = ["decode", "network", "lookup", "overlap-add", "separate", "track", "export"]
    print("| processing width | frames/s | " + " | ".join(stages) + " |")
    print("|---:|---:|" + "---:|" * len(stages))
    for width in args.widths:
        model.cfg = dataclasses.replace(
            model.cfg, model=dataclasses.replace(model.cfg.model, processing_width=width))
        first = next(iter(FrameReader(video, args.batch)))[1]
        model.predict_maps(first)  # compile for this width outside the timing
        shares = map_shares(model, first)
        s = segment_video(video, tmp / f"out{width}", model=model, batch_size=args.batch,
                          overwrite=True, progress=False)
        st = s["stage_seconds"]
        total = sum(st.values())
        parts = {"decode": st["decode"], "separate": st["separate"], "track": st["track"],
                 "export": st["export"], **{k: v * st["maps"] for k, v in shares.items()}}
        row = " | ".join(f"{100 * parts[k] / total:.0f}%" for k in stages)
        print(f"| {width} | {s['frames'] / total:.2f} | {row} |")


if __name__ == "__main__":
    main()
