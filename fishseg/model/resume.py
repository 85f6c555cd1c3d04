"""Training checkpoints: an interrupted ``fishseg train`` resumes where it stopped.

Training the default recipe takes hours on a CPU, and a laptop's lid, a Ctrl-C or a
full disk should not cost all of it. :func:`fishseg.model.fit.fit` saves its whole
state every ``train.checkpoint_minutes`` minutes and when Ctrl-C is pressed (at the end
of the step under way, :class:`StopRequest`), into ``<model>.training.npz`` beside the
model file; running the same command again continues from there and ends with exactly
the weights of a run that never stopped. The checkpoint is valid for the same frames and
labels, init model, fishseg version and settings (a setting added to fishseg since, at
its default, is the same run: :func:`same_run`); anything else starts afresh. The file
is removed once the model is written.

The state is: the weights, the optimizer's moments and step, the best weights so far,
the loss history, the divergence watch and the batch sampler's random state. It is one
``.npz`` of plain arrays (the JSON part stored as bytes), loaded with
``allow_pickle=False``, and written to a temporary file that replaces the previous
checkpoint, so a crash while saving leaves the previous one.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import warnings
import zipfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

#: Version of the checkpoint layout (a different one is ignored: training starts afresh).
#: 2: the run's identity is data digest + settings (:func:`same_run`).
FORMAT_VERSION = 2


def state_path(model_path: str | Path) -> Path:
    """Where training into ``model_path`` keeps its checkpoint: ``<model>.training.npz``."""
    p = Path(model_path)
    return p.with_name(p.name + ".training.npz")


def _flat(module) -> dict[str, np.ndarray]:
    return {"/".join(map(str, k)): np.asarray(v[...])
            for k, v in nnx.to_flat_state(nnx.state(module))}


def _restore(module, arrays: dict[str, np.ndarray], prefix: str) -> None:
    new = []
    for k, v in nnx.to_flat_state(nnx.state(module)):
        arr = arrays[f"{prefix}/{'/'.join(map(str, k))}"]
        if arr.shape != np.shape(v[...]) or arr.dtype != np.asarray(v[...]).dtype:
            raise ValueError(f"{prefix}/{'/'.join(map(str, k))}: shape or dtype differs")
        new.append((k, jnp.asarray(arr)))
    nnx.update(module, nnx.from_flat_state(new))


def same_run(saved: dict, current: dict, default: dict) -> bool:
    """Whether a checkpoint's run identity is this run's.

    Args:
        saved, current: ``{"data": digest, "settings": resolved settings}``
            (:func:`fishseg.train.training_key`).
        default: the built-in settings: a setting this fishseg has and the checkpoint's
            lacks (added since) must be at its default; one the checkpoint has and this
            fishseg lacks (removed) fails.
    """
    def same(a, b, d) -> bool:
        if isinstance(b, dict):
            return isinstance(a, dict) and set(a) <= set(b) and all(
                same(a[k], b[k], (d or {}).get(k)) if k in a else b[k] == (d or {}).get(k)
                for k in b)
        return a == b

    if not isinstance(saved, dict):
        return False
    current = json.loads(json.dumps(current, default=str))
    default = json.loads(json.dumps(default, default=str))
    return saved.get("data") == current["data"] and same(
        saved.get("settings"), current["settings"], default)


def save(path: Path, key: dict, *, step: int, model, optimizer, best: dict[str, np.ndarray],
         meta: dict) -> Path:
    """Write the training state after ``step`` (atomically: temporary file, then rename).

    Args:
        path: the checkpoint file (:func:`state_path`).
        key: identity of the training run (:func:`same_run`).
        step: the last completed step.
        model: the network (:class:`fishseg.model.network.FieldNet`).
        optimizer: its ``nnx.Optimizer``.
        best: the best weights so far (:func:`fishseg.model.network.get_params` layout).
        meta: JSON-able rest of the state (history, loss watch, sampler state, seconds).
    """
    arrays = {f"model/{k}": v for k, v in _flat(model).items()}
    arrays |= {f"optimizer/{k}": v for k, v in _flat(optimizer).items()}
    arrays |= {f"best/{k}": np.asarray(v) for k, v in best.items()}
    head = {"format_version": FORMAT_VERSION, "key": key, "step": int(step), **meta}
    arrays["meta"] = np.frombuffer(json.dumps(head).encode(), np.uint8)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load(path: Path, key: dict, model, optimizer, default: dict
         ) -> tuple[dict, dict[str, np.ndarray]] | None:
    """Restore ``model`` and ``optimizer`` from a checkpoint of the same training run
    (:func:`same_run` with ``default``, the built-in settings).

    Returns:
        ``(meta, best weights)``, or None when there is no checkpoint, it belongs to
        another run (other data, configuration or fishseg version) or it cannot be read
        (a warning names the file and why; training then starts afresh).
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        if meta.get("format_version") != FORMAT_VERSION or not same_run(
                meta.get("key") or {}, key, default):
            warnings.warn(f"{path}: a checkpoint of another training (other data, settings "
                          "or fishseg version); starting afresh", stacklevel=2)
            return None
        _restore(model, arrays, "model")
        _restore(optimizer, arrays, "optimizer")
        best = {k[len("best/"):]: v for k, v in arrays.items() if k.startswith("best/")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # damaged
        warnings.warn(f"{path}: cannot read the training checkpoint ({type(e).__name__}: "
                      f"{e}); starting afresh", stacklevel=2)
        return None
    return meta, best


def rng_state(rng: np.random.Generator) -> dict:
    """The JSON-able state of a numpy Generator (PCG64)."""
    s = rng.bit_generator.state
    return {"bit_generator": s["bit_generator"],
            "state": {k: int(v) for k, v in s["state"].items()},
            "has_uint32": int(s["has_uint32"]), "uinteger": int(s["uinteger"])}


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    """Put a numpy Generator back into :func:`rng_state`'s state."""
    rng.bit_generator.state = state


class StopRequest:
    """Ctrl-C during training asks to stop at the end of the step under way.

    While active (a context manager, in the main thread), the first SIGINT sets
    :attr:`requested` instead of interrupting a half-applied update; the loop then saves
    its checkpoint and raises KeyboardInterrupt. A second Ctrl-C interrupts at once.
    Elsewhere (another thread), it does nothing.
    """

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:  # pressed twice: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
