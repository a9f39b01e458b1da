"""Device and precision resolution (esrgan/device.py)."""

from __future__ import annotations

import pytest
import torch

from esrgan import device as dev
from esrgan.device import cpu_has_native_bf16, free_memory_bytes, resolve_device, resolve_precision

CPU = torch.device("cpu")

ZEN4_FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"
SAPPHIRE_RAPIDS_FLAGS = "flags\t\t: fpu avx2 avx512f amx_tile amx_bf16 amx_int8\n"
CASCADE_LAKE_FLAGS = "flags\t\t: fpu avx2 avx512f avx512bw avx512_vnni\n"
GRAVITON3_FEATURES = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve bf16 i8mm\n"
GRAVITON2_FEATURES = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics\n"


def test_cpu_and_device_objects_resolve() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device(" CPU ") == CPU
    assert resolve_device(torch.device("cpu")) == CPU


@pytest.mark.skipif(torch.cuda.is_available() or dev._mps_available(), reason="this machine has an accelerator")
def test_auto_device_is_cpu_without_accelerators() -> None:
    assert resolve_device("auto") == CPU


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_device_names_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="device"):
        resolve_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_names_the_fix(spec: str) -> None:
    with pytest.raises(ValueError, match="not available here; use device cpu"):
        resolve_device(spec)


@pytest.mark.parametrize(
    ("spec", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16), ("FP32", torch.float32)]
)
def test_explicit_cpu_precisions(spec: str, dtype: torch.dtype) -> None:
    assert resolve_precision(spec, CPU) == dtype


def test_fp16_on_cpu_names_the_alternatives() -> None:
    with pytest.raises(ValueError, match=r"fp16.*CPU.*bf16 or fp32"):
        resolve_precision("fp16", CPU)


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, fp32, bf16 or fp16"):
        resolve_precision("int8", CPU)


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_precision_on_cpu_follows_native_bf16(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: torch.dtype
) -> None:
    monkeypatch.setattr(dev, "_this_cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", CPU) == expected


def test_auto_precision_on_this_cpu_matches_detection() -> None:
    expected = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    assert resolve_precision("auto", CPU) == expected


def test_emulated_bf16_warns(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(dev, "_this_cpu_has_native_bf16", lambda: False)
    with caplog.at_level("WARNING", logger="esrgan.device"):
        assert resolve_precision("bf16", CPU) == torch.bfloat16
    assert "emulated" in caplog.text


@pytest.mark.parametrize(
    ("cpuinfo", "native"),
    [
        (ZEN4_FLAGS, True),
        (SAPPHIRE_RAPIDS_FLAGS, True),
        (CASCADE_LAKE_FLAGS, False),
        (GRAVITON3_FEATURES, True),
        (GRAVITON2_FEATURES, False),
        ("", False),
    ],
)
def test_native_bf16_detection_from_cpuinfo(cpuinfo: str, native: bool) -> None:
    assert cpu_has_native_bf16(cpuinfo) is native


def test_free_ram_is_plausible() -> None:
    free = free_memory_bytes(CPU)
    assert free is not None
    with open("/proc/meminfo") as f:
        total_kib = int(f.readline().split()[1])
    assert 0 < free <= total_kib * 1024


@pytest.mark.gpu
def test_cuda_resolution() -> None:
    device = resolve_device("cuda:0")
    assert device == torch.device("cuda", 0)
    assert resolve_device("auto").type == "cuda"
    assert resolve_precision("auto", device) == torch.float16
    assert (free_memory_bytes(device) or 0) > 0
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_torch_threads_sets_and_restores_the_count() -> None:
    before = torch.get_num_threads()
    with dev.torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with dev.torch_threads(0), dev.torch_threads(None):
        assert torch.get_num_threads() == before  # 0 / None: torch's setting stays
    with pytest.raises(RuntimeError, match="boom"), dev.torch_threads(before + 1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before  # restored on errors too
