"""The job's three threads (decode, network, encode) meet in bounded queues: memory stays flat however long the
video is, and a failure anywhere stops all three instead of leaving one blocked."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["END", "Pipe", "StoppedError", "Worker"]

_QUEUE_POLL_S = 0.1
END = object()
"""Put into a :class:`Pipe` after the last item."""


class StoppedError(Exception):
    """Raised inside a worker when the run is being torn down."""


class Pipe:
    """A bounded queue whose blocking calls give up when ``stop`` is set."""

    def __init__(self, maxsize: int, stop: threading.Event) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize)
        self._stop = stop

    def put(self, item: Any) -> None:
        while True:
            if self._stop.is_set():
                raise StoppedError
            try:
                self._q.put(item, timeout=_QUEUE_POLL_S)
                return
            except queue.Full:
                continue

    def get(self) -> Any:
        while True:
            try:
                return self._q.get(timeout=_QUEUE_POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    raise StoppedError from None


class Worker(threading.Thread):
    """A thread that records its exception and stops the run instead of dying silently.

    ``target`` is called with the worker itself, so that it can add its busy time to :attr:`busy`.
    """

    def __init__(self, name: str, target: Callable[[Worker], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._stop_event = stop
        self.error: BaseException | None = None
        self.busy = 0.0  # seconds of real work, added up by the target (waiting on queues excluded)

    def run(self) -> None:
        try:
            self._target_fn(self)
        except StoppedError:
            pass
        except BaseException as exc:
            self.error = exc
            self._stop_event.set()
