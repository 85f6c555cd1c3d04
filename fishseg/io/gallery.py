"""A picture of every counted fish: its best view, cut from the frames as they are written.

An observer identifies species, checks a count or an odd length by looking at the fish,
not at an hour of overlay video. :class:`FishGallery` keeps, for each fish id, the crop
of the frame where the fish is seen largest, preferring views not cut by the frame edge
(a view touching the edge scores a quarter of its area), with the fish's outline drawn
in its track colour (the fish meant, in a pile), and writes:

    OUT/<name>/fish/NNNNNN.jpg        one per counted fish, NNNNNN = its id in the
                                      masks, fish.csv and the overlay
    OUT/<name>/fish/sheet_NNN.jpg     contact sheets of 100 fish each: id and length
    OUT/<name>/fish/features.csv      what each fish looks like at that view (colour,
                                      texture, shape: :func:`fishseg.species.fish_features`),
                                      for species proposals

Memory stays bounded: a fish not seen for ``flush_after`` frames has its crop written
and dropped (a later, better view of it, after a long gap, replaces the file), and a
segment checkpoint writes all crops and keeps only each fish's best score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi

from fishseg.io.images import atomic_write
from fishseg.io.sheets import contact_sheet, fit_tile
from fishseg.species import FEATURES, fish_features

#: Fish per contact sheet (10 x 10).
PER_SHEET = 100
#: Tile size of a contact sheet, pixels.
TILE = 160


def crop_name(fish_id: int) -> str:
    """File name of a fish's picture: ``000012.jpg``."""
    return f"{int(fish_id):06d}.jpg"


def _jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise ValueError("could not encode a fish picture as JPEG")
    return buf.tobytes()


class FishGallery:
    """Best view of each fish id, kept as frames are added.

    Args:
        folder: where the pictures go (``OUT/<name>/fish``; created on the first write).
        flush_after: frames after which a fish not seen again is written to disk.
        edge_margin: a view within this many pixels of the frame edge is cut by it.
        scores: best scores of fish already written (a resumed run's
            :meth:`get_state`).
        features: their features (the same state).
    """

    def __init__(self, folder: str | Path, *, flush_after: int = 10, edge_margin: int = 2,
                 scores: Mapping[int, float] | None = None,
                 features: Mapping[int, np.ndarray] | None = None):
        self.folder = Path(folder)
        self.flush_after = int(flush_after)
        self.edge_margin = int(edge_margin)
        self.scores: dict[int, float] = {int(k): float(v) for k, v in (scores or {}).items()}
        #: id -> :func:`fishseg.species.fish_features` of its best view
        self.features: dict[int, np.ndarray] = {int(k): np.asarray(v, np.float32)
                                                for k, v in (features or {}).items()}
        self._pending: dict[int, tuple[int, bytes]] = {}  # id -> (last seen, JPEG)

    def add(self, frame_index: int, frame: np.ndarray, labels: np.ndarray) -> None:
        """Consider every fish of one frame.

        Args:
            frame_index: the frame's number (frames come in increasing order).
            frame: (H, W, 3) uint8 RGB.
            labels: (H, W) integer fish ids, 0 = belt.
        """
        from fishseg.io.export import track_colours

        lab = np.asarray(labels)
        H, W = lab.shape
        m = self.edge_margin
        boxes = ndi.find_objects(lab)
        for k, box in enumerate(boxes, start=1):
            if box is None:
                continue
            ys, xs = box
            inside = lab[box] == k
            area = float(inside.sum())
            cut = (ys.start <= m or xs.start <= m or ys.stop >= H - m or xs.stop >= W - m)
            score = area * (0.25 if cut else 1.0)
            seen = self._pending.get(k)
            if seen is not None:
                self._pending[k] = (frame_index, seen[1])
            if score <= self.scores.get(k, -1.0):
                continue
            self.scores[k] = score
            h, w = ys.stop - ys.start, xs.stop - xs.start
            pad = max(8, int(0.15 * max(h, w)))
            y0, y1 = max(0, ys.start - pad), min(H, ys.stop + pad)
            x0, x1 = max(0, xs.start - pad), min(W, xs.stop + pad)
            crop = np.array(frame[y0:y1, x0:x1], np.uint8)
            mask = (lab[y0:y1, x0:x1] == k).astype(np.uint8)
            self.features[k] = fish_features(crop, mask.astype(bool))
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            colour = tuple(int(c) for c in track_colours([k])[0])
            cv2.drawContours(crop, contours, -1, colour, max(1, round(max(h, w) / 150)))
            self._pending[k] = (frame_index, _jpeg(crop))
        for k in [k for k, (last, _) in self._pending.items()
                  if frame_index - last > self.flush_after]:
            self._write(k)

    def _write(self, k: int) -> None:
        _, data = self._pending.pop(k)
        atomic_write(self.folder / crop_name(k), data)

    def flush(self) -> None:
        """Write every picture still held in memory."""
        for k in list(self._pending):
            self._write(k)

    def get_state(self) -> dict[str, np.ndarray]:
        """Write the pictures held, and return the best scores for a resumed run.

        Returns:
            ``{"ids": (N,) int64, "scores": (N,) float64, "features": (N, F) float32}``.
        """
        self.flush()
        ids = np.array(sorted(self.scores), np.int64)
        feats = np.array([self.features[i] for i in ids.tolist()], np.float32).reshape(
            len(ids), len(FEATURES))
        return {"ids": ids, "scores": np.array([self.scores[i] for i in ids], np.float64),
                "features": feats}

    def finish(self, fish: Sequence[Mapping], *, cm: bool = False) -> list[Path]:
        """Write the last pictures and the contact sheets.

        Args:
            fish: rows of fish.csv (``track_id``, ``length_px`` / ``length_cm``), in the
                order the sheets show them.
            cm: caption lengths in cm (``length_cm``) rather than pixels.

        Returns:
            the contact sheets written.
        """
        self.flush()
        ids = sorted(int(r["track_id"]) for r in fish if int(r["track_id"]) in self.features)
        if ids:
            text = ",".join(("track_id",) + FEATURES) + "\n" + "".join(
                f"{i}," + ",".join(f"{v:.5g}" for v in self.features[i]) + "\n" for i in ids)
            atomic_write(self.folder / "features.csv", text.encode("utf-8"))
        sheets: list[Path] = []
        tiles: list[np.ndarray] = []
        captions: list[str] = []

        def sheet():  # one page at a time: 10000 fish would be 770 MB of tiles at once
            path = self.folder / f"sheet_{len(sheets) + 1:03d}.jpg"
            atomic_write(path, _jpeg(contact_sheet(tiles, captions, columns=10)))
            sheets.append(path)
            tiles.clear()
            captions.clear()

        for r in fish:
            p = self.folder / crop_name(int(r["track_id"]))
            img = cv2.imread(str(p)) if p.is_file() else None
            if img is None:
                continue
            tiles.append(fit_tile(img[:, :, ::-1], TILE))
            length = r.get("length_cm") if cm else r.get("length_px")
            unit = "cm" if cm else "px"
            captions.append(f"#{int(r['track_id'])}" + (
                f"  {float(length):.1f} {unit}" if length not in (None, "") else ""))
            if len(tiles) == PER_SHEET:
                sheet()
        if tiles:
            sheet()
        return sheets
