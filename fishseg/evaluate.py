"""Evaluate a segmentation method on an annotated dataset and write the report.

Every method is a :class:`Method`: an object with a ``name`` and
``segment(images (B,H,W,3) uint8) -> (B,H,W) int32``. :func:`make_method` builds one by
name from the registry :data:`METHODS` (``fishseg``, ``classical``, ``pixel-forest``),
so evaluation and comparison treat all methods alike.

:func:`evaluate` segments every frame, then scores with :mod:`fishseg.metrics`:

- foreground IoU/F1/precision/recall of ``labels > 0``;
- boundary precision/recall/F1 (2 px tolerance) of :func:`fishseg.targets.edge_map`
  of the true and of the predicted labels;
- instance matching at IoU 0.5, 0.55, ..., 0.9: AP = TP/(TP+FP+FN), PQ, mean matched IoU;
- per-frame count MAE and relative count error (French et al. 2015);
- seconds per frame (the first batch, which may compile, is timed apart).

It prints a table, writes every number as JSON and, given ``report_dir``, the pictures of
:mod:`fishseg.report`. Frames of different sizes are scored together (padded with belt,
edges computed before padding, so padding changes no score).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from fishseg.config import Config
from fishseg.io.images import atomic_write
from fishseg.metrics import (
    DEFAULT_THRESHOLDS,
    count_instances,
    count_scores,
    edge_scores,
    foreground_scores,
    instance_scores,
)
from fishseg.targets import edge_map

EDGE_TOLERANCE = 2.0


@runtime_checkable
class Method(Protocol):
    """A segmentation method: frames in, instance labels out."""

    name: str

    def segment(self, images: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 RGB frames -> (B, H, W) int32 instance labels (0 = belt)."""
        ...


class MapsMethod:
    """Any model with ``predict_maps`` and ``cfg``, separated by :func:`fishseg.separate.separate`
    on :func:`fishseg.separate.separation_maps` (the contact map where the model has one).

    Args:
        model: has ``predict_maps(frames) -> (fg, edge)`` ((B, H, W) float32 each) and
            ``cfg`` (a :class:`fishseg.config.Config`; its ``separate`` section is used).
        name: the method's name in tables.
    """

    def __init__(self, model: Any, name: str = "fishseg"):
        self.model, self.name = model, name

    def segment(self, images: np.ndarray) -> np.ndarray:
        from fishseg.separate import separate, separation_maps

        fg, edge = separation_maps(self.model, images)
        return np.asarray(separate(fg, edge, self.model.cfg.separate), np.int32)


def _fishseg(model: Any, cfg: Config) -> Method:
    if model is None or isinstance(model, (str, os.PathLike)):
        from fishseg import load_model

        model = load_model(model)
    return MapsMethod(model, "fishseg")


def _classical(model: Any, cfg: Config) -> Method:
    from fishseg.baselines.classical import ClassicalMethod

    if model is not None:
        raise ValueError("method 'classical' is not trained and takes no model; "
                         "set its parameters in the config section 'classical'")
    return ClassicalMethod(cfg.classical)


def _pixel_forest(model: Any, cfg: Config) -> Method:
    from fishseg.baselines.pixel_forest import PixelForest

    if model is None:
        raise ValueError("method 'pixel-forest' needs a model: train one with "
                         "`fishseg train --method pixel-forest` and pass it with --model")
    return model if isinstance(model, PixelForest) else PixelForest.load(model)


#: name -> factory(model, cfg) -> Method
METHODS: dict[str, Callable[[Any, Config], Method]] = {
    "fishseg": _fishseg, "classical": _classical, "pixel-forest": _pixel_forest}


def make_method(method: str | Method, model: Any = None, cfg: Config | None = None) -> Method:
    """A :class:`Method` by registry name (or ``method`` itself if it already is one).

    Args:
        method: ``fishseg``, ``classical``, ``pixel-forest``, or a Method object.
        model: model file or loaded model (fishseg: None = the bundled default;
            pixel-forest: required; classical: must be None).
        cfg: configuration (classical uses ``cfg.classical``).

    Raises:
        ValueError: unknown name, or a model given/missing where it must not/must be.
    """
    if not isinstance(method, str):
        if not isinstance(method, Method):
            raise TypeError(f"method must be a name or have .name and .segment(), got {type(method)}")
        return method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method](model, cfg or Config())


def _load(data: Any) -> tuple[list[Any], str]:
    """Samples and a description of where they came from."""
    if isinstance(data, (str, os.PathLike)):
        from fishseg.io.datasets import load_dataset

        return load_dataset(data), str(data)
    return list(data), "<samples>"


def _pad(frames: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """(B, H, W) stack of 2-d arrays padded with zeros at the bottom/right to ``shape``."""
    out = np.zeros((len(frames), *shape), frames[0].dtype if frames else np.int32)
    for i, f in enumerate(frames):
        out[i, :f.shape[0], :f.shape[1]] = f
    return out


def _segment_all(samples: list[Any], m: Method, batch_size: int, progress: bool
                 ) -> tuple[list[np.ndarray], list[tuple[float, int]]]:
    """Predicted labels of every sample, and (seconds, frames) per batch."""
    preds: list[np.ndarray] = []
    times: list[tuple[float, int]] = []
    bar = tqdm(total=len(samples), desc=f"evaluate {m.name}", unit="frame", disable=not progress)
    i = 0
    while i < len(samples):
        shape = samples[i].image.shape
        j = i + 1  # a batch holds consecutive frames of one size
        while j < len(samples) and j - i < batch_size and samples[j].image.shape == shape:
            j += 1
        images = np.stack([np.asarray(s.image) for s in samples[i:j]])
        t0 = time.perf_counter()
        labels = np.asarray(m.segment(images))
        times.append((time.perf_counter() - t0, j - i))
        if labels.shape != images.shape[:3] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"method {m.name!r} returned {labels.dtype} {labels.shape} labels "
                             f"for frames {images.shape}; expected integer {images.shape[:3]}")
        preds.extend(labels.astype(np.int32))
        bar.update(j - i)
        i = j
    bar.close()
    return preds, times


def score(true: Sequence[np.ndarray], pred: Sequence[np.ndarray], *, edge_width: int = 2,
          thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict:
    """Every metric of predicted against true labels.

    Args:
        true: per frame (H_i, W_i) integer labels.
        pred: per frame, same shapes as ``true``.
        edge_width: half-width of the edge band of :func:`fishseg.targets.edge_map`.
        thresholds: IoU thresholds of the instance scores.

    Returns:
        dict with ``foreground``, ``edge``, ``instances`` (keyed by threshold as a string),
        ``counts`` and ``per_frame`` (true/pred counts and AP@0.5 of each frame).
    """
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} true frames but {len(pred)} predicted")
    shape = (max(t.shape[0] for t in true), max(t.shape[1] for t in true)) if true else (1, 1)
    t, p = _pad([np.asarray(x, np.int32) for x in true], shape), _pad([np.asarray(x, np.int32) for x in pred], shape)
    te = _pad([edge_map(np.asarray(x, np.int32), edge_width) for x in true], shape)
    pe = _pad([edge_map(np.asarray(x, np.int32), edge_width) for x in pred], shape)
    inst = instance_scores(t, p, thresholds)
    tc, pc = count_instances(t), count_instances(p)
    per_frame = [{"true_count": int(a), "pred_count": int(b),
                  "ap50": instance_scores(tf, pf, (0.5,))[0.5]["ap"]}
                 for a, b, tf, pf in zip(tc, pc, t, p, strict=True)]
    return {"foreground": foreground_scores(t, p),
            "edge": edge_scores(te, pe, EDGE_TOLERANCE),
            "instances": {f"{k:g}": v for k, v in inst.items()},
            "counts": {**count_scores(tc, pc), "true_total": int(tc.sum()), "pred_total": int(pc.sum())},
            "per_frame": per_frame}


def summary(result: dict) -> dict[str, float]:
    """The headline numbers of a result: AP@0.5, AP@0.75, mean AP, PQ@0.5, fg IoU/F1,
    edge F1, count MAE, relative count error, seconds per frame."""
    inst = result["instances"]
    return {"ap50": inst["0.5"]["ap"], "ap75": inst["0.75"]["ap"] if "0.75" in inst else float("nan"),
            "ap_mean": float(np.mean([v["ap"] for v in inst.values()])),
            "pq": inst["0.5"]["pq"], "fg_iou": result["foreground"]["iou"],
            "fg_f1": result["foreground"]["f1"], "edge_f1": result["edge"]["f1"],
            "count_mae": result["counts"]["mae"],
            "count_relative_error": result["counts"]["relative_error"],
            "seconds_per_frame": result.get("timing", {}).get("seconds_per_frame", float("nan"))}


COLUMNS = (("AP@0.5", "ap50", "{:.3f}"), ("AP@0.75", "ap75", "{:.3f}"), ("PQ", "pq", "{:.3f}"),
           ("fg IoU", "fg_iou", "{:.3f}"), ("edge F1", "edge_f1", "{:.3f}"),
           ("count MAE", "count_mae", "{:.2f}"), ("rel. count err", "count_relative_error", "{:.1%}"),
           ("s/frame", "seconds_per_frame", "{:.3f}"))


def summary_table(results: dict[str, dict]) -> str:
    """A markdown table, one row per method, of the headline numbers.

    Args:
        results: method name -> result of :func:`evaluate`.
    """
    head = ["method", *(c[0] for c in COLUMNS)]
    rows = [[name, *(fmt.format(r["summary"][key]) for _, key, fmt in COLUMNS)]
            for name, r in results.items()]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def evaluate(data: Any, *, model: Any = None, method: str | Method = "fishseg",
             cfg: Config | None = None, report_dir: str | os.PathLike | None = None,
             json_path: str | os.PathLike | None = None, progress: bool = True,
             batch_size: int = 4, show: bool | None = None) -> dict:
    """Run a method on an annotated dataset, score it, print and write the results.

    Args:
        data: a dataset (folder or COCO JSON, see :func:`fishseg.io.datasets.load_dataset`)
            or a list of samples (``.name``, ``.image`` (H,W,3) uint8, ``.labels`` (H,W) int).
        model: the model for ``method`` (fishseg: a bundle path, a loaded model, or None
            for the bundled default; pixel-forest: its file; classical: None). Learned
            methods separate with the settings stored in their model.
        method: a name in :data:`METHODS` or a :class:`Method` object.
        cfg: configuration (``classical`` and ``targets.edge_width``; default: defaults).
        report_dir: if given, write ``metrics.json``, ``summary.md`` and the PNGs of
            :func:`fishseg.report.write_report` there.
        json_path: if given, write the result there as JSON.
        progress: show a tqdm bar.
        batch_size: frames per ``segment`` call.
        show: print the results table (default: as ``progress``; ``fishseg evaluate``
            always prints it, ``-q`` only hides the bar).

    Returns:
        the result: ``method``, ``data``, ``frames``, ``summary`` (:func:`summary`),
        ``foreground``, ``edge``, ``instances``, ``counts``, ``timing``, ``per_frame``
        (with ``name``) and ``settings``; JSON-serialisable.

    Raises:
        ValueError: unknown method, bad model argument, empty dataset, or a method that
            returns labels of the wrong shape.
        fishseg.io.datasets.DatasetError: the dataset cannot be read (names the file).
    """
    cfg = cfg or Config()
    samples, where = _load(data)
    if not samples:
        raise ValueError(f"{where}: the dataset holds no frames")
    m = make_method(method, model, cfg)
    preds, times = _segment_all(samples, m, max(1, batch_size), progress)
    result: dict[str, Any] = {"method": m.name, "model": None if model is None else str(model),
                              "data": where, "frames": len(samples)}
    result.update(score([s.labels for s in samples], preds, edge_width=cfg.targets.edge_width))
    for row, s in zip(result["per_frame"], samples, strict=True):
        row["name"] = s.name
    later = times[1:] if len(times) > 1 else times
    result["timing"] = {"seconds_total": sum(t for t, _ in times),
                        "first_batch_seconds": times[0][0],
                        "seconds_per_frame": sum(t for t, _ in later) / sum(n for _, n in later)}
    result["settings"] = {"edge_width": cfg.targets.edge_width, "edge_tolerance": EDGE_TOLERANCE,
                          "thresholds": list(DEFAULT_THRESHOLDS), "batch_size": batch_size}
    result["summary"] = summary(result)
    text = json.dumps(result, indent=1)
    if json_path is not None:
        atomic_write(json_path, text.encode())
    if report_dir is not None:
        from fishseg.report import write_report

        atomic_write(Path(report_dir) / "metrics.json", text.encode())
        atomic_write(Path(report_dir) / "summary.md", (summary_table({m.name: result}) + "\n").encode())
        write_report(report_dir, result, samples, preds)
    if progress if show is None else show:
        tqdm.write(f"{m.name} on {where}: {len(samples)} frames, {result['counts']['true_total']} fish")
        tqdm.write(summary_table({m.name: result}))
    return result
