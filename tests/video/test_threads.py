"""esrgan.video.threads: bounded queues that give up when the run stops, workers that report their failure."""

from __future__ import annotations

import threading

import pytest

from esrgan.video.threads import Pipe, StoppedError, Worker


def test_pipe_gives_up_when_stopped() -> None:
    stop = threading.Event()
    pipe = Pipe(1, stop)
    pipe.put(1)
    assert pipe.get() == 1
    pipe.put(2)
    stop.set()
    with pytest.raises(StoppedError):
        pipe.put(3)  # full and stopped: does not block
    assert pipe.get() == 2  # what is queued can still be taken
    with pytest.raises(StoppedError):
        pipe.get()  # empty and stopped: does not block


def test_worker_records_its_error_and_stops_the_run() -> None:
    stop = threading.Event()

    def fail(worker: Worker) -> None:
        worker.busy += 1.0
        raise RuntimeError("boom")

    worker = Worker("test-worker", fail, stop)
    worker.start()
    worker.join()
    assert isinstance(worker.error, RuntimeError) and stop.is_set() and worker.busy == 1.0

    quiet = Worker("test-stopped", lambda w: (_ for _ in ()).throw(StoppedError()), threading.Event())
    quiet.start()
    quiet.join()
    assert quiet.error is None  # being stopped is not a failure
