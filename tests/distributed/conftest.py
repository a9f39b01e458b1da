"""A Ray instance shared by a test module (starting one costs seconds), for the tests marked ``ray``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """A private local Ray with 2 CPUs; test helper modules go to the workers by value (``tests`` is not
    importable there)."""
    ray = pytest.importorskip("ray")
    import tests.distributed.jobs as jobs

    ray.cloudpickle.register_pickle_by_value(jobs)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    try:
        yield ray
    finally:
        ray.shutdown()
