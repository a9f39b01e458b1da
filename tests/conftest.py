"""Shared fixtures: deterministic seeds, a small thread count, and real photos from skimage.data."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

from tests.torchvision_standin import install_if_missing

# spandrel (the optional extra) imports torchvision for two architectures; this torch build has none.
install_if_missing()

# esrgan.cli.main() tunes glibc malloc at start; the tests call it in-process after OpenVINO/TBB and video threads
# exist, where mallopt() is unsafe (it crashed a run). tests/test_device.py checks the tuning in a fresh process.
os.environ.setdefault("ESRGAN_MALLOC_TUNING", "0")

# Compiled backends cache their builds in a private folder, never in the user's ~/.cache/esrgan.
os.environ.setdefault("ESRGAN_CACHE_DIR", tempfile.mkdtemp(prefix="esrgan-tests-cache-"))

# Property-based tests (hypothesis): a bounded, reproducible number of examples in the default run; `make fuzz`
# loads the "fuzz" profile (many random examples, failures kept in .hypothesis/ to replay). The deadline is the
# time bound of one example: generous, because this machine is shared (a busy core makes a 10 ms call take 2 s),
# and still far below what a hang or a decompression bomb takes.
settings.register_profile("default", max_examples=60, deadline=10_000, derandomize=True, database=None)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")),
    deadline=10_000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# One intra-op thread: the test networks are tiny, and for them thread wake-ups and barriers cost more than the
# arithmetic (measured 0.2 ms vs 6-8 ms per 4x4 convolution on a busy 2-core machine).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(1)  # a test that trains with `threads: 2` must not change the next one


@pytest.fixture(autouse=True)
def _log_levels_restored() -> Iterator[None]:
    """``esrgan.cli.main`` sets the levels of esrgan's loggers (-q, -v); the next test starts from none set."""
    import logging

    from esrgan.cli import ENGINE_LOGGERS, SHOWN_BY_DEFAULT

    yield
    for name in ("esrgan", *ENGINE_LOGGERS, *SHOWN_BY_DEFAULT):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.fixture(autouse=True)
def _auto_backend_is_torch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """``backend="auto"``, the command's default, runs torch in tests whatever optional backends are installed, so
    outputs stay comparable with the torch engine: nothing is measured (``ESRGAN_CALIBRATE=0``, also for the
    processes tests start), and the fixed rule says torch. Tests marked ``auto_backend`` see the fixed rule's real
    choice; tests of the calibration set the variable themselves."""
    monkeypatch.setenv("ESRGAN_CALIBRATE", "0")
    if "auto_backend" not in request.keywords:
        monkeypatch.setattr("esrgan.backends.calibrate.auto_backend", lambda *args, **kwargs: "torch")


@pytest.fixture(scope="session")
def photo_rgb() -> np.ndarray:
    """skimage's "astronaut": (512, 512, 3) uint8 RGB."""
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def photo_small() -> torch.Tensor:
    """A 64x48 crop of "chelsea" as (1, 3, 48, 64) float RGB in [0, 1]."""
    import skimage.data

    img = skimage.data.chelsea()[100:148, 150:214]
    return torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random RRDBNet x4 (8 features, 1 block, growth 4) saved with esrgan.models.save_model."""
    from esrgan.archs import RRDBNet
    from esrgan.models import save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny_rrdb.pth"
    save_model(RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, num_grow_ch=4), path)
    return path


@pytest.fixture(scope="session")
def ray_instance() -> Iterator[Any]:
    """A private local Ray with 2 CPUs shared by every test marked ``ray`` (starting one costs seconds). Test helper
    modules go to the workers by value (``tests`` is not importable there)."""
    ray = pytest.importorskip("ray")
    import tests.cluster.jobs as jobs

    ray.cloudpickle.register_pickle_by_value(jobs)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.fixture()
def model_pair(tmp_path: Path) -> tuple[Path, Path, torch.nn.Module, torch.nn.Module]:
    """Two tiny RRDBNet x2 with different random weights, saved as a.pth and b.safetensors: (paths..., nets...)."""
    from esrgan.archs import RRDBNet
    from esrgan.models import save_model

    a, b = (RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2) for _ in range(2))
    save_model(a, tmp_path / "a.pth")
    save_model(b, tmp_path / "b.safetensors")
    return tmp_path / "a.pth", tmp_path / "b.safetensors", a, b
