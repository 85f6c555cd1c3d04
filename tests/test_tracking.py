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


def _merging_scene(n=20, merged=range(6, 14), removed_at=6, returns_at=14, after=(16, 7)):
    """Fish A and B side by side on a belt moving 5 px per frame; in the ``merged``
    frames the segmentation joins them into one region (A's id). Fish C, in its own
    lane, is taken off the belt at ``removed_at``; another fish appears where it would
    be at ``returns_at``. After the merge, the fish in A's lane has semi-axes ``after``.
    Returns label frames and per frame {label: name}."""
    frames, truth = [], []
    for t in range(n):
        lab = np.zeros((96, 200), np.int32)
        x = 40 + 5 * t
        cv2.ellipse(lab, (x, 28), (16, 7) if t < merged.stop else after, 0, 0, 360, 1, -1)
        cv2.ellipse(lab, (x, 41), (16, 7), 0, 0, 360, 1 if t in merged else 2, -1)
        who = {1: "A+B" if t in merged else "A"} | ({} if t in merged else {2: "B"})
        if t < removed_at or t >= returns_at:
            cv2.ellipse(lab, (x, 75), (12, 5), 0, 0, 360, 3, -1)
            who[3] = "C" if t < removed_at else "C2"
        frames.append(lab)
        truth.append(who)
    return frames, truth


def test_a_fish_merged_into_its_neighbour_keeps_its_track_with_hidden_gap():
    """Two fish joined into one region for 8 frames (longer than max_gap): without
    ``hidden_gap`` the one that lost the region comes back as a new fish; with it the
    same track is re-linked. A fish taken off the belt (nothing where it would be) is
    not kept, so a newcomer at its place later is a new fish either way."""
    frames, truth = _merging_scene()

    def ids(outs, name):
        return {int(np.unique(out[lab == i])[0]) for lab, who, out in zip(frames, truth, outs)
                for i, n in who.items() if n == name}

    tr0, outs0 = run(frames, TrackConfig(max_gap=2, hidden_gap=0))
    # one of A and B (the one whose track did not take the joined region) breaks
    assert len(ids(outs0, "A") | ids(outs0, "B")) == 3 and tr0.distinct_count == 5
    tr, outs = run(frames, TrackConfig(max_gap=2, hidden_gap=10))
    assert len(ids(outs, "A")) == len(ids(outs, "B")) == 1 and ids(outs, "A") != ids(outs, "B")
    assert ids(outs, "A+B") <= ids(outs, "A") | ids(outs, "B")
    assert ids(outs, "C") != ids(outs, "C2")
    assert tr.distinct_count == 4                                  # A, B, C, C2
    hidden = [tr.tracks[i] for i in ids(outs, "A") | ids(outs, "B")
              if i not in ids(outs, "A+B")]
    assert len(hidden) == 1 and hidden[0].frames == [t for t in range(20) if t not in range(6, 14)]
    # a merge longer than hidden_gap: the track is given up as before
    tr3, outs3 = run(frames, TrackConfig(max_gap=2, hidden_gap=5))
    assert len(ids(outs3, "A") | ids(outs3, "B")) == 3 and tr3.distinct_count == 5


def test_a_hidden_track_is_re_linked_only_to_a_close_fit():
    """After the merge, what shows in A's lane is much smaller than A (IoU with A's
    carried mask ~0.36: enough for a track unseen within max_gap, not for one kept
    hidden longer): it is not taken for A, whose track was the hidden one."""
    frames, truth = _merging_scene(after=(8, 5))
    tr, outs = run(frames, TrackConfig(max_gap=2, hidden_gap=10))
    merged = int(np.unique(outs[8][frames[8] > 0])[0])
    a_before = {int(np.unique(outs[t][frames[t] == 1])[0]) for t in range(6)}
    a_after = {int(np.unique(outs[t][frames[t] == 1])[0]) for t in range(14, 20)}
    assert merged not in a_before                      # A's track was the hidden one
    assert len(a_before) == len(a_after) == 1 and a_before != a_after


def _iou_reference(live, lab, motion):
    """IoU of each live track (shifted by its offset + motion) with each instance, pixel by
    pixel: the plain reading of ``Tracker._iou``'s contract, for the test below."""
    h, w = lab.shape
    ids = [i for i in np.unique(lab) if i]
    out = np.zeros((len(live), len(ids)))
    for r, lv in enumerate(live):
        dy, dx = np.rint(lv.offset + motion).astype(int)
        pred = np.zeros((h, w), bool)
        y, x = lv.ys + dy, lv.xs + dx
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        pred[y[ok], x[ok]] = True
        seen = np.zeros((h, w), bool)   # where the view was when the track was last seen
        seen[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = True
        for c, i in enumerate(ids):
            inst = lab == i
            inter = (pred & inst).sum()
            union = pred.sum() + (inst & seen).sum() - inter
            out[r, c] = inter / union if union else 0.0
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iou_matches_a_pixel_by_pixel_reference(seed):
    """Tracks carried by assorted shifts (both signs, beyond the frame, none) against
    instances at all four edges: the IoU matrix equals the direct count exactly."""
    from fishseg.measure import instance_pixels, measure_instances
    from fishseg.tracking import _Live

    rng = np.random.default_rng(seed)
    lab = np.zeros((H, W), np.int32)
    for k in range(1, 9):   # ellipses, some cut by an edge of the frame
        c = (int(rng.integers(-10, W + 10)), int(rng.integers(-10, H + 10)))
        cv2.ellipse(lab, c, (int(rng.integers(6, 30)), int(rng.integers(4, 12))),
                    float(rng.uniform(0, 180)), 0, 360, int(k * 7), -1)
    for k, corner in enumerate([(0, 0), (W - 1, 0), (0, H - 1), (W - 1, H - 1)]):
        cv2.ellipse(lab, corner, (20, 12), 30.0, 0, 360, 100 + k, -1)   # cut two ways
    tr = Tracker(TrackConfig())
    live = []
    for k in range(10):
        ys, xs = np.nonzero(np.roll(lab, (int(rng.integers(-20, 20)), int(rng.integers(-20, 20))),
                                    (0, 1)) == int(rng.choice(np.unique(lab)[1:])))
        lv = _Live(k + 1, ys.astype(np.int32), xs.astype(np.int32), np.zeros(2))
        lv.offset = rng.choice([0, 1, -1]) * rng.integers(0, 2 * W, 2).astype(float) * \
            rng.choice([0.02, 0.2, 1.0])
        live.append(lv)
    tr._live = live
    ys, xs, _, pos = px = instance_pixels(lab)
    m = measure_instances(lab, pixels=px)
    pos_img = np.zeros(lab.shape, np.int32)
    pos_img[ys, xs] = pos + 1
    for motion in (np.zeros(2), np.array([3.4, -7.6]), np.array([-12.0, 15.2]),
                   np.array([6.0, 9.0]), np.array([-6.0, -9.0])):
        got = tr._iou(pos_img, (ys, xs, pos, len(m), m.area), motion)
        np.testing.assert_array_equal(got, _iou_reference(live, lab, motion))


def test_last_ids_let_the_release_skip_its_scan():
    """``Tracker.last_ids`` are the ids in the labels ``update`` returned, and a release
    given them gives what one that scans the labels gives."""
    from fishseg.counted import CountedTracks

    frames, _ = scene(20, (0.4, 7.0))
    a, b = Tracker(TrackConfig(max_gap=2)), Tracker(TrackConfig(max_gap=2))
    ra, rb = CountedTracks(a), CountedTracks(b)
    got_a, got_b = [], []
    for t, lab in enumerate(frames):
        out = a.update(lab, t)
        present = np.unique(out)
        np.testing.assert_array_equal(a.last_ids, present[present > 0])
        got_a += ra.push(t, out, ids=a.last_ids)
        got_b += rb.push(t, b.update(lab, t))
    got_a += ra.flush()
    got_b += rb.flush()
    assert len(got_a) == len(got_b) == 20
    for (i, x, _), (j, y, _) in zip(got_a, got_b, strict=True):
        assert i == j
        np.testing.assert_array_equal(x, y)
    assert ra.output_id == rb.output_id and len(ra.output_id) >= 4


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_an_input_shorter_than_min_frames_counts_what_it_saw(n):
    """``end_of_input`` after fewer updates than ``min_frames`` (3): the tracks seen in
    all of them count; after enough updates nothing changes."""
    frames, truth = scene(n, (0.0, 5.0), hidden={})
    tr, _ = run(frames)
    before = tr.distinct_count
    tr.end_of_input()
    whole = sum(1 for t in tr.tracks.values() if t.frames_seen == n)
    if n < 3:
        assert before == 0 and tr.cfg.min_frames == n and tr.distinct_count == whole >= 4
    else:
        assert tr.cfg.min_frames == 3 and tr.distinct_count == before


def test_a_bent_fish_gets_its_length_along_the_body():
    """A fish bent into half a circle rides the belt in from the left edge: its median
    chord (length_px) is 2/pi of its length, its midline_px the length; the midline is
    measured only where the fish is whole, in its first ``midline_views`` such frames;
    with ``cm_per_pixel`` or a belt plane it comes in cm too."""
    from test_midline import bent_band

    from fishseg.calibration import BeltPlane

    band = bent_band(40, 180, 12, size=120)[10:110, 50:110]  # (100, 60), all of it
    ys, xs = np.nonzero(band)
    true = 40 * np.pi + 12

    def ride(tracker):
        for t in range(12):
            lab = np.zeros((120, 200), np.int32)
            x = xs - 50 + 12 * t  # starts cut by the left edge, whole from frame 5
            keep = x >= 0
            lab[ys[keep] + 10, x[keep]] = 1
            tracker.update(lab, t)
        (track,) = tracker.tracks.values()
        return track

    track = ride(Tracker(TrackConfig(max_gap=2, min_frames=3), midline_views=4))
    measured = [i for i, v in enumerate(track.midlines) if v > 0]
    assert measured == [i for i, e in enumerate(track.edge) if not e][:4]
    s = track.summary(cm_per_pixel=0.5)
    assert s["midline_px"] == pytest.approx(true, rel=0.06)
    assert s["length_px"] < 0.75 * true
    assert s["midline_cm"] == pytest.approx(0.5 * s["midline_px"])
    # a perspective calibration (here a plain 0.5 cm per pixel): each frame's midline is
    # scaled as its length is on the belt
    plane = BeltPlane([[0, 0, 0, 0], [200, 0, 100, 0], [200, 120, 100, 60], [0, 120, 0, 60]])
    sp = ride(Tracker(TrackConfig(max_gap=2, min_frames=3), plane=plane,
                      midline_views=4)).summary()
    assert sp["midline_px"] == s["midline_px"]
    assert sp["midline_cm"] == pytest.approx(0.5 * sp["midline_px"], rel=0.02)
    off = ride(Tracker(TrackConfig(max_gap=2, min_frames=3), midline_views=0))
    assert not any(off.midlines) and np.isnan(off.summary()["midline_px"])


def test_tracks_the_maps_are_unsure_of_do_not_count():
    """track.min_fg: a track counts only if its foreground score (a percentile of the
    fg map over it), over the sightings its count is decided on, has a median of at
    least min_fg. Two fish ride
    the belt; the maps are sure of one (0.9) and not of the other (0.6, as belt texture
    the maps half take for fish); the decision is made on the first sightings and does
    not change with later ones."""
    def ride(cfg, late=0.6):
        tr = Tracker(cfg)
        for t in range(14):
            lab = np.zeros((H, W), np.int32)
            fg = np.zeros((H, W), np.float32)
            cv2.ellipse(lab, (20 + 6 * t, 25), (12, 5), 0, 0, 360, 1, -1)
            cv2.ellipse(lab, (20 + 6 * t, 70), (12, 5), 0, 0, 360, 2, -1)
            fg[lab == 1] = 0.9
            fg[lab == 2] = 0.6 if t <= tr.decision_delay else late
            tr.update(lab, t, fg=(fg * 255).round().astype(np.uint8) if t % 2 else fg)
        return tr

    off = ride(TrackConfig())
    assert off.distinct_count == 2
    assert [round(np.median(t.fg), 2) for t in off.tracks.values()] == [0.9, 0.6]
    on = ride(TrackConfig(min_fg=0.7))
    assert on.distinct_count == 1
    (sure,) = [t for t in on.tracks.values() if on.counts(t)]
    assert sure.centroids[0][0] < 40  # the upper fish
    assert all(t.decided == on.decision_delay + 1 for t in on.tracks.values())
    # sure later on, unsure while it was decided: still not counted
    assert ride(TrackConfig(min_fg=0.7), late=0.95).distinct_count == 1
    with pytest.raises(ValueError, match="fg map is"):
        Tracker().update(np.zeros((H, W), np.int32), 0, fg=np.zeros((H, W + 1)))
