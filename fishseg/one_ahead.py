"""One job at a time in a background thread, the caller one step ahead.

The pipeline tracks batch k (tracker, counted-fish release, handing frames to the
writer) in this thread while the caller decodes, maps and separates batch k+1. Tracking
must see the batches in order, so at most one job is under way: :meth:`OneAhead.submit`
first waits for the previous one. On a GPU host the pipeline is bound by separation and
tracking on the host (docs/performance.md, "Pipeline"); this runs the two side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class OneAhead:
    """Run jobs one after another in one thread, at most one under way.

    Use as a context manager: leaving it waits for the job under way (its error is
    raised on a normal exit; after an exception in the block it is dropped, the block's
    exception goes on). With ``enabled=False`` :meth:`submit` runs the job at once in the
    caller (the reference behaviour, same results).
    """

    def __init__(self, name: str = "fishseg-ahead", enabled: bool = True):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name) if enabled else None
        self._future: Future | None = None

    def wait(self) -> None:
        """Wait for the job under way; raise its error, if it failed."""
        future, self._future = self._future, None
        if future is not None:
            future.result()

    def submit(self, fn: Callable, *args, **kwargs) -> None:
        """Wait for the previous job (raising its error), then start ``fn(*args, **kwargs)``."""
        self.wait()
        if self._pool is None:
            fn(*args, **kwargs)
        else:
            self._future = self._pool.submit(fn, *args, **kwargs)

    def __enter__(self) -> OneAhead:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.wait()
            elif self._future is not None:  # let it finish before the caller cleans up
                self._future.exception()
                self._future = None
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
