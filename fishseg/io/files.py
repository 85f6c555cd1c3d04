"""Temporary files beside their destination, with the permissions of a normal file.

``tempfile.mkstemp`` creates files readable by their owner only (mode 0600), which is
right for secrets but wrong for results: masks, CSVs, videos and model files that are
renamed into place must be readable by colleagues as any file the user writes
(mode 0666 minus the umask).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once, at import: os.umask can only be read by setting it

#: Mode of a newly written result file.
FILE_MODE = 0o666 & ~_UMASK


def mkstemp_beside(path: str | Path, prefix: str | None = None) -> tuple[int, str]:
    """Create a temporary file in ``path``'s folder (for a later ``os.replace``).

    Args:
        path: the destination file; its folder must exist.
        prefix: file name prefix (default ``.<name>.``).

    Returns:
        ``(fd, temp path)`` as :func:`tempfile.mkstemp`, the file's mode set to
        :data:`FILE_MODE`.
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.fchmod(fd, FILE_MODE)
    return fd, tmp


@contextlib.contextmanager
def replaced_on_success(path: str | Path) -> Iterator[str]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block ends
    normally, delete it when it raises (``path`` is then left as it was)."""
    fd, tmp = mkstemp_beside(path)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
