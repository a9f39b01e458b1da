"""Device and precision resolution: turn "auto" / "cuda:1" / "bf16" into a torch.device and a torch.dtype.

The rules (all measured or documented in the README's "Speed" section):

- device "auto" picks CUDA, then Apple MPS, then the CPU.
- precision "auto" picks fp16 on CUDA (the Upscaler falls back to fp32 for an image whose fp16 output is
  broken), bf16 on CPUs with native bf16 instructions (AVX512-BF16, AMX or Arm BF16), and fp32 elsewhere.
  On CPUs without native bf16, oneDNN emulates it and a bf16 convolution is about 2x *slower* than fp32.
- fp16 on the CPU is refused: PyTorch has no fast fp16 convolution there.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from esrgan.errors import OptionsError

log = logging.getLogger(__name__)

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

# /proc/cpuinfo flags that mean the CPU computes bf16 dot products natively (x86: AVX512-BF16 or AMX; Arm: BF16).
_NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})

_CPUINFO = Path("/proc/cpuinfo")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn a device name into a checked ``torch.device``.

    Args:
        spec: "auto" (CUDA, else MPS, else CPU), "cpu", "cuda", "cuda:N", "mps", or a ``torch.device``.

    Raises:
        OptionsError: unknown name, or the requested accelerator is not available here.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    name = spec.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise OptionsError("device 'mps' requested but Apple MPS is not available here; use device cpu")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise OptionsError(f"device {spec!r} requested but CUDA is not available here; use device cpu")
        index_text = name.partition(":")[2]
        if not index_text:
            return torch.device("cuda", torch.cuda.current_device())
        if not index_text.isdigit():
            raise OptionsError(f"bad CUDA device {spec!r}: expected cuda:N with N a GPU index, e.g. cuda:0")
        index, count = int(index_text), torch.cuda.device_count()
        if index >= count:
            raise OptionsError(f"device {spec!r} requested but only {count} CUDA device(s) exist (cuda:0..)")
        return torch.device("cuda", index)
    raise OptionsError(f"unknown device {spec!r}: use auto, cpu, cuda, cuda:N or mps")


def resolve_precision(spec: str, device: torch.device, *, fp16: bool = True, bf16: bool = True) -> torch.dtype:
    """Choose the compute dtype for ``device``.

    Args:
        spec: "auto", "fp32", "bf16" or "fp16".
        device: where the network runs (from :func:`resolve_device`).
        fp16, bf16: whether the network gives correct output in that precision (some transformer networks
            loaded through spandrel do not in fp16). "auto" then picks the next choice (bf16 on CUDA where
            supported, else fp32); asking for it explicitly is refused.

    Returns:
        ``torch.float32``, ``torch.bfloat16`` or ``torch.float16``.

    Raises:
        OptionsError: unknown name, fp16 on the CPU, bf16 on a GPU without bf16 support, or a precision the
            network does not support.
    """
    name = spec.strip().lower()
    if name != "auto" and name not in PRECISIONS:
        raise OptionsError(f"unknown precision {spec!r}: use auto, fp32, bf16 or fp16")
    if name == "auto":
        if device.type == "cuda":
            if fp16:
                return torch.float16
            return torch.bfloat16 if bf16 and torch.cuda.is_bf16_supported() else torch.float32
        if device.type == "cpu" and bf16 and cpu_has_native_bf16():
            return torch.bfloat16
        # MPS: fp32 until measured on Apple hardware (fp16 can still be asked for explicitly).
        return torch.float32
    dtype = PRECISIONS[name]
    if not {torch.float16: fp16, torch.bfloat16: bf16}.get(dtype, True):
        other = "bf16 or fp32" if dtype == torch.float16 and bf16 else "fp32"
        raise OptionsError(f"precision {name}: this network does not give correct output in {name}; use {other}")
    if device.type == "cpu" and dtype == torch.float16:
        raise OptionsError("precision fp16 is not supported on the CPU (no fast fp16 kernels); use bf16 or fp32")
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise OptionsError(f"precision bf16 is not supported by {torch.cuda.get_device_name(device)}; use fp16")
    if device.type == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16():
        log.warning("this CPU has no native bf16 instructions: bf16 is emulated and slower than fp32")
    return dtype


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bf16 natively (so oneDNN's bf16 convolutions beat fp32).

    Args:
        cpuinfo: text of /proc/cpuinfo; None reads this machine's (cached). Without /proc/cpuinfo (macOS,
            Windows) the answer is False, which only costs speed: fp32 is always correct.
    """
    if cpuinfo is None:
        return _this_cpu_has_native_bf16()
    return bool(_cpu_flags(cpuinfo) & _NATIVE_BF16_FLAGS)


@functools.cache
def _this_cpu_has_native_bf16() -> bool:
    # oneDNN is what turns bf16 into fast convolutions; without it bf16 runs on slow reference kernels.
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        text = _CPUINFO.read_text(errors="replace")
    except OSError:
        return False
    return cpu_has_native_bf16(text)


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags ("avx512_vnni", ...): of ``cpuinfo`` (text of /proc/cpuinfo), or of this machine
    (cached; empty without /proc/cpuinfo)."""
    if cpuinfo is None:
        return _this_cpu_flags()
    return frozenset(_cpu_flags(cpuinfo))


@functools.cache
def _this_cpu_flags() -> frozenset[str]:
    try:
        return frozenset(_cpu_flags(_CPUINFO.read_text(errors="replace")))
    except OSError:
        return frozenset()


def _cpu_flags(cpuinfo: str) -> set[str]:
    """Feature flags of the first processor in /proc/cpuinfo text ("flags" on x86, "Features" on Arm)."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def free_memory_bytes(device: torch.device) -> int | None:
    """Memory a new allocation can use now: free VRAM on CUDA, available RAM on the CPU (and on MPS, which
    shares it). None when it cannot be determined."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return _available_ram_bytes()


def _available_ram_bytes() -> int | None:
    # MemAvailable counts reclaimable page cache too, which is what the kernel would hand us.
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block (0 or None: leave torch's setting); the previous count comes back
    afterwards, also on errors."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
