"""Segmentation metrics the field uses: pixels, boundaries, instances and counts.

All functions take label or mask images as numpy arrays, (H, W) or (B, H, W), and
aggregate over the whole batch (micro averages: counts are summed over frames before the
ratios are taken), which is how the StarDist and Cellpose papers report their numbers.

- :func:`foreground_scores` — foreground IoU, F1, precision, recall.
- :func:`edge_scores` — boundary precision/recall/F1 with a pixel tolerance.
- :func:`instance_scores` — one-to-one matching at IoU thresholds (Hungarian method):
  TP, FP, FN, precision, recall, F1, AP = TP / (TP + FP + FN), mean matched IoU and
  panoptic quality.
- :func:`count_scores` — per-frame count MAE and relative count error, optionally
  against a range of true counts (fish barely visible are "don't care").
- :func:`true_count_range` — per-frame (sure, possible) true counts of rendered truth.
- :func:`map_scores` — quality of fg/edge probability maps against instance labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

DEFAULT_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def _batch(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"{name} must be (H, W) or (B, H, W), got shape {a.shape}")
    return a


def _pair(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true, pred = _batch(true, "true"), _batch(pred, "pred")
    if true.shape != pred.shape:
        raise ValueError(f"true and pred differ in shape: {true.shape} vs {pred.shape}")
    return true, pred


def _ratio(a: float, b: float, empty: float = 1.0) -> float:
    """a / b, with ``empty`` when b == 0 (nothing to find and nothing found is perfect)."""
    return float(a) / float(b) if b else empty


def foreground_scores(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Pixel scores of the foreground (fish vs belt).

    Args:
        true: (H, W) or (B, H, W) bool mask or integer labels (> 0 is fish).
        pred: same shape as ``true``.

    Returns:
        dict with ``iou``, ``f1``, ``precision``, ``recall`` (1.0 when both are empty).
    """
    t, p = _pair(true, pred)
    t, p = t > 0, p > 0
    tp = np.count_nonzero(t & p)
    fp = np.count_nonzero(~t & p)
    fn = np.count_nonzero(t & ~p)
    return {"iou": _ratio(tp, tp + fp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}


def edge_scores(true: np.ndarray, pred: np.ndarray, tolerance: float = 2.0) -> dict[str, float]:
    """Boundary precision, recall and F1 with a distance tolerance.

    A predicted edge pixel is correct when a true edge pixel lies within ``tolerance``
    pixels (Euclidean); a true edge pixel is found when a predicted one lies within
    ``tolerance``. This is the distance-tolerance form of the BSDS boundary measure
    (without its one-to-one pixel assignment, so it is slightly more lenient on thick
    predicted edges).

    Args:
        true: (H, W) or (B, H, W) bool edge mask.
        pred: same shape as ``true``, bool edge mask.
        tolerance: maximal distance in pixels.

    Returns:
        dict with ``precision``, ``recall``, ``f1``.
    """
    t, p = _pair(true, pred)
    t, p = t.astype(bool), p.astype(bool)
    hit_p = hit_t = 0
    for tb, pb in zip(t, p):
        if tb.any():
            hit_p += np.count_nonzero(pb & (ndimage.distance_transform_edt(~tb) <= tolerance))
        if pb.any():
            hit_t += np.count_nonzero(tb & (ndimage.distance_transform_edt(~pb) <= tolerance))
    precision = _ratio(hit_p, np.count_nonzero(p))
    recall = _ratio(hit_t, np.count_nonzero(t))
    return {"precision": precision, "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall, empty=0.0)}


def iou_matrix(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU between every true and every predicted instance of one frame.

    Args:
        true: (H, W) integer labels, 0 = background.
        pred: (H, W) integer labels, 0 = background.

    Returns:
        ``(iou, true_ids, pred_ids)``: iou is (n_true, n_pred) float64; the ids are the
        label values of the rows and columns.
    """
    t = np.asarray(true).ravel().astype(np.int64)
    p = np.asarray(pred).ravel().astype(np.int64)
    true_ids = np.unique(t[t > 0])
    pred_ids = np.unique(p[p > 0])
    ti = np.searchsorted(true_ids, t)  # compact indices; background handled by the masks below
    pi = np.searchsorted(pred_ids, p)
    both = (t > 0) & (p > 0)
    inter = np.zeros((len(true_ids), len(pred_ids)), np.int64)
    np.add.at(inter, (ti[both], pi[both]), 1)
    area_t = np.bincount(ti[t > 0], minlength=len(true_ids))
    area_p = np.bincount(pi[p > 0], minlength=len(pred_ids))
    union = area_t[:, None] + area_p[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return iou, true_ids, pred_ids


def matched_pairs(iou: np.ndarray, true_ids: np.ndarray, pred_ids: np.ndarray,
                  threshold: float, keep: dict[int, int] | None = None
                  ) -> list[tuple[int, int, float]]:
    """One-to-one matching of one frame's instances at an IoU threshold.

    The assignment maximises the number of pairs with IoU >= threshold and, among those,
    their summed IoU (Hungarian method). Pairs named in ``keep`` (true id -> predicted
    id; a tracker evaluation's matches of the frame before) are taken first where they
    still reach the threshold, as CLEAR MOT keeps correspondences.

    Args:
        iou, true_ids, pred_ids: as :func:`iou_matrix` returns them.
        threshold: IoU a pair needs to count as a match, in (0, 1].
        keep: optional pairs to prefer.

    Returns:
        ``[(true id, predicted id, iou), ...]`` of the matched pairs.
    """
    if len(true_ids) == 0 or len(pred_ids) == 0:
        return []
    ok = iou >= threshold
    if not ok.any():
        return []
    # each valid pair is worth more than any sum of IoUs, so the count is maximised first
    weight = np.where(ok, 1.0 + iou / (iou.size + 1), 0.0)
    if keep:
        kept = np.zeros(ok.shape, bool)
        for r, a in enumerate(true_ids.tolist()):
            c = np.searchsorted(pred_ids, keep.get(a, -1))
            if c < len(pred_ids) and pred_ids[c] == keep.get(a):
                kept[r, c] = True
        weight = weight + np.where(ok & kept, float(ok.sum() + 1) * 2.0, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    good = ok[rows, cols]
    return [(int(true_ids[r]), int(pred_ids[c]), float(iou[r, c]))
            for r, c in zip(rows[good], cols[good], strict=True)]


def match_frame(true: np.ndarray, pred: np.ndarray, threshold: float) -> tuple[int, int, int, float]:
    """One-to-one matching of the instances of one frame at an IoU threshold.

    The assignment maximises the number of pairs with IoU >= threshold and, among those,
    their summed IoU (Hungarian method, :func:`matched_pairs`).

    Args:
        true: (H, W) integer labels.
        pred: (H, W) integer labels.
        threshold: IoU a pair needs to count as a match, in (0, 1].

    Returns:
        ``(tp, fp, fn, sum_of_matched_iou)``.
    """
    iou, tids, pids = iou_matrix(true, pred)
    pairs = matched_pairs(iou, tids, pids, threshold)
    tp = len(pairs)
    return tp, len(pids) - tp, len(tids) - tp, float(sum(v for _, _, v in pairs))


def instance_scores(true: np.ndarray, pred: np.ndarray,
                    thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[float, dict[str, float]]:
    """Instance matching scores over a batch, at each IoU threshold.

    Args:
        true: (H, W) or (B, H, W) integer labels, 0 = background.
        pred: same shape as ``true``.
        thresholds: IoU thresholds.

    Returns:
        ``{threshold: {tp, fp, fn, precision, recall, f1, ap, mean_matched_iou, pq}}``
        where ``ap = tp / (tp + fp + fn)`` (StarDist/Cellpose "average precision") and
        ``pq = sum matched IoU / (tp + fp/2 + fn/2)`` (panoptic quality).
    """
    t, p = _pair(true, pred)
    out: dict[float, dict[str, float]] = {}
    for thr in thresholds:
        tp = fp = fn = 0
        s = 0.0
        for tb, pb in zip(t, p):
            a, b, c, d = match_frame(tb, pb, thr)
            tp, fp, fn, s = tp + a, fp + b, fn + c, s + d
        out[float(thr)] = {
            "tp": tp, "fp": fp, "fn": fn,
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn), "ap": _ratio(tp, tp + fp + fn),
            "mean_matched_iou": _ratio(s, tp, empty=0.0),
            "pq": _ratio(s, tp + 0.5 * fp + 0.5 * fn),
        }
    return out


def count_instances(labels: np.ndarray, min_area: int = 0) -> np.ndarray:
    """Number of distinct non-zero ids in each frame.

    Args:
        labels: (H, W) or (B, H, W) integer labels.
        min_area: count only ids with at least this many pixels in the frame.

    Returns:
        (B,) int64 counts.
    """
    lab = _batch(labels, "labels")
    out = []
    for f in lab:
        _, area = np.unique(f[f > 0], return_counts=True)
        out.append(int(np.count_nonzero(area >= min_area)))
    return np.array(out, np.int64)


#: Share of the frame below which a visible piece of fish is "don't care" when
#: counting against rendered truth: 230 px of a 1280x720 frame, 58 px of 640x360
#: (the smallest generated fish covers about 1200 px of a 1280-px frame).
MIN_VISIBLE_FRACTION = 1.0 / 4000


def min_visible_pixels(height: int, width: int) -> int:
    """Visible pixels a fish needs in a ``height`` x ``width`` frame to be counted as
    sure by :func:`true_count_range`."""
    return max(int(round(MIN_VISIBLE_FRACTION * height * width)), 1)


def true_count_range(labels: np.ndarray, min_visible: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(sure, possible) true fish per frame of rendered truth.

    A renderer marks every visible pixel of a fish, so its truth counts a fish of which
    three pixels show at the frame edge or between two other fish, where no observer or
    annotator would. Counting benchmarks treat such objects as "don't care" (COCO's
    ignore regions, KITTI's DontCare, the visibility cut of MOT): a fish with fewer than
    ``min_visible`` visible pixels may be counted or not.

    Args:
        labels: (H, W) or (B, H, W) integer true labels.
        min_visible: pixels (default :func:`min_visible_pixels` of the frame size).

    Returns:
        ``(sure, possible)``: (B,) int64 each; ``sure`` counts the fish with at least
        ``min_visible`` visible pixels, ``possible`` every fish.
    """
    lab = _batch(labels, "labels")
    if min_visible is None:
        min_visible = min_visible_pixels(lab.shape[1], lab.shape[2])
    return count_instances(lab, min_visible), count_instances(lab)


def count_scores(true_counts: Sequence[int], pred_counts: Sequence[int],
                 true_max: Sequence[int] | None = None) -> dict[str, float]:
    """Counting errors over frames.

    Args:
        true_counts: (B,) true number of fish per frame.
        pred_counts: (B,) predicted number per frame.
        true_max: (B,) optional upper end of the true count (``true_counts`` is then the
            lower end, see :func:`true_count_range`): a predicted count inside
            ``[true_counts, true_max]`` has no error, one outside has its distance to
            the nearer end.

    Returns:
        dict with ``mae`` (mean absolute per-frame error), ``relative_error``
        (sum of absolute per-frame errors / total true count: the per-frame relative count
        error French et al. 2015 report, 2%-16% on trawler belts) and
        ``total_relative_error`` (|total predicted - total true| / total true, the total
        true count taken as the nearest point of the range).
    """
    t = np.asarray(true_counts, np.float64)
    p = np.asarray(pred_counts, np.float64)
    hi = t if true_max is None else np.asarray(true_max, np.float64)
    if t.shape != p.shape or hi.shape != t.shape:
        raise ValueError(f"count arrays differ in shape: {t.shape} vs {p.shape}"
                         + ("" if true_max is None else f" vs {hi.shape}"))
    if np.any(hi < t):
        raise ValueError("true_max is below true_counts in some frame")
    err = np.maximum(np.maximum(t - p, p - hi), 0.0)
    total = t.sum()
    total_err = max(t.sum() - p.sum(), p.sum() - hi.sum(), 0.0)
    return {"mae": float(err.mean()) if t.size else 0.0,
            "relative_error": _ratio(err.sum(), total, empty=0.0),
            "total_relative_error": _ratio(total_err, total, empty=0.0)}


def boundary_pixels(labels: np.ndarray) -> np.ndarray:
    """Thin instance boundaries: fish pixels with a 4-neighbour of another label.

    Args:
        labels: (H, W) or (B, H, W) integer labels, 0 = background.

    Returns:
        bool array of ``labels``' shape (1 px inside each fish along its outline, so 2 px
        where two fish touch); the frame border is not a boundary.
    """
    lab = np.asarray(labels)
    out = np.zeros(lab.shape, bool)
    for axis in (-1, -2):
        n = lab.shape[axis]
        a = np.take(lab, range(n - 1), axis=axis)
        b = np.take(lab, range(1, n), axis=axis)
        diff = a != b
        lo = [slice(None)] * lab.ndim
        hi = [slice(None)] * lab.ndim
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        out[tuple(lo)] |= diff & (a > 0)
        out[tuple(hi)] |= diff & (b > 0)
    return out


def map_scores(fg: np.ndarray, edge: np.ndarray, labels: np.ndarray, *,
               threshold: float = 0.5, tolerance: float = 2.0,
               thinning: str = "nms") -> dict[str, float]:
    """Foreground IoU and boundary F1 of probability maps (before any separation).

    The edge map is thinned to one-pixel lines, then matched against the thin true
    boundaries (:func:`boundary_pixels`) with a distance tolerance, as boundary
    benchmarks (BSDS) score edge detectors. ``thinning="nms"`` (the default, as those
    benchmarks do) keeps the ridge pixels above ``threshold``
    (:func:`fishseg.edges.thin_edges`); ``"skeleton"`` thresholds the map and takes the
    skeleton of the band (the measure of the first releases, lower by ~0.03 F1).

    Args:
        fg: (H, W) or (B, H, W) float foreground probability.
        edge: same shape, float boundary probability.
        labels: same shape, integer true instance labels.
        threshold: probability above which a pixel is fish / edge.
        tolerance: boundary match distance in pixels.

    Returns:
        dict with ``fg_iou``, ``fg_f1``, ``edge_precision``, ``edge_recall``, ``edge_f1``.
    """
    f, e, t = _batch(fg, "fg"), _batch(edge, "edge"), _batch(labels, "labels")
    if thinning == "nms":
        from fishseg.edges import thin_edges

        thin = thin_edges(e, threshold)
    elif thinning == "skeleton":
        from skimage.morphology import skeletonize

        thin = np.stack([skeletonize(x > threshold) for x in e])
    else:
        raise ValueError(f"thinning must be 'nms' or 'skeleton', got {thinning!r}")
    fgs = foreground_scores(t, f > threshold)
    es = edge_scores(boundary_pixels(t), thin, tolerance)
    return {"fg_iou": fgs["iou"], "fg_f1": fgs["f1"], "edge_precision": es["precision"],
            "edge_recall": es["recall"], "edge_f1": es["f1"]}
