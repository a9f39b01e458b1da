"""Upscaler(backend=..., compile=...): compiled backends replace only the per-tile network call, and
torch.compile is checked against eager before it is trusted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.inference import Upscaler


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESRGAN_CACHE_DIR", str(tmp_path / "cache"))


def tiny_x2() -> RRDBNet:
    """RRDBNet x2 with pixel-unshuffle: size multiple 2, so tiles and padding are exercised."""
    return RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backend_matches_the_torch_engine_with_tiling(backend: str) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip(backend)
    net = tiny_x2()
    x = torch.rand(1, 3, 37, 50)  # odd sizes: padded to the size multiple, cropped back
    expected = Upscaler(net, tile=16, tile_pad=4, precision="fp32", device="cpu")(x)
    up = Upscaler(net, tile=16, tile_pad=4, precision="fp32", device="auto", backend=backend)
    assert up.device.type == "cpu" and up.dtype == torch.float32 and up.runner is not None
    calls: list[tuple[int, ...]] = []
    runner = up.runner

    def counting(t: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(t.shape))
        return runner(t)

    up.runner = counting  # type: ignore[assignment]  # a plain function stands in for the runner
    y = up(x)
    assert y.shape == expected.shape == (1, 3, 74, 100)
    assert (y - expected).abs().max() < 1e-4
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0  # clamped by the engine, as with torch
    assert len(calls) == 3 * 4 and len(set(calls)) > 1  # every tile went through the backend, several shapes


def test_backend_with_ensemble_matches_torch() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    net = SRVGGNetCompact(num_feat=8, num_conv=2)
    x = torch.rand(1, 3, 20, 28)
    expected = Upscaler(net, tile=12, tile_pad=2, ensemble=True, precision="fp32", device="cpu")(x)
    got = Upscaler(net, tile=12, tile_pad=2, ensemble=True, device="cpu", backend="onnxruntime")(x)
    assert (got - expected).abs().max() < 1e-4


def test_backend_arguments_are_checked() -> None:
    net = SRVGGNetCompact(num_feat=4, num_conv=1)
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        Upscaler(net, device="cpu", backend="tensorrt")
    with pytest.raises(ValueError, match="torch backend only"):
        Upscaler(net, device="cpu", backend="onnxruntime", compile=True)
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    with pytest.raises(ValueError, match="fp32"):
        Upscaler(net, device="cpu", backend="onnxruntime", precision="bf16")


@pytest.mark.auto_backend
def test_auto_backend_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenVINO for SRVGGNetCompact on the CPU when installed (measured fastest there); torch otherwise."""
    import esrgan.backends.calibrate as calibrate

    cpu, srvgg, rrdb = torch.device("cpu"), SRVGGNetCompact(num_feat=4, num_conv=1), tiny_x2()
    monkeypatch.setattr(calibrate, "available_backends", lambda: ["torch", "onnxruntime", "openvino"])
    assert calibrate.auto_backend(srvgg, cpu) == "openvino"
    assert calibrate.auto_backend(rrdb, cpu) == "torch"
    assert calibrate.auto_backend(srvgg, torch.device("cuda")) == "torch"
    assert calibrate.auto_backend(srvgg, cpu, compile=True) == "torch"
    assert calibrate.auto_backend(srvgg, cpu, precision="fp16") == "torch"
    monkeypatch.setattr(calibrate, "available_backends", lambda: ["torch", "onnxruntime"])
    assert calibrate.auto_backend(srvgg, cpu) == "torch"


class _FakeRunner:
    name, precision, dtype, cache_file, cache_hit, build_seconds = "openvino", "fp32", torch.float32, None, False, 0.0

    def __init__(self, net: nn.Module) -> None:
        self.net, self.calls = net, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(x)


@pytest.mark.auto_backend
def test_upscaler_auto_runs_the_chosen_backend_and_falls_back_to_torch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import esrgan.backends.calibrate as calibrate
    import esrgan.inference.upscaler as upscaler

    monkeypatch.setattr(calibrate, "available_backends", lambda: ["torch", "openvino"])
    built: list[str] = []

    def fake_make_runner(name: str, net: nn.Module, precision: str, device: str) -> _FakeRunner:
        built.append(name)
        return _FakeRunner(net)

    monkeypatch.setattr(upscaler, "make_runner", fake_make_runner)
    net, x = SRVGGNetCompact(num_feat=4, num_conv=1), torch.rand(1, 3, 9, 11)
    up = Upscaler(net, tile=0, precision="fp32", device="cpu", backend="auto")
    assert up.backend == "openvino" and built == ["openvino"] and isinstance(up.runner, _FakeRunner)
    expected = Upscaler(net, tile=0, precision="fp32", device="cpu", backend="torch")(x)
    torch.testing.assert_close(up(x), expected)
    assert up.runner.calls == 1
    assert Upscaler(tiny_x2(), device="cpu", backend="auto").backend == "torch" and built == ["openvino"]
    assert Upscaler(net, device="cpu").backend == "openvino"  # the library's default is auto, as the command's
    assert Upscaler(net, device="cpu", backend="torch").backend == "torch" and built == ["openvino"] * 2

    def broken_make_runner(name: str, net: nn.Module, precision: str, device: str) -> _FakeRunner:
        raise RuntimeError("export failed")

    monkeypatch.setattr(upscaler, "make_runner", broken_make_runner)
    with caplog.at_level(logging.WARNING):
        up = Upscaler(net, tile=0, precision="fp32", device="cpu", backend="auto")
    assert up.backend == "torch" and up.runner is None and "openvino could not build" in caplog.text
    torch.testing.assert_close(up(x), expected)
    with pytest.raises(RuntimeError, match="export failed"):  # asked for by name: the error is the user's to see
        Upscaler(net, tile=0, precision="fp32", device="cpu", backend="openvino")


class FakeCompile:
    """Stands in for torch.compile: records its arguments and returns ``wrap(net)``."""

    def __init__(self, wrap: Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor]]) -> None:
        self.wrap = wrap
        self.kwargs: dict[str, Any] = {}
        self.calls = 0

    def __call__(self, net: nn.Module, **kwargs: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        self.kwargs = kwargs
        inner = self.wrap(net)

        def compiled(x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return inner(x)

        return compiled


def test_compile_is_used_when_it_matches_eager(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeCompile(lambda net: net)
    monkeypatch.setattr(torch, "compile", fake)
    net = tiny_x2()
    x = torch.rand(1, 3, 24, 30)
    expected = Upscaler(net, tile=12, tile_pad=2, precision="fp32", device="cpu")(x)
    with caplog.at_level(logging.INFO):
        up = Upscaler(net, tile=12, tile_pad=2, precision="fp32", device="cpu", compile=True)
        assert up.compiled is None  # decided on the first call
        y = up(x)
    assert fake.kwargs == {"dynamic": True, "options": {"freezing": False}}
    assert up.compiled is True and fake.calls == 1 + 2 * 3  # the check, then every tile
    assert torch.equal(y, expected)
    assert "torch.compile warm-up" in caplog.text


def test_compile_falls_back_to_eager_when_outputs_disagree(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeCompile(lambda net: lambda x: net(x) + 2e-3)  # just above the 1e-3 tolerance
    monkeypatch.setattr(torch, "compile", fake)
    net = tiny_x2()
    x = torch.rand(1, 3, 24, 30)
    expected = Upscaler(net, tile=12, tile_pad=2, precision="fp32", device="cpu")(x)
    up = Upscaler(net, tile=12, tile_pad=2, precision="fp32", device="cpu", compile=True)
    with caplog.at_level(logging.WARNING):
        y = up(x)
        y2 = up(x)  # decided once: no second check
    assert up.compiled is False and fake.calls == 1
    assert torch.equal(y, expected) and torch.equal(y2, expected)
    assert "differs from eager" in caplog.text and "running eager" in caplog.text


def test_compile_falls_back_to_eager_when_compiling_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        def fail(x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("no C++ compiler")

        return fail

    monkeypatch.setattr(torch, "compile", FakeCompile(broken))
    net = SRVGGNetCompact(num_feat=4, num_conv=1)
    x = torch.rand(1, 3, 10, 12)
    with caplog.at_level(logging.WARNING):
        y = Upscaler(net, tile=0, precision="fp32", device="cpu", compile=True)(x)
    assert torch.equal(y, Upscaler(net, tile=0, precision="fp32", device="cpu")(x))
    assert "torch.compile failed (RuntimeError: no C++ compiler)" in caplog.text


@pytest.mark.slow
def test_real_torch_compile_matches_eager() -> None:
    # Tens of seconds on a 2-core machine (inductor generates and builds C++), hence slow.
    net = SRVGGNetCompact(num_feat=8, num_conv=2)
    x = torch.rand(1, 3, 30, 44)
    expected = Upscaler(net, tile=16, tile_pad=4, precision="fp32", device="cpu")(x)
    up = Upscaler(net, tile=16, tile_pad=4, precision="fp32", device="cpu", compile=True)
    y = up(x)
    assert up.compiled is True
    assert (y - expected).abs().max() < 1e-4
