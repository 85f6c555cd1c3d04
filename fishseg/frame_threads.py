"""Host work on the frames of a batch, spread over threads.

Separation's host side (the skimage watershed, labelling, joining tails) handles one
frame at a time, and frames are independent; NumPy, SciPy's ``ndimage`` and skimage's
watershed release the GIL in their inner loops, so the frames of a batch run on several
cores at once. On a GPU host that work bounds the pipeline (docs/performance.md,
"Pipeline"). The results are the same as a loop over the frames, in the same order.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = 0  # a forked child inherits the pool object but none of its threads


def host_threads() -> int:
    """Threads for per-frame host work: ``FISHSEG_HOST_THREADS`` if set, else the cores
    this process may use (``os.sched_getaffinity``), at most 8."""
    env = os.environ.get("FISHSEG_HOST_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"FISHSEG_HOST_THREADS must be a whole number, got {env!r}") from None
        if n < 1:
            raise ValueError(f"FISHSEG_HOST_THREADS must be >= 1, got {n}")
        return n
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, cores or 1))


def _executor(n: int) -> ThreadPoolExecutor:
    """The process's pool of ``n`` threads (made again when ``n`` or the process changes)."""
    global _pool, _pool_size, _pool_pid
    with _lock:
        if _pool is None or _pool_size != n or _pool_pid != os.getpid():
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(n, thread_name_prefix="fishseg-frames")
            _pool_size, _pool_pid = n, os.getpid()
        return _pool


def per_frame(fn: Callable, *frames: Sequence, **kwargs) -> list:
    """``[fn(a[i], b[i], ..., **kwargs) for i in range(len(a))]``, frames on threads.

    Args:
        fn: work on one frame (must not share mutable state between frames).
        *frames: arrays or sequences of equal length, indexed along their first axis.
        **kwargs: passed to every call.

    Returns:
        The results in frame order. An exception in any frame is raised here.
    """
    n, threads = len(frames[0]), host_threads()
    one = lambda i: fn(*(f[i] for f in frames), **kwargs)  # noqa: E731
    if min(threads, n) <= 1 or threading.current_thread().name.startswith("fishseg-frames"):
        return [one(i) for i in range(n)]  # (nested calls stay in their thread)
    return list(_executor(threads).map(one, range(n)))
