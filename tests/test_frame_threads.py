"""Per-frame host work on threads: the same results, in order, as a loop over frames."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fishseg.config import SeparateConfig
from fishseg.frame_threads import host_threads, per_frame
from fishseg.separate import separate
from tests.test_separate import touching_ellipses


def test_results_in_frame_order_with_keywords(monkeypatch):
    monkeypatch.setenv("FISHSEG_HOST_THREADS", "3")
    a, b = np.arange(10), np.arange(10) * 10
    assert per_frame(lambda x, y, k: (x, y + k), a, b, k=1) == [(i, 10 * i + 1) for i in range(10)]
    assert per_frame(lambda x: x, np.zeros((0, 4))) == []


def test_an_error_in_one_frame_is_raised(monkeypatch):
    monkeypatch.setenv("FISHSEG_HOST_THREADS", "2")

    def fn(i):
        if i == 3:
            raise ValueError("frame 3 is bad")
        return i

    with pytest.raises(ValueError, match="frame 3 is bad"):
        per_frame(fn, range(6))


def test_thread_count_setting(monkeypatch):
    monkeypatch.setenv("FISHSEG_HOST_THREADS", "5")
    assert host_threads() == 5
    monkeypatch.delenv("FISHSEG_HOST_THREADS")
    assert host_threads() == min(8, len(os.sched_getaffinity(0)))  # the usable cores
    for bad in ("0", "two"):
        monkeypatch.setenv("FISHSEG_HOST_THREADS", bad)
        with pytest.raises(ValueError, match="FISHSEG_HOST_THREADS"):
            host_threads()


@pytest.mark.parametrize("tails", [0.0, 0.3])
def test_separation_on_threads_equals_one_thread(monkeypatch, tails):
    rng = np.random.default_rng(11)
    _, fg, edge = (np.stack(x) for x in zip(*(touching_ellipses(rng) for _ in range(6))))
    cfg = SeparateConfig(backend="skimage", tail_ratio=tails)
    monkeypatch.setenv("FISHSEG_HOST_THREADS", "1")
    one = separate(fg, edge, cfg)
    monkeypatch.setenv("FISHSEG_HOST_THREADS", "4")
    many = separate(fg, edge, cfg)
    assert one.max() >= 3  # the clumps were split into fish
    np.testing.assert_array_equal(one, many)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # the child runs no JAX
def test_a_forked_child_gets_threads_of_its_own(monkeypatch):
    """The pool's threads do not survive a fork: a child must not wait on them."""
    import multiprocessing as mp

    monkeypatch.setenv("FISHSEG_HOST_THREADS", "2")
    assert per_frame(lambda x: x + 1, range(4)) == [1, 2, 3, 4]  # the parent's pool exists
    with mp.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(per_frame, (abs, [-1, -2, -3])).get(timeout=60)
    assert got == [1, 2, 3]
