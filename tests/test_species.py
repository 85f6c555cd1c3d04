"""Species proposals learnt from the fish an observer named (fishseg.species)."""

import csv
import json
from collections import Counter

import cv2
import numpy as np

from fishseg.cli import main
from fishseg.io.images import read_labels
from fishseg.species import FEATURES, fish_features, propose


def test_features_of_known_shapes_and_colours():
    crop = np.zeros((30, 60, 3), np.uint8)
    crop[:] = (200, 120, 40)
    mask = np.zeros((30, 60), bool)
    mask[10:20, 10:50] = True                      # a 40 x 10 rectangle of one colour
    f = dict(zip(FEATURES, fish_features(crop, mask)))
    lab = cv2.cvtColor(crop[:1, :1], cv2.COLOR_RGB2LAB)[0, 0].astype(float)
    np.testing.assert_allclose([f["L_mean"], f["a_mean"], f["b_mean"]], lab, atol=1e-3)
    assert f["L_std"] == f["a_std"] == f["b_std"] == 0 and f["texture"] == 0
    np.testing.assert_allclose([f["dark_L"], f["light_L"]], [lab[0], lab[0]], atol=1e-3)
    assert abs(f["aspect"] - np.sqrt((40**2 - 1) / (10**2 - 1))) < 1e-3   # axes' ratio
    assert 0.9 < f["solidity"] <= 1.0 and f["area_px"] == 400
    ring = mask.copy()
    ring[12:18, 12:48] = False                     # a hollow outline: far from convex
    assert dict(zip(FEATURES, fish_features(crop, ring)))["solidity"] < 0.5


def test_two_clear_species_are_proposed_right_and_too_few_names_say_why():
    rng = np.random.default_rng(0)
    rows, feats = [], {}
    for i in range(40):
        kind = "plaice" if i % 2 else "whiting"
        v = rng.normal(0, 1, len(FEATURES)) + (6 if kind == "plaice" else -6)
        rows.append({"output": "a", "track_id": str(i + 1), "species": kind if i < 20 else ""})
        feats[("a", i + 1)] = v.astype(np.float32)
    props, note = propose(rows, feats)
    assert sorted(props) == list(range(20, 40))
    assert all(props[i][0] == ("plaice" if i % 2 else "whiting") and props[i][1] > 0.8
               for i in props)
    assert "species proposed for 20 fish from 20 named (2 species" in note
    few = [dict(r, species="plaice" if r["species"] else "") for r in rows]   # one species
    props, note = propose(few, feats)
    assert props == {} and "name at least 3 fish of each of 2 species" in note


def test_report_proposes_species_for_fish_of_a_belt_video(tmp_path, capsys):
    """Half of the fish of a generated video named by their true look (palette), the
    rest proposed: right more often than always guessing the commonest."""
    v, out = tmp_path / "v", tmp_path / "out"
    assert main(["-q", "synth", str(v), "--frames", "120", "--seed", "11", "--width", "640",
                 "--height", "360"]) == 0
    assert main(["-q", "segment", str(v / "video.mp4"), "--out", str(out), "--model", "fast",
                 "--no-overlay"]) == 0
    kinds = json.loads((v / "meta.json").read_text())["fish_kinds"]
    votes: dict = {}                                   # found fish -> true fish, by overlap
    for p in sorted((out / "video" / "masks").glob("*.png")):
        f, t = read_labels(p), read_labels(v / "masks" / p.name)
        both = (f > 0) & (t > 0)
        for a, b in zip(f[both].tolist(), t[both].tolist()):
            votes.setdefault(a, Counter())[b] += 1
    truth = {a: kinds[str(c.most_common(1)[0][0])] for a, c in votes.items()}
    assert (out / "video" / "fish" / "features.csv").is_file()
    with open(out / "all_fish.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    look = {int(r["track_id"]): truth.get(int(r["track_id"]), "not a fish") for r in rows}
    with open(out / "all_fish.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["species"])
        w.writeheader()
        for k, r in enumerate(rows):
            w.writerow({**r, "species": look[int(r["track_id"])] if k % 2 == 0 else ""})
    assert main(["-q", "report", str(out)]) == 0
    assert "species proposed for" in capsys.readouterr().out
    with open(out / "all_fish.csv", newline="") as f:
        again = list(csv.DictReader(f))
    named = Counter(look[int(r["track_id"])] for r in again if r["species"])
    learnt = {n for n, c in named.items() if c >= 3}
    held = [r for r in again if not r["species"] and look[int(r["track_id"])] in learnt]
    assert len(held) >= 15 and all(r["species_proposed"] for r in held)
    right = np.mean([r["species_proposed"] == look[int(r["track_id"])] for r in held])
    commonest = Counter(look[int(r["track_id"])] for r in held).most_common(1)[0][1] / len(held)
    assert right >= commonest + 0.15, (right, commonest)
    assert all(0 < float(r["species_p"]) <= 1 for r in held)
    assert all(r["species_proposed"] == "" for r in again if r["species"])   # named: kept
