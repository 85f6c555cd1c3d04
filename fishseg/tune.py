"""Tuning the separation thresholds of a model on annotated validation frames.

A model trained on a user's own frames predicts maps whose values (how sure the fg is,
how thick the edges come out) differ from any other model's, so fixed thresholds would
split or merge their fish badly. As StarDist tunes its probability and NMS thresholds on
the validation images after training, ``fishseg train`` tunes the separation settings
(:class:`fishseg.config.SeparateConfig`) on its validation frames and stores them in the
model bundle, so ``model.segment`` separates well without hand tuning.

The search is coordinate-wise over small grids (cores, then areas, then the mask and
elevation, then whether tails cut off at the caudal peduncle are joined to their fish,
:mod:`fishseg.tails`), each stage keeping the best setting so far, in up to two rounds;
the objective is AP at IoU 0.5 (TP / (TP + FP + FN)), ties broken by the per-frame count
error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from fishseg.config import SeparateConfig, to_dict
from fishseg.metrics import count_instances, count_scores, instance_scores
from fishseg.separate import separation_maps

#: Search stages: each is a dict field -> candidate values, searched jointly.
STAGES: tuple[dict[str, tuple], ...] = (
    {"core_fg": (0.5, 0.6, 0.7, 0.8, 0.9), "core_edge": (0.1, 0.2, 0.3, 0.4, 0.5)},
    {"min_marker_area": (5, 10, 20, 40, 80, 160), "min_area": (20, 40, 60, 120, 240)},
    {"fg_threshold": (0.3, 0.4, 0.5, 0.6), "edge_weight": (1.0, 0.7, 0.5)},
    {"tail_ratio": (0.0, 0.2, 0.3, 0.5)},  # tail_axial / tail_offaxis as the base has them
)


def _grid(stage: dict[str, tuple]) -> list[dict]:
    keys = list(stage)
    mesh = np.meshgrid(*[np.arange(len(stage[k])) for k in keys], indexing="ij")
    return [{k: stage[k][int(i)] for k, i in zip(keys, idx)}
            for idx in zip(*(m.ravel() for m in mesh))]


def score_separation(fg: np.ndarray, edge: np.ndarray, labels: np.ndarray,
                     cfg: SeparateConfig) -> tuple[float, float]:
    """(AP at IoU 0.5, per-frame count MAE) of :func:`fishseg.separate.separate` with ``cfg``.

    Args:
        fg: (B, H, W) float32 foreground maps in [0, 1].
        edge: (B, H, W) float32 edge maps in [0, 1].
        labels: (B, H, W) int true instance labels.
        cfg: the separation settings to score.
    """
    from fishseg.separate import separate

    pred = np.asarray(separate(fg, edge, cfg))
    ap = instance_scores(labels, pred, thresholds=(0.5,))[0.5]["ap"]
    mae = count_scores(count_instances(labels), count_instances(pred))["mae"]
    return ap, mae


def tune_separation(fg: np.ndarray, edge: np.ndarray, labels: np.ndarray,
                    base: SeparateConfig, *, stages: Sequence[dict] = STAGES,
                    passes: int = 2, progress: bool = True) -> tuple[SeparateConfig, dict]:
    """Find separation thresholds that score best on annotated frames.

    Args:
        fg: (B, H, W) float32 foreground maps of the frames, in [0, 1].
        edge: (B, H, W) float32 edge maps, in [0, 1].
        labels: (B, H, W) int true instance labels of the same frames.
        base: starting settings (backend, connectivity and anything not searched are kept).
        stages: the search grids (default :data:`STAGES`).
        passes: rounds over all stages (a round that changes nothing ends the search).
        progress: show a tqdm bar.

    Returns:
        ``(best, report)``: the best :class:`SeparateConfig`, and a dict with the score of
        ``base`` and of ``best`` (``ap50``, ``count_mae``) and the number of settings tried.
    """
    fg, edge, labels = np.asarray(fg, np.float32), np.asarray(edge, np.float32), np.asarray(labels)
    if not (fg.shape == edge.shape == labels.shape and fg.ndim == 3):
        raise ValueError(f"fg, edge and labels must be (B, H, W) of one shape, "
                         f"got {fg.shape}, {edge.shape}, {labels.shape}")
    start = score_separation(fg, edge, labels, base)
    best, best_key = base, (start[0], -start[1])
    tried = 1
    seen = {best}
    total = passes * sum(len(_grid(s)) for s in stages)
    with tqdm(total=total, desc="tuning separation", disable=not progress, leave=False) as bar:
        for _ in range(passes):
            before = best
            for stage in stages:
                for change in _grid(stage):
                    bar.update()
                    cand = dataclasses.replace(best, **change)
                    if cand.core_fg < cand.fg_threshold or cand in seen:
                        continue
                    seen.add(cand)
                    ap, mae = score_separation(fg, edge, labels, cand)
                    tried += 1
                    if (ap, -mae) > best_key:
                        best, best_key = cand, (ap, -mae)
            if best == before:
                break
    report = {"frames": int(len(fg)), "settings_tried": tried,
              "before": {"ap50": round(start[0], 4), "count_mae": round(start[1], 4)},
              "after": {"ap50": round(best_key[0], 4), "count_mae": round(-best_key[1], 4)},
              "separate": to_dict(best)}
    return best, report


def tune_model(model, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], *,
               max_frames: int = 16, progress: bool = True) -> dict:
    """Tune ``model.cfg.separate`` on annotated frames, in place; returns the report.

    Args:
        model: a :class:`fishseg.model.bundle.FishsegModel`.
        images: (H, W, 3) uint8 frames (validation frames, never the training ones).
        labels: (H, W) int true labels of those frames.
        max_frames: use at most this many frames (evenly spread).
        progress: show a tqdm bar.
    """
    if not len(images):
        raise ValueError("tuning needs at least one annotated frame")
    pick = np.unique(np.linspace(0, len(images) - 1, min(max_frames, len(images))).astype(int))
    fgs, edges, labs = [], [], []
    for i in pick:  # frames may differ in size: tune on what each frame gives
        fg, edge = separation_maps(model, np.asarray(images[i])[None])
        fgs.append(np.asarray(fg[0]))
        edges.append(np.asarray(edge[0]))
        labs.append(np.asarray(labels[i]))
    width = int(np.median([f.shape[1] for f in fgs]))
    shapes = {f.shape for f in fgs}
    if len(shapes) > 1:  # pad to one size; padding is belt (fg 0), which changes nothing
        h, w = max(s[0] for s in shapes), max(s[1] for s in shapes)
        pad = lambda a: np.pad(a, ((0, h - a.shape[0]), (0, w - a.shape[1])))  # noqa: E731
        fgs, edges, labs = map(lambda xs: [pad(x) for x in xs], (fgs, edges, labs))
    # tune in the pixels of these frames, then record their width, so that the areas
    # scale with the frame on videos of another size (SeparateConfig.area_width)
    from fishseg.separate import frame_areas

    base = frame_areas(model.cfg.separate, width)
    best, report = tune_separation(np.stack(fgs), np.stack(edges), np.stack(labs),
                                   base, progress=progress)
    best = dataclasses.replace(best, area_width=width)
    report["separate"] = to_dict(best)
    model.cfg = dataclasses.replace(model.cfg, separate=best)
    model.meta["separation_tuning"] = report
    return report
