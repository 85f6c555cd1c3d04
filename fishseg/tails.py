"""Joining tails cut off at the caudal peduncle back to their fish (``separate.tail_ratio``).

The narrow neck between a fish's body and its tail fin lies wholly in the edge band of
the maps (both fish/belt boundaries of the neck are edge), so the cores of body and tail
are apart and the watershed makes the tail a fish of its own. A contact between two fish
looks the same locally; what tells a tail is its place: a tail is a small region whose
only fish neighbour is the body, lying beyond the end of the body along the body's major
axis. Two touching fish rarely lie that way (one small fish exactly off the end of a
large one, touching nothing else).

On the adjacent region pairs of the bundled model on 48 validation stills each of seeds
707 and 808, joining regions under 0.3 of their neighbour's area, with no other fish
neighbour, whose centroid lies 1.0 or more of the neighbour's half-lengths along its
axis and within 0.35 of it across, joined 21 and 26 pairs of one fish for 7 and 6 pairs
of two fish; without the place test (area and neighbour only) 41 and 39 for 54 and 28
(``scripts/tail_pairs.py``; docs/accuracy.md, section 3, "Tails").
"""

from __future__ import annotations

import numpy as np

from fishseg.frame_threads import per_frame


def region_moments(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Area, centroid, major axis and half-length of every label of one frame.

    Args:
        labels: (H, W) int labels, 0 = belt.

    Returns:
        dict of arrays indexed by label (length ``labels.max() + 1``): ``area`` (float64
        pixels), ``c`` (N, 2) centroid (row, column), ``u`` (N, 2) unit major axis
        (row, column), ``h`` twice the standard deviation along it (the half-length of a
        filled ellipse).
    """
    n = int(labels.max()) + 1
    y, x = np.nonzero(labels)                                # fish pixels only
    lab = labels[y, x]
    y, x = y.astype(np.float64), x.astype(np.float64)
    area = np.bincount(lab, minlength=n).astype(np.float64)
    safe = np.maximum(area, 1.0)
    my = np.bincount(lab, y, n) / safe
    mx = np.bincount(lab, x, n) / safe
    syy = np.bincount(lab, y * y, n) / safe - my * my
    sxx = np.bincount(lab, x * x, n) / safe - mx * mx
    sxy = np.bincount(lab, x * y, n) / safe - mx * my
    # largest eigenvalue and its eigenvector of [[syy, sxy], [sxy, sxx]]
    half_tr, det = (syy + sxx) / 2, syy * sxx - sxy * sxy
    lam = half_tr + np.sqrt(np.maximum(half_tr * half_tr - det, 0.0))
    u = np.stack([lam - sxx, sxy], 1)                        # (row, column) direction
    flat = np.linalg.norm(u, axis=1) < 1e-9                  # axis-aligned or round
    u[flat] = np.where((syy >= sxx)[flat, None], [1.0, 0.0], [0.0, 1.0])
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return {"area": area, "c": np.stack([my, mx], 1), "u": u, "h": 2 * np.sqrt(np.maximum(lam, 0.0))}


def adjacent_pairs(labels: np.ndarray) -> np.ndarray:
    """Pairs of fish labels that touch (4-neighbours) in one frame.

    Args:
        labels: (H, W) int labels, 0 = belt.

    Returns:
        (P, 2) int64 unique pairs ``(a, b)`` with ``0 < a < b``.
    """
    pairs = []
    for a, b in ((labels[:-1], labels[1:]), (labels[:, :-1], labels[:, 1:])):
        k = (a != b) & (a > 0) & (b > 0)
        pairs.append(np.stack([np.minimum(a[k], b[k]), np.maximum(a[k], b[k])], 1))
    p = np.concatenate(pairs).astype(np.int64)
    return np.unique(p, axis=0) if len(p) else p.reshape(0, 2)


def pair_geometry(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Where the smaller region of each touching pair lies relative to the larger one.

    Args:
        labels: (H, W) int labels, 0 = belt.

    Returns:
        dict of arrays, one row per touching pair (:func:`adjacent_pairs`): ``small``,
        ``big`` (P,) int64 labels (the smaller and larger region by area), ``ratio`` (P,)
        their area ratio, ``along`` / ``across`` (P,) the small region's centroid offset
        from the big one's along / across the big one's major axis in units of its
        half-length (:func:`region_moments`), ``only`` (P,) bool: the big region is the
        small one's only fish neighbour.
    """
    pairs = adjacent_pairs(labels)
    m = region_moments(labels)
    a, b = pairs[:, 0], pairs[:, 1]
    swap = m["area"][a] > m["area"][b]
    small, big = np.where(swap, b, a), np.where(swap, a, b)
    d = m["c"][small] - m["c"][big]
    u, h = m["u"][big], np.maximum(m["h"][big], 1e-9)
    degree = np.bincount(pairs.ravel(), minlength=len(m["area"]))
    return {"small": small, "big": big, "ratio": m["area"][small] / m["area"][big],
            "along": np.abs((d * u).sum(1)) / h,
            "across": np.abs(d[:, 0] * u[:, 1] - d[:, 1] * u[:, 0]) / h,
            "only": degree[small] == 1}


def merge_tails_frame(labels: np.ndarray, max_ratio: float, min_axial: float,
                      max_offaxis: float) -> np.ndarray:
    """Join each tail-like region to its fish, in one frame.

    A region R is joined to region B when B is R's only fish neighbour, R's area is under
    ``max_ratio`` times B's, and R's centroid lies at least ``min_axial`` times B's
    half-length (:func:`region_moments`) from B's centroid along B's major axis and at most
    ``max_offaxis`` times it across (:func:`pair_geometry`).

    Args:
        labels: (H, W) int labels, 0 = belt, fish numbered 1..n.
        max_ratio, min_axial, max_offaxis: the rule above.

    Returns:
        (H, W) int32 labels, fish renumbered 1..m in the order of their first label.
    """
    labels = np.asarray(labels)
    n = int(labels.max()) + 1
    g = pair_geometry(labels)
    join = (g["only"] & (g["ratio"] < max_ratio) & (g["along"] >= min_axial)
            & (g["across"] <= max_offaxis))
    if not join.any():
        return labels.astype(np.int32, copy=False)
    target = np.arange(n)
    target[g["small"][join]] = g["big"][join]
    keep = target == np.arange(n)
    keep[0] = False
    new_id = np.cumsum(keep) * keep
    return new_id[target][labels].astype(np.int32)


def merge_tails(labels: np.ndarray, max_ratio: float, min_axial: float,
                max_offaxis: float) -> np.ndarray:
    """:func:`merge_tails_frame` on every frame.

    Args:
        labels: (B, H, W) int labels. max_ratio, min_axial, max_offaxis: the rule.

    Returns:
        (B, H, W) int32 labels.
    """
    labels = np.asarray(labels)
    return np.stack(per_frame(merge_tails_frame, labels, max_ratio=max_ratio,
                              min_axial=min_axial, max_offaxis=max_offaxis)) \
        if len(labels) else labels.astype(np.int32)
