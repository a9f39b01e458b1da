"""esrgan.cluster.ray_pool: actors on a local Ray instance (marked ``ray``), workers killed or crashing mid-run;
the placement of workers (no Ray needed)."""

from __future__ import annotations

from typing import Any

import pytest

from esrgan.cluster.pools import AllWorkersLostError
from esrgan.cluster.ray_pool import RayPool, WorkerPlan, plan_workers
from esrgan.cluster.scheduler import Scheduler
from esrgan.cluster.worker import replay
from tests.cluster.jobs import SquareJob

TWO_CPU_WORKERS = WorkerPlan(workers=2, cpus=1, gpus=0, device="cpu")


@pytest.mark.ray
def test_items_run_on_two_actors_with_their_logs_and_errors(
    ray_instance: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pool = RayPool(SquareJob(delay=0.05), TWO_CPU_WORKERS)
    scheduler = Scheduler(pool)
    try:
        infos = scheduler.start()
        out: dict[int, Any] = {}
        for done in scheduler.run(enumerate([2, 7, -1, 3, 4, 5])):
            assert done.index not in out
            out[done.index] = done.error or done.value
            replay(done.records)
    finally:
        pool.close()
    assert len({info.pid for info in infos}) == 2, "two processes"
    assert {k: v for k, v in out.items() if k != 2} == {0: 4, 1: 49, 3: 9, 4: 16, 5: 25}
    assert isinstance(out[2], ValueError) and str(out[2]) == "item -1: negative"
    assert ("esrgan.tests.jobs", 30, "seven is lucky") in [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert all(s.items for s in scheduler.stats)


@pytest.mark.ray
def test_a_killed_actor_loses_nothing(ray_instance: Any) -> None:
    pool = RayPool(SquareJob(delay=0.1), TWO_CPU_WORKERS)
    scheduler = Scheduler(pool)
    scheduler.start()
    out: dict[int, int] = {}
    try:
        for done in scheduler.run(enumerate(range(12))):
            assert done.index not in out, "an item finished twice"
            out[done.index] = done.value
            if len(out) == 2:
                ray_instance.kill(pool.actors[1])  # for good: ray.kill does not restart
    finally:
        pool.close()
    assert out == {i: i * i for i in range(12)}
    assert scheduler.stats[1].gone and scheduler.stats[1].lost >= 1
    assert scheduler.stats[0].items + scheduler.stats[1].items == 12


@pytest.mark.ray
def test_a_crashing_item_is_given_up_and_the_worker_restarts(ray_instance: Any) -> None:
    pool = RayPool(SquareJob(crash_on=(5,)), WorkerPlan(workers=1, cpus=1, gpus=0, device="cpu"))
    scheduler = Scheduler(pool, max_attempts=2)
    scheduler.start()
    out: dict[int, Any] = {}
    try:
        for done in scheduler.run(enumerate([4, 5, 6])):
            out[done.index] = done.error or done.value
    finally:
        pool.close()
    assert out[0] == 16 and out[2] == 36
    assert isinstance(out[1], RuntimeError) and "given up after losing 2 workers" in str(out[1])
    assert not scheduler.stats[0].gone, "Ray restarted the crashed actor"


@pytest.mark.ray
def test_all_actors_killed_is_an_error(ray_instance: Any) -> None:
    pool = RayPool(SquareJob(delay=0.2), WorkerPlan(workers=1, cpus=1, gpus=0, device="cpu"))
    scheduler = Scheduler(pool)
    scheduler.start()
    try:
        with pytest.raises(AllWorkersLostError, match="all 1 workers are gone"):
            for _ in scheduler.run(enumerate(range(4))):
                ray_instance.kill(pool.actors[0])
    finally:
        pool.close()


@pytest.mark.ray
def test_a_start_failure_is_raised_as_the_job_raised_it(ray_instance: Any) -> None:
    pool = RayPool(SquareJob(fail_start=True), WorkerPlan(workers=1, cpus=1, gpus=0, device="cpu"))
    with pytest.raises(ValueError, match="cannot start on cpu"):
        Scheduler(pool).start()
    pool.close()


NODE = {"CPU": 8.0, "GPU": 2.0}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, WorkerPlan(2, 1.0, 1.0, "cuda")),
        ({"gpus": 0.5}, WorkerPlan(4, 1.0, 0.5, "cuda")),
        ({"device": "cpu"}, WorkerPlan(1, 8.0, 0.0, "cpu")),
        ({"device": "cpu", "workers": 3}, WorkerPlan(3, 2.0, 0.0, "cpu")),
        ({"device": "cpu", "workers": 2, "cpus": 3}, WorkerPlan(2, 3, 0.0, "cpu")),
    ],
)
def test_plan_workers(kwargs: dict[str, Any], expected: WorkerPlan) -> None:
    args: dict[str, Any] = {"workers": None, "cpus": None, "gpus": None, "device": "auto", **kwargs}
    assert plan_workers([NODE], **args) == expected


def test_plan_workers_refuses_what_cannot_be_placed() -> None:
    with pytest.raises(ValueError, match="3 workers with 1 CPUs and 1 GPUs each do not fit"):
        plan_workers([NODE], workers=3, cpus=None, gpus=None, device="cuda")
    with pytest.raises(ValueError, match="the cluster has no GPUs"):
        plan_workers([{"CPU": 4.0}], workers=None, cpus=None, gpus=None, device="cuda")
    with pytest.raises(ValueError, match="list them: cuda:0,1"):
        plan_workers([NODE], workers=None, cpus=None, gpus=None, device="cuda:1")
    assert plan_workers([{"CPU": 4.0}, {"CPU": 2.0}], workers=None, cpus=None, gpus=None, device="auto") == WorkerPlan(
        2, 2.0, 0.0, "cpu"
    )


@pytest.mark.ray
def test_actors_report_progress_while_they_compute(ray_instance: Any) -> None:
    pool = RayPool(SquareJob(delay=2.0), TWO_CPU_WORKERS)
    scheduler = Scheduler(pool, depth=1)
    scheduler.start()
    ticks: list[int] = []
    try:
        out = [d.value for d in scheduler.run(enumerate([2, 3]), on_tick=ticks.append)]
    finally:
        pool.close()
    assert sorted(out) == [4, 9]
    assert 2 in ticks, "both actors answered progress() while run() was busy"
