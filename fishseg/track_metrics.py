"""Tracking scores of a segmented video against true tracks: CLEAR MOT and IDF1.

A count is only as good as the tracks behind it: one fish given two ids is counted
twice, two fish sharing an id measured as one. The measures multi-object-tracking
benchmarks (MOTChallenge) report, on instance masks:

- **per frame**, true and found instances are matched one to one at mask IoU >=
  ``threshold`` (Hungarian method, :func:`fishseg.metrics.matched_pairs`), keeping a
  true fish's match from the frame before when it still qualifies (as CLEAR MOT does);
- **MOTA** = 1 - (misses + false positives + id switches) / true instances
  (Bernardin & Stiefelhagen 2008); an *id switch* is a true fish matched to another
  found id than at its previous match; a *fragmentation* a true fish's match
  interrupted and resumed;
- **IDF1** (Ristani et al. 2016): true and found tracks are paired one to one so that
  the frames in which a pair overlaps at IoU >= ``threshold`` are as many as possible;
  IDTP are those frames, IDF1 = 2 IDTP / (true instances + found instances), with
  IDP = IDTP / found instances and IDR = IDTP / true instances;
- **mostly tracked / lost**: true fish matched in >= 80% / <= 20% of the frames they
  are in; and the distinct fish of both sides.

Inputs are label images whose ids are track ids (0 = belt): ``fishseg segment``'s
``masks/`` on one side, true masks with one id per fish on the other (``fishseg synth``'s
``masks/``, or a COCO file whose annotations carry ``track_id``, as CVAT exports).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from fishseg.metrics import iou_matrix, matched_pairs


def track_scores(true: Iterable[np.ndarray], pred: Iterable[np.ndarray],
                 threshold: float = 0.5) -> dict[str, float]:
    """CLEAR MOT, IDF1 and track counts of a sequence of frames.

    Args:
        true: (H, W) integer label images, one per frame, ids = true fish (the same id
            in every frame a fish is in), 0 = background.
        pred: the found label images of the same frames, ids = track ids.
        threshold: mask IoU a true and a found instance need to match, in (0, 1].

    Returns:
        dict: ``mota``, ``idf1``, ``idp``, ``idr``, ``id_switches``,
        ``fragmentations``, ``true_positives``, ``false_positives``, ``misses``,
        ``true_instances``, ``found_instances``, ``true_tracks``, ``found_tracks``,
        ``mostly_tracked``, ``mostly_lost``, ``frames``.

    Raises:
        ValueError: the sequences differ in length, or a frame pair in shape.
    """
    return _score_pairs(_zip(true, pred), threshold)


def _score_pairs(frame_pairs: Iterable[tuple[np.ndarray, np.ndarray]],
                 threshold: float) -> dict[str, float]:
    """:func:`track_scores` of (true, found) label frame pairs, consumed one by one."""
    last: dict[int, int] = {}          # true id -> found id at its last match
    gap: dict[int, bool] = {}          # true id -> unmatched since its last match
    present: dict[int, int] = {}       # true id -> frames it is in
    hits: dict[int, int] = {}          # true id -> frames it is matched in
    co: dict[tuple[int, int], int] = {}  # (true id, found id) -> frames overlapping
    found_ids: set[int] = set()
    tp = fp = fn = idsw = frag = n_true = n_found = frames = 0
    for t, p in frame_pairs:
        frames += 1
        iou, tids, pids = iou_matrix(t, p)
        for r, c in zip(*np.nonzero(iou >= threshold), strict=True):
            key = (int(tids[r]), int(pids[c]))
            co[key] = co.get(key, 0) + 1
        pairs = matched_pairs(iou, tids, pids, threshold, keep=last)
        tids, pids = tids.tolist(), pids.tolist()
        found_ids.update(pids)
        n_true += len(tids)
        n_found += len(pids)
        matched = {a: b for a, b, _ in pairs}
        tp += len(matched)
        fp += len(pids) - len(matched)
        fn += len(tids) - len(matched)
        for a in tids:
            present[a] = present.get(a, 0) + 1
            if a in matched:
                hits[a] = hits.get(a, 0) + 1
                if a in last and last[a] != matched[a]:
                    idsw += 1
                if gap.get(a):
                    frag += 1
                last[a], gap[a] = matched[a], False
            elif a in last:
                gap[a] = True
    idtp = _id_matches(co)
    share = {a: hits.get(a, 0) / n for a, n in present.items()}
    return {
        "mota": 1.0 - (fn + fp + idsw) / n_true if n_true else float(n_found == 0),
        "idf1": 2 * idtp / (n_true + n_found) if n_true + n_found else 1.0,
        "idp": idtp / n_found if n_found else 1.0,
        "idr": idtp / n_true if n_true else 1.0,
        "id_switches": idsw, "fragmentations": frag,
        "true_positives": tp, "false_positives": fp, "misses": fn,
        "true_instances": n_true, "found_instances": n_found,
        "true_tracks": len(present), "found_tracks": len(found_ids),
        "mostly_tracked": sum(s >= 0.8 for s in share.values()),
        "mostly_lost": sum(s <= 0.2 for s in share.values()),
        "frames": frames,
    }


def _zip(true, pred):
    """Frame pairs, checked: same number and same shapes."""
    sentinel = object()
    ti, pi = iter(true), iter(pred)
    k = 0
    while True:
        t, p = next(ti, sentinel), next(pi, sentinel)
        if t is sentinel and p is sentinel:
            return
        if t is sentinel or p is sentinel:
            raise ValueError(f"true and found sequences differ in length (one ends at frame {k})")
        t, p = np.asarray(t), np.asarray(p)
        if t.shape != p.shape or t.ndim != 2:
            raise ValueError(f"frame {k}: true labels {t.shape} and found labels {p.shape} "
                             "must be (H, W) of one size")
        yield t, p
        k += 1


def _id_matches(co: dict[tuple[int, int], int]) -> int:
    """Most frames one-to-one pairs of true and found tracks can share (IDTP)."""
    if not co:
        return 0
    a_ids = sorted({a for a, _ in co})
    b_ids = sorted({b for _, b in co})
    ai = {a: i for i, a in enumerate(a_ids)}
    bi = {b: i for i, b in enumerate(b_ids)}
    m = np.zeros((len(a_ids), len(b_ids)))
    for (a, b), n in co.items():
        m[ai[a], bi[b]] = n
    rows, cols = linear_sum_assignment(m, maximize=True)
    return int(m[rows, cols].sum())


_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def frame_number(name: str) -> int | None:
    """The frame number in a file name (its last run of digits: ``frame_000012.png`` ->
    12), None when it has none."""
    m = _NUMBER.search(Path(name).stem)
    return int(m.group(1)) if m else None


def read_tracks(path: str | os.PathLike) -> dict[int, Callable[[], np.ndarray]]:
    """Label images by frame number from a fishseg output folder (its ``masks/``), a
    folder of label PNGs, or a COCO JSON whose annotations carry track ids.

    Returns:
        {frame number: a function that reads that frame's (H, W) int32 labels}: PNGs are
        read when asked for, so an hour of masks is never all in memory (a COCO file is
        read whole).

    Raises:
        ValueError: naming the path, when it holds no label images, a file name has no
            frame number, or two files give the same frame.
    """
    path = Path(path)
    if path.is_dir() and (path / "masks").is_dir():
        path = path / "masks"
    if path.is_dir():
        from fishseg.io.images import read_labels

        items = [(p.name, lambda p=p: read_labels(p)) for p in sorted(path.glob("*.png"))]
    elif path.suffix.lower() == ".json" and path.is_file():
        from fishseg.io.coco import read_coco

        items = [(s.name, lambda s=s: s.labels) for s in read_coco(path)]
    else:
        raise ValueError(f"{path}: not a folder of label images, a fishseg output folder "
                         "or a COCO .json file")
    if not items:
        raise ValueError(f"{path}: no label images (*.png)")
    out: dict[int, Callable[[], np.ndarray]] = {}
    for name, load in items:
        k = frame_number(name)
        if k is None:
            raise ValueError(f"{path}: {name!r} has no frame number in its name")
        if k in out:
            raise ValueError(f"{path}: two label images for frame {k} (one is {name!r})")
        out[k] = load
    return out


def score_outputs(truth: str | os.PathLike, found: str | os.PathLike,
                  threshold: float = 0.5) -> dict[str, float]:
    """:func:`track_scores` of a fishseg output against true tracks, on the frames both
    have (an output made with ``--frame-step`` holds every n-th frame), read one frame
    at a time.

    Args:
        truth: true masks (a folder of label PNGs or a COCO JSON with track ids).
        found: a ``fishseg segment`` output folder (or its ``masks/``).
        threshold: mask IoU for a match.

    Returns:
        the scores, plus ``frames_only_in_truth`` and ``frames_only_found``.

    Raises:
        ValueError: the two have no frame in common, or a common frame differs in size
            (naming the frame).
    """
    t, f = read_tracks(truth), read_tracks(found)
    common = sorted(set(t) & set(f))
    if not common:
        raise ValueError(f"{truth} and {found} have no frame number in common")
    scores = _score_pairs(_frames(t, f, common), threshold)
    scores["frames_only_in_truth"] = len(set(t) - set(f))
    scores["frames_only_found"] = len(set(f) - set(t))
    return scores


def _frames(t, f, common):
    """The common frames' (true, found) labels, read one pair at a time, sizes checked."""
    for k in common:
        a, b = np.asarray(t[k](), np.int32), np.asarray(f[k](), np.int32)
        if a.shape != b.shape:
            raise ValueError(f"frame {k}: true masks are {a.shape[::-1]} (WxH) but the "
                             f"output's are {b.shape[::-1]}; segment at --scale 1 to score")
        yield a, b
