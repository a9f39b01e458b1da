"""The OpenVINO runner: fp32 matches eager PyTorch, bf16 only with native bf16, compiled blobs cached on disk."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import esrgan.device
from esrgan.backends import make_runner

pytest.importorskip("onnx")
pytest.importorskip("openvino")

TinyNets = dict[str, Callable[[], nn.Module]]


def eager(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()(x)


@pytest.mark.parametrize("name", ["srvgg_x4", "rrdb_x2_unshuffle"])
def test_fp32_matches_torch_at_two_sizes_and_batch_2(
    name: str, tiny_nets: TinyNets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(esrgan.device, "cpu_has_native_bf16", lambda: False)
    net = tiny_nets[name]()
    scale = int(getattr(net, "scale", 0))
    runner = make_runner("openvino", net, "auto", threads=1)
    assert runner.precision == "fp32"  # auto without native bf16
    config = runner.config  # type: ignore[attr-defined]
    base = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1}
    assert {k: config[k] for k in base} == base
    for shape in [(1, 3, 16, 24), (2, 3, 20, 12)]:
        x = torch.rand(shape)
        y = runner(x)
        assert y.dtype == torch.float32 and y.shape == (shape[0], 3, shape[2] * scale, shape[3] * scale)
        assert (y - eager(net, x)).abs().max() < 1e-4


def test_second_build_imports_the_cached_blob(tiny_nets: TinyNets, cache_dir: Path) -> None:
    net = tiny_nets["srvgg_x4"]()
    first = make_runner("openvino", net, "fp32")
    assert not first.cache_hit and first.cache_file is not None and first.cache_file.suffix == ".blob"
    stamp = first.cache_file.stat().st_mtime_ns
    second = make_runner("openvino", net, "fp32")
    assert second.cache_hit and second.cache_file == first.cache_file
    assert first.cache_file.stat().st_mtime_ns == stamp
    x = torch.rand(1, 3, 12, 20)
    assert torch.equal(first(x), second(x))
    # Another performance hint compiles differently: its own entry.
    third = make_runner("openvino", net, "fp32", hint="throughput")
    assert not third.cache_hit and third.config["PERFORMANCE_HINT"] == "THROUGHPUT"  # type: ignore[attr-defined]
    assert len(list(cache_dir.iterdir())) == 2


def test_bf16_without_native_bf16_runs_fp32(
    tiny_nets: TinyNets, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(esrgan.device, "cpu_has_native_bf16", lambda: False)
    with caplog.at_level(logging.WARNING):
        runner = make_runner("openvino", tiny_nets["srvgg_x4"](), "bf16")
    assert runner.precision == "fp32" and runner.dtype == torch.float32
    assert "no native bf16" in caplog.text


def test_bf16_with_native_bf16(tiny_nets: TinyNets, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the CPU has native bf16; OpenVINO accepts the hint on any AVX-512 CPU (emulating it if need be).
    monkeypatch.setattr(esrgan.device, "cpu_has_native_bf16", lambda: True)
    net = tiny_nets["srvgg_x4"]()
    runner = make_runner("openvino", net, "auto")
    assert runner.precision == "bf16" and runner.dtype == torch.bfloat16
    assert runner.config["INFERENCE_PRECISION_HINT"] == "bf16"  # type: ignore[attr-defined]
    assert runner.cache_file is not None and "-bf16-" in runner.cache_file.name
    x = torch.rand(1, 3, 16, 24)
    assert (runner(x) - eager(net, x)).abs().max() < 3e-2


def test_bad_arguments(tiny_nets: TinyNets) -> None:
    net = tiny_nets["srvgg_x4"]()
    with pytest.raises(ValueError, match="performance hint"):
        make_runner("openvino", net, hint="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CPU only"):
        make_runner("openvino", net, device="cuda")


def test_runners_share_one_core(tiny_nets: TinyNets) -> None:
    """One openvino.Core per process: a Core per runner crashed the interpreter later (see shared_core)."""
    from esrgan.backends.openvino import shared_core

    first = make_runner("openvino", tiny_nets["srvgg_x4"](), "fp32", use_cache=False)
    second = make_runner("openvino", tiny_nets["rrdb_x4"](), "fp32", use_cache=False)
    assert first._core is second._core is shared_core()  # type: ignore[attr-defined]
    del first
    x = torch.rand(1, 3, 8, 8)
    assert second(x).shape == (1, 3, 32, 32)  # dropping one runner leaves the other (and the Core) working


def test_fewer_threads_than_cores_are_not_pinned(tiny_nets: TinyNets, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenVINO pins threads from core 0 on: two one-thread processes (Ray workers on 2 cores) shared one core and
    ran at half speed. A runner with fewer threads than usable cores leaves placement to the OS; one with all of
    them keeps OpenVINO's default."""
    import esrgan.backends.openvino as ov_backend

    runner = make_runner("openvino", tiny_nets["srvgg_x4"](), "fp32", threads=1)
    monkeypatch.setattr(ov_backend, "usable_cpus", lambda: 2)
    assert runner.config["ENABLE_CPU_PINNING"] is False  # type: ignore[attr-defined]
    monkeypatch.setattr(ov_backend, "usable_cpus", lambda: 1)
    assert "ENABLE_CPU_PINNING" not in runner.config  # type: ignore[attr-defined]
