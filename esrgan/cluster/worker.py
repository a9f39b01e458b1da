"""What runs inside a worker: a :class:`Job` started once on a device, then called once per item.

A job is a picklable description (a frozen dataclass: the network's weights as a recipe, the engine options, what
to do with each item); :meth:`Job.start` builds the live state on the worker's device (the model loaded once) and
returns a :class:`Runner` that the worker calls per item. :class:`Worker` wraps that for both pools (threads in
this process, Ray actors elsewhere): it turns an item's expected failure into a value (the batch goes on, the
driver reports it as a local run would) and, in a separate process, collects the item's log records so that the
driver replays them in its own log, in item order.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["EXPECTED_ERRORS", "Job", "Reply", "Runner", "Worker", "WorkerInfo", "portable_error", "replay"]

log = logging.getLogger(__name__)

# The failures that are an item's own (a bad file, an image too large, a codec refusing a size): reported with the
# item while the batch goes on, as `esrgan upscale` does locally. Anything else is a bug and stops the run.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, RuntimeError)


class Runner(Protocol):
    """A job started on one device: ``settings`` are the engine's resolved settings (they must agree across the
    workers of one run, see :class:`esrgan.cluster.scheduler.Scheduler`); calling it does one item, telling
    ``progress`` how many units of it (frames, say) are done so far, if it can."""

    settings: dict[str, Any]

    def __call__(self, payload: Any, progress: Callable[[int], None]) -> Any: ...


class Job(Protocol):
    """A picklable description of the work; ``start`` builds the live state on ``device`` once per worker."""

    def start(self, device: str) -> Runner: ...


@dataclass(frozen=True)
class WorkerInfo:
    """Who a worker is: ``name`` (w0, w1, ...), its device as the job sees it, its host and process, the engine
    settings it resolved (backend, precision, ...), and what starting the job logged (captured workers only)."""

    name: str
    device: str
    host: str
    pid: int
    settings: dict[str, Any]
    records: tuple[tuple[str, int, str], ...] = ()


@dataclass
class Reply:
    """One item's outcome: ``value`` (the runner's result) or ``error`` (an expected failure, see
    :data:`EXPECTED_ERRORS`); ``records`` are (logger name, level, message) of what the item logged when the worker
    captured it; ``seconds`` the time the worker spent on it."""

    value: Any = None
    error: BaseException | None = None
    records: list[tuple[str, int, str]] = field(default_factory=list)
    seconds: float = 0.0


class Worker:
    """One job on one device.

    Args:
        job: what to run; started here (model loaded) at construction.
        device: the device string handed to :meth:`Job.start` ("cpu", "cuda", "cuda:1").
        name: for reports ("w0").
        capture_level: in a separate process, collect log records of ``esrgan.*`` at or above this level per item
            and return them in the :class:`Reply` instead of printing them (the driver replays them); None leaves
            logging alone (threads in the driver's own process).

    A failure while starting is kept and raised by :meth:`info`, so that a Ray actor whose start fails reports the
    real error through an ordinary call rather than dying at construction.
    """

    def __init__(self, job: Job, device: str, name: str, capture_level: int | None = None) -> None:
        self.name = name
        self.device = device
        self.capture_level = capture_level
        self._runner: Runner | None = None
        self._current: tuple[int, int] | None = None  # (item index, units done) while an item runs
        self._start_error: BaseException | None = None
        self._start_records: list[tuple[str, int, str]] = []
        if capture_level is not None:
            _route_package_logs(capture_level)
        try:
            with self._captured() as self._start_records:
                self._runner = job.start(device)
        except BaseException as exc:  # raised again, as it is, by info()
            self._start_error = exc

    def info(self) -> WorkerInfo:
        """Who this worker is (raises what starting the job raised)."""
        if self._start_error is not None:
            raise self._start_error
        assert self._runner is not None
        settings = dict(self._runner.settings)
        return WorkerInfo(
            self.name, self.device, socket.gethostname(), os.getpid(), settings, tuple(self._start_records)
        )

    def run(self, index: int, payload: Any) -> Reply:
        """Do item ``index``. Expected failures come back in :attr:`Reply.error`; anything else is raised."""
        if self._runner is None:
            raise RuntimeError(f"worker {self.name} did not start: {self._start_error}")
        t0 = time.perf_counter()
        reply = Reply()
        self._current = (index, 0)

        def progress(units: int) -> None:
            self._current = (index, units)

        with self._captured() as records:
            try:
                reply.value = self._runner(payload, progress)
            except EXPECTED_ERRORS as exc:
                reply.error = portable_error(exc) if self.capture_level is not None else exc
            finally:
                self._current = None
        reply.records = records
        reply.seconds = time.perf_counter() - t0
        return reply

    def progress(self) -> tuple[int, int] | None:
        """(index, units done) of the item being done, or None (from any thread: one atomic read)."""
        return self._current

    @contextmanager
    def _captured(self) -> Iterator[list[tuple[str, int, str]]]:
        records: list[tuple[str, int, str]] = []
        if self.capture_level is None:
            yield records
            return
        handler = _ListHandler(records, self.capture_level)
        root = logging.getLogger("esrgan")
        root.addHandler(handler)
        try:
            yield records
        finally:
            root.removeHandler(handler)


class _ListHandler(logging.Handler):
    def __init__(self, records: list[tuple[str, int, str]], level: int) -> None:
        super().__init__(level)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _route_package_logs(level: int) -> None:
    """In a worker process: the package's records go to the capture only (the driver replays them), never to
    the worker's stderr, which Ray would forward with a prefix as a second copy."""
    root = logging.getLogger("esrgan")
    root.setLevel(level)
    root.propagate = False


def portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (it crosses processes), else the nearest built-in kind with its message.

    Exceptions whose constructor takes other arguments than their message cannot be rebuilt from their pickled
    ``args``; the driver needs the message and the kind (for the exit status), not the class.
    """
    try:
        copy = pickle.loads(pickle.dumps(exc))
        if str(copy) == str(exc):
            return exc
    except Exception:  # any failure to round-trip means: send a plain copy instead
        pass
    for kind in (FileNotFoundError, PermissionError, OSError, ValueError, RuntimeError):
        if isinstance(exc, kind):
            return kind(str(exc))
    return RuntimeError(str(exc))


def replay(records: Iterable[tuple[str, int, str]]) -> None:
    """Log ``records`` (from :attr:`Reply.records`) on the driver under their own logger names."""
    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)
