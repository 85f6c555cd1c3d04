"""Interlaced video: finding and removing the combing of moving fish.

Analogue cameras recorded by DVRs (576i / 480i) store each frame as two fields taken a
field apart in time, the even rows first and the odd rows 1/50 s later. On a moving
belt the two fields disagree wherever something moves, and every moving edge shows as
a comb of alternating rows: a pattern the network never saw in training, which breaks
fish outlines into stripes.

:func:`comb_map` finds combed pixels (a row that differs from the rows next to it, the
other field, far more than from the rows two away, its own field); :func:`comb_score` is
their share of a frame (at most 0.0001 on progressive synthetic belt frames, 0.04-0.10
on the same frames interlaced);
:func:`deinterlace` replaces the odd rows by the mean of the even rows above and below
(the even field's moment, at half the vertical detail).
"""

from __future__ import annotations

import numpy as np

#: Grey-level margin by which a row must differ more from its neighbours (the other
#: field) than from the rows two away (its own field) to count as combed.
MARGIN = 16
#: :func:`comb_score` above which a frame is taken as interlaced with motion: progressive
#: synthetic belt frames score at most 0.0001, the same frames interlaced 0.04-0.10.
INTERLACED_SCORE = 0.01


def _luma(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame, np.int32)
    return (f[..., 0] * 77 + f[..., 1] * 150 + f[..., 2] * 29) >> 8


def comb_map(frame: np.ndarray, margin: int = MARGIN) -> np.ndarray:
    """Combed pixels.

    A pixel is combed when its row differs from the rows next to it (the other field)
    much more than from the rows two away (its own field): ``|2 y[i] - y[i-1] - y[i+1]|
    > 2 |2 y[i] - y[i-2] - y[i+2]| + margin`` on the luma. Across a step edge of a
    progressive frame both sides are alike; in a comb the first is twice the step and
    the second nil.

    Args:
        frame: (H, W, 3) uint8 RGB.
        margin: grey levels (0-255).

    Returns:
        (H, W) bool, combed in two rows running (a comb spans rows of both fields; one
        odd row does not make one); the two top and bottom rows False.
    """
    y = _luma(frame)
    c = y[2:-2]
    d1 = np.abs(2 * c - y[1:-3] - y[3:-1])
    d2 = np.abs(2 * c - y[:-4] - y[4:])
    raw = np.zeros(y.shape, bool)
    raw[2:-2] = d1 > 2 * d2 + margin
    # a comb runs over rows of both fields: keep pixels combed in two rows running
    pair = np.zeros_like(raw)
    pair[:-1] = raw[:-1] & raw[1:]
    pair[1:] |= pair[:-1]
    return pair


def comb_score(frame: np.ndarray) -> float:
    """Share of the frame's pixels that are combed (:func:`comb_map`)."""
    return float(comb_map(frame).mean())


def deinterlace(frame: np.ndarray) -> np.ndarray:
    """Keep the even field and replace each odd row by the mean of the even rows above
    and below it (line interpolation; the last row, with no row below, is kept).

    On a belt camera everything in view moves (the belt's own texture too), so the odd
    field disagrees with the even one everywhere. On synthetic belt video (mean absolute
    difference to the even field's frame, a throwaway measurement, session 15)
    interpolating everywhere left frames 5.9x nearer it than the combed ones at 640x360
    (2.1x at 320x192), interpolating only the visibly combed areas (motion-adaptive)
    2.4x (1.6x): the belt's low-contrast texture combs too.

    Args:
        frame: (H, W, 3) uint8 RGB.

    Returns:
        (H, W, 3) uint8 RGB, a new array.
    """
    out = np.array(frame, np.uint8)
    f = np.asarray(frame, np.uint16)
    n = (len(f) - 1) // 2  # odd rows with an even row below them
    out[1:2 * n:2] = ((f[0:2 * n:2] + f[2:2 * n + 1:2] + 1) >> 1).astype(np.uint8)
    return out
