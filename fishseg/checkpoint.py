"""Resuming an interrupted input: the pipeline's state saved in its staging folder.

An hour of belt video is 90000 frames: hours of work on a CPU. ``segment_video`` writes
an input's outputs into ``OUT/.<name>.partial`` and, every ``checkpoint_every`` processed
frames (at a batch boundary, with the export thread drained), saves there everything the
rest of the run depends on: the tracker (tracks, live tracks' pixels, belt motion,
previous mask), the frames :class:`fishseg.counted.CountedTracks` still holds, the
exporter's per-frame counts, the byte length of its COCO spool files and its finished
overlay segments, the frame to read next, decode errors so far and the time taken.
A run that stops (Ctrl-C, a crash, a full disk, a power cut) keeps the staging folder
when it has a checkpoint; the next run of the same input with the same model and
settings continues from it, and its outputs are the same, byte for byte, as those of an
uninterrupted run (tested). Anything else (another model, other settings, a changed
file, ``--overwrite``) starts the input afresh. The staging folder never has a
``summary.json``, so an unfinished input is never taken for a complete one.

Files: ``checkpoint.json`` (what to resume, and the identity of the input and settings
it is valid for) names ``checkpoint-NNNNNN.npz`` (the arrays); each checkpoint writes a
new ``.npz`` and then replaces the JSON atomically, so a run killed while saving leaves
the previous checkpoint intact. No pickle: the arrays are plain ``.npz`` members.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fishseg.io.export import atomic_write

CHECKPOINT = "checkpoint.json"
#: 3 (session 13): frame times from the container, and the held frames' times saved;
#: a checkpoint of an older format starts the input afresh (its times were frame / fps).
#: 4 (session 14): a video's identity includes a hash of its first and last bytes.
#: 5 (session 15): the fish pictures' best scores are saved (fish/ of a resumed run).
FORMAT_VERSION = 5
#: Bytes hashed at each end of a video file (:func:`input_identity`).
SAMPLE_BYTES = 1 << 16


def _ends_digest(path: Path) -> str:
    """sha256 of a file's first and last :data:`SAMPLE_BYTES` bytes: a file copied over
    with another recording of the same size and time stamp (``rsync -t``, a restored
    backup) differs there (headers, timestamps, the index), at no cost for hour-long
    files."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(SAMPLE_BYTES))
        f.seek(max(0, f.seek(0, os.SEEK_END) - SAMPLE_BYTES))
        h.update(f.read(SAMPLE_BYTES))
    return h.hexdigest()


def input_identity(source: Any) -> list:
    """What identifies an input's content cheaply: path, size and modification time of
    each file (a video, or every image of a sequence), in order, and for a single file
    (a video) a hash of its first and last 64 KiB."""
    if isinstance(source, (list, tuple)):
        files = [Path(p) for p in source]
    elif Path(source).is_dir():  # an image folder: every file in it
        files = sorted(p for p in Path(source).iterdir() if p.is_file())
    else:
        files = [Path(source)]
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append([str(f.resolve()), st.st_size, st.st_mtime_ns]
                       + ([_ends_digest(f)] if len(files) == 1 else []))
        except OSError:  # the reader reports a missing or unreadable input in its words
            out.append([str(f), None, None])
    return out


def run_key(source: Any, **settings: Any) -> str:
    """sha256 of the input's identity and every setting that changes the outputs."""
    blob = json.dumps({"input": input_identity(source), "settings": settings,
                       "format_version": FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def save(stage: Path, key: str, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write a checkpoint into ``stage``; older ones are removed once it is in place.

    Args:
        stage: the input's staging folder.
        key: :func:`run_key` of this run.
        meta: JSON-able state (must hold ``next_frame``).
        arrays: named arrays (``group/name``).

    Returns:
        the path of ``checkpoint.json``.
    """
    stage = Path(stage)
    old = load_meta(stage)
    gen = (old["generation"] + 1) if old else 1
    npz = stage / f"checkpoint-{gen:06d}.npz"
    tmp = npz.with_suffix(".npz.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, npz)
    with atomic_write(stage / CHECKPOINT) as f:
        json.dump({"format_version": FORMAT_VERSION, "key": key, "generation": gen,
                   "arrays": npz.name, **meta}, f)
    for p in stage.glob("checkpoint-*.npz"):
        if p != npz:
            p.unlink(missing_ok=True)
    return stage / CHECKPOINT


def load_meta(stage: Path) -> dict | None:
    """``checkpoint.json`` of ``stage`` (None when there is none or it is unreadable)."""
    try:
        meta = json.loads((Path(stage) / CHECKPOINT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format_version") == FORMAT_VERSION else None


def load(stage: Path, key: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The checkpoint of ``stage`` if it was saved by a run with the same ``key``.

    Returns:
        ``(meta, arrays)``, or None (no checkpoint, another input or other settings,
        or unreadable files: the input is then started afresh).
    """
    meta = load_meta(stage)
    if meta is None or meta.get("key") != key:
        return None
    try:
        with np.load(Path(stage) / meta["arrays"], allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError):
        return None
    return meta, arrays


def group(arrays: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """The arrays saved under ``name/``, without the prefix."""
    p = f"{name}/"
    return {k[len(p):]: v for k, v in arrays.items() if k.startswith(p)}


def prefixed(name: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` with keys ``name/<key>`` (for :func:`save`)."""
    return {f"{name}/{k}": v for k, v in arrays.items()}
