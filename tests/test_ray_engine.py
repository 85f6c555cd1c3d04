"""The Ray engine on a local Ray instance, with a tiny real model trained here.

What must hold: the outputs of good videos equal the local engine's; a corrupt video is
reported and the exit status says so; a worker killed mid-video is retried on a fresh
worker, or (with no retries left) reported, and a rerun then finishes only what is
missing, leaving finished outputs untouched.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import ray  # noqa: F401 - installed by the dev extra; a missing Ray must fail loudly here

from fishseg.cli import _config, build_parser, main
from fishseg.config import SynthConfig, from_dict
from fishseg.engines.ray import ConfigPatch, SegmentWorker, _plan, segment_inputs_ray
from fishseg.io.export import is_complete
from fishseg.model.bundle import BundleError, load_model
from fishseg.pipeline import segment_inputs
from fishseg.synth import synthesize

SYNTH = SynthConfig(width=320, height=180)
TIMING_KEYS = {"seconds", "stage_seconds", "input"}
# Ray starts its processes with fork+exec, which Python flags once JAX's threads exist.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")


@pytest.fixture(scope="module")
def model_path(tiny_model_path) -> Path:
    """A real (tiny, quickly trained) model bundle: what the workers load by path."""
    return tiny_model_path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """Two short good videos, a longer one (killed mid-way in the tests) and a corrupt one
    (a good mp4 cut in half)."""
    d = tmp_path_factory.mktemp("videos")
    out = {}
    for name, frames, seed in (("a", 6, 1), ("b", 6, 2), ("long", 48, 3)):
        synthesize(d / name, frames=frames, seed=seed, cfg=SYNTH, progress=False)
        out[name] = (d / name / "video.mp4").rename(d / f"{name}.mp4")
    data = out["a"].read_bytes()
    out["cut"] = d / "cut.mp4"
    out["cut"].write_bytes(data[: len(data) // 2])
    return out


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the tests that need it running around them."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield
    ray.shutdown()


def _same_outputs(a: Path, b: Path) -> None:
    """Two output folders hold the same results (timings and the input's spelling aside)."""
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    for n in names:
        if n == "overlay.mp4":  # x264 output differs run to run even locally; same size class
            assert (b / n).stat().st_size > 0
        elif n == "summary.json":
            sa, sb = (json.loads((d / n).read_text()) for d in (a, b))
            assert {k: v for k, v in sa.items() if k not in TIMING_KEYS} == \
                   {k: v for k, v in sb.items() if k not in TIMING_KEYS}
        elif n == "instances.json":
            ia, ib = (json.loads((d / n).read_text()) for d in (a, b))
            ia.pop("info"), ib.pop("info")
            assert ia == ib
        else:
            assert (a / n).read_bytes() == (b / n).read_bytes(), n


def _running_worker(exclude=()) -> int | None:
    """pid of a Ray worker process busy in SegmentWorker.run (Ray sets the process title)."""
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) in exclude:
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"ray::SegmentWorker.run"):
            return int(p.name)
    return None


def _wait(cond, timeout=120.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError("condition not met in time")


def _run_in_thread(**kw):
    box: dict = {}

    def target():
        try:
            box["results"] = segment_inputs_ray(progress=False, **kw)
        except BaseException as e:  # noqa: BLE001 - re-raised in the test
            box["error"] = e

    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, box


# -- without a cluster ---------------------------------------------------------------


def test_without_ray_the_cli_says_how_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now fails
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    assert main(["segment", str(video), "--out", str(tmp_path / "o"), "--engine", "ray"]) == 2
    assert 'pip install "fishseg[ray]"' in capsys.readouterr().err


def test_ray_flags_need_the_ray_engine(capsys, tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    assert main(["segment", str(video), "--out", str(tmp_path), "--workers", "2"]) == 2
    assert "--engine ray" in capsys.readouterr().err


def test_config_patch_matches_the_local_engine(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("separate:\n  min_area: 31\ntrack:\n  max_gap: 3\n")
    argv = ["segment", "x", "--out", "o", "--config", str(f), "--set", "separate.fg_threshold=0.4"]
    args = build_parser().parse_args(argv)
    base = from_dict({"separate": {"core_fg": 0.8, "min_area": 5}})
    flags = {"measure.cm_per_pixel": 0.25}
    expected = _config(args, base=base, **flags)  # what the local engine uses
    patch = ConfigPatch.from_args(args.config, args.set, **flags)
    f.unlink()  # the workers must not need the file
    cfg = patch(base)
    assert cfg == expected
    assert (cfg.separate.core_fg, cfg.separate.min_area, cfg.separate.fg_threshold) == (0.8, 31, 0.4)
    assert cfg.track.max_gap == 3 and cfg.measure.cm_per_pixel == 0.25


def test_plan_names_and_skips_like_the_local_engine(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for d in ("x", "y"):
        (tmp_path / d / "clip.mp4").write_bytes(b"x")
    done = tmp_path / "out" / "clip-2"
    done.mkdir(parents=True)
    (done / "summary.json").write_text("{}")
    results, jobs = _plan([tmp_path / "x" / "clip.mp4", tmp_path / "nope.mp4",
                           tmp_path / "y" / "clip.mp4"], tmp_path / "out", overwrite=False)
    assert [r and r.status for r in results] == ["failed", None, "skipped"]
    assert [j.dest.name for j in jobs] == ["clip"] and jobs[0].slot == 1
    _, jobs = _plan([tmp_path / "x" / "clip.mp4", tmp_path / "y" / "clip.mp4"],
                    tmp_path / "out", overwrite=True)
    assert [j.dest.name for j in jobs] == ["clip", "clip-2"]
    # files written moments ago wait for a later run (--min-age)
    results, jobs = _plan([tmp_path / "x" / "clip.mp4"], tmp_path / "out", overwrite=False,
                          min_age_s=600)
    assert jobs == [] and results[0].status == "skipped"
    assert "may still be being written" in results[0].message


def test_worker_with_a_bad_model_reports_it(tmp_path):
    w = SegmentWorker(tmp_path / "missing.fishseg")
    with pytest.raises(BundleError, match="missing.fishseg"):
        w.ready()


# -- on a local Ray instance -----------------------------------------------------------


@pytest.mark.slow
def test_cli_ray_engine_matches_local_and_reports_corrupt(model_path, videos, tmp_path, capsys):
    own = not ray.is_initialized()  # then the engine starts (and stops) its own instance
    good = [videos["a"], videos["b"]]
    local = segment_inputs(good, tmp_path / "local", model=load_model(model_path), progress=False)
    assert [r.status for r in local] == ["done", "done"]
    argv = ["-q", "segment", str(videos["a"]), str(videos["cut"]), str(videos["b"]),
            "--out", str(tmp_path / "ray"), "--model", str(model_path), "--engine", "ray",
            "--workers", "2"]
    assert main(argv) == 1  # a failure happened
    table = capsys.readouterr().out
    assert "2 done, 0 skipped, 1 failed" in table
    row = next(line for line in table.splitlines() if "cut.mp4" in line)
    assert row.startswith("failed") and "VideoError" in row
    for name in ("a", "b"):
        _same_outputs(tmp_path / "local" / name, tmp_path / "ray" / name)
    assert not (tmp_path / "ray" / "cut").exists() and not list((tmp_path / "ray").glob(".*"))
    assert ray.is_initialized() != own


def test_model_settings_reach_a_workers_maps(model_path, videos, tmp_path):
    """``--set model.*`` (here test-time flips) changes a worker's maps exactly as it
    changes the local engine's, which puts the overrides on the model (the CLI)."""
    sets = ["model.tta=true"]
    assert main(["-q", "segment", str(videos["a"]), "--out", str(tmp_path / "local"),
                 "--model", str(model_path), "--set", sets[0]]) == 0
    worker = SegmentWorker(str(model_path), ConfigPatch.from_args(None, sets))
    assert worker.ready()["pid"] == os.getpid()
    reply = worker.run(videos["a"], tmp_path / "ray" / "a", {})
    assert reply["ok"], reply
    _same_outputs(tmp_path / "local" / "a", tmp_path / "ray" / "a")
    plain = SegmentWorker(str(model_path), ConfigPatch.from_args(None, []))
    other = plain.run(videos["a"], tmp_path / "plain" / "a", {})["summary"]["model_checksum"]
    assert other != reply["summary"]["model_checksum"]  # flips make other maps


@pytest.mark.slow
def test_bad_model_stops_the_run(ray_local, videos, tmp_path):
    with pytest.raises(BundleError, match="missing.fishseg"):
        segment_inputs_ray([videos["a"]], tmp_path / "out", model_path=tmp_path / "missing.fishseg",
                           num_workers=1, progress=False)


@pytest.mark.slow
def test_killed_worker_is_replaced_and_its_video_retried(ray_local, model_path, videos, tmp_path):
    out = tmp_path / "out"
    th, box = _run_in_thread(inputs=[videos["long"], videos["a"]], out=out,
                             model_path=model_path, num_workers=1)
    _wait(lambda: (out / ".long.partial").exists())
    pid = _wait(_running_worker)
    os.kill(pid, signal.SIGKILL)
    th.join(timeout=150)
    assert not th.is_alive() and "error" not in box, box.get("error")
    long, a = box["results"]
    assert (long.status, a.status) == ("done", "done")
    assert "after 1 worker death" in long.message
    assert is_complete(out / "long") and not list(out.glob(".*partial"))


@pytest.mark.slow
def test_rerun_after_a_killed_worker_finishes_only_the_missing_video(ray_local, model_path,
                                                                    videos, tmp_path):
    out = tmp_path / "out"
    inputs = [videos["a"], videos["b"], videos["long"]]
    th, box = _run_in_thread(inputs=inputs, out=out, model_path=model_path, num_workers=1,
                             retries=0)
    _wait(lambda: (out / ".long.partial").exists())  # a and b are done: one worker, in order
    os.kill(_wait(_running_worker), signal.SIGKILL)
    th.join(timeout=150)
    assert not th.is_alive() and "error" not in box, box.get("error")
    assert [r.status for r in box["results"]] == ["done", "done", "failed"]
    assert "died" in box["results"][2].message
    assert not is_complete(out / "long")
    before = {n: (out / n / "summary.json").stat().st_mtime_ns for n in ("a", "b")}

    again = segment_inputs_ray(inputs, out, model_path=model_path, num_workers=1, progress=False)
    assert [r.status for r in again] == ["skipped", "skipped", "done"]
    assert {n: (out / n / "summary.json").stat().st_mtime_ns for n in ("a", "b")} == before
    assert is_complete(out / "long") and not list(out.glob(".*partial"))
    assert json.loads((out / "long" / "summary.json").read_text())["frames"] == 48
