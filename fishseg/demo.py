"""``fishseg demo``: the main job, end to end, on a generated video and the bundled model.

It writes a short synthetic discard-belt video (whose true masks are known), segments it
with the bundled default model exactly as ``fishseg segment`` would, prints the summary,
compares the counts with the truth, and says where the overlay video is.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from fishseg.config import SynthConfig


def _true_counts(masks_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(sure, possible) true fish per frame (:func:`fishseg.metrics.true_count_range`)."""
    from fishseg.io.images import read_label_folder
    from fishseg.metrics import true_count_range

    return true_count_range(read_label_folder(masks_dir))


def run_demo(out: str | Path = "fishseg-demo", *, frames: int = 60, seed: int = 2026,
             width: int = 1280, height: int = 720, progress: bool = True,
             model: str | Path | None = None) -> dict:
    """Generate a belt video, segment it with the bundled model (or ``model``), report.

    Args:
        out: output folder (``out/input`` holds the generated video and its true masks,
            ``out/segmented/video`` the results).
        frames: frames to generate.
        seed: seed of the generated video.
        width: frame width of the generated video.
        height: frame height.
        progress: show progress bars.
        model: a model bundle or a bundled model's name (None: the bundled default), to
            see one's own model on the same video.

    Returns:
        the summary of the segmented video, plus ``true_distinct_fish``, ``count_mae``
        (per-frame count error against the true masks) and the tracking scores
        ``mota``, ``idf1``, ``id_switches`` (:mod:`fishseg.track_metrics`).
    """
    from fishseg.metrics import count_scores
    from fishseg.model.bundle import load_model
    from fishseg.pipeline import segment_video
    from fishseg.synth import synthesize
    from fishseg.track_metrics import score_outputs

    out = Path(out)
    src = out / "input"
    if not (src / "meta.json").is_file():
        print(f"generating a {frames}-frame discard-belt video in {src} ...")
        synthesize(src, frames=frames, seed=seed, cfg=SynthConfig(width=width, height=height),
                   progress=progress)
    meta = json.loads((src / "meta.json").read_text())
    which = "the bundled model" if model is None else str(model)
    model = load_model(model)
    print(f"segmenting {src / 'video.mp4'} with {which} "
          f"({model.meta.get('name', 'default')}) ...")
    dest = out / "segmented" / "video"
    summary = segment_video(src / "video.mp4", dest, model=model, overwrite=True,
                            progress=progress)
    with open(dest / "counts.csv", newline="", encoding="utf-8") as f:
        counts = [int(r["fish_in_view"]) for r in csv.DictReader(f)]
    sure, possible = _true_counts(src / "masks")
    n = min(len(counts), len(sure))
    err = count_scores(sure[:n], counts[:n], true_max=possible[:n])
    strict = count_scores(possible[:n], counts[:n])
    tracks = score_outputs(src / "masks", dest)
    summary = {**summary, "true_distinct_fish": meta.get("fish_count"),
               "count_mae": round(err["mae"], 3),
               "count_mae_all_slivers": round(strict["mae"], 3),
               "relative_count_error": round(err["relative_error"], 4),
               "mota": round(tracks["mota"], 4), "idf1": round(tracks["idf1"], 4),
               "id_switches": tracks["id_switches"]}
    print(f"frames: {summary['frames']}  distinct fish: {summary['distinct_fish']} "
          f"(true: {summary['true_distinct_fish']})  fish in view per frame: mean "
          f"{np.mean(counts):.1f} (true {np.mean(sure):.1f}-{np.mean(possible):.1f}), count MAE "
          f"{err['mae']:.2f} ({strict['mae']:.2f} counting every visible sliver)")
    print(f"tracks against the truth (mask IoU >= 0.5): MOTA {tracks['mota']:.3f}, IDF1 "
          f"{tracks['idf1']:.3f}, id switches {tracks['id_switches']} (fishseg score-tracks)")
    if summary.get("tracks_off_belt"):
        print(f"not counted: {summary['tracks_off_belt']} track(s) that did not ride the belt "
              "(a glove, a tool, a fixture; track.off_belt_share)")
    print(f"seconds: {summary['seconds']}  stages: {summary.get('stage_seconds')}")
    print(f"outputs: {dest}/ (masks/, instances.json, counts.csv, fish.csv, summary.json)")
    print(f"overlay for review: {dest / 'overlay.mp4'}")
    print(f"charts: {dest / 'counts.png'}, {dest / 'lengths.png'}")
    page = dest / "fish.html"
    print(f"each fish's best view: {dest / 'fish'}/ (contact sheet: "
          f"{dest / 'fish' / 'sheet_001.jpg'}; with links into the overlay: {page})")
    return summary
