"""The fidelity bounds of issue 18 (``esrgan.backends.calibrate.FIDELITY``), kept for every path ``auto`` may take:
fp32 paths within 1/255 of the plain fp32 output, bf16 at least 50 dB, and every backend through the engine
(tiling, padding, self-ensemble) equal to the torch backend's within those bounds.

Real networks on a real photo (a crop of skimage's astronaut): realesr-animevideov3 in the default run,
realesrgan-x4plus in the slow one. bf16: torch's autocast is tested on every machine (where the CPU has no native
bf16, oneDNN emulates it: slower, but inputs and weights are rounded to bf16 and products summed in fp32 the same
way, so the bound means the same); OpenVINO bf16 only where it is native (elsewhere the runner runs fp32 instead).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from esrgan.backends.calibrate import FIDELITY
from esrgan.backends.measure import fidelity, sample_tile
from esrgan.device import cpu_has_native_bf16
from esrgan.inference import Upscaler
from esrgan.models import load_model

PATHS = [("torch", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32"), ("torch", "bf16"), ("openvino", "bf16")]
IDS = [f"{b}+{p}" for b, p in PATHS]


def needs(backend: str, precision: str) -> None:
    """Skip where this path cannot run here."""
    if backend != "torch":
        pytest.importorskip("onnx")
        pytest.importorskip(backend)
    if backend == "openvino" and precision == "bf16" and not cpu_has_native_bf16():
        pytest.skip("OpenVINO bf16 runs only on CPUs with native bf16 (elsewhere it runs fp32)")


def assert_within_bounds(y: torch.Tensor, reference: torch.Tensor, precision: str) -> None:
    max_diff, db = fidelity(y, reference.clamp(0, 1))
    if precision == "fp32":
        assert max_diff <= FIDELITY.max_diff_255, f"{max_diff:.3f}/255 from the fp32 reference"
    else:
        assert db >= FIDELITY.min_psnr_db, f"{db:.1f} dB against the fp32 reference"


def plain_fp32(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What Real-ESRGAN's own code runs: fp32, contiguous NCHW, one call (on a copy: engines switch nets to
    channels_last in place)."""
    net = copy.deepcopy(net).float().eval().to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    with torch.inference_mode():
        return net(x.contiguous())


@pytest.fixture(scope="module")
def compact() -> nn.Module:
    net, _info = load_model("realesr-animevideov3")
    return net


@pytest.fixture(scope="module")
def x4plus() -> nn.Module:
    net, _info = load_model("realesrgan-x4plus")
    return net


def check_network_path(net: nn.Module, side: int, backend: str, precision: str) -> None:
    needs(backend, precision)
    x = sample_tile(side)
    reference = plain_fp32(net, x)
    up = Upscaler(net, tile=0, precision=precision, device="cpu", backend=backend)
    assert (up.backend, up.dtype) == (backend, {"fp32": torch.float32, "bf16": torch.bfloat16}[precision])
    assert_within_bounds(up(x), reference, precision)


def check_engine_against_torch(net: nn.Module, height: int, width: int, backend: str, precision: str) -> None:
    needs(backend, precision)
    x = sample_tile(max(height, width))[..., :height, :width]  # odd sides: padded to the multiple, cropped back
    settings = {"tile": 20, "tile_pad": 4, "ensemble": True, "device": "cpu"}
    expected = Upscaler(net, precision="fp32", backend="torch", **settings)(x)  # type: ignore[arg-type]
    got = Upscaler(net, precision=precision, backend=backend, **settings)(x)  # type: ignore[arg-type]
    assert got.shape == expected.shape and math.isfinite(float(got.sum()))
    assert_within_bounds(got, expected, precision)


@pytest.mark.parametrize(("backend", "precision"), PATHS, ids=IDS)
def test_compact_network_paths_within_the_bounds_of_plain_fp32(
    compact: nn.Module, backend: str, precision: str
) -> None:
    check_network_path(compact, 64, backend, precision)


@pytest.mark.parametrize(("backend", "precision"), PATHS, ids=IDS)
def test_every_backend_through_the_engine_matches_torch(compact: nn.Module, backend: str, precision: str) -> None:
    check_engine_against_torch(compact, 33, 41, backend, precision)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "precision"), PATHS, ids=IDS)
def test_x4plus_paths_within_the_bounds_of_plain_fp32(x4plus: nn.Module, backend: str, precision: str) -> None:
    check_network_path(x4plus, 48, backend, precision)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "precision"), PATHS, ids=IDS)
def test_x4plus_through_the_engine_matches_torch(x4plus: nn.Module, backend: str, precision: str) -> None:
    check_engine_against_torch(x4plus, 27, 35, backend, precision)
