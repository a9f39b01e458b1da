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
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "EXPECTED_ERRORS",
    "Job",
    "ProcessLogs",
    "Reply",
    "Runner",
    "ThreadLogs",
    "Worker",
    "WorkerInfo",
    "portable_error",
    "replay",
]

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
        logs: how the log records of an item are collected (returned with its :class:`Reply`, replayed by the driver
            in item order): :class:`ProcessLogs` in a worker process, :class:`ThreadLogs` in a thread of the driver;
            None leaves logging alone.

    A failure while starting is kept and raised by :meth:`info`, so that a Ray actor whose start fails reports the
    real error through an ordinary call rather than dying at construction.
    """

    def __init__(self, job: Job, device: str, name: str, logs: ProcessLogs | ThreadLogs | None = None) -> None:
        self.name = name
        self.device = device
        self.logs = logs
        self._runner: Runner | None = None
        self._current: tuple[int, int] | None = None  # (item index, units done) while an item runs
        self._start_error: BaseException | None = None
        self._start_records: list[tuple[str, int, str]] = []
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
                reply.error = portable_error(exc) if isinstance(self.logs, ProcessLogs) else exc
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
        if self.logs is None:
            yield []
            return
        with self.logs.collect() as records:
            yield records


Record = tuple[str, int, str]  # logger name, level, message


class ProcessLogs:
    """In a worker process (a Ray actor): every record of the package's loggers at or above ``level`` is collected
    for the item being done and never printed there (Ray would forward the worker's stderr as a second copy)."""

    def __init__(self, level: int) -> None:
        self.level = level
        package = logging.getLogger("esrgan")
        package.setLevel(level)
        package.propagate = False

    @contextmanager
    def collect(self) -> Iterator[list[Record]]:
        records: list[Record] = []
        handler = _ListHandler(records, self.level)
        package = logging.getLogger("esrgan")
        package.addHandler(handler)
        try:
            yield records
        finally:
            package.removeHandler(handler)


class ThreadLogs:
    """For workers that are threads of the driver: while :meth:`installed`, a record of the package's loggers made
    in a thread that is collecting (:meth:`collect`) goes to that thread's list instead of the log; any other
    record is handed to the root logger's handlers as it would have been."""

    def __init__(self) -> None:
        self._buffers: dict[int, list[Record]] = {}
        self._router = _Router(self._buffers)

    @contextmanager
    def installed(self) -> Iterator[None]:
        package = logging.getLogger("esrgan")
        propagate = package.propagate
        package.addHandler(self._router)
        package.propagate = False
        try:
            yield
        finally:
            package.removeHandler(self._router)
            package.propagate = propagate

    @contextmanager
    def collect(self) -> Iterator[list[Record]]:
        records: list[Record] = []
        ident = threading.get_ident()
        self._buffers[ident] = records
        try:
            yield records
        finally:
            del self._buffers[ident]


class _Router(logging.Handler):
    def __init__(self, buffers: dict[int, list[Record]]) -> None:
        super().__init__()
        self.buffers = buffers

    def emit(self, record: logging.LogRecord) -> None:
        records = self.buffers.get(record.thread) if record.thread is not None else None
        if records is not None:
            records.append((record.name, record.levelno, record.getMessage()))
        else:
            logging.getLogger().callHandlers(record)


class _ListHandler(logging.Handler):
    def __init__(self, records: list[Record], level: int) -> None:
        super().__init__(level)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


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
