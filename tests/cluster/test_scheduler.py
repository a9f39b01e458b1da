"""esrgan.cluster.scheduler over the thread pool: every item exactly once, back-pressure, errors, order."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from esrgan.cluster.pools import AllWorkersLostError, ThreadPool, WorkerLostError
from esrgan.cluster.scheduler import InOrder, Scheduler
from esrgan.cluster.worker import Reply, WorkerInfo
from tests.cluster.jobs import SquareJob


def run_all(scheduler: Scheduler, payloads: list[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for done in scheduler.run(enumerate(payloads)):
        assert done.index not in out, "an item finished twice"
        out[done.index] = done.error if done.error is not None else done.value
    return out


def test_every_item_once_with_its_own_errors() -> None:
    pool = ThreadPool(SquareJob(delay=0.001), ["cpu", "cpu"])
    scheduler = Scheduler(pool)
    infos = scheduler.start()
    try:
        out = run_all(scheduler, [3, -1, 4, 5, -2, 6])
    finally:
        pool.close()
    assert [i.name for i in infos] == ["w0", "w1"]
    assert {k: v for k, v in out.items() if not isinstance(v, Exception)} == {0: 9, 2: 16, 3: 25, 5: 36}
    assert str(out[1]) == "item -1: negative" and isinstance(out[1], ValueError)
    assert str(out[4]) == "item -2: negative"
    stats = scheduler.stats
    assert sum(s.items for s in stats) == 6 and sum(s.failed for s in stats) == 2
    assert all(s.items > 0 for s in stats), "both workers took items"


def test_items_are_pulled_only_when_a_worker_has_room() -> None:
    pool = ThreadPool(SquareJob(delay=0.01), ["cpu", "cpu"])
    scheduler = Scheduler(pool, depth=2)
    scheduler.start()
    pulled = 0
    most_ahead = 0
    finished = 0

    def items() -> Iterator[tuple[int, int]]:
        nonlocal pulled, most_ahead
        for i in range(20):
            pulled += 1
            most_ahead = max(most_ahead, pulled - finished)
            yield i, i

    try:
        for _ in scheduler.run(items()):
            finished += 1
    finally:
        pool.close()
    assert finished == 20
    assert most_ahead <= 2 * 2 + 1, "the driver read further ahead than the workers can hold"


def test_a_bug_in_a_job_stops_the_run() -> None:
    pool = ThreadPool(SquareJob(bug_on=(13,)), ["cpu"])
    scheduler = Scheduler(pool)
    scheduler.start()
    try:
        with pytest.raises(KeyError, match="a bug"):
            run_all(scheduler, [1, 13, 2])
    finally:
        pool.close()


def test_workers_that_resolve_different_engines_are_refused() -> None:
    pool = ThreadPool(SquareJob(per_device=True), ["cpu", "cuda:9"])
    # The job does not touch the device: only its reported settings differ.
    with pytest.raises(ValueError, match=r"different engine settings.*device: 'cpu' on w0.*'cuda:9' on w1"):
        Scheduler(pool).start()
    pool.close()


def test_a_start_failure_is_raised_as_is() -> None:
    pool = ThreadPool(SquareJob(fail_start=True), ["cpu"])
    with pytest.raises(ValueError, match="cannot start on cpu"):
        Scheduler(pool).start()
    pool.close()


class _FlakyPool:
    """A fake pool of workers (two by default) computing inline: a worker that runs a payload of ``kills`` dies,
    losing that item, the items queued on it, and those given to it until ``recovered`` (``comes_back``) revives
    it."""

    def __init__(self, kills: dict[int, set[int]], comes_back: bool, workers: int = 2) -> None:
        self.kills = kills  # payload -> workers it kills
        self.comes_back = comes_back
        self.workers = workers
        self.dead: set[int] = set()
        self.held: dict[int, set[tuple[int, int, int]]] = {}
        self.doomed: set[tuple[int, int, int]] = set()  # tickets lost with their worker
        self.runs: list[tuple[int, int]] = []
        self._n = 0

    def start(self) -> list[WorkerInfo]:
        return [WorkerInfo(f"w{i}", "cpu", "here", i, {}) for i in range(self.workers)]

    def submit(self, worker: int, index: int, payload: int) -> tuple[int, int, int]:
        self._n += 1
        ticket = (self._n, worker, payload)
        if worker in self.dead:
            self.doomed.add(ticket)
        self.held.setdefault(worker, set()).add(ticket)
        return ticket

    def wait(self, tickets: Any, timeout: float) -> list[Any]:
        return sorted(tickets)[:1]

    def result(self, ticket: tuple[int, int, int]) -> Reply:
        _, worker, payload = ticket
        self.held[worker].discard(ticket)
        if ticket not in self.doomed and worker in self.kills.get(payload, set()):
            self.dead.add(worker)
            self.doomed |= self.held[worker]  # everything it held dies with it
            self.doomed.add(ticket)
        if ticket in self.doomed:
            raise WorkerLostError(f"w{worker} died")
        self.runs.append((worker, payload))
        return Reply(value=payload * 10)

    def partial(self) -> dict[int, tuple[int, int]]:
        return {}

    def recovered(self, worker: int) -> bool | None:
        if self.comes_back:
            self.dead.discard(worker)
        return self.comes_back

    def close(self) -> None:
        pass


def test_a_lost_workers_items_are_done_elsewhere_exactly_once() -> None:
    pool = _FlakyPool({0: {0}}, comes_back=False)
    scheduler = Scheduler(pool)
    scheduler.start()
    out = run_all(scheduler, list(range(8)))
    assert out == {i: i * 10 for i in range(8)}
    assert sorted(p for _, p in pool.runs) == list(range(8)), "every item ran to the end exactly once"
    assert {w for w, _ in pool.runs} == {1}
    assert scheduler.stats[0].lost == 2, "w0 held two items when it died"
    assert scheduler.stats[0].gone and not scheduler.stats[1].gone


def test_a_worker_that_comes_back_gets_items_again() -> None:
    pool = _FlakyPool({0: {0}}, comes_back=True)
    scheduler = Scheduler(pool)
    scheduler.start()
    out = run_all(scheduler, list(range(8)))
    assert out == {i: i * 10 for i in range(8)}
    assert {w for w, _ in pool.runs} == {0, 1}
    assert not scheduler.stats[0].gone


def test_an_item_that_kills_every_worker_is_given_up_as_its_own_error() -> None:
    pool = _FlakyPool({-5: {0, 1}}, comes_back=True)
    scheduler = Scheduler(pool, max_attempts=3)
    scheduler.start()
    out = run_all(scheduler, [1, -5, 2, 3])
    assert out[0] == 10 and out[2] == 20 and out[3] == 30
    assert isinstance(out[1], RuntimeError) and "given up after losing 3 workers" in str(out[1])


def test_items_waiting_behind_a_crashing_one_are_not_given_up() -> None:
    pool = _FlakyPool({-5: {0}}, comes_back=True, workers=1)  # item 1 waits behind -5 each time it crashes w0
    scheduler = Scheduler(pool, depth=2, max_attempts=2)
    scheduler.start()
    out = run_all(scheduler, [-5, 1, 2, 3, 4, 5])
    assert isinstance(out[0], RuntimeError)
    assert {k: v for k, v in out.items() if k} == {i: i * 10 for i in range(1, 6)}


def test_all_workers_gone_is_an_error() -> None:
    pool = _FlakyPool({0: {0}, 1: {1}}, comes_back=False)
    scheduler = Scheduler(pool)
    scheduler.start()
    with pytest.raises(AllWorkersLostError, match="all 2 workers are gone"):
        run_all(scheduler, [0, 1, 2, 3])


def test_in_order_releases_by_index() -> None:
    order: InOrder[str] = InOrder()
    assert order.put(2, "c") == []
    assert order.put(1, "b") == []
    assert order.pending == 2
    assert order.put(0, "a") == ["a", "b", "c"]
    assert order.put(3, "d") == ["d"]
    with pytest.raises(ValueError, match="already put"):
        order.put(1, "again")


def test_stats_line(caplog: pytest.LogCaptureFixture) -> None:
    pool = ThreadPool(SquareJob(), ["cpu"])
    scheduler = Scheduler(pool)
    with caplog.at_level(logging.INFO, logger="esrgan"):
        scheduler.start()
    try:
        run_all(scheduler, [1, 2, -3])
    finally:
        pool.close()
    line = scheduler.stats[0].line("images")
    assert line.startswith("w0 cpu on ") and ": 3 images in " in line and "1 failed" in line


def test_on_tick_reports_the_units_of_items_in_flight() -> None:
    pool = ThreadPool(SquareJob(delay=1.2), ["cpu", "cpu"])  # each item reports 1 unit, then works 1.2 s
    scheduler = Scheduler(pool, depth=1)
    scheduler.start()
    ticks: list[int] = []
    try:
        out = [d.value for d in scheduler.run(enumerate([2, 3]), on_tick=ticks.append)]
    finally:
        pool.close()
    assert sorted(out) == [4, 9]
    assert 2 in ticks, "both items in flight reported their unit"
    assert scheduler.partial_units == 0
