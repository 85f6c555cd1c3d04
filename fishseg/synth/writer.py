"""Writing a synthetic dataset: H.264 mp4, decoded PNG frames, 16-bit masks, meta.json.

Layout of ``OUT``::

    video.mp4                 H.264 (libx264, yuv420p), video mode only
    images/frame_NNNNNN.png   RGB frames as decoded back from the H.264 stream by OpenCV
    masks/frame_NNNNNN.png    uint16 fish ids (0 = belt), the same fish keeps its id
    meta.json                 fps, size, frames, seed, fish_count, fish_kinds, fish_lengths,
                              version, config

Stills are encoded as an all-intra stream (each still compressed on its own) and decoded
back the same way, so they carry compression artefacts too; the stream is not kept.
"""

from __future__ import annotations

import json
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from fishseg.config import SynthConfig, to_dict
from fishseg.synth.render import GENERATOR_VERSION, render_with_kinds


def encode_h264(frames: np.ndarray, path: str | Path, fps: float, crf: int, intra: bool = False) -> None:
    """Encode RGB frames into an H.264 mp4 with PyAV (libx264, yuv420p, one thread).

    One encoder thread and no MB-tree keep the bitstream identical from run to run.

    Args:
        frames: (T, H, W, 3) uint8 RGB, H and W even.
        path: output .mp4 path.
        fps: frame rate.
        crf: constant rate factor (0 = lossless .. 51 = worst).
        intra: every frame a key frame (independent stills).
    """
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 (yuv420p) needs even frame sizes, got {w}x{h}")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        # MB-tree rate control gives run-to-run different bitstreams on some inputs (seen
        # with x264 core 165 on frames whose height is not a multiple of 16): switch it off.
        params = "mbtree=0" + (":keyint=1" if intra else "")
        opts = {"crf": str(int(crf)), "preset": "veryfast", "x264-params": params}
        stream.options = opts
        for i, img in enumerate(frames):
            # Convert with OpenCV (BT.601, limited range, as decoders assume for untagged
            # streams): PyAV's own RGB->YUV path is not bit-reproducible from run to run.
            yuv = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = i  # explicit timestamps: rate control must not see garbage
            frame.time_base = Fraction(1, 1) / stream.codec_context.framerate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode_video(path: str | Path) -> np.ndarray:
    """Decode a video with OpenCV, as the fishseg pipeline does.

    Returns:
        (T, H, W, 3) uint8 RGB frames.

    Raises:
        OSError: the file cannot be opened or holds no frames.
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"{path}: OpenCV cannot open this video")
    out = []
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not out:
        raise OSError(f"{path}: no frames could be decoded")
    return np.stack(out)


def roundtrip_h264(frames: np.ndarray, path: str | Path, fps: float, crf: int, intra: bool = False) -> np.ndarray:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB to ``path`` and decode them back (same shape).

    Raises:
        RuntimeError: the decoder returned a different number or size of frames.
    """
    encode_h264(frames, path, fps, crf, intra)
    out = decode_video(path)
    if out.shape != frames.shape:
        raise RuntimeError(f"{path}: decoded {out.shape} but encoded {frames.shape}")
    return out


def _write_png(path: Path, img: np.ndarray) -> None:
    """Write a PNG atomically (temporary name, then rename)."""
    tmp = path.with_name(path.name + ".tmp.png")
    if not cv2.imwrite(str(tmp), img, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"{path}: could not write PNG")
    os.replace(tmp, path)


def synthesize(out_dir, *, frames: int = 60, stills: int = 0, seed: int = 0,
               cfg: SynthConfig | None = None, progress: bool = True) -> dict:
    """Write a synthetic annotated discard-belt video (or `stills` independent frames if stills > 0). Returns the meta dict also written to OUT/meta.json.

    Args:
        out_dir: output folder (created if needed; files in it are overwritten).
        frames: number of video frames (ignored when ``stills > 0``).
        stills: number of independent annotated stills; 0 writes a video.
        seed: random seed; the same seed and config give identical files.
        cfg: generator settings (None = defaults).
        progress: show tqdm progress bars.

    Returns:
        The meta dict (fps, width, height, frames, stills, seed, fish_count, generator
        version, config).

    Raises:
        ValueError: ``frames`` or ``stills`` is not a positive count.
    """
    cfg = cfg or SynthConfig()
    if stills < 0 or (stills == 0 and frames < 1):
        raise ValueError(f"need frames >= 1 or stills >= 1, got frames={frames}, stills={stills}")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    n = stills if stills > 0 else frames
    raw, labels, count, kinds, lengths = render_with_kinds(n, seed, cfg, stills=stills > 0,
                                                  progress=progress)
    if stills > 0:
        with tempfile.TemporaryDirectory(prefix="fishseg-synth-") as tmp:
            images = roundtrip_h264(raw, Path(tmp) / "stills.mp4", cfg.fps, cfg.crf, intra=True)
    else:
        video = out / "video.mp4"
        tmp_video = out / "video.tmp.mp4"
        images = roundtrip_h264(raw, tmp_video, cfg.fps, cfg.crf)
        os.replace(tmp_video, video)
    if labels.max() > np.iinfo(np.uint16).max:
        raise ValueError(f"{count} fish do not fit in 16-bit masks; write fewer frames")
    it = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="synth write", unit="frame")
    for i in it:
        name = f"frame_{i:06d}.png"
        _write_png(out / "images" / name, cv2.cvtColor(images[i], cv2.COLOR_RGB2BGR))
        _write_png(out / "masks" / name, labels[i].astype(np.uint16))
    meta = {
        "generator": "fishseg.synth",
        "version": GENERATOR_VERSION,
        "mode": "stills" if stills > 0 else "video",
        "fps": float(cfg.fps),
        "width": int(images.shape[2]),
        "height": int(images.shape[1]),
        "frames": int(n),
        "seed": int(seed),
        "fish_count": int(count),
        # how each fish looks (its palette: a species, or "blind" for a flatfish's white
        # blind side), by its id in the masks
        "fish_kinds": {str(i + 1): k for i, k in enumerate(kinds)},
        # each fish's true length in pixels, along its centre curve from snout to tail
        # tip (the truth for fish.csv's midline_px and length_px), by its id
        "fish_lengths": {str(i + 1): round(float(v), 2) for i, v in enumerate(lengths)},
        "video": "video.mp4" if stills == 0 else None,
        "config": to_dict(cfg),
    }
    tmp_meta = out / "meta.json.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp_meta, out / "meta.json")
    return meta
