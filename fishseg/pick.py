"""Frames picked from videos for annotation, with the model's fish as proposals.

A model trained on a user's own belt needs a few dozen annotated frames of it, and the
frames worth annotating are spread over the haul and over what the camera saw (light,
belt, load), not 40 neighbours of one minute. :func:`pick_frames` reads candidate frames
at a regular step through every input, describes each by a small Lab thumbnail, and
picks the frames nearest the centres of k-means clusters of those thumbnails plus each
frame's place in time (scikit-learn; one frame per cluster, so alike frames are picked
once and unusual ones are not missed, and a long stretch of alike frames still gives
several picks spread over it). The picked frames are written as lossless PNGs, and,
with a model, the fish it finds in them as editable polygons in a COCO file for an
annotation tool (CVAT, Label Studio) to import and correct:

    OUT/images/NAME.png      the picked frames (NAME = <input name>_<frame number>)
    OUT/proposals.json       COCO polygons of the model's fish (not a dataset: correct
                             them, export the corrected COCO, train on that); images
                             by their bare file name, as CVAT names the frames of a
                             task made from the image files
    OUT/frames.csv           name, input, frame, time_s, datetime, proposed_fish,
                             uncertainty (the model's, :func:`uncertainty`)
    OUT/picked.png           a contact sheet of the picked frames with the proposals

The proposals are deliberately not named ``annotations.json``: ``fishseg train --data
OUT`` must not train on a model's own uncorrected output by accident.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from fishseg.io.coco import CATEGORY, encode_instances
from fishseg.io.images import atomic_write, write_image
from fishseg.io.recording import clock_text, recording_start
from fishseg.io.sheets import contact_sheet
from fishseg.io.video import FrameReader, VideoError, probe
from fishseg.uncertainty import frame_uncertainty

#: Thumbnail size (width, height) a candidate frame is described by.
THUMB = (32, 18)


@dataclass(frozen=True)
class Candidate:
    """A frame read in the first pass.

    Attributes:
        unit: index of its input in the list of inputs.
        frame: frame number in its input (0-based).
        time_s: seconds from its input's first frame.
    """

    unit: int
    frame: int
    time_s: float


@dataclass
class PickResult:
    """What :func:`pick_frames` did.

    Attributes:
        picked: rows of ``frames.csv`` (dicts), in input and frame order.
        failed: ``(input, message)`` for every input that could not be read (the
            others were used); frames that failed to decode in a readable input are
            reported here too, with the input still used up to them.
        candidates: frames read and described in the first pass (less those excluded).
        out: the output folder.
        excluded: candidates left out as near an earlier pick (``exclude``).
    """

    picked: list[dict] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    candidates: int = 0
    out: Path | None = None
    excluded: int = 0


def describe(frame: np.ndarray) -> np.ndarray:
    """A frame's descriptor: its Lab thumbnail.

    Args:
        frame: (H, W, 3) uint8 RGB.

    Returns:
        (THUMB[0] * THUMB[1] * 3,) float32, Lab channels scaled to [0, 1].
    """
    small = cv2.resize(np.ascontiguousarray(frame), THUMB, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32).ravel() / 255.0


def uncertainty(fg: np.ndarray) -> float:
    """How unsure a model is of a frame (:func:`fishseg.uncertainty.frame_uncertainty`).

    Args:
        fg: (H, W) float32 foreground probabilities in [0, 1].
    """
    return float(frame_uncertainty(fg)[0])


def choose(descriptors: np.ndarray, places: np.ndarray, count: int, *, seed: int = 0,
           time_weight: float = 0.1, scores: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``count`` frames spread over appearance and time.

    Each candidate is a point: its descriptor reduced by PCA (at most 32 components, in
    units of the root-mean-square difference per thumbnail value, so a change of light
    by 25 of 255 Lab levels is about 0.1) and its place in time (0 to 1 over all
    inputs) times ``time_weight``. k-means (``count`` clusters, ``seed``) groups the
    points and the candidate nearest each centre is taken. Frames that look clearly
    different fall into clusters of their own wherever they lie in time; frames that
    look alike are cut into clusters along time, so their picks spread over it.

    Args:
        descriptors: (N, D) float32, one row per candidate (:func:`describe`).
        places: (N,) float64 in [0, 1]: where each candidate lies in the inputs taken
            end to end.
        count: frames wanted.
        seed: k-means seed (the same inputs and seed give the same picks).
        time_weight: what the whole span of time weighs, in the descriptor's units.
        scores: (N,) per candidate: take the highest-scoring candidate of each cluster
            instead of the one nearest its centre (the model's :func:`uncertainty`:
            frames spread as before, each the hardest of its kind for the model).

    Returns:
        (min(count, N),) int64 indices into the candidates, ascending (fewer when
        candidates coincide).
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    n = len(descriptors)
    if count >= n:
        return np.arange(n, dtype=np.int64)
    x = np.asarray(descriptors, np.float64)
    k = min(32, n - 1, x.shape[1])
    z = PCA(n_components=k, random_state=seed).fit_transform(x) / np.sqrt(x.shape[1])
    t = time_weight * np.asarray(places, np.float64)
    feats = np.concatenate([z, t[:, None]], axis=1)
    km = KMeans(n_clusters=count, n_init=4, random_state=seed).fit(feats)
    picked = []
    for c in range(count):
        members = np.flatnonzero(km.labels_ == c)
        if len(members) == 0:
            continue
        if scores is not None:
            picked.append(int(members[np.argmax(np.asarray(scores)[members])]))
            continue
        d = ((feats[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
        picked.append(int(members[np.argmin(d)]))
    return np.unique(np.asarray(picked, np.int64))


def _step_frames(units: Sequence[Path], wanted: int, every_s: float | None,
                 fps: float) -> tuple[list[int | None], list[tuple[str, str]]]:
    """The frame step of each input (None: unreadable) and the unreadable ones' errors."""
    infos, failed = [], []
    for u in units:
        try:
            infos.append(probe(u, fps=fps))
        except VideoError as e:
            infos.append(None)
            failed.append((str(u), str(e)))
    if every_s is not None:
        steps = [None if i is None else max(1, int(round(every_s * i.fps))) for i in infos]
        return steps, failed
    known = [i.frames for i in infos if i is not None and i.frames]
    total = sum(known)
    step = max(1, total // max(1, wanted)) if total else None
    steps = []
    for i in infos:
        if i is None:
            steps.append(None)
        elif step is not None:
            steps.append(step)
        else:  # no input says how long it is: one candidate a second
            steps.append(max(1, int(round(i.fps))))
    return steps, failed


def pick_frames(inputs: Iterable[str | Path], out: str | Path, *, count: int = 40,
                model=None, every_s: float | None = None, candidates_per_pick: int = 10,
                seed: int = 0, time_weight: float = 0.1, fps: float = 1.0,
                recording_start_given: str | None = "auto", overwrite: bool = False,
                deinterlace: bool = False, prefer: str = "spread",
                exclude: Sequence[str | Path] = (), exclude_s: float = 2.0,
                progress: bool = True) -> PickResult:
    """Pick frames to annotate from videos (and image folders), with proposals.

    Args:
        inputs: video files, image files and folders (as ``fishseg segment`` takes them;
            names as :func:`fishseg.pipeline.named_inputs` gives them).
        out: output folder (see the module doc for what is written).
        count: frames to pick (fewer when there are fewer candidates).
        model: a :class:`~fishseg.model.bundle.FishsegModel` whose fish become the
            proposals, or None for frames only.
        every_s: seconds between candidate frames (default: about
            ``count * candidates_per_pick`` candidates over all inputs).
        candidates_per_pick: candidates read per frame picked, when ``every_s`` is None.
        seed: seed of the choice.
        time_weight: what the whole span of time weighs against appearance (:func:`choose`).
        fps: frame rate of image sequences.
        recording_start_given: "auto" (names, containers), "none" or a date and time
            (one input only) for the ``datetime`` column.
        overwrite: replace picks already in ``out``.
        deinterlace: remove the combing of interlaced video before describing and
            writing the frames (:func:`fishseg.io.interlace.deinterlace`).
        prefer: ``"spread"``: of each cluster the frame nearest its centre; or
            ``"uncertain"``: the frame the model is least sure of (:func:`uncertainty`;
            runs the model on every candidate: about 10x the model's work), so that the
            annotations go where the model needs them (needs ``model``).
        exclude: folders (or their ``frames.csv``) of earlier picks: frames within
            ``exclude_s`` seconds of one picked there (same input name) are not picked
            again, so a second round of annotation gets new frames.
        exclude_s: seconds around an earlier pick left out.
        progress: tqdm bars.

    Returns:
        :class:`PickResult`.

    Raises:
        FileExistsError: ``out`` already holds picked frames (``frames.csv``) and
            ``overwrite`` is False.
        ValueError: ``count`` < 1, ``prefer`` unknown or "uncertain" without a model, or
            no input could be read (each named).
    """
    from fishseg.pipeline import named_inputs

    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if prefer not in ("spread", "uncertain"):
        raise ValueError(f"prefer must be 'spread' or 'uncertain', got {prefer!r}")
    if prefer == "uncertain" and model is None:
        raise ValueError("picking the frames the model is least sure of needs a model "
                         "(leave out --no-proposals)")
    out = Path(out)
    table = out / "frames.csv"
    if table.exists() and not overwrite:
        raise FileExistsError(f"{out}: already holds picked frames ({table.name}); pick "
                              "into another folder, or pass --overwrite to replace them")
    named, errors = named_inputs(inputs, exclude=out)
    result = PickResult(failed=list(errors), out=out)
    units = [u for u, _ in named]
    names = [n for _, n in named]
    steps, unreadable = _step_frames(units, count * candidates_per_pick, every_s, fps)
    result.failed += unreadable
    before = _picked_names(table) if overwrite else set()
    earlier = _earlier_picks(exclude) if exclude else {}  # read first: fail before decoding

    # pass 1: describe the candidates
    cands: list[Candidate] = []
    descs: list[np.ndarray] = []
    unsure: list[float] = []
    lengths = [0.0] * len(units)
    bar = tqdm(total=None, desc="reading candidates", unit="frame", disable=not progress)
    for k, (unit, step) in enumerate(zip(units, steps)):
        if step is None:
            continue
        try:
            with FrameReader(unit, batch_size=8, step=step, fps=fps, on_error="skip",
                             timestamps=True, deinterlace=deinterlace) as reader:
                for idx, ts, frames in reader:
                    if prefer == "uncertain":
                        unsure += frame_uncertainty(model.predict_maps(frames)[0]).tolist()
                    for i, t, f in zip(idx, ts, frames):
                        cands.append(Candidate(k, int(i), float(t)))
                        descs.append(describe(f))
                        lengths[k] = max(lengths[k], float(t))
                    bar.update(len(idx))
                result.failed += [(str(unit), e.message) for e in reader.errors]
        except VideoError as e:
            result.failed.append((str(unit), str(e)))
    bar.close()
    if earlier:
        keep = [j for j, c in enumerate(cands) if not any(
            abs(c.time_s - t) < exclude_s for t in earlier.get(names[c.unit], ()))]
        result.excluded = len(cands) - len(keep)
        cands = [cands[j] for j in keep]
        descs = [descs[j] for j in keep]
        unsure = [unsure[j] for j in keep] if unsure else unsure
    result.candidates = len(cands)
    if not cands and result.excluded:
        raise ValueError(f"all {result.excluded} frames read lie within {exclude_s:g} s of an "
                         "earlier pick (--exclude): nothing new to pick from these inputs")
    if not cands:
        raise ValueError("no frame could be read from the inputs: " + "; ".join(
            m for _, m in result.failed) if result.failed else "no inputs given")

    # the choice: appearance and place in time, over the inputs end to end
    offsets = np.cumsum([0.0] + [v + 1.0 for v in lengths[:-1]])
    span = offsets[-1] + lengths[-1] + 1e-9
    places = np.array([(offsets[c.unit] + c.time_s) / span for c in cands])
    chosen = [cands[i] for i in choose(np.stack(descs), places, count, seed=seed,
                                       time_weight=time_weight,
                                       scores=np.array(unsure) if unsure else None)]
    del descs

    # pass 2: the chosen frames again, written with their proposals
    coco_images, coco_anns, thumbs, captions = [], [], [], []
    bar = tqdm(total=len(chosen), desc="writing picked frames", unit="frame",
               disable=not progress)
    for k in sorted({c.unit for c in chosen}):
        want = {c.frame: c for c in chosen if c.unit == k}
        start = recording_start(units[k], recording_start_given)
        try:
            with FrameReader(units[k], batch_size=8, start=min(want), step=steps[k],
                             stop=max(want) + 1, fps=fps, on_error="skip",
                             timestamps=True, deinterlace=deinterlace) as reader:
                for idx, ts, frames in reader:
                    keep = [j for j, i in enumerate(idx) if int(i) in want]
                    if not keep:
                        continue
                    batch = frames[keep]
                    labels = np.zeros(batch.shape[:3], np.int32)
                    unsure_of = [""] * len(batch)
                    if model is not None:
                        from fishseg.separate import separate

                        fg, boundary = model.separation_maps(batch)
                        labels = np.asarray(separate(fg, boundary, model.cfg.separate))
                        unsure_of = [round(u, 4) for u in frame_uncertainty(fg).tolist()]
                    for j, frame, lab, u in zip(keep, batch, labels, unsure_of):
                        i, t = int(idx[j]), float(ts[j])
                        name = f"{names[k]}_{i:06d}"
                        write_image(out / "images" / f"{name}.png", frame)
                        image_id = len(coco_images) + 1
                        h, w = lab.shape
                        coco_images.append({"id": image_id, "file_name": f"{name}.png",
                                            "width": int(w), "height": int(h)})
                        anns = encode_instances(lab, polygons=True) if model is not None else []
                        for a in anns:
                            coco_anns.append({"id": len(coco_anns) + 1, "image_id": image_id,
                                              **a})
                        result.picked.append({
                            "name": name, "input": str(units[k]), "frame": i,
                            "time_s": round(t, 3),
                            "datetime": clock_text(start.time, t) if start else "",
                            "proposed_fish": len(anns) if model is not None else "",
                            "uncertainty": u})
                        thumbs.append(_thumbnail(frame, lab))
                        captions.append(name)
                        bar.update(1)
        except VideoError as e:
            result.failed.append((str(units[k]), str(e)))
    bar.close()
    if not result.picked:
        raise ValueError("none of the picked frames could be read again: " + "; ".join(
            m for _, m in result.failed))
    if model is None:
        (out / "proposals.json").unlink(missing_ok=True)  # an earlier run's, now stale
    else:
        doc = {"info": {"description": "fish proposed by fishseg (model "
                        f"{model.checksum[:12]}): correct them before training on them"},
               "licenses": [], "categories": [CATEGORY], "images": coco_images,
               "annotations": coco_anns}
        atomic_write(out / "proposals.json", json.dumps(doc).encode("utf-8"))
    write_image(out / "picked.png", contact_sheet(thumbs, captions))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(result.picked[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.picked)
    atomic_write(table, buf.getvalue().encode("utf-8"))  # last: marks the picks complete
    for name in before - {r["name"] for r in result.picked}:  # replaced picks
        (out / "images" / f"{name}.png").unlink(missing_ok=True)
    return result


def _earlier_picks(exclude: Sequence[str | Path]) -> dict[str, list[float]]:
    """Input name -> times (s) of the frames picked in earlier pick folders.

    Raises:
        FileNotFoundError: a folder without ``frames.csv`` (named).
    """
    out: dict[str, list[float]] = {}
    for e in exclude:
        table = Path(e) / "frames.csv" if Path(e).is_dir() else Path(e)
        if not table.is_file():
            raise FileNotFoundError(f"{e}: no frames.csv of an earlier `fishseg pick` there")
        with open(table, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                unit = r["name"].rsplit("_", 1)[0]
                out.setdefault(unit, []).append(float(r["time_s"]))
    return out


def _picked_names(table: Path) -> set[str]:
    """Names listed in an earlier run's ``frames.csv`` (empty if there is none)."""
    if not table.is_file():
        return set()
    with open(table, newline="") as f:
        return {row["name"] for row in csv.DictReader(f) if row.get("name")}


def _thumbnail(frame: np.ndarray, labels: np.ndarray, width: int = 240) -> np.ndarray:
    """A small copy of a frame with its proposals drawn, for the contact sheet."""
    from fishseg.io.export import draw_overlay

    img = draw_overlay(frame, labels) if labels.any() else frame
    h, w = img.shape[:2]
    return cv2.resize(np.ascontiguousarray(img), (width, max(1, round(h * width / w))),
                      interpolation=cv2.INTER_AREA)


def picks_summary(result: PickResult) -> str:
    """Lines to print after :func:`pick_frames`."""
    out = result.out
    lines = [f"picked {len(result.picked)} frames of {result.candidates} read, in "
             f"{out / 'images'}" + (f" ({result.excluded} left out as near an earlier pick)"
                                    if result.excluded else "")]
    if (out / "proposals.json").exists() and any(
            r["proposed_fish"] != "" for r in result.picked):
        fish = sum(int(r["proposed_fish"]) for r in result.picked)
        lines.append(f"proposed fish: {fish}, in {out / 'proposals.json'} (import it with "
                     "the images into CVAT or Label Studio as COCO, correct it, export COCO "
                     "and train on that export)")
    lines.append(f"contact sheet: {out / 'picked.png'}; list: {out / 'frames.csv'}")
    for where, msg in result.failed:
        lines.append(f"failed: {where}: {msg}" if where not in msg else f"failed: {msg}")
    return "\n".join(lines)


__all__ = ["Candidate", "PickResult", "choose", "describe", "pick_frames", "picks_summary",
           "THUMB", "uncertainty"]
