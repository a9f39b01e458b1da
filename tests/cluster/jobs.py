"""Small jobs for the scheduler and pool tests: they square numbers, fail on some, log, or crash their worker.

Ray workers get these classes by value (``tests`` is not importable there): see ``ray_by_value``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("esrgan.tests.jobs")


@dataclass(frozen=True)
class SquareJob:
    """Squares its payload after ``delay`` seconds; a negative payload is the item's own ValueError; a payload in
    ``crash_on`` ends the worker's process (a crash, as a segfault or an OOM kill would), one in ``bug_on`` raises a
    KeyError (a bug); ``settings`` is what
    each worker reports as its resolved engine (``per_device`` adds the device, to make workers disagree)."""

    delay: float = 0.0
    crash_on: tuple[int, ...] = ()
    bug_on: tuple[int, ...] = ()
    settings: dict[str, Any] = field(default_factory=lambda: {"precision": "fp32"})
    per_device: bool = False
    fail_start: bool = False

    def start(self, device: str) -> SquareRunner:
        if self.fail_start:
            raise ValueError(f"cannot start on {device}")
        log.info("started on %s", device)
        settings = {**self.settings, **({"device": device} if self.per_device else {})}
        return SquareRunner(self, settings)


class SquareRunner:
    def __init__(self, job: SquareJob, settings: dict[str, Any]) -> None:
        self.job = job
        self.settings = settings
        self.threads: set[int] = set()

    def __call__(self, payload: int, progress: Callable[[int], None]) -> int:
        self.threads.add(threading.get_ident())
        progress(1)
        time.sleep(self.job.delay)
        if payload in self.job.crash_on:
            os._exit(3)
        if payload < 0:
            raise ValueError(f"item {payload}: negative")
        if payload == 7:
            log.warning("seven is lucky")
        if payload in self.job.bug_on:
            raise KeyError("a bug")
        return payload * payload
