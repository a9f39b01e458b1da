"""The flags that spread ``upscale`` and ``video`` over several workers, and the scheduler they ask for.

``--ray [ADDRESS]`` runs the workers as Ray actors (no address: a private Ray on this machine; ``auto``: the
cluster started with ``ray start``); ``--workers``, ``--worker-cpus`` and ``--worker-gpus`` size them. Without
Ray, a device list (``--device cuda:0,1``, ``cuda:all``) runs one worker per device in this process. Anything
else is a plain local run (:func:`wants_workers` is False).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from esrgan.commands.common import positive_float, positive_int
from esrgan.errors import OptionsError

if TYPE_CHECKING:
    from esrgan.cluster import Job, Scheduler

__all__ = ["add_worker_args", "check_worker_args", "log_summary", "scheduler_from", "wants_workers"]

log = logging.getLogger(__name__)

LOCAL = "local"


def ray_address(text: str) -> str:
    """``--ray`` ADDRESS: auto, local, HOST:PORT or ray://HOST:PORT (argparse type)."""
    if text in ("auto", LOCAL) or ":" in text:
        return text
    raise argparse.ArgumentTypeError(
        f"not a Ray address: {text!r} (use auto, HOST:PORT or ray://HOST:PORT; inputs go before --ray)"
    )


def add_worker_args(p: Any) -> None:
    """Add --ray, --workers, --worker-cpus and --worker-gpus to a parser or group."""
    p.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL,
        default=None,
        type=ray_address,
        metavar="ADDRESS",
        help="run on Ray workers (pip install 'esrgan[ray]'): no ADDRESS starts a private Ray on this machine; "
        "'auto' joins the cluster started with `ray start`; or HOST:PORT",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="with --ray: how many workers (default: one per GPU, else one per machine)",
    )
    p.add_argument(
        "--worker-cpus",
        type=positive_float,
        default=None,
        help="with --ray: CPU cores per worker (CPU workers use as many threads; default: shared evenly)",
    )
    p.add_argument(
        "--worker-gpus",
        type=positive_float,
        default=None,
        help="with --ray: GPUs per worker (default 1 on GPUs; 0.5 puts two workers on each GPU)",
    )


def wants_workers(args: argparse.Namespace) -> bool:
    """True when the flags ask for workers: ``--ray``, or several devices (``--device cuda:0,1``, ``cuda:all``)."""
    return args.ray is not None or "," in args.device or args.device.strip().lower() == "cuda:all"


def check_worker_args(args: argparse.Namespace) -> None:
    """Refuse combinations that cannot mean anything (before any model loads).

    Raises:
        ValueError: --workers / --worker-cpus / --worker-gpus without --ray, --ray with a device list, or --ray
            without Ray installed.
    """
    sizing = [f for f, v in (("--workers", args.workers), ("--worker-cpus", args.worker_cpus),
                             ("--worker-gpus", args.worker_gpus)) if v is not None]  # fmt: skip
    if sizing and args.ray is None:
        raise OptionsError(f"{sizing[0]} needs --ray (several GPUs of this machine without Ray: --device cuda:0,1)")
    if args.ray is not None and ("," in args.device or args.device.strip().lower() == "cuda:all"):
        raise OptionsError(f"--device {args.device} with --ray: Ray gives each worker its GPU; use --device cuda")
    if args.ray is not None and importlib.util.find_spec("ray") is None:
        raise OptionsError("--ray needs Ray: pip install 'esrgan[ray]' (on every machine of the cluster)")


@contextmanager
def scheduler_from(args: argparse.Namespace, job: Job) -> Iterator[Scheduler]:
    """A started :class:`~esrgan.cluster.Scheduler` whose workers run ``job``, as the flags ask; closed at the end
    (a private Ray instance is shut down, a cluster's actors are ended)."""
    from esrgan.cluster import ThreadPool
    from esrgan.cluster.devices import split_devices

    if args.ray is None:
        devices = split_devices(args.device)
        with _serving(ThreadPool(settled(job, devices), devices)) as scheduler:
            yield scheduler
        return
    from esrgan.cluster.ray_pool import RayPool, plan_workers, ray_session

    with ray_session(None if args.ray == LOCAL else args.ray, verbose=args.verbose >= 2) as ray:
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        plan = plan_workers(
            nodes, workers=args.workers, cpus=args.worker_cpus, gpus=args.worker_gpus, device=args.device
        )
        log.info("%d Ray worker(s), %g CPUs and %g GPUs each, on %s", plan.workers, plan.cpus, plan.gpus, plan.device)
        level = logging.getLogger("esrgan").getEffectiveLevel()
        with _serving(RayPool(settled(job, [plan.device]), plan, level=level)) as scheduler:
            yield scheduler


def settled(job: Job, devices: list[str]) -> Job:
    """``job`` with its engine's "auto" backend and precision decided here, as a local run decides them, when the
    workers compute on the CPU (:meth:`esrgan.cluster.engine.EngineSpec.settled`): the outputs are then the local
    run's, byte for byte, whatever threads each worker has."""
    import dataclasses

    engine = getattr(job, "engine", None)
    if engine is None or not dataclasses.is_dataclass(job):
        return job
    spec = engine.settled(devices)
    if spec is not engine:
        log.info(
            "workers run backend %s, precision %s: what auto decides here", spec.options.backend, spec.options.precision
        )
    return dataclasses.replace(job, engine=spec)


@contextmanager
def _serving(pool: Any) -> Iterator[Scheduler]:
    """A started scheduler over ``pool``; the pool is closed however the block ends."""
    from esrgan.cluster import Scheduler

    try:
        scheduler = Scheduler(pool)
        scheduler.start()
        yield scheduler
    finally:
        pool.close()


def log_summary(scheduler: Scheduler, unit: str) -> None:
    """One line per worker: what it did (``unit``: what its items are)."""
    for stats in scheduler.stats:
        log.info("%s", stats.line(unit))
