"""The driver's loop: a stream of items over a pool of workers, each item done exactly once.

:class:`Scheduler` pulls items from the caller's iterator only when a worker has room (at most ``depth`` items
queued per worker: one computing, the next ready so the worker never waits for the driver), so the driver reads
ahead no further than the workers can take and memory stays flat however long the stream is. Every item ends as
exactly one :class:`Done`: its value, or its own expected error. An item whose worker is lost (killed, crashed,
its machine gone) goes back to the front of the queue and is taken by the next other worker with room (the one
that lost it only when no other is left); a lost worker gets no items until the pool says it is back (Ray
restarts actors that crashed) or gone. Work is retried, never
side effects: workers return results, and only the caller, in the driver, writes them, once per item.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from esrgan.cluster.pools import AllWorkersLostError, Pool, WorkerLostError
from esrgan.cluster.worker import WorkerInfo, replay
from esrgan.errors import OptionsError

__all__ = ["Done", "InOrder", "Scheduler", "WorkerStats"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long one wait for a finished item lasts before lost workers are asked whether they are back.
POLL_S = 0.5


@dataclass
class Done:
    """An item's outcome: ``value`` or ``error`` (the item's own failure), the worker that did it (its name) and
    what the item logged there (replay with :func:`esrgan.cluster.worker.replay`, in item order)."""

    index: int
    value: Any
    error: BaseException | None
    worker: str
    records: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class WorkerStats:
    """What one worker did: items finished (``failed`` of them with their own error), seconds it spent on them,
    items it lost (it died holding them; they were done elsewhere) and whether it is still there."""

    info: WorkerInfo
    items: int = 0
    failed: int = 0
    seconds: float = 0.0
    lost: int = 0
    gone: bool = False

    def line(self, unit: str = "items", count: int | None = None) -> str:
        """One line for the end-of-run summary, ``count`` of ``unit`` (default: items)."""
        info = self.info
        done = self.items if count is None else count
        rate = f", {done / self.seconds:.2f} {unit}/s busy" if self.seconds > 0 and done else ""
        extra = f", {self.failed} failed" if self.failed else ""
        extra += f", lost {self.lost} (done elsewhere)" if self.lost else ""
        extra += ", gone" if self.gone else ""
        where = f"{info.name} {info.device} on {info.host} pid {info.pid}"
        return f"{where}: {done} {unit} in {self.seconds:.1f} s{rate}{extra}"


class Scheduler:
    """Runs items over ``pool``'s workers.

    Args:
        pool: the workers (:class:`~esrgan.cluster.pools.ThreadPool` or
            :class:`~esrgan.cluster.ray_pool.RayPool`).
        depth: items queued per worker at most (2: one computing, one waiting).
        max_attempts: an item whose worker is lost this many times is given up, reported as its own error
            (an item that crashes every worker it meets must not take the whole pool down).

    Use :meth:`start` once (it starts the workers and checks they resolved the same engine), then :meth:`run`;
    :attr:`stats` says what each worker did.
    """

    def __init__(self, pool: Pool, *, depth: int = 2, max_attempts: int = 3) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.pool = pool
        self.depth = depth
        self.max_attempts = max_attempts
        self.stats: list[WorkerStats] = []
        # Units (frames, say) the workers reported done of the items in flight, as of the last poll.
        self.partial_units = 0

    def start(self) -> list[WorkerInfo]:
        """Start the workers; their start-up log lines are replayed once each.

        Raises:
            ValueError: the workers resolved different engine settings (say, bf16 on one machine and fp32 on
                another): their outputs would differ by which worker did an item, so the run is refused.
        """
        infos = self.pool.start()
        seen: set[tuple[str, int, str]] = set()
        for info in infos:  # every worker logs the same start-up lines: each is shown once
            fresh = [r for r in info.records if r not in seen]
            seen.update(fresh)
            replay(fresh)
        first = infos[0]
        for info in infos[1:]:
            if info.settings != first.settings:
                diff = ", ".join(
                    f"{k}: {first.settings.get(k)!r} on {first.name} ({first.host}), {info.settings.get(k)!r} on "
                    f"{info.name} ({info.host})"
                    for k in sorted(set(first.settings) | set(info.settings))
                    if first.settings.get(k) != info.settings.get(k)
                )
                raise OptionsError(
                    f"the workers resolved different engine settings ({diff}); outputs would depend on which "
                    "worker did an item: set backend and precision explicitly"
                )
        self.stats = [WorkerStats(info) for info in infos]
        return infos

    def run(self, items: Iterable[tuple[int, Any]], *, on_tick: Callable[[int], None] | None = None) -> Iterator[Done]:
        """Do every ``(index, payload)`` of ``items`` (pulled lazily) and yield one :class:`Done` per index, in
        the order they finish.

        Args:
            on_tick: called at least every :data:`POLL_S` seconds with the units the workers report done of the
                items they hold (see :attr:`partial_units`), for a progress bar that moves within long items.

        Raises:
            AllWorkersLostError: every worker is gone while items remain.
        """
        if not self.stats:
            raise RuntimeError("Scheduler.start() must be called before run()")
        run = _Run(self, iter(items))
        while True:
            run.fill()
            if not run.in_flight:
                if run.exhausted and not run.retry:
                    self.partial_units = 0
                    return
                run.wait_for_recovery()
                continue
            yield from run.collect(self.pool.wait(list(run.in_flight), POLL_S))
            run.check_recovering()
            held = {item.index for item, _, _ in run.in_flight.values()}
            self.partial_units = sum(units for index, units in self.pool.partial().values() if index in held)
            if on_tick is not None:
                on_tick(self.partial_units)


@dataclass
class _Item:
    index: int
    payload: Any
    attempts: int = 0
    lost_on: set[int] = field(default_factory=set)  # workers that were lost while holding it


class _Run:
    """The state of one :meth:`Scheduler.run`: what is queued where, what waits for a retry, who is lost."""

    def __init__(self, scheduler: Scheduler, source: Iterator[tuple[int, Any]]) -> None:
        self.s = scheduler
        self.source = source
        self.exhausted = False
        self.retry: deque[_Item] = deque()
        self.in_flight: dict[Any, tuple[_Item, int, int]] = {}  # ticket -> (item, worker, submission number)
        self.submitted = 0
        # worker -> (submission number of the item it was running, of the last item it held) at its last loss
        self.loss_events: dict[int, tuple[int, int]] = {}
        n = len(scheduler.stats)
        self.load = [0] * n
        self.recovering: set[int] = set()
        self.finished: set[int] = set()
        self.last_loss = ""

    def _next_for(self, worker: int) -> _Item | None:
        """The next item for ``worker``: a retry first, unless ``worker`` lost that one before and another
        worker may still take it; else a fresh item from the source."""
        for i, item in enumerate(self.retry):
            if worker not in item.lost_on or not self._others_alive(item):
                del self.retry[i]
                return item
        if self.exhausted:
            return None
        nxt = next(self.source, None)
        if nxt is None:
            self.exhausted = True
            return None
        return _Item(*nxt)

    def _others_alive(self, item: _Item) -> bool:
        return any(not s.gone and w not in item.lost_on for w, s in enumerate(self.s.stats))

    def fill(self) -> None:
        """Give items to the ready workers with room, least loaded first (items spread evenly)."""
        stats = self.s.stats
        skip: set[int] = set()  # workers with room but nothing they may take now
        while True:
            room = [
                w
                for w in range(len(stats))
                if not stats[w].gone and w not in self.recovering and w not in skip and self.load[w] < self.s.depth
            ]
            if not room:
                return
            worker = min(room, key=lambda w: (self.load[w], w))
            item = self._next_for(worker)
            if item is None:
                skip.add(worker)
                continue
            ticket = self.s.pool.submit(worker, item.index, item.payload)
            self.submitted += 1
            self.in_flight[ticket] = (item, worker, self.submitted)
            self.load[worker] += 1

    def collect(self, tickets: list[Any]) -> Iterator[Done]:
        for ticket in tickets:
            item, worker, number = self.in_flight.pop(ticket)
            self.load[worker] -= 1
            stats = self.s.stats[worker]
            try:
                reply = self.s.pool.result(ticket)
            except WorkerLostError as exc:
                yield from self._lost(item, worker, number, exc)
                continue
            if item.index in self.finished:  # a lost run that did finish after all: its result is not used twice
                continue
            self.finished.add(item.index)
            stats.items += 1
            stats.failed += reply.error is not None
            stats.seconds += reply.seconds
            yield Done(item.index, reply.value, reply.error, stats.info.name, reply.records)

    def _lost(self, item: _Item, worker: int, number: int, exc: WorkerLostError) -> Iterator[Done]:
        """``item`` (submission ``number``) comes back from a lost worker and is queued again, first in line.

        Every item a worker held when it was lost is lost with it (they may be collected one by one, even after
        the worker is back). A worker does its items one at a time in the order given, so only the oldest of them
        was running and counts an attempt; the others only waited behind it.
        """
        stats = self.s.stats[worker]
        stats.lost += 1
        self.last_loss = f"{stats.info.name} on {stats.info.host}: {exc}"
        event = self.loss_events.get(worker)
        if event is None or number > event[1]:  # a new loss of this worker
            after = event[1] if event is not None else 0  # items of an earlier loss may still be uncollected
            held = [n for _, w, n in self.in_flight.values() if w == worker and n > after]
            event = self.loss_events[worker] = (min([number, *held]), max([number, *held]))
            if worker not in self.recovering:
                log.warning("worker %s lost (%s); its items go to the others", stats.info.name, exc)
                self.recovering.add(worker)
        running = number == event[0]
        if running:
            item.attempts += 1
            item.lost_on.add(worker)
        if item.attempts < self.s.max_attempts:
            self.retry.append(item)
            self.retry = deque(sorted(self.retry, key=lambda i: i.index))
            return
        self.finished.add(item.index)
        error = RuntimeError(f"given up after losing {item.attempts} workers while on it (the last: {exc})")
        yield Done(item.index, None, error, stats.info.name)

    def check_recovering(self) -> None:
        for worker in sorted(self.recovering):
            back = self.s.pool.recovered(worker)
            if back is None:
                continue
            self.recovering.discard(worker)
            stats = self.s.stats[worker]
            if back:
                log.info("worker %s is back", stats.info.name)
            else:
                stats.gone = True
                log.warning("worker %s is gone", stats.info.name)

    def wait_for_recovery(self) -> None:
        """Nothing is in flight but work remains: wait for a lost worker to come back, or give up."""
        if not self.recovering:
            raise AllWorkersLostError(f"all {len(self.s.stats)} workers are gone (the last: {self.last_loss})")
        time.sleep(POLL_S)
        self.check_recovering()


class InOrder(Generic[T]):
    """Releases values put by index in index order (from ``first``): for reports that must read as a local
    run's, whatever order the workers finish in. Holds only what arrived early."""

    def __init__(self, first: int = 0) -> None:
        self._next = first
        self._held: dict[int, T] = {}

    def put(self, index: int, value: T) -> list[T]:
        """Add ``value`` for ``index``; returns the values now due, in order."""
        if index < self._next or index in self._held:
            raise ValueError(f"index {index} was already put")
        self._held[index] = value
        out: list[T] = []
        while self._next in self._held:
            out.append(self._held.pop(self._next))
            self._next += 1
        return out

    @property
    def pending(self) -> int:
        """How many values wait for an earlier index."""
        return len(self._held)
