"""esrgan.bench.machine: the convolution peak (with a fake clock where a figure is checked exactly) and the
machine description."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from esrgan import bench as bm


def test_conv_peak_is_flops_over_median_time() -> None:
    ticks = itertools.count()  # every timed call lasts exactly one second
    clock = lambda: float(next(ticks))  # noqa: E731
    gflops = bm.conv_peak(torch.float32, True, 1, size=16, channels=8, repeats=3, warmup=1, clock=clock)
    assert gflops == pytest.approx(2 * 8 * 8 * 9 * 16 * 16 / 1.0 / 1e9)  # one fake second per call
    assert torch.get_num_threads() == 1


def test_conv_peaks_report_bf16_unavailable_without_native_bf16() -> None:
    kwargs: dict[str, Any] = {"threads": 1, "size": 8, "channels": 4, "repeats": 1, "warmup": 0}
    peaks = {p.name: p for p in bm.conv_peaks(native_bf16=False, **kwargs)}
    assert set(peaks) == {"fp32 NCHW", "fp32 channels_last", "bf16 NCHW", "bf16 channels_last"}
    assert peaks["fp32 channels_last"].gflops is not None and peaks["fp32 channels_last"].gflops > 0
    assert peaks["bf16 channels_last"].gflops is None and "native bf16" in str(peaks["bf16 channels_last"].reason)
    assert bm.peak_for(list(peaks.values()), "bf16") is None
    native = bm.conv_peaks(native_bf16=True, **kwargs)
    assert all(p.gflops is not None for p in native)


def test_machine_info_describes_this_run() -> None:
    info = bm.machine_info()
    assert info["torch"] == torch.__version__ and info["torch_threads"] == torch.get_num_threads()
    assert isinstance(info["cpu"], str) and isinstance(info["native_bf16"], bool)
