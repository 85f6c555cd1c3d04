"""Only counted tracks reach the outputs, renumbered in order of appearance, after a bounded delay."""

import numpy as np

from fishseg.config import TrackConfig
from fishseg.counted import OFF_BELT, SHORT, UNSURE, CountedTracks
from fishseg.tracking import Tracker


def _frame(boxes, shape=(40, 80)):
    lab = np.zeros(shape, np.int32)
    for i, (y, x) in enumerate(boxes, start=1):
        lab[y:y + 8, x:x + 12] = i
    return lab


def _run(frames, cfg):
    tracker = Tracker(cfg)
    release = CountedTracks(tracker)
    out = []
    for i, lab in enumerate(frames):
        out += release.push(i, tracker.update(lab, i), f"rgb{i}")
    out += release.flush()
    return tracker, release, out


def test_short_tracks_are_dropped_and_ids_follow_appearance():
    frames = []
    for i in range(10):
        boxes = [(5, 2 + 2 * i)]                       # fish A, the whole video
        if i == 2:
            boxes.append((25, 60))                     # a blip: one frame only
        if i >= 5:
            boxes.append((25, 2 * i))                  # fish C from frame 5
        frames.append(_frame(boxes))
    tracker, release, out = _run(frames, TrackConfig(min_frames=3, max_gap=2))
    assert release.delay == 6
    assert [i for i, _, _ in out] == list(range(10))   # every frame once, in order
    assert [f for _, _, f in out] == [f"rgb{i}" for i in range(10)]  # carried along
    assert len(tracker.tracks) == 3 and tracker.distinct_count == 2
    for i, lab, _ in out:
        a = lab[5:13, 2 + 2 * i:14 + 2 * i]
        assert (a == 1).all()                          # A is fish 1 in every frame
        if i == 2:
            assert not lab[25:33, 60:72].any()         # the blip is gone
        if i >= 5:
            assert (lab[25:33, 2 * i:12 + 2 * i] == 2).all()
        assert set(np.unique(lab)) <= {0, 1, 2}
    tracks = release.tracks()
    assert [t.id for t in tracks] == [1, 2]
    assert tracks[0].frames == list(range(10)) and tracks[1].frames == list(range(5, 10))


def test_a_track_counted_at_the_last_moment_is_kept_from_its_first_frame():
    # seen at updates 0, 3 and 6 only: each gap is max_gap long, so it reaches
    # min_frames exactly when frame 0 is due (the delay is the longest it can take)
    frames = [_frame([(10, 30)] if i in (0, 3, 6) else []) for i in range(8)]
    tracker, release, out = _run(frames, TrackConfig(min_frames=3, max_gap=2))
    assert tracker.distinct_count == 1 and len(tracker.tracks) == 1
    kept = [i for i, lab, _ in out if lab.any()]
    assert kept == [0, 3, 6]
    assert all(set(np.unique(lab)) <= {0, 1} for _, lab, _ in out)


def test_every_track_counts_with_min_frames_one():
    frames = [_frame([(5, 4 * i)]) if i % 3 else _frame([]) for i in range(7)]
    tracker, release, out = _run(frames, TrackConfig(min_frames=1, max_gap=0))
    assert release.delay == 0
    assert len(release.tracks()) == len(tracker.tracks) == tracker.distinct_count
    for (_, lab, _), src in zip(out, frames):
        assert np.array_equal(lab > 0, src > 0)


def test_frames_are_released_as_soon_as_due():
    tracker = Tracker(TrackConfig(min_frames=2, max_gap=1))
    release = CountedTracks(tracker)
    assert release.delay == 2
    due = [len(release.push(i, tracker.update(_frame([(5, 5 + i)]), i))) for i in range(5)]
    assert due == [0, 0, 1, 1, 1] and len(release.flush()) == 2


def test_counted_per_frame_counts_what_the_outputs_hold():
    from fishseg.counted import counted_per_frame

    frames = []
    for i in range(10):
        boxes = [(5, 2 + 2 * i)]
        if i == 2:
            boxes.append((25, 60))                     # a blip: not counted
        if i >= 5:
            boxes.append((25, 2 * i))
        frames.append(_frame(boxes))
    counts, distinct = counted_per_frame(frames, TrackConfig(min_frames=3, max_gap=2))
    assert counts == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2] and distinct == 2
    _, _, out = _run(frames, TrackConfig(min_frames=3, max_gap=2))
    assert counts == [len(np.unique(lab[lab > 0])) for _, lab, _ in out]


def test_left_out_detections_are_handed_to_the_overlay_with_their_kind():
    """What is not counted is marked for review: the blip as SHORT on exactly its
    pixels, nothing on the counted fish; frames that carry nothing are not marked."""
    frames = []
    for i in range(10):
        boxes = [(5, 2 + 2 * i)]
        if i == 2:
            boxes.append((25, 60))
        frames.append(_frame(boxes))
    seen = {}

    def mark(frame, left_out, track_ids):
        seen[frame] = left_out
        assert track_ids.shape == left_out.shape and (track_ids[left_out > 0] > 0).all()
        return frame + "+marked"

    tracker = Tracker(TrackConfig(min_frames=3, max_gap=2))
    release = CountedTracks(tracker, on_left_out=mark)
    out = []
    for i, lab in enumerate(frames):
        out += release.push(i, tracker.update(lab, i), f"rgb{i}" if i != 7 else None)
    out += release.flush()
    assert [f for _, _, f in out] == [f"rgb{i}+marked" if i != 7 else None for i in range(10)]
    assert set(seen) == {f"rgb{i}" for i in range(10) if i != 7}
    blip = _frame([(25, 60)]) > 0
    assert np.array_equal(seen["rgb2"] == SHORT, blip) and seen["rgb2"].dtype == np.uint8
    assert not seen["rgb2"][~blip].any()
    assert all(not m.any() for f, m in seen.items() if f != "rgb2")


def test_a_track_off_the_belt_is_marked_as_such():
    # fish A rides a belt moving 3 px per frame; a glove stays where it is
    frames = [_frame([(5, 2 + 3 * i), (25, 40)]) for i in range(12)]
    tracker = Tracker(TrackConfig(min_frames=3, max_gap=2))
    release = CountedTracks(tracker, on_left_out=lambda f, m, ids: m)
    out = [o for i, lab in enumerate(frames) for o in release.push(i, tracker.update(lab, i), i)]
    out += release.flush()
    glove = _frame([(25, 40)]) > 0
    assert tracker.distinct_count == 1 and tracker.off_belt_count == 1
    for i, lab, marks in out:
        assert np.array_equal(marks == OFF_BELT, glove) and not lab[glove].any()
        assert (lab[5:13, 2 + 3 * i:14 + 3 * i] == 1).all() and not marks[lab > 0].any()


def test_a_track_the_maps_were_unsure_of_is_marked_as_such():
    """track.min_fg: two fish ride the belt; the maps' foreground is 0.95 on one and
    0.6 on the other, which is not counted and is marked UNSURE (not off the belt)."""
    frames = [_frame([(5, 2 + 3 * i), (25, 2 + 3 * i)]) for i in range(12)]
    tracker = Tracker(TrackConfig(min_frames=3, max_gap=2, min_fg=0.7))
    release = CountedTracks(tracker, on_left_out=lambda f, m, ids: m)
    out = []
    for i, lab in enumerate(frames):
        fg = np.where(lab > 0, 0.95, 0.0)
        fg[20:, :] *= 0.6 / 0.95  # the lower fish
        out += release.push(i, tracker.update(lab, i, fg=fg), i)
    out += release.flush()
    assert tracker.distinct_count == 1 and tracker.off_belt_count == 0
    for i, lab, marks in out:
        lower = _frame([(25, 2 + 3 * i)]) > 0
        assert np.array_equal(marks == UNSURE, lower) and not lab[lower].any()
        assert (lab[_frame([(5, 2 + 3 * i)]) > 0] == 1).all()
