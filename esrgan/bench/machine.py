"""The machine a benchmark runs on: what it is (CPU, threads, native bf16) and how fast it convolves.

The convolution peak (:func:`conv_peaks`) is the reference for "% of peak": achieved GFLOP/s of a model are read
against what this CPU reaches on the body convolution of these networks, in the same dtype and layout.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from esrgan.device import torch_threads

log = logging.getLogger(__name__)

__all__ = [
    "CONV_CHANNELS",
    "CONV_SIZE",
    "ConvPeak",
    "conv_flops",
    "conv_peak",
    "conv_peaks",
    "machine_info",
    "peak_for",
]

# The convolution of the peak measurement: 3x3, 64 -> 64 channels (the body of RRDBNet and SRVGGNetCompact) on
# a 1 x 64 x 256 x 256 input: 4.8 GFLOP per call, big enough for oneDNN to reach its steady state.
CONV_CHANNELS = 64
CONV_SIZE = 256
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass
class ConvPeak:
    """The measured speed of the reference convolution in one dtype and memory layout.

    Attributes:
        name: e.g. "fp32 channels_last". dtype: "fp32" or "bf16".
        gflops: achieved GFLOP/s, or None when not measured (``reason`` says why).
    """

    name: str
    dtype: str
    channels_last: bool
    gflops: float | None
    reason: str | None = None


def conv_flops(channels: int = CONV_CHANNELS, size: int = CONV_SIZE) -> float:
    """FLOPs (multiply and add counted as two) of a 3x3 ``channels`` -> ``channels`` conv on a size x size map."""
    return 2.0 * channels * channels * 9 * size * size


def conv_peak(
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    threads: int | None = None,
    *,
    size: int = CONV_SIZE,
    channels: int = CONV_CHANNELS,
    repeats: int = 10,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """GFLOP/s of a 3x3 ``channels`` -> ``channels`` convolution on a (1, channels, size, size) CPU input.

    The median of ``repeats`` timed calls after ``warmup`` untimed ones, under ``torch.inference_mode``, with
    ``threads`` torch threads (None: the current setting; restored afterwards). Inputs and weights come from a
    private generator, so the global random state is untouched. ``clock``: seconds (tests pass a fake one).
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, channels, size, size, generator=gen).to(dtype)
    w = (torch.randn(channels, channels, 3, 3, generator=gen) / math.sqrt(9 * channels)).to(dtype)
    b = torch.zeros(channels, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        w = w.contiguous(memory_format=torch.channels_last)
    times = []
    with torch_threads(threads), torch.inference_mode():
        for _ in range(warmup):
            F.conv2d(x, w, b, padding=1)
        for _ in range(repeats):
            start = clock()
            F.conv2d(x, w, b, padding=1)
            times.append(clock() - start)
    seconds = statistics.median(times)
    return conv_flops(channels, size) / max(seconds, 1e-12) / 1e9


def conv_peaks(
    threads: int | None = None,
    *,
    native_bf16: bool | None = None,
    size: int = CONV_SIZE,
    channels: int = CONV_CHANNELS,
    repeats: int = 10,
    warmup: int = 3,
) -> list[ConvPeak]:
    """The machine's convolution peaks: fp32 NCHW and channels_last, and bf16 NCHW and channels_last where the
    CPU computes bf16 natively (elsewhere oneDNN emulates bf16, slower than fp32: reported as unavailable).

    Args:
        native_bf16: None asks :func:`esrgan.device.cpu_has_native_bf16`.
    """
    from esrgan.device import cpu_has_native_bf16

    if native_bf16 is None:
        native_bf16 = cpu_has_native_bf16()
    kwargs: dict[str, Any] = {"size": size, "channels": channels, "repeats": repeats, "warmup": warmup}
    peaks = []
    for dtype in (torch.float32, torch.bfloat16):
        dname = DTYPE_NAMES[dtype]
        for channels_last in (False, True):
            name = f"{dname} {'channels_last' if channels_last else 'NCHW'}"
            if dtype == torch.bfloat16 and not native_bf16:
                reason = "this CPU has no native bf16 (AVX512-BF16 or AMX): oneDNN would emulate it"
                peaks.append(ConvPeak(name, dname, channels_last, None, reason))
                continue
            gflops = conv_peak(dtype, channels_last, threads, **kwargs)
            log.debug("conv peak %s: %.1f GFLOP/s", name, gflops)
            peaks.append(ConvPeak(name, dname, channels_last, gflops))
    return peaks


def peak_for(peaks: Sequence[ConvPeak], dtype: str | None) -> ConvPeak | None:
    """The best measured peak of ``dtype`` ("fp32", "bf16"), or None if there is none."""
    measured = [p for p in peaks if p.dtype == dtype and p.gflops is not None]
    return max(measured, key=lambda p: p.gflops or 0.0) if measured else None


def machine_info() -> dict[str, Any]:
    """CPU model, logical CPUs, torch version and threads, native bf16, load average: the context of a run."""
    from esrgan.device import cpu_has_native_bf16

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "native_bf16": cpu_has_native_bf16(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
