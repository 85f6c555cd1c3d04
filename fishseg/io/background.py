"""Exports written by a background thread while the next frames are segmented.

On a GPU the maps of a frame cost under a millisecond and the pipeline waits on the
host: writing the mask PNG, the COCO RLE and the H.264 overlay took about half of each
frame's time (docs/performance.md). :class:`BackgroundExport` hands each released frame
to one writer thread through a bounded queue, so that this work overlaps the next
batch's maps, separation and tracking. PNG and H.264 encoding and most NumPy work
release the GIL, so the overlap is real on a host with a spare core.

The outputs are the same, byte for byte, as with :class:`~fishseg.io.export.ExportWriter`
alone: one thread writes the frames, in the order they were added. An error in the
thread (a full disk, say) is raised in the caller at its next :meth:`add_frame` or at
:meth:`finish`, and leaving the ``with`` block without :meth:`finish` stops the thread
and aborts the writer exactly as :class:`ExportWriter` does (no ``summary.json``).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from fishseg.io.export import ExportWriter

_STOP = object()


class BackgroundExport:
    """:class:`ExportWriter`'s :meth:`add_frame` run in a thread; the rest in the caller.

    Args:
        writer: the :class:`ExportWriter` to drive (owned from here on: closed by
            :meth:`finish` or :meth:`abort`).
        max_pending: frames that may wait in the queue; :meth:`add_frame` blocks when it
            is full, so memory stays bounded (each waiting frame holds its labels and,
            with an overlay, its RGB image).
    """

    def __init__(self, writer: ExportWriter, max_pending: int = 16):
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fishseg-export", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self._error is None:  # after an error, drain without writing
                    self.writer.add_frame(*item)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                self._error = e
            finally:
                self._queue.task_done()

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def add_frame(self, frame_index: int, track_labels: Any, frame: Any = None,
                  time_s: float | None = None, left_out: Any = None,
                  left_out_ids: Any = None) -> None:
        """Queue a frame for :meth:`ExportWriter.add_frame` (same arguments).

        The arrays must not be changed by the caller afterwards (the pipeline hands over
        fresh arrays). Raises the error of an earlier frame's write, if there was one.
        """
        self._raise_pending()
        if not self._thread.is_alive():
            raise RuntimeError(f"{self.writer.out_dir}: the export thread has stopped")
        self._queue.put((frame_index, track_labels, frame, time_s, left_out, left_out_ids))

    def drain(self) -> None:
        """Wait until every queued frame is written; raise a write error if one came."""
        self._queue.join()
        self._raise_pending()

    def checkpoint(self):
        """Write every queued frame, then :meth:`ExportWriter.checkpoint`."""
        self.drain()
        return self.writer.checkpoint()

    @property
    def resumable(self) -> bool:
        return self.writer.resumable

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def finish(self, tracks, **kwargs) -> dict:
        """Write the queued frames, stop the thread, then :meth:`ExportWriter.finish`."""
        try:
            self.drain()
        except BaseException:
            self.abort()
            raise
        self._stop()
        return self.writer.finish(tracks, **kwargs)

    def abort(self) -> None:
        """Stop the thread (frames still queued are dropped) and abort the writer."""
        self._error = self._error or _Aborted()
        self._stop()
        self.writer.abort()

    def __enter__(self) -> BackgroundExport:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()  # after finish() this only finds nothing left to remove


class _Aborted(Exception):
    """Marks a stopped export: the thread drains its queue without writing."""
