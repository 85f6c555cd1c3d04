"""Run ``fishseg segment`` on a Ray cluster: one task per input, on workers that load the model once.

Tracking needs a video's frames in order, so the unit of work is a whole input (a video,
an image, a folder of images). The driver (the machine that runs ``fishseg segment
--engine ray``) expands the inputs and names their output folders exactly as the local
engine (:func:`fishseg.pipeline.segment_inputs`) does, skips inputs whose outputs are
complete, and hands the rest to a pool of :class:`SegmentWorker` actors, one task in
flight per actor. Each worker loads the model once (by path: the driver never loads it)
and writes straight into the shared output folder through
:func:`fishseg.pipeline.segment_video`, which stages into ``OUT/.<name>.partial`` and
renames when complete, so a killed worker leaves nothing a rerun would skip.

Failures are reported per input: an input that cannot be read (``VideoError`` and other
exceptions raised while segmenting it) is *failed* and not retried; a worker that dies
(killed, out of memory, node lost) gets replaced by a fresh actor and its input is
retried ``retries`` times before it is reported failed. A model that cannot be loaded
stops the whole run with the model's own error.

Ray is an optional extra (``pip install "fishseg[ray]"``); it is imported only here.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from fishseg.config import Config, from_dict, load_config, override
from fishseg.io.export import is_complete
from fishseg.io.recording import check_given
from fishseg.model.bundle import is_bundled_name
from fishseg.pipeline import InputResult, done_message, named_inputs, recently_changed, too_new

INSTALL_HINT = 'the Ray engine needs Ray: pip install "fishseg[ray]" (or pip install "ray[default]>=2.30,<3")'


class RayNotInstalledError(ImportError):
    """``--engine ray`` was asked for, but Ray cannot be imported."""


def import_ray():
    """The ``ray`` module, or :class:`RayNotInstalledError` saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise RayNotInstalledError(f"{INSTALL_HINT} ({e})") from e
    return ray


@dataclass(frozen=True)
class ConfigPatch:
    """Configuration overrides that each worker applies to its model's own configuration.

    The local engine takes the loaded model's configuration and puts ``--config FILE``,
    ``--set`` and dedicated flags on top. The Ray driver does not load the model, so it
    ships the overrides instead; the YAML file is read here, in the driver, so workers
    need not see it. Calling the patch on a :class:`Config` gives the same result as the
    CLI's ``_config(args, base=cfg, **flags)``.
    """

    data: dict | None = None
    where: str = "<dict>"
    sets: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, config: str | Path | None = None, sets: Iterable[str] = (),
                  **flags: object) -> ConfigPatch:
        """Read ``config`` (YAML) now; ``flags`` are dotted keys, None values are left out.

        Raises:
            ConfigError: the file, a ``--set`` or a flag names a bad key or value (checked
                here against the defaults, so the user hears it once, before any work).
        """
        data = None
        if config is not None:
            load_config(config)  # validates; names the file and key on error
            data = yaml.safe_load(Path(config).read_text())
        patch = cls(data, str(config), tuple(sets),
                    tuple(f"{k}={v}" for k, v in flags.items() if v is not None))
        patch(Config())
        return patch

    def __call__(self, base: Config) -> Config:
        cfg = from_dict(self.data, self.where, base=base) if self.data is not None else base
        cfg = override(cfg, list(self.sets)) if self.sets else cfg
        return override(cfg, list(self.flags), where="command-line flags") if self.flags else cfg


class SegmentWorker:
    """One worker (a Ray actor): loads the model once, then segments inputs one at a time.

    A plain class, so it can be used and tested without Ray; :func:`segment_inputs_ray`
    wraps it with ``ray.remote``.

    Args:
        model_path: model bundle on the worker's file system (None: the bundled default).
        cfg: a :class:`Config`, a callable ``Config -> Config`` applied to the model's
            configuration (e.g. a :class:`ConfigPatch`), or None for the model's own.
    """

    def __init__(self, model_path: str | Path | None = None,
                 cfg: Config | Callable[[Config], Config] | None = None):
        self.pid, self.node = os.getpid(), socket.gethostname()
        self.error: Exception | None = None
        try:
            from fishseg.model.bundle import load_model

            self.model = load_model(model_path)
            self.cfg = cfg(self.model.cfg) if callable(cfg) else (cfg or self.model.cfg)
            if callable(cfg):  # the CLI's overrides: model.* keys act on the maps, as locally
                self.model.cfg = self.cfg
        except Exception as e:  # noqa: BLE001 - handed to the driver by ready()
            self.error = e

    def ready(self) -> dict:
        """``{"pid", "node", "node_id", "memory_fraction", "host_threads"}`` once the model
        is loaded (``node_id``: the Ray node it runs on, None outside Ray; the share of its
        GPU's memory this worker's JAX may take, None = JAX's default; the threads of its
        per-frame host work, :mod:`fishseg.frame_threads`); raises the loading error if any."""
        from fishseg.frame_threads import host_threads

        if self.error is not None:
            raise self.error
        return {"pid": self.pid, "node": self.node, "node_id": _ray_node_id(),
                "memory_fraction": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION"),
                "host_threads": host_threads()}

    def set_host_threads(self, n: int) -> int:
        """Use ``n`` threads for per-frame host work from the next input on (the driver
        gives each worker its node's CPUs divided by the workers on that node); returns
        the threads now in use."""
        from fishseg.frame_threads import host_threads

        os.environ["FISHSEG_HOST_THREADS"] = str(int(n))
        return host_threads()

    def run(self, source, dest: str | Path, kwargs: dict) -> dict:
        """Segment one input into ``dest`` (see :func:`fishseg.pipeline.segment_video`).

        Returns:
            ``{"ok": True, "summary": dict, "worker": dict}``, or ``{"ok": False, "message":
            str}`` when the input failed (unreadable video, bad frames, ...): retrying would
            not help. ``worker`` says who did it: ``{"pid", "node", "node_id",
            "host_threads"}``.
        """
        from fishseg.frame_threads import host_threads
        from fishseg.pipeline import segment_video

        try:
            s = segment_video(source, dest, model=self.model, cfg=self.cfg, progress=False,
                              **kwargs)
            return {"ok": True, "summary": s, "worker": {
                "pid": self.pid, "node": self.node, "node_id": _ray_node_id(),
                "host_threads": host_threads()}}
        except Exception as e:  # noqa: BLE001 - one bad input must not stop the batch
            return {"ok": False, "message": f"{type(e).__name__}: {e}"}


def _ray_node_id() -> str | None:
    """The id of the Ray node this process runs on (None when not in a Ray worker)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - outside Ray, or a Ray without the context API
        return None


def node_threads(placed: dict, node_cpus: dict[str, int], cap: int = 8) -> dict:
    """Host threads for each worker: its node's CPUs divided by the workers on that node.

    Workers on one node share its cores; a cluster's nodes need not have the same number
    of cores nor of workers (a 64-core GPU node beside an 8-core one), so the share is
    per node, not the cluster's CPUs divided by all its workers.

    Args:
        placed: ``{worker: node_id}`` for the workers that are running.
        node_cpus: ``{node_id: CPUs}`` as Ray counts them (its ``CPU`` resource).
        cap: most threads for one worker (as :func:`fishseg.frame_threads.host_threads`).

    Returns:
        ``{worker: threads}``, each at least 1 (a node Ray reports no CPUs for gives 1).
    """
    per_node: dict = {}
    for node in placed.values():
        per_node[node] = per_node.get(node, 0) + 1
    return {w: max(1, min(cap, int(node_cpus.get(node, 0)) // per_node[node]))
            for w, node in placed.items()}


def _node_cpus(ray) -> dict[str, int]:
    """``{node_id: CPUs}`` of the cluster's live nodes."""
    return {n["NodeID"]: int(n.get("Resources", {}).get("CPU", 0))
            for n in ray.nodes() if n.get("Alive")}


@dataclass
class _Job:
    slot: int          # index into the results
    unit: Path | list[Path]
    dest: Path
    deaths: int = 0    # workers that died while on this input


def _plan(inputs: Iterable[str | Path], out: Path, overwrite: bool, min_age_s: float = 0.0
          ) -> tuple[list[InputResult | None], list[_Job]]:
    """Results known before any work (bad paths, complete outputs) and the jobs to run.

    Names output folders exactly as :func:`fishseg.pipeline.segment_inputs` does, so both
    engines write the same folders and a rerun with either skips the other's work.
    """
    units, errors = named_inputs(inputs, exclude=out)
    results: list[InputResult | None] = [InputResult(raw, "failed", out, msg)
                                         for raw, msg in errors]
    jobs = []
    for unit, name in units:
        dest = out / name
        age = recently_changed(unit, min_age_s)
        if age is not None:
            results.append(InputResult(str(unit), "skipped", dest, too_new(age, min_age_s),
                                       {"skipped": True, "output": str(dest)}))
        elif is_complete(dest) and not overwrite:
            results.append(InputResult(str(unit), "skipped", dest,
                                       "already complete (use --overwrite to redo)",
                                       {"skipped": True, "output": str(dest)}))
        else:
            jobs.append(_Job(len(results), unit, dest))
            results.append(None)
    return results, jobs


def _worker_options(ray, num_workers: int | None) -> tuple[int, dict]:
    """How many workers and what each asks of Ray.

    On a cluster with GPUs: one GPU each by default. More workers than GPUs share them:
    k = ceil(workers / GPUs) to a GPU, each asking Ray for 1/k of one and given 1/k of
    90% of its memory (``XLA_PYTHON_CLIENT_MEM_FRACTION``; JAX would otherwise reserve
    75% in each). On a GPU the maps take about 1% of a frame's time and the host's
    separation, tracking and export the rest (docs/performance.md), so workers sharing a
    GPU add throughput up to the host's cores. Without GPUs: one CPU each. At most one
    worker per CPU (or per GPU, where a cluster has fewer CPUs than GPUs). Each worker's
    per-frame host work starts with the cluster's CPUs divided by the workers as threads
    (``FISHSEG_HOST_THREADS``, at most 8; the driver's own setting wins), so workers
    sharing a host do not each start a thread per core; once placed, each gets its own
    node's share instead (:func:`node_threads`).

    Returns:
        (workers, Ray actor options).
    """
    res = ray.cluster_resources()
    gpus, cpus = int(res.get("GPU", 0)), int(res.get("CPU", 0))
    capacity = max(gpus, cpus)
    n = num_workers or gpus or cpus
    if n > capacity:
        warnings.warn(f"--workers {n}: the Ray cluster has room for {capacity} "
                      f"(one per {'CPU' if cpus >= gpus else 'GPU'}); using {capacity}",
                      stacklevel=3)
        n = capacity
    n = max(1, n)
    env = {"FISHSEG_HOST_THREADS": os.environ.get("FISHSEG_HOST_THREADS")
           or str(max(1, min(8, cpus // n)))}
    if not gpus:
        return n, {"num_cpus": 1, "runtime_env": {"env_vars": env}}
    opts = {"num_gpus": 1, "num_cpus": 1 if cpus >= gpus else 0,
            "runtime_env": {"env_vars": env}}
    per_gpu = -(-n // gpus)
    if per_gpu > 1:
        opts["num_gpus"] = 1 / per_gpu
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / per_gpu:.3f}"
    return n, opts


def _absolute(unit: Path | list[Path]) -> Path | list[Path]:
    """Absolute paths for the workers, whose working folder is not the driver's."""
    return [p.absolute() for p in unit] if isinstance(unit, list) else unit.absolute()


def _result(job: _Job, reply: dict) -> InputResult:
    """The :class:`InputResult` of a worker's reply (messages as the local engine's)."""
    src = str(job.unit)
    if not reply["ok"]:
        return InputResult(src, "failed", job.dest, reply["message"])
    s = reply["summary"]
    if s.get("skipped"):  # completed meanwhile by another run, or outside a clock window
        return InputResult(src, "skipped", job.dest,
                           s.get("reason", "already complete (use --overwrite to redo)"), s)
    if "worker" in reply:  # in the result only (summary.json is the local engine's)
        s = {**s, "worker": reply["worker"]}
    msg = done_message(s)
    if job.deaths:
        msg += f" (after {job.deaths} worker death{'s' * (job.deaths > 1)})"
    return InputResult(src, "done", job.dest, msg, s)


def segment_inputs_ray(inputs: Iterable[str | Path], out: str | Path, *,
                       model_path: str | Path | None = None,
                       cfg: Config | Callable[[Config], Config] | None = None,
                       address: str | None = None, num_workers: int | None = None,
                       progress: bool = True, retries: int = 1, min_age_s: float = 0.0,
                       **segment_kwargs) -> list[InputResult]:
    """Segment many inputs on a Ray cluster; the same outputs and results as the local engine.

    Args:
        inputs: videos, images and folders (see :func:`fishseg.pipeline.named_inputs`);
            paths must be readable by the driver and by every worker (a shared folder).
        out: the output root, shared by all workers; each input gets ``out/<name>/``.
        model_path: model bundle as the workers see it (None: the bundled default).
        cfg: a :class:`Config`, or a callable applied on each worker to the model's own
            configuration (:class:`ConfigPatch`); None: the model's configuration.
        address: Ray cluster address (``"auto"``, ``"ray://head:10001"``, ``"head:6379"``);
            None starts a local Ray instance (unless this process is already connected).
        num_workers: actors in the pool (default: one per GPU of the cluster, or per CPU
            when it has none; at most that many).
        progress: show a tqdm bar over inputs on the driver.
        retries: times an input is retried on a fresh worker after its worker died.
        min_age_s: skip inputs changed less than this many seconds ago
            (:func:`fishseg.pipeline.recently_changed`).
        **segment_kwargs: passed on to :func:`fishseg.pipeline.segment_video`
            (batch_size, scale, overlay, overwrite, fps, roi, frame_step, start_s, end_s,
            recording_start, checkpoint_every).

    Returns:
        one :class:`fishseg.pipeline.InputResult` per input, in input order.

    Raises:
        RayNotInstalledError: Ray is not installed.
        fishseg.model.bundle.BundleError: a worker cannot load the model.
    """
    ray = import_ray()
    out = Path(out)
    results, todo = _plan(inputs, out, bool(segment_kwargs.get("overwrite")), min_age_s)
    check_given(segment_kwargs.get("recording_start", "auto"),
                sum(r is None or r.status == "skipped" for r in results))
    if not todo:
        return results
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=max(os.cpu_count() or 1, num_workers or 0),
                     include_dashboard=False, logging_level=logging.WARNING)
    actors: dict = {}   # handle -> {"pid", "node"} once ready
    try:
        return _run_pool(ray, results, todo, actors, model_path, cfg, num_workers, progress,
                         retries, segment_kwargs)
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()


def _run_pool(ray, results, todo, actors, model_path, cfg, num_workers, progress, retries,
              kwargs) -> list[InputResult]:
    """The submit/wait loop: one task in flight per ready actor, replacements for the dead."""
    from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

    n, opts = _worker_options(ray, num_workers)
    n = min(n, len(todo))
    worker_cls = ray.remote(SegmentWorker).options(max_restarts=0, max_task_retries=0, **opts)
    starting, running, idle = {}, {}, []
    pending = deque(todo)
    deaths_at_start = 0
    balance = not os.environ.get("FISHSEG_HOST_THREADS")  # the driver's own setting wins
    node_cpus = _node_cpus(ray) if balance else {}
    given: dict = {}   # actor -> host threads last sent

    def rebalance():
        """Each ready actor's threads: its node's CPUs over the actors placed there."""
        placed = {a: info["node_id"] for a, info in actors.items()
                  if info and info.get("node_id") is not None}
        if not set(placed.values()) <= node_cpus.keys():   # a node joined since
            node_cpus.update(_node_cpus(ray))
        for a, k in node_threads(placed, node_cpus).items():
            if given.get(a, actors[a].get("host_threads")) != k:
                a.set_host_threads.remote(k)   # runs before the actor's next input
                given[a] = k

    def start_actor():
        path = model_path if model_path is None or is_bundled_name(model_path) \
            else str(Path(model_path).absolute())   # a bundled name loads on each worker
        a = worker_cls.remote(path, cfg)
        actors[a] = {}
        starting[a.ready.remote()] = a

    def drop_actor(a):
        actors.pop(a, None)
        given.pop(a, None)
        ray.kill(a)
        if balance:
            rebalance()
        if len(actors) < n and (pending or running):
            start_actor()

    for _ in range(n):
        start_actor()
    bar = tqdm(total=len(results), initial=len(results) - len(todo), desc="inputs",
               unit="input", disable=not progress, dynamic_ncols=True)
    try:
        while pending or running:
            while idle and pending:
                a, job = idle.pop(), pending.popleft()
                running[a.run.remote(_absolute(job.unit), str(job.dest.absolute()), kwargs)] = (a, job)
            if not starting and not running:
                raise RuntimeError("no Ray worker is left to run the remaining inputs")
            (ref,), _ = ray.wait([*starting, *running], num_returns=1)
            if ref in starting:
                a = starting.pop(ref)
                try:
                    actors[a] = ray.get(ref)
                    if balance:
                        rebalance()
                    idle.append(a)
                except RayTaskError as e:  # the model could not be loaded: stop here
                    raise (e.cause if isinstance(e.cause, Exception) else e) from None
                except RayActorError:
                    deaths_at_start += 1
                    if deaths_at_start > 2 * n + retries * len(todo):
                        raise RuntimeError("Ray workers keep dying while loading the model; "
                                           "see the Ray logs (/tmp/ray/session_latest/logs)") from None
                    drop_actor(a)
                continue
            a, job = running.pop(ref)
            try:
                reply = ray.get(ref)
            except (RayActorError, WorkerCrashedError) as e:
                info = actors.get(a) or {}
                job.deaths += 1
                if job.deaths <= retries:
                    pending.appendleft(job)
                else:
                    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                    results[job.slot] = InputResult(
                        str(job.unit), "failed", job.dest,
                        f"worker pid {info.get('pid', '?')} on {info.get('node', '?')} died "
                        f"while segmenting it ({job.deaths} time(s)): {type(e).__name__}: {first}")
                    bar.update(1)
                drop_actor(a)
                continue
            except RayTaskError as e:  # an error outside segment_video; the actor lives
                reply = {"ok": False, "message": f"{type(e.cause).__name__}: {e.cause}"}
            results[job.slot] = _result(job, reply)
            bar.update(1)
            idle.append(a)
    finally:
        bar.close()
    return results
