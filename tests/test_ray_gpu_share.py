"""Ray workers sharing GPUs (``--workers`` beyond the GPUs).

The scheduling is Ray's: a local Ray instance told it has one GPU (this machine has
none, so JAX stays on the CPU) must run two workers at half a GPU each, hand each its
share of the GPU's memory, and give the same outputs as the local engine.
"""

from __future__ import annotations

import warnings

import pytest
import ray

from fishseg.config import SynthConfig
from fishseg.engines.ray import SegmentWorker, _worker_options, segment_inputs_ray
from fishseg.model.bundle import load_model
from fishseg.pipeline import segment_inputs
from fishseg.synth import synthesize

pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
SYNTH = SynthConfig(width=320, height=180)


class _Cluster:
    """What ``_worker_options`` asks of Ray: the cluster's resources."""

    def __init__(self, **res):
        self.res = res

    def cluster_resources(self):
        return self.res


@pytest.mark.parametrize("res, asked, n, gpu, memory, threads", [
    ({"GPU": 1, "CPU": 16}, None, 1, 1, None, "8"),      # default: one worker per GPU
    ({"GPU": 1, "CPU": 16}, 4, 4, 0.25, "0.225", "4"),   # four share the GPU and the cores
    ({"GPU": 2, "CPU": 16}, 3, 3, 0.5, "0.450", "5"),    # two to a GPU, so all three fit
    ({"GPU": 2, "CPU": 16}, 2, 2, 1, None, "8"),
    ({"GPU": 4, "CPU": 2}, None, 4, 1, None, "1"),       # fewer CPUs than GPUs
])
def test_worker_options_share_gpus(res, asked, n, gpu, memory, threads, monkeypatch):
    monkeypatch.delenv("FISHSEG_HOST_THREADS", raising=False)
    got_n, opts = _worker_options(_Cluster(**res), asked)
    assert got_n == n and opts["num_gpus"] == gpu
    assert opts["num_cpus"] == (1 if res["CPU"] >= res["GPU"] else 0)
    env = opts.get("runtime_env", {}).get("env_vars", {})
    assert env.get("XLA_PYTHON_CLIENT_MEM_FRACTION") == memory
    assert env["FISHSEG_HOST_THREADS"] == threads
    monkeypatch.setenv("FISHSEG_HOST_THREADS", "3")  # the driver's setting wins
    assert _worker_options(_Cluster(**res), asked)[1]["runtime_env"]["env_vars"][
        "FISHSEG_HOST_THREADS"] == "3"
    per_gpu = round(1 / gpu)
    assert per_gpu * res["GPU"] >= n  # Ray can place them all


def test_worker_options_cap_with_a_warning(monkeypatch):
    monkeypatch.delenv("FISHSEG_HOST_THREADS", raising=False)
    one_cpu = {"num_cpus": 1, "runtime_env": {"env_vars": {"FISHSEG_HOST_THREADS": "1"}}}
    with pytest.warns(UserWarning, match="room for 4"):
        n, opts = _worker_options(_Cluster(GPU=1, CPU=4), 8)
    assert n == 4 and opts["num_gpus"] == 0.25
    with pytest.warns(UserWarning, match="room for 2"):
        n, opts = _worker_options(_Cluster(CPU=2), 5)
    assert n == 2 and opts == one_cpu
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _worker_options(_Cluster(CPU=2), None) == (2, one_cpu)


def test_two_workers_share_one_gpu(tiny_model_path, tmp_path):
    model_path = tiny_model_path
    videos = []
    for name, seed in (("a", 1), ("b", 2)):
        synthesize(tmp_path / name, frames=5, seed=seed, cfg=SYNTH, progress=False)
        videos.append((tmp_path / name / "video.mp4").rename(tmp_path / f"{name}.mp4"))
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="warning")
    try:
        n, opts = _worker_options(ray, 2)
        assert n == 2 and opts["num_gpus"] == 0.5
        workers = [ray.remote(SegmentWorker).options(**opts).remote(str(model_path), None)
                   for _ in range(2)]
        infos = ray.get([w.ready.remote() for w in workers], timeout=120)  # both placed at once
        assert [i["memory_fraction"] for i in infos] == ["0.450", "0.450"]
        assert [i["host_threads"] for i in infos] == [1, 1]  # 2 CPUs for 2 workers
        assert infos[0]["pid"] != infos[1]["pid"]
        for w in workers:
            ray.kill(w)
        res = segment_inputs_ray(videos, tmp_path / "ray", model_path=model_path,
                                 num_workers=2, progress=False, overlay=False)
    finally:
        ray.shutdown()
    assert [r.status for r in res] == ["done", "done"]
    local = segment_inputs(videos, tmp_path / "local", model=load_model(model_path), progress=False,
                           overlay=False)
    assert [r.status for r in local] == ["done", "done"]
    for name in ("a", "b"):
        for f in ("counts.csv", "fish.csv"):
            assert (tmp_path / "ray" / name / f).read_bytes() == \
                (tmp_path / "local" / name / f).read_bytes()
