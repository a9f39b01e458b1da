"""esrgan.cluster.worker: items' failures as values, their log records collected per item, errors that travel."""

from __future__ import annotations

import logging
import pickle
import threading
from pathlib import Path

import pytest

from esrgan.cluster.worker import ThreadLogs, Worker, portable_error, replay
from esrgan.inference.files import InputTooLargeError
from tests.cluster.jobs import SquareJob


def test_thread_logs_collect_a_threads_records_and_pass_the_others(caplog: pytest.LogCaptureFixture) -> None:
    logs = ThreadLogs()
    worker_log = logging.getLogger("esrgan.tests.jobs")
    collected: list = []

    def in_worker() -> None:
        with logs.collect() as records:
            worker_log.warning("from the worker")
            collected.extend(records)

    with caplog.at_level(logging.INFO), logs.installed():
        thread = threading.Thread(target=in_worker)
        thread.start()
        thread.join()
        logging.getLogger("esrgan.commands.x").info("from the driver")
    assert collected == [("esrgan.tests.jobs", logging.WARNING, "from the worker")]
    assert [r.getMessage() for r in caplog.records] == ["from the driver"]
    assert logging.getLogger("esrgan").propagate, "restored"
    with caplog.at_level(logging.INFO):
        replay(collected)
    assert caplog.records[-1].getMessage() == "from the worker" and caplog.records[-1].name == "esrgan.tests.jobs"


def test_a_worker_returns_an_items_own_failure_and_raises_a_bug(caplog: pytest.LogCaptureFixture) -> None:
    logs = ThreadLogs()
    with caplog.at_level(logging.INFO), logs.installed():
        worker = Worker(SquareJob(bug_on=(13,)), "cpu", "w0", logs)
        assert worker.info().records == (("esrgan.tests.jobs", logging.INFO, "started on cpu"),)
        reply = worker.run(0, -2)
        assert isinstance(reply.error, ValueError) and reply.value is None
        assert worker.run(1, 7).records == [("esrgan.tests.jobs", logging.WARNING, "seven is lucky")]
        with pytest.raises(KeyError):
            worker.run(2, 13)
    assert worker.progress() is None


def test_portable_error_keeps_what_pickles_and_rebuilds_what_does_not() -> None:
    plain = FileNotFoundError("x.png: no such file")
    assert portable_error(plain) is plain
    odd = InputTooLargeError(Path("big.png"), 3_000_000, 1000)  # its constructor takes more than a message
    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(odd))
    copy = portable_error(odd)
    assert type(copy) is ValueError and str(copy) == str(odd)
    pickle.loads(pickle.dumps(copy))
