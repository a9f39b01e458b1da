"""Pools of workers behind one small interface, :class:`Pool`, that the scheduler drives.

:class:`ThreadPool` runs one worker per device in threads of this process (several GPUs of one machine, without
Ray: no start-up, no copies between processes; the network releases the GIL while it computes).
:class:`esrgan.cluster.ray_pool.RayPool` runs one Ray actor per worker, on this machine or a cluster.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from esrgan.cluster.worker import Job, Reply, ThreadLogs, Worker, WorkerInfo

__all__ = ["AllWorkersLostError", "Pool", "ThreadPool", "WorkerLostError"]

log = logging.getLogger(__name__)


class WorkerLostError(Exception):
    """A worker died or became unreachable while it held an item: the item did not finish there (retry it)."""


class AllWorkersLostError(ConnectionError):
    """Every worker of the pool is gone; the run cannot go on. The message says how many and the last cause."""


class Pool(Protocol):
    """Workers that each run one :class:`~esrgan.cluster.worker.Job` on their device.

    A ticket is whatever :meth:`submit` returns (hashable); :meth:`result` of a finished ticket gives the
    :class:`~esrgan.cluster.worker.Reply` or raises :class:`WorkerLostError`.
    """

    def start(self) -> list[WorkerInfo]:
        """Start every worker (each loads its model) and return who they are, in worker order."""
        ...

    def submit(self, worker: int, index: int, payload: Any) -> Any:
        """Queue item ``index`` on ``worker``; returns its ticket."""
        ...

    def wait(self, tickets: Collection[Any], timeout: float) -> list[Any]:
        """Those of ``tickets`` that finished, waiting at most ``timeout`` seconds for the first one."""
        ...

    def result(self, ticket: Any) -> Reply:
        """The reply of a finished ticket; :class:`WorkerLostError` if its worker was lost meanwhile."""
        ...

    def partial(self) -> dict[int, tuple[int, int]]:
        """Per busy worker, (index, units done) of the item it is doing, as last heard (may lag; never blocks)."""
        ...

    def recovered(self, worker: int) -> bool | None:
        """After a loss: True once ``worker`` is back (restarted, model loaded), False if it is gone for good,
        None while that is not known yet. Never blocks."""
        ...

    def close(self) -> None:
        """Stop the workers (queued items are dropped)."""
        ...


class ThreadPool:
    """One worker per entry of ``devices`` ("cuda:0", "cuda:1", or "cpu" twice), each in its own thread.

    Each worker starts its own copy of the job (its own network on its own device). Threads are never lost, so
    :meth:`recovered` is never asked; an unexpected exception in a job is a bug and is raised by :meth:`result`.
    From :meth:`start` to :meth:`close`, what the workers log is collected per item (:class:`ThreadLogs`), so the
    driver can report it in item order.
    """

    def __init__(self, job: Job, devices: Sequence[str]) -> None:
        if not devices:
            raise ValueError("devices must name at least one device")
        self.job = job
        self.devices = list(devices)
        self._executors = [cf.ThreadPoolExecutor(1, thread_name_prefix=f"esrgan-w{i}") for i in range(len(devices))]
        self._workers: list[Worker] = []
        self._logs = ThreadLogs()
        self._routing = contextlib.ExitStack()

    def start(self) -> list[WorkerInfo]:
        self._routing.enter_context(self._logs.installed())
        # Each worker is built in its own thread: a CUDA device, thread-local state, all where it will run.
        futures = [
            ex.submit(Worker, self.job, device, f"w{i}", self._logs)
            for i, (ex, device) in enumerate(zip(self._executors, self.devices, strict=True))
        ]
        self._workers = [f.result() for f in futures]
        return [w.info() for w in self._workers]

    def submit(self, worker: int, index: int, payload: Any) -> cf.Future[Reply]:
        return self._executors[worker].submit(self._workers[worker].run, index, payload)

    def wait(self, tickets: Collection[Any], timeout: float) -> list[Any]:
        done, _ = cf.wait(tickets, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def result(self, ticket: Any) -> Reply:
        reply: Reply = ticket.result()
        return reply

    def partial(self) -> dict[int, tuple[int, int]]:
        current = {i: w.progress() for i, w in enumerate(self._workers)}
        return {i: p for i, p in current.items() if p is not None}

    def recovered(self, worker: int) -> bool | None:
        return True

    def close(self) -> None:
        for ex in self._executors:
            ex.shutdown(wait=True, cancel_futures=True)
        self._routing.close()
