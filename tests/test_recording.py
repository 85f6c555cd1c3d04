"""When a recording started (file name, container tag, given), and clock-time windows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from fishseg.io.recording import (
    OutsideWindow,
    RecordingStart,
    check_given,
    clock_text,
    parse_datetime,
    recording_start,
    start_from_container,
    start_from_name,
    window_seconds,
)

T = datetime(2026, 11, 24, 5, 30, 0)
UTC = timezone.utc


@pytest.mark.parametrize("name, want", [
    ("ch01_20261124053000.mp4", T),                                   # Hikvision-style
    ("NVR_ch1_main_20261124053000_20261124063000.dav", T),            # start_end: the start
    ("2026-11-24_05-30-00.mp4", T),
    ("VID_20261124_053000.mp4", T),
    ("2026-11-24 05.30.00", T),                                       # a folder name
    ("2026-11-24T05:30:00.mkv", T),
    ("cam_20261124T053000Z.mp4", T.replace(tzinfo=UTC)),              # Z: UTC
    ("haul3_20261124-053000.mp4", T),
    ("belt_20261399_053000_20261124_053000.mp4", T),                  # not a date: the next
    ("192.168.1.64_01_20261124053000123.mp4", T.replace(microsecond=123000)),   # with ms
    ("cam_2026-11-24_05-30-00.250.mp4", T.replace(microsecond=250000)),
])
def test_a_start_from_the_file_name(name, want):
    got = start_from_name(name)
    assert got == want and (got.tzinfo is None) == (want.tzinfo is None)


@pytest.mark.parametrize("name", ["fishseg-demo", "video.mp4", "20261124.mp4",   # no time
                                  "x2026112405300012.mp4",   # inside a longer number
                                  "belt_20261124_253000.mp4",   # no 25th hour
                                  "2026-11_24-05:30-00.mp4"])   # mixed separators
def test_no_start_in_the_name(name):
    assert start_from_name(name) is None


def test_a_start_from_the_container(tmp_path, write_vfr):
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    tagged = write_vfr(tmp_path / "a.mp4", frames, [0, 0.04, 0.08],
                       metadata={"creation_time": "2026-11-24T05:30:00.000000Z"})
    assert start_from_container(tagged) == T.replace(tzinfo=UTC)
    assert start_from_container(write_vfr(tmp_path / "b.mp4", frames, [0, 0.04, 0.08])) is None
    zero = write_vfr(tmp_path / "c.mp4", frames, [0, 0.04, 0.08],
                     metadata={"creation_time": "1970-01-01T00:00:00.000000Z"})
    assert start_from_container(zero) is None                         # an unset field
    (tmp_path / "d.mp4").write_text("not a video")
    assert start_from_container(tmp_path / "d.mp4") is None
    # precedence: name, then container; given wins; none turns it off
    named = write_vfr(tmp_path / "cam_20261124_060000.mp4", frames, [0, 0.04, 0.08],
                      metadata={"creation_time": "2026-11-24T05:30:00Z"})
    assert recording_start(named) == RecordingStart(datetime(2026, 11, 24, 6), "file name")
    assert recording_start(tagged) == RecordingStart(T.replace(tzinfo=UTC), "container")
    assert recording_start(tagged, "2026-11-24T07:00+01:00") == RecordingStart(
        datetime(2026, 11, 24, 7, tzinfo=timezone(timedelta(hours=1))), "given")
    assert recording_start(tagged, "none") is None and recording_start(tagged, None) is None
    assert recording_start(tmp_path / "b.mp4") is None
    d = tmp_path / "stills_20261124_053000"
    d.mkdir()
    assert recording_start(d) == RecordingStart(T, "file name")        # an image folder
    assert recording_start([d / "1.png", d / "2.png"]).time == T       # a list of its images
    assert recording_start(tagged).describe() == {"time": "2026-11-24T05:30:00+00:00",
                                                  "from": "container"}


def test_parse_datetime():
    assert parse_datetime("2026-11-24T05:30") == T
    assert parse_datetime(" 2026-11-24 05:30:00Z ") == T.replace(tzinfo=UTC)
    with pytest.raises(ValueError, match="not a date and time: '05:30'"):
        parse_datetime("05:30")
    with pytest.raises(ValueError, match="before 1990"):
        parse_datetime("1904-01-01T00:00")


def test_clock_text():
    assert clock_text(T, 1.2) == "2026-11-24T05:30:01.200"
    assert clock_text(T.replace(tzinfo=UTC), 3600.0405) == "2026-11-24T06:30:00.040+00:00"


def test_clock_windows_in_seconds_of_a_recording():
    rec = RecordingStart(T, "file name")
    s = timedelta(seconds=1)
    assert window_seconds(T + 90 * s, T + 150 * s, rec, "v.mp4") == (90.0, 150.0)
    assert window_seconds(T - 10 * s, None, rec, "v.mp4") == (0.0, None)   # began before
    assert window_seconds(T - 10 * s, T + 5 * s, rec, "v.mp4") == (0.0, 5.0)
    assert window_seconds(2.5, T + 5 * s, rec, "v.mp4") == (2.5, 5.0)      # mixed
    assert window_seconds(2.5, 4.0, None, "v.mp4") == (2.5, 4.0)           # seconds need none
    assert window_seconds(-1.0, None, None, "v.mp4") == (-1.0, None)       # checked by caller
    with pytest.raises(OutsideWindow, match="v.mp4: the time window ends before the recording"):
        window_seconds(T - 20 * s, T - 10 * s, rec, "v.mp4")
    with pytest.raises(ValueError, match="v.mp4: .* the recording's start is unknown"):
        window_seconds(T, None, None, "v.mp4")
    with pytest.raises(ValueError, match=r"v.mp4: the window time .* has no time zone but the "
                                         r"recording's start \(.*from its container\) has"):
        window_seconds(T, None, RecordingStart(T.replace(tzinfo=UTC), "container"), "v.mp4")


def test_a_given_start_is_one_inputs():
    check_given("auto", 5)
    check_given("none", 5)
    check_given(T, 1)
    with pytest.raises(ValueError, match="3 inputs were given"):
        check_given(T, 3)
