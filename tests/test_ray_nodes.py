"""Ray workers on a cluster of unequal nodes: each gets its own node's share of cores.

A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: two raylets,
each told its own CPUs and one GPU; this machine has no GPU, so JAX stays on the CPU).
With one worker per GPU, one worker lands on each node, so the threads each must use
are known: its node's CPUs (at most 8). The cluster-wide share (all CPUs over all
workers) would give both the same.
"""

from __future__ import annotations

import pytest
import ray
from ray.cluster_utils import Cluster

from fishseg.config import SynthConfig
from fishseg.engines.ray import _node_cpus, node_threads, segment_inputs_ray
from fishseg.synth import synthesize

pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")


def test_node_threads_share_each_node():
    placed = {"w1": "a", "w2": "b", "w3": "b", "w4": "b", "w5": "big", "w6": "none"}
    cpus = {"a": 4, "b": 6, "big": 64, "none": 0}
    assert node_threads(placed, cpus) == {"w1": 4, "w2": 2, "w3": 2, "w4": 2,
                                          "w5": 8, "w6": 1}   # capped at 8, at least 1
    assert node_threads(placed, cpus, cap=16)["w5"] == 16
    assert node_threads({"w": "gone"}, cpus) == {"w": 1}      # a node Ray no longer lists
    assert node_threads({}, cpus) == {}


@pytest.mark.slow
def test_workers_on_unequal_nodes_get_their_nodes_cores(tiny_model_path, tmp_path, monkeypatch):
    monkeypatch.delenv("FISHSEG_HOST_THREADS", raising=False)
    videos = []
    for i in range(4):
        synthesize(tmp_path / f"v{i}", frames=4, seed=i, cfg=SynthConfig(width=320, height=180),
                   progress=False)
        videos.append((tmp_path / f"v{i}" / "video.mp4").rename(tmp_path / f"v{i}.mp4"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 8, "num_gpus": 1})
    try:
        cluster.add_node(num_cpus=2, num_gpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="warning")
        cpus = _node_cpus(ray)
        assert sorted(cpus.values()) == [2, 8]
        res = segment_inputs_ray(videos, tmp_path / "out", model_path=tiny_model_path,
                                 num_workers=2, progress=False, overlay=False)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert [r.status for r in res] == ["done"] * 4, [r.message for r in res]
    workers = {r.summary["worker"]["pid"]: r.summary["worker"] for r in res}
    for w in workers.values():   # one worker per node: all of that node's CPUs
        assert w["host_threads"] == cpus[w["node_id"]], (w, cpus)
    if len(workers) == 2:        # (both took inputs: each on its own node)
        assert {w["node_id"] for w in workers.values()} == set(cpus)
