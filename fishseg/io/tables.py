"""CSV tables that people edit in spreadsheets, read as the spreadsheet saved them.

Spreadsheets save CSV in their locale's ways: a byte-order mark, Windows-1252 rather than
UTF-8, ``;`` (or tabs) between the values where ``,`` is the decimal sign.
:func:`read_edited_csv` reads all of these.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path


def read_edited_csv(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of a CSV file a spreadsheet may have saved.

    The text is UTF-8 (with or without a BOM), else Windows-1252, else Latin-1; the
    delimiter is whichever of ``,``, ``;`` and tab the header line holds most of.

    Returns:
        ``(columns, rows)``; ``([], [])`` for a file that is not CSV text.

    Raises:
        OSError: the file cannot be read.
    """
    raw = Path(path).read_bytes()
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    head = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=max(",;\t", key=head.count))
    try:
        return list(reader.fieldnames or []), list(reader)
    except csv.Error:
        return [], []
