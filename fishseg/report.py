"""The pictures of an evaluation report (matplotlib, Agg backend, no display needed).

:func:`write_report` writes, for one result of :func:`fishseg.evaluate.evaluate`:

- ``ap_vs_iou.png`` — AP = TP/(TP+FP+FN) and PQ against the IoU matching threshold;
- ``counts.png`` — predicted against true fish count per frame, with the diagonal;
- ``worst_frames.png`` — the frames with the lowest AP@0.5, the true outlines (green)
  over the predicted ones (magenta).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage.segmentation import find_boundaries  # noqa: E402

from fishseg.io.charts import save_figure  # noqa: E402

TRUE_COLOUR = (0, 255, 0)
PRED_COLOUR = (255, 0, 255)


def plot_ap_curve(result: dict, path: str | os.PathLike) -> Path:
    """AP and PQ against the IoU threshold; written as PNG to ``path``."""
    inst = result["instances"]
    thr = [float(k) for k in inst]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(thr, [v["ap"] for v in inst.values()], "o-", label="AP = TP/(TP+FP+FN)")
    ax.plot(thr, [v["pq"] for v in inst.values()], "s--", label="PQ")
    ax.set(xlabel="IoU threshold", ylabel="score", ylim=(0, 1.02),
           title=f"{result['method']}: AP vs IoU threshold ({result['frames']} frames)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return save_figure(fig, path)


def plot_counts(result: dict, path: str | os.PathLike) -> Path:
    """Predicted vs true fish count per frame; written as PNG to ``path``."""
    t = np.array([r["true_count"] for r in result["per_frame"]], float)
    p = np.array([r["pred_count"] for r in result["per_frame"]], float)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, (2, len(t)))
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    hi = max(1.0, t.max(initial=0), p.max(initial=0)) + 1
    ax.plot([0, hi], [0, hi], color="grey", lw=1, label="perfect")
    ax.scatter(t + jitter[0], p + jitter[1], s=14, alpha=0.7)
    c = result["counts"]
    ax.set(xlim=(-0.5, hi), ylim=(-0.5, hi), xlabel="true fish in frame", ylabel="predicted",
           title=f"{result['method']}: MAE {c['mae']:.2f}, rel. err {c['relative_error']:.1%}")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def overlay(image: np.ndarray, true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Frame with true outlines (green) and predicted outlines (magenta).

    Args:
        image: (H, W, 3) uint8 RGB frame.
        true: (H, W) integer labels.
        pred: (H, W) integer labels.

    Returns:
        (H, W, 3) uint8 RGB picture.
    """
    out = (np.asarray(image, np.float32) * 0.75).astype(np.uint8)
    out[find_boundaries(pred, mode="inner")] = PRED_COLOUR
    out[find_boundaries(true, mode="inner")] = TRUE_COLOUR
    return out


def worst_frames(result: dict, k: int) -> list[int]:
    """Indices of the k frames with the lowest AP@0.5 (larger count error first on ties)."""
    rows = result["per_frame"]
    key = [(r["ap50"], -abs(r["pred_count"] - r["true_count"]), i) for i, r in enumerate(rows)]
    return [i for *_, i in sorted(key)[:k]]


def plot_worst(result: dict, samples: Sequence[Any], preds: Sequence[np.ndarray],
               path: str | os.PathLike, k: int = 6) -> Path:
    """A sheet of the k worst frames with outlines; written as PNG to ``path``."""
    idx = worst_frames(result, k)
    cols = 2 if len(idx) > 1 else 1
    rows = max(1, -(-len(idx) // cols))
    h, w = samples[idx[0]].image.shape[:2] if idx else (1, 1)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 6.0 * rows * h / w + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), idx, strict=False):
        r = result["per_frame"][i]
        ax.imshow(overlay(samples[i].image, samples[i].labels, preds[i]))
        ax.set_title(f"{r.get('name', i)}: AP@0.5 {r['ap50']:.2f}, fish {r['true_count']} -> "
                     f"{r['pred_count']}", fontsize=9)
    fig.suptitle(f"{result['method']}: worst frames (green = true, magenta = predicted)", fontsize=10)
    return save_figure(fig, path)


def write_report(report_dir: str | os.PathLike, result: dict, samples: Sequence[Any],
                 preds: Sequence[np.ndarray], worst: int = 6) -> list[Path]:
    """Write the report's PNGs.

    Args:
        report_dir: folder (created).
        result: a result of :func:`fishseg.evaluate.evaluate` (``per_frame`` in sample order).
        samples: the evaluated samples (``.image`` (H,W,3) uint8, ``.labels`` (H,W) int).
        preds: predicted (H, W) int labels per sample.
        worst: frames on the worst-frames sheet.

    Returns:
        the paths written: ``ap_vs_iou.png``, ``counts.png``, ``worst_frames.png``.
    """
    d = Path(report_dir)
    return [plot_ap_curve(result, d / "ap_vs_iou.png"), plot_counts(result, d / "counts.png"),
            plot_worst(result, samples, preds, d / "worst_frames.png", worst)]
