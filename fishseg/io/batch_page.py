"""``OUT/index.html``: the whole batch on one page, to open in a browser.

An observer's batch is dozens of folders of CSVs, charts, pictures and videos. The page
gathers them: the batch's totals, its length frequency and timeline, a table of every
input (status, recording start, video length, fish counted, the error of a failed one),
and per complete input its charts, its overlay video (H.264: plays in the browser) and
its fish pictures' contact sheets, and a page of its fish (``OUT/<name>/fish.html``:
each fish's picture and measures, and a link into the overlay where it was first seen).
It only links and shows the files that exist, by
paths relative to ``OUT``, so the folder can be copied or shared as it is; every text
taken from inputs (file names, error messages) is escaped. It is rewritten after every
run into ``OUT``, like ``inputs.csv``.
"""

from __future__ import annotations

import csv
import html
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fishseg.io.export import atomic_write, read_summary
from fishseg.io.gallery import crop_name

PAGE = "index.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; }
th { background: #eee; }
td.num { text-align: right; }
tr.failed td { background: #fde8e8; }
img.chart { max-width: 48%; margin: 0.25em; border: 1px solid #ddd; }
img.sheet { max-width: 100%; border: 1px solid #ddd; }
video { max-width: 100%; background: #000; }
section { margin-top: 2em; border-top: 2px solid #ccc; }
""".strip()


def _href(path: Path, out: Path) -> str:
    return quote(path.relative_to(out).as_posix())


def _read_rows(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error):
        return []


def write_batch_page(out: str | Path, *, batch_fish: int | None = None,
                     continued: int = 0) -> Path | None:
    """Write ``OUT/index.html`` from what the batch's folder holds.

    Args:
        out: the output root of ``fishseg segment`` (with ``inputs.csv``).
        batch_fish: the batch's fish count, each fish once
            (:func:`fishseg.io.batch_fish.write_batch_fish`), shown in the totals.
        continued: fish carried on from a camera's previous recording (counted once).

    Returns:
        the page's path, or None when there is no ``inputs.csv``.
    """
    from fishseg import __version__

    out = Path(out)
    rows = _read_rows(out / "inputs.csv")
    if not rows:
        return None
    e = html.escape
    status = {k: sum(r.get("status") == k for r in rows) for k in ("done", "skipped", "failed")}
    seconds = sum(float(r["video_s"]) for r in rows if _is_number(r.get("video_s")))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>fishseg: {e(out.resolve().name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>fishseg: {e(out.resolve().name)}</h1>",
        f"<p>{len(rows)} inputs: {status['done']} done, {status['skipped']} skipped (complete "
        f"before), {status['failed']} failed; {_duration(seconds)} of video (h:mm:ss)"
        + (f"; <b>{batch_fish} fish counted</b>" if batch_fish is not None else "")
        + (f" ({continued} carried on from a camera's previous recording, counted once)"
           if continued else "")
        + f". Written {e(datetime.now().isoformat(timespec='seconds'))} by fishseg "
        f"{e(__version__)}.</p>",
    ]
    links = [(n, out / n) for n in ("inputs.csv", "all_fish.csv", "length_frequency.csv",
                                    "hauls.csv", "hauls_by_species.csv")]
    parts.append("<p>Tables: " + ", ".join(
        f'<a href="{_href(p, out)}">{e(n)}</a>' for n, p in links if p.is_file()) + "</p>")
    charts = [out / n for n in ("all_lengths.png", "all_lengths_by_species.png",
                                "all_timeline.png")]
    parts += [f'<img class="chart" src="{_href(p, out)}" alt="{e(p.stem)}">'
              for p in charts if p.is_file()]
    hauls = _read_rows(out / "hauls.csv")
    if hauls:
        cols = list(hauls[0])
        parts.append("<h2>Hauls</h2><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols)
                     + "</tr>" + "".join("<tr>" + "".join(f"<td>{e(r.get(c, ''))}</td>"
                                                          for c in cols) + "</tr>"
                                         for r in hauls) + "</table>")
    parts.append(_inputs_table(rows, out))
    for r in rows:
        d = out / r["output"]
        if r.get("status") in ("done", "skipped") and (d / "summary.json").is_file():
            parts.append(_input_section(r, d, out))
    parts.append("</body></html>")
    path = out / PAGE
    with atomic_write(path) as f:
        f.write("\n".join(parts) + "\n")
    return path


def _duration(seconds: float) -> str:
    """``h:mm:ss`` of a number of seconds."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def write_fish_page(d: Path) -> Path | None:
    """``OUT/<name>/fish.html``: one row per fish of ``fish.csv`` with its picture, its
    measures and times, and a link that opens the overlay video where it was first seen
    (``overlay.mp4#t=SECONDS``, a media fragment browsers follow). None when the input
    has no ``fish.csv``."""
    rows = _read_rows(d / "fish.csv")
    if not (d / "fish.csv").is_file():
        return None
    e = html.escape
    cols = [c for c in ("track_id", "first_s", "last_s", "first_datetime", "frames_seen",
                        "partial", "length_px", "length_cm", "midline_px", "midline_cm", "width_px",
                        "width_cm")
            if rows and c in rows[0]]
    video = (d / "overlay.mp4").is_file()
    lines = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>fishseg: {e(d.name)}, every fish</title><style>{_STYLE}</style>"
             "</head><body>", f"<h1>{e(d.name)}: {len(rows)} fish</h1>",
             "<table><tr><th>picture</th>" + "".join(f"<th>{e(c)}</th>" for c in cols)
             + ("<th>overlay</th>" if video else "") + "</tr>"]
    for r in rows:
        pic = d / "fish" / crop_name(int(r["track_id"]))
        cell = (f'<a href="{quote(pic.relative_to(d).as_posix())}"><img loading="lazy" '
                f'height="96" src="{quote(pic.relative_to(d).as_posix())}" '
                f'alt="fish {e(r["track_id"])}"></a>' if pic.is_file() else "")
        link = ""
        if video and _is_number(r.get("first_s")):
            link = (f'<td><a href="overlay.mp4#t={float(r["first_s"]):.2f}">from '
                    f'{float(r["first_s"]):.1f} s</a></td>')
        lines.append(f"<tr><td>{cell}</td>" + "".join(
            f"<td>{e(r.get(c, ''))}</td>" for c in cols) + link + "</tr>")
    lines.append("</table></body></html>")
    path = d / "fish.html"
    with atomic_write(path) as f:
        f.write("\n".join(lines) + "\n")
    return path


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _inputs_table(rows: list[dict], out: Path) -> str:
    e = html.escape
    head = ["output", "input", "status", "recording start", "video (s)", "fish", "mean in view",
            "max in view", "model unsure (bits)", "model", "detail"]
    lines = ["<h2>Inputs</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for r in rows:
        d = out / r["output"]
        name = e(r["output"])
        if (d / "summary.json").is_file():
            name = f'<a href="#{quote(r["output"])}">{name}</a>'
        cells = [name, e(r.get("input", "")), e(r.get("status", "")),
                 e(r.get("recording_start", "")), e(r.get("video_s", "")),
                 e(r.get("distinct_fish", "")), e(r.get("mean_fish_in_view", "")),
                 e(r.get("max_fish_in_view", "")), e(r.get("uncertainty", "")),
                 e(r.get("model_checksum", "")), e(r.get("message", ""))]
        num = {4, 5, 6, 7, 8}
        cls = ' class="failed"' if r.get("status") == "failed" else ""
        lines.append(f"<tr{cls}>" + "".join(
            f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
            for i, c in enumerate(cells)) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _input_section(r: dict, d: Path, out: Path) -> str:
    e = html.escape
    s = read_summary(d) or {}
    lines = [f'<section id="{e(quote(r["output"]))}"><h2>{e(r["output"])}</h2>',
             f"<p>{e(str(s.get('input', r.get('input', ''))))}: {e(str(s.get('frames', '')))} "
             f"frames, <b>{e(str(s.get('distinct_fish', '')))} fish</b>"
             + (f", recording from {e(r['recording_start'])}" if r.get("recording_start")
                else "") + "</p>"]
    files = [d / n for n in ("fish.csv", "counts.csv", "instances.json", "summary.json")]
    lines.append("<p>" + ", ".join(f'<a href="{_href(p, out)}">{e(p.name)}</a>'
                                   for p in files if p.is_file()) + "</p>")
    lines += [f'<img class="chart" loading="lazy" src="{_href(p, out)}" alt="{e(p.stem)}">'
              for p in (d / "counts.png", d / "lengths.png") if p.is_file()]
    if (d / "overlay.mp4").is_file():
        lines.append(f'<p><video controls preload="none" width="960" '
                     f'src="{_href(d / "overlay.mp4", out)}"></video></p>')
    fish_page = d / "fish.html"  # written with the input's outputs (older ones: now)
    if not fish_page.is_file():
        fish_page = write_fish_page(d)
    if fish_page:
        lines.append(f'<p><a href="{_href(fish_page, out)}">Every fish of this input</a>: '
                     "its picture, measures, and a link to where it is in the overlay</p>")
    sheets = sorted((d / "fish").glob("sheet_*.jpg"))
    if sheets:
        lines.append("<p>Each fish at its best view (its id and length):</p>")
        lines += [f'<a href="{_href(p, out)}"><img class="sheet" loading="lazy" '
                  f'src="{_href(p, out)}" alt="{e(p.stem)}"></a>' for p in sheets]
    lines.append("</section>")
    return "\n".join(lines)
