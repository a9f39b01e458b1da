"""Workers as Ray actors, on this machine or a cluster: :func:`ray_session`, :func:`plan_workers`, :class:`RayPool`.

Each actor holds one started job (one network on its device): one GPU each where the cluster has GPUs, else a
share of a machine's CPU cores. Actors are created with ``max_restarts`` (Ray starts a crashed actor again, which
loads its model again) and ``max_task_retries=0``: an item whose actor dies comes back to the driver at once as
:class:`~esrgan.cluster.pools.WorkerLostError`, and the scheduler gives it to another worker with room instead
of waiting for that actor's restart. Actor calls are at-most-once; since workers only compute and return
results, a retried item cannot be written twice.

Ray is an optional dependency (``pip install "esrgan[ray]"``); this module imports it only when used.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from esrgan.allocator import allocator_env
from esrgan.cluster.pools import WorkerLostError
from esrgan.cluster.worker import Job, ProcessLogs, Reply, Worker, WorkerInfo
from esrgan.errors import OptionsError

__all__ = ["RayPool", "WorkerPlan", "plan_workers", "ray_session"]

log = logging.getLogger(__name__)

# How often the driver says it is still waiting for workers to be placed and started (a busy cluster).
START_NOTICE_S = 60.0
# Restarts of each crashed actor. More than the scheduler's attempts per item (3), so that an item that crashes
# every worker it meets is given up (reported as its own error) before it has used up the last worker.
MAX_RESTARTS = 4


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError('Ray is not installed: pip install "esrgan[ray]" (on every machine of the cluster)') from None
    return ray


@contextmanager
def ray_session(address: str | None, *, verbose: bool = False) -> Iterator[Any]:
    """Connect to Ray for the duration of the block; yields the ``ray`` module.

    Args:
        address: None starts a private Ray instance on this machine (its CPUs and GPUs), shut down at the end;
            "auto" joins the cluster running here (``ray start --head`` or ``RAY_ADDRESS``); anything else is a
            cluster address (``HOST:PORT``; ``ray://HOST:10001`` needs ``ray[client]``).
        verbose: keep Ray's own informational log lines.

    If this process is already connected (a test, a notebook), that connection is used and left open.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    t0 = time.perf_counter()
    ray.init(
        address="local" if address is None else address,
        include_dashboard=False,
        logging_level=logging.INFO if verbose else logging.ERROR,
    )
    log.info(
        "Ray %s in %.1f s: %s", "started" if address is None else "joined", time.perf_counter() - t0, _describe(ray)
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def _describe(ray: Any) -> str:
    res = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return f"{nodes} node(s), {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs"


@dataclass(frozen=True)
class WorkerPlan:
    """How many workers, with which Ray resources each, and the device string their job gets ("cuda": the GPU
    Ray assigned, seen as the only one; "cpu"); ``threads``: torch threads of a CPU worker."""

    workers: int
    cpus: float
    gpus: float
    device: str

    @property
    def threads(self) -> int:
        return max(1, math.floor(self.cpus))


def plan_workers(
    nodes: list[dict[str, float]], *, workers: int | None, cpus: float | None, gpus: float | None, device: str
) -> WorkerPlan:
    """Workers and their resources for the cluster's alive ``nodes`` (each a Ray resource dict: CPU, GPU).

    Defaults: on GPUs (``device`` "auto" with GPUs in the cluster, or "cuda"), one GPU and one CPU per worker and
    one worker per GPU; on CPUs ("cpu", or "auto" without GPUs), one worker per machine with the cores of the
    smallest machine, or, with ``workers`` given, the cores shared evenly between them.

    Raises:
        ValueError: a bad ``device`` for Ray, no GPUs for a GPU device, or workers that cannot all be placed.
    """
    name = device.strip().lower()
    if name not in ("auto", "cpu", "cuda"):
        raise OptionsError(
            f"device {device!r} with Ray: use auto, cpu or cuda (Ray gives each worker its own GPU; "
            "to pick GPUs of this machine without Ray, list them: cuda:0,1)"
        )
    total_gpus = sum(n.get("GPU", 0.0) for n in nodes)
    if name == "cpu" and gpus:
        raise OptionsError(f"device cpu with {gpus:g} GPUs per worker: drop the GPUs per worker or use cuda")
    on_gpu = name == "cuda" or bool(gpus) or (name == "auto" and total_gpus >= 1)
    if on_gpu:
        if total_gpus <= 0:
            raise OptionsError("device cuda with Ray, but the cluster has no GPUs")
        gpus = gpus or 1.0
        count = workers or max(1, math.floor(total_gpus / gpus + 1e-9))
        cpus = cpus or 1.0
    else:
        gpus = 0.0
        smallest = min(n.get("CPU", 0.0) for n in nodes)
        count = workers or len(nodes)
        cpus = cpus or max(1.0, min(smallest, math.floor(sum(n.get("CPU", 0.0) for n in nodes) / count)))
    fits = sum(_fits(n, cpus, gpus) for n in nodes)
    if fits < count:
        raise OptionsError(
            f"{count} workers with {cpus:g} CPUs and {gpus:g} GPUs each do not fit: the cluster's "
            f"{len(nodes)} node(s) hold {fits} ({sum(n.get('CPU', 0.0) for n in nodes):g} CPUs, {total_gpus:g} "
            "GPUs in all); ask for fewer workers or fewer resources per worker"
        )
    return WorkerPlan(count, cpus, gpus, "cuda" if on_gpu else "cpu")


def _fits(node: dict[str, float], cpus: float, gpus: float) -> int:
    by_cpu = math.floor(node.get("CPU", 0.0) / cpus + 1e-9) if cpus else 10**9
    by_gpu = math.floor(node.get("GPU", 0.0) / gpus + 1e-9) if gpus else 10**9
    return min(by_cpu, by_gpu)


class _Actor:
    """The Ray actor: a :class:`~esrgan.cluster.worker.Worker` in its own process (log records captured).

    The job comes with :meth:`start`, not with the constructor: Ray re-runs only the constructor when it restarts
    a crashed actor, and keeping large constructor arguments available for that is not reliable (ray-project/ray
    issue 53727), so the driver starts a restarted actor again itself (:meth:`RayPool.recovered`).
    """

    def __init__(self, device: str, name: str, level: int, threads: int) -> None:
        if device == "cpu":
            import torch

            torch.set_num_threads(threads)
        self.device, self.name, self.level = device, name, level
        self.worker: Worker | None = None

    def start(self, job: Job) -> WorkerInfo:
        """Start ``job`` (load its model) unless this process already did; who this worker is."""
        if self.worker is None:
            self.worker = Worker(job, self.device, self.name, ProcessLogs(self.level))
        return self.worker.info()

    def run(self, index: int, payload: Any) -> Reply:
        if self.worker is None:
            raise RuntimeError(f"worker {self.name} was not started")
        return self.worker.run(index, payload)

    def progress(self) -> tuple[int, int] | None:
        return self.worker.progress() if self.worker is not None else None


class RayPool:
    """``plan.workers`` Ray actors, each running ``job`` on its device.

    Args:
        job: what each worker runs (sent once through Ray's object store, e.g. the network's weights).
        plan: workers and resources (:func:`plan_workers`).
        max_restarts: how often Ray restarts each crashed actor (``ray.kill`` ends one for good).
        level: log level captured in the workers (the driver's).

    Needs a Ray connection (:func:`ray_session`).
    """

    def __init__(
        self, job: Job, plan: WorkerPlan, *, max_restarts: int = MAX_RESTARTS, level: int = logging.INFO
    ) -> None:
        self.job = job
        self.plan = plan
        self.max_restarts = max_restarts
        self.level = level
        self.actors: list[Any] = []
        self._pings: dict[int, Any] = {}
        self._polls: dict[int, Any] = {}
        self._heard: dict[int, tuple[int, int]] = {}
        self._job_ref: Any = None

    def start(self) -> list[WorkerInfo]:
        ray = import_ray()
        plan = self.plan
        # progress() answers from its own thread while run() computes (run and start stay one at a time).
        actor_class = ray.remote(concurrency_groups={"poll": 1})(_Actor).options(
            num_cpus=plan.cpus,
            num_gpus=plan.gpus,
            max_restarts=self.max_restarts,
            max_task_retries=0,
            scheduling_strategy="SPREAD",
            # The driver's allocator tuning (esrgan.allocator.tune_cpu_allocator), set before the worker starts.
            runtime_env={"env_vars": allocator_env()},
        )
        self._job_ref = ray.put(self.job)  # once into the object store (each machine fetches it once)
        self.actors = [actor_class.remote(plan.device, f"w{i}", self.level, plan.threads) for i in range(plan.workers)]
        refs = [actor.start.remote(self._job_ref) for actor in self.actors]
        t0 = time.perf_counter()
        while True:
            _, pending = ray.wait(refs, num_returns=len(refs), timeout=START_NOTICE_S)
            if not pending:
                break
            log.warning(
                "%d of %d workers not started after %.0f s (model loading, or the cluster is busy)",
                len(pending),
                len(refs),
                time.perf_counter() - t0,
            )
        try:
            return [ray.get(ref) for ref in refs]
        except ray.exceptions.RayTaskError as exc:
            # A worker could not start its job (say, the model does not fit its device): that error, as raised.
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            raise cause from None

    def submit(self, worker: int, index: int, payload: Any) -> Any:
        return self.actors[worker].run.remote(index, payload)

    def wait(self, tickets: Collection[Any], timeout: float) -> list[Any]:
        ray = import_ray()
        ready, _ = ray.wait(list(tickets), num_returns=1, timeout=timeout)
        return list(ready)

    def result(self, ticket: Any) -> Reply:
        ray = import_ray()
        try:
            reply: Reply = ray.get(ticket)
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
            raise WorkerLostError(_one_line(exc)) from exc
        return reply

    def partial(self) -> dict[int, tuple[int, int]]:
        ray = import_ray()
        for worker, ref in list(self._polls.items()):
            ready, _ = ray.wait([ref], timeout=0)
            if not ready:
                continue
            del self._polls[worker]
            try:
                heard = ray.get(ref)
            except ray.exceptions.RayError:  # the worker is being lost: its loss shows on its item
                heard = None
            if heard is None:
                self._heard.pop(worker, None)
            else:
                self._heard[worker] = heard
        for worker, actor in enumerate(self.actors):
            if worker not in self._polls:
                self._polls[worker] = actor.progress.options(concurrency_group="poll").remote()
        return dict(self._heard)

    def recovered(self, worker: int) -> bool | None:
        ray = import_ray()
        ping = self._pings.get(worker)
        if ping is None:
            # Queued until a restarting actor is up again; starts its job there (a no-op if it never died).
            self._pings[worker] = self.actors[worker].start.remote(self._job_ref)
            return None
        ready, _ = ray.wait([ping], timeout=0)
        if not ready:
            return None
        del self._pings[worker]
        try:
            ray.get(ping)
        except ray.exceptions.ActorUnavailableError:
            return None  # asked again next time
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError):
            return False
        return True

    def close(self) -> None:
        ray = import_ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        self._polls.clear()
        self._job_ref = None


def _one_line(exc: BaseException, limit: int = 240) -> str:
    """Ray's multi-line actor errors as one line: the first line and the reason (the last), cut to ``limit``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = (lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}") if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
