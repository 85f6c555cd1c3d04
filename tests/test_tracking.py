"""Tracker: synthetic belts of drawn ellipses moving with a known velocity."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fishseg.config import TrackConfig
from fishseg.tracking import Tracker

H, W = 96, 160

# name: (lane y, start x, semi-axes (a, b), angle in degrees)
FISH = {
    "A": (25, 20, (14, 6), 10),
    "B": (48, -10, (16, 7), -15),   # enters from the left
    "C": (70, 60, (12, 5), 0),      # hidden in frames 8 and 9
    "D": (2, 40, (15, 6), 5),       # slides along the top edge: never whole
    "E": (70, -60, (13, 6), 20),    # enters later, behind C
    "F": (25, -85, (10, 5), -5),    # enters later, behind A
}
HIDDEN = {"C": (8, 9)}


def scene(n_frames, velocity, *, hidden=HIDDEN, shuffle_seed=None):
    """Label images (n,H,W) int32 with shuffled arbitrary ids, and the true fish per id."""
    rng = np.random.default_rng(shuffle_seed)
    frames, truth = [], []
    for t in range(n_frames):
        lab = np.zeros((H, W), np.int32)
        ids = rng.permutation(np.arange(1, 500))[: len(FISH)] if shuffle_seed is not None \
            else np.arange(1, len(FISH) + 1)
        who = {}
        for k, (name, (y, x, axes, ang)) in enumerate(FISH.items()):
            if t in hidden.get(name, ()):
                continue
            c = (int(round(x + velocity[1] * t)), int(round(y + velocity[0] * t)))
            before = (lab > 0).sum()
            cv2.ellipse(lab, c, axes, ang, 0, 360, int(ids[k]), -1)
            if (lab > 0).sum() > before:
                who[int(ids[k])] = name
        frames.append(lab)
        truth.append(who)
    return frames, truth


def run(frames, cfg=None):
    tr = Tracker(cfg or TrackConfig(max_gap=2))
    return tr, [tr.update(lab, t) for t, lab in enumerate(frames)]


def name_to_track(frames, truth, outs):
    """Map true fish -> the set of track ids it received."""
    got: dict[str, set] = {}
    for lab, who, out in zip(frames, truth, outs, strict=True):
        for i, name in who.items():
            ids = np.unique(out[lab == i])
            assert len(ids) == 1 and ids[0] > 0, "an instance maps to exactly one track"
            got.setdefault(name, set()).add(int(ids[0]))
    return got


@pytest.mark.parametrize("velocity", [(0.4, 7.0), (0.0, 13.0), (-0.6, 4.0)])
def test_ids_stable_and_count_exact(velocity):
    frames, truth = scene(24, velocity, shuffle_seed=1)
    tr, outs = run(frames)
    got = name_to_track(frames, truth, outs)
    seen = set().union(*[set(w.values()) for w in truth])
    assert set(got) == seen
    assert all(len(v) == 1 for v in got.values()), got
    ids = [next(iter(v)) for v in got.values()]
    assert len(set(ids)) == len(ids)
    assert tr.distinct_count == len(seen)
    assert np.allclose(tr.motion, velocity, atol=0.75)


def test_shuffled_ids_give_identical_tracks():
    a, _ = scene(20, (0.4, 7.0))
    b, _ = scene(20, (0.4, 7.0), shuffle_seed=7)
    _, out_a = run(a)
    _, out_b = run(b)
    for x, y in zip(out_a, out_b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_gap_bridged_and_records():
    frames, truth = scene(24, (0.0, 7.0))
    tr, outs = run(frames)
    got = name_to_track(frames, truth, outs)
    c = tr.tracks[next(iter(got["C"]))]
    seen_c = [t for t, w in enumerate(truth) if "C" in w.values()]
    assert c.frames == seen_c and 8 not in c.frames and 9 not in c.frames
    assert c.frames_seen == len(seen_c)
    assert c.first_frame == seen_c[0] and c.last_frame == seen_c[-1]
    assert len(c.areas) == len(c.lengths) == len(c.widths) == c.frames_seen
    # partial: only D (cut by the top edge in every frame) was never seen whole
    partial = {name: tr.tracks[next(iter(ids))].partial for name, ids in got.items()}
    assert partial == {name: name == "D" for name in got}
    assert tr.tracks[next(iter(got["B"]))].edge[0]  # B entered through the edge
    # a whole fish's summary measures it whole: C is an ellipse with semi-axes 12, 5
    s = c.summary(cm_per_pixel=0.5)
    assert abs(s["length_px"] - 25) <= 1 and abs(s["width_px"] - 11) <= 1
    assert s["length_cm"] == pytest.approx(s["length_px"] * 0.5)


def test_gap_longer_than_max_gap_starts_a_new_track():
    frames, truth = scene(24, (0.0, 7.0))
    tr, outs = run(frames, TrackConfig(max_gap=1))
    got = name_to_track(frames, truth, outs)
    assert len(got["C"]) == 2
    assert tr.distinct_count == len(got) + 1


def test_empty_frames_and_shape_check():
    tr = Tracker()
    out = tr.update(np.zeros((H, W), np.int32), 0)
    assert out.dtype == np.int32 and not out.any() and tr.distinct_count == 0
    with pytest.raises(ValueError, match="frame 1"):
        tr.update(np.zeros((H + 1, W), np.int32), 1)


def test_short_lived_tracks_are_not_distinct_fish():
    from fishseg.config import TrackConfig
    from fishseg.tracking import Tracker

    tr = Tracker(TrackConfig(min_frames=3))
    for i in range(5):
        lab = np.zeros((40, 60), np.int32)
        lab[10:20, 5 + 2 * i:20 + 2 * i] = 1          # a fish riding the belt
        if i == 2:
            lab[30:35, 40:45] = 2                     # a one-frame blip
        tr.update(lab, i)
    assert len(tr.tracks) == 2 and tr.distinct_count == 1
    assert Tracker(TrackConfig(min_frames=1)).distinct_count == 0


def _with_extras(frames, extras):
    """Frames with extra ellipses drawn over them: name -> (centre(t) -> (x, y), axes)."""
    out = []
    for t, lab in enumerate(frames):
        lab = lab.copy()
        for k, (centre, axes) in enumerate(extras.values()):
            cv2.ellipse(lab, centre(t), axes, 0, 0, 360, 900 + k, -1)
        out.append(lab)
    return out


def test_objects_not_riding_the_belt_are_not_counted():
    """A glove hovering over the belt and a hand pushing against it are not fish: their
    steps differ from the belt's travel, so they are tracked but not counted."""
    frames, truth = scene(24, (0.4, 7.0))
    extras = {"glove": (lambda t: (120, 52), (9, 8)),           # still in the view
              "hand": (lambda t: (150 - 2 * t, 88), (14, 6))}   # against the belt
    frames = _with_extras(frames, extras)
    fish = set().union(*[set(w.values()) for w in truth])
    tr, outs = run(frames)
    off = {int(outs[12][frames[12] == 900 + k][0]) for k in range(2)}
    assert all(tr.rides_belt(tr.tracks[i]) is False for i in off)
    assert not any(tr.counts(tr.tracks[i]) for i in off)
    assert tr.distinct_count == len(fish) and tr.off_belt_count == 2
    assert np.allclose(tr.motion, (0.4, 7.0), atol=0.75)  # the belt, not the glove
    on = [t for t in tr.tracks.values() if t.id not in off and t.frames_seen >= 3]
    assert all(tr.rides_belt(t) in (True, None) for t in on)
    for i in off:  # every step of their first D updates voted against the belt
        t = tr.tracks[i]
        first = t.belt[:tr.decision_delay + 1]  # seen in every update from the first
        assert first.count(-1) >= 2 and 1 not in first, first
    assert all(t.belt.count(-1) == 0 for t in on)  # a fish riding the belt: never against
    # the test switched off: both counted (and, voting on the belt's motion with few
    # whole fish in view, they drag it off: a fish's track breaks at its gap)
    tr0, outs0 = run(frames, TrackConfig(max_gap=2, off_belt_share=1))
    assert all(tr0.counts(tr0.tracks[int(outs0[12][frames[12] == 900 + k][0])]) for k in range(2))
    assert tr0.distinct_count == len(fish) + 3

    # the counted outputs never hold them
    from fishseg.counted import CountedTracks

    tr2 = Tracker(TrackConfig(max_gap=2))
    release = CountedTracks(tr2)
    released = []
    for t, lab in enumerate(frames):
        released += release.push(t, tr2.update(lab, t))
    released += release.flush()
    assert len(released) == len(frames)
    for i, out, _ in released:
        assert not out[frames[i] >= 900].any()
    assert len(release.tracks()) == tr2.distinct_count == len(fish)


def test_a_stopped_belt_or_a_fish_always_cut_by_the_edge_gives_no_evidence():
    frames, truth = scene(16, (0.0, 0.0), hidden={})
    frames = _with_extras(frames, {"glove": (lambda t: (120, 52), (9, 8))})
    tr, outs = run(frames)
    assert all(tr.rides_belt(t) is None for t in tr.tracks.values())
    assert tr.distinct_count == len(tr.tracks) == 5  # A, B, C, D and the glove: all count
    frames, truth = scene(24, (0.4, 7.0))
    tr, outs = run(frames)
    d = next(i for i, n in truth[5].items() if n == "D")     # slides along the top edge
    assert tr.rides_belt(tr.tracks[int(outs[5][frames[5] == d][0])]) is None


def test_state_saved_to_disk_and_restored_continues_exactly(tmp_path):
    """A tracker rebuilt from a checkpoint (fishseg.checkpoint) in the middle of a scene
    gives the same labels and records as one that ran through."""
    from fishseg import checkpoint
    from fishseg.calibration import BeltPlane

    frames, _ = scene(16, (0.4, 7.0))
    plane = BeltPlane([[0, 0, 0, 0], [W, 0, 30, 0], [W - 30, H, 25, 20], [30, H, 5, 20]])
    cfg = TrackConfig(max_gap=2)
    whole = Tracker(cfg, plane=plane)
    want = [whole.update(lab, t) for t, lab in enumerate(frames)]
    first = Tracker(cfg, plane=plane)
    for t, lab in enumerate(frames[:9]):  # frame 8 hides C: a live track with a gap
        first.update(lab, t)
    meta, arrays = first.get_state()
    checkpoint.save(tmp_path, "k", {"next_frame": 9, "tracker": meta},
                    checkpoint.prefixed("tracker", arrays))
    meta, arrays = checkpoint.load(tmp_path, "k")
    assert checkpoint.load(tmp_path, "another run") is None
    resumed = Tracker(cfg, plane=plane)
    resumed.set_state(meta["tracker"], checkpoint.group(arrays, "tracker"))
    got = [resumed.update(lab, t) for t, lab in enumerate(frames[9:], start=9)]
    for a, b in zip(want[9:], got, strict=True):
        assert np.array_equal(a, b)
    assert resumed.tracks == whole.tracks and resumed.motion.tolist() == whole.motion.tolist()
    assert all(len(t.belt) == len(t.frames) for t in whole.tracks.values())
    assert any(t.first_update > 0 for t in whole.tracks.values())
    assert all(len(t.cm) == len(t.frames) for t in whole.tracks.values())
    assert [t.summary()["length_cm"] for t in resumed.tracks.values()] == [
        t.summary()["length_cm"] for t in whole.tracks.values()]
