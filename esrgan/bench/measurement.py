"""One benchmark measurement: a (model, configuration, input size) timed, checked and weighed in this process.

The plain reference is fp32 ``model(x)`` on a contiguous NCHW tensor, the whole image at once (what
Real-ESRGAN's inference code and spandrel do); every other configuration is the :class:`esrgan.inference.Upscaler`
that ``esrgan upscale`` builds, with the configuration's changes. Inputs are skimage's astronaut photo (GAN models
behave differently on noise); outputs are compared with the plain output of the same size.
"""

from __future__ import annotations

import gc
import math
import resource
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from esrgan.bench.configs import Config, unavailable_reason
from esrgan.device import torch_threads
from esrgan.errors import OptionsError

__all__ = ["FAILED", "OK", "SKIPPED", "Job", "Measurement", "measure", "photo", "psnr"]

OK, SKIPPED, FAILED = "ok", "skipped", "failed"

# Looked up at call time so that tests can replace them with fake clocks.
wall_clock: Callable[[], float] = time.perf_counter
cpu_clock: Callable[[], float] = time.process_time


def photo(width: int, height: int, channels: int = 3) -> torch.Tensor:
    """skimage's astronaut as a (1, channels, height, width) float tensor in [0, 1], RGB (or gray for 1).

    A centred crop at the photo's own resolution when the size fits in its 512 x 512; otherwise the photo is
    enlarged (bicubic) just enough to cover the size and then cropped. Deterministic.
    """
    import cv2
    import numpy as np
    import skimage.data

    img = skimage.data.astronaut()  # (512, 512, 3) uint8 RGB
    h0, w0 = img.shape[:2]
    if width > w0 or height > h0:
        f = max(width / w0, height / h0)
        img = cv2.resize(img, (math.ceil(w0 * f), math.ceil(h0 * f)), interpolation=cv2.INTER_CUBIC)
    top, left = (img.shape[0] - height) // 2, (img.shape[1] - width) // 2
    crop = np.ascontiguousarray(img[top : top + height, left : left + width])
    x = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div_(255)
    if channels == 1:
        return x.mean(dim=1, keepdim=True)
    if channels != 3:
        raise OptionsError(f"the benchmark feeds RGB or gray photos; the model takes {channels} channels")
    return x.contiguous()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two same-shaped float tensors in [0, 1] (inf when identical)."""
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@dataclass
class Job:
    """One (model, configuration, input size) to time.

    Attributes:
        model: built-in name or model file. width, height: input size in pixels.
        repeats: timed calls (the median is reported). warmup: untimed calls before them (the first is reported).
        threads: torch threads (None: PyTorch's default). device: where the network runs.
        reference: file with the plain output to compare against (written by the plain job of the same size).
        save_output: where to save this job's output (the plain job's, for the others to compare with).
    """

    model: str
    config: Config
    width: int
    height: int
    repeats: int = 3
    warmup: int = 1
    threads: int | None = None
    device: str = "cpu"
    reference: str | None = None
    save_output: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Job:
        return cls(**{**d, "config": Config(**d["config"])})


@dataclass
class Measurement:
    """What one job measured (times in seconds, memory in MiB = 2**20 bytes).

    Attributes:
        status: "ok", "skipped" or "failed"; ``reason`` says why for the last two.
        times, cpu_times: wall and CPU (all threads) seconds of each timed call.
        warmup_seconds: wall time of the first call (includes one-off costs: kernel selection, export, compile).
        flops_per_pixel: the network's cost per input pixel (:func:`esrgan.models.flops.flops_per_input_pixel`).
        dtype: compute dtype ("fp32", "bf16"). tile: tile used (0 = whole image). backend, compiled: as run.
        auto: how backend "auto" was decided ("measured", "cache" or "rule"; None: a backend was named).
        baseline_mib: resident memory after the model, input and engine were set up, before the first call.
        peak_mib: resident high-water mark from then on, through warm-up and timed calls.
        output_mib: size of one float32 output (part of the peak; it grows with the image whatever the tiling).
        psnr_db, max_diff_255: the output against the plain fp32 output of the same size (max diff in 1/255).
    """

    model: str
    config: str
    width: int
    height: int
    status: str = OK
    reason: str | None = None
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)
    warmup_seconds: float | None = None
    flops_per_pixel: float | None = None
    dtype: str | None = None
    tile: int | None = None
    backend: str | None = None
    compiled: bool = False
    auto: str | None = None
    threads: int | None = None
    device: str = "cpu"
    baseline_mib: float | None = None
    peak_mib: float | None = None
    output_mib: float | None = None
    psnr_db: float | None = None
    max_diff_255: float | None = None


def measure(job: Job, *, isolated: bool = True) -> Measurement:
    """Time one job in this process; the child-process entry point does exactly this.

    Args:
        isolated: this process runs only this job (fresh child). False (in-process mode): the allocator is left
            as it is and the memory figures include what earlier jobs left cached.
    """
    result = Measurement(job.model, job.config.name, job.width, job.height, device=job.device)
    reason = unavailable_reason(job.config)
    if reason is not None:
        result.status, result.reason = SKIPPED, reason
        return result
    with torch_threads(job.threads):
        return _measure(job, result, isolated)


def _measure(job: Job, result: Measurement, isolated: bool) -> Measurement:
    from esrgan.allocator import tune_cpu_allocator
    from esrgan.archs import as_sr_network
    from esrgan.models import load_model
    from esrgan.models.flops import flops_per_input_pixel

    result.threads = torch.get_num_threads()
    if isolated and not job.config.plain:
        tune_cpu_allocator()  # as the esrgan command runs; the plain reference keeps glibc's defaults
    net, info = load_model(job.model)
    multiple = max(1, as_sr_network(net).size_multiple)
    result.flops_per_pixel = flops_per_input_pixel(net, info.in_channels, size=8 * multiple)
    x = photo(job.width, job.height, info.in_channels)
    run, details = (_plain_runner if job.config.plain else _engine_runner)(net, job.config, x, job.device)
    result.dtype, result.tile, result.backend, result.compiled, result.auto = details
    del net
    gc.collect()

    memory = _MemoryProbe(isolated)
    result.baseline_mib = memory.start()
    y: torch.Tensor | None = None
    for i in range(job.warmup):
        y = None  # drop the previous output first: the peak should hold one output, not two
        seconds, _cpu, y = _timed(run, x)
        if i == 0:
            result.warmup_seconds = seconds
    for _ in range(job.repeats):
        y = None
        seconds, cpu, y = _timed(run, x)
        result.times.append(seconds)
        result.cpu_times.append(cpu)
    result.peak_mib = memory.peak()  # before the comparison below allocates the reference
    if y is None:
        raise ValueError(f"a job needs at least one timed call, got repeats={job.repeats}")
    result.output_mib = y.numel() * 4 / 2**20
    if job.save_output:
        torch.save(y, job.save_output)
    if job.reference:
        ref = torch.load(job.reference, weights_only=True)
        if ref.shape != y.shape:
            raise RuntimeError(f"output shape {tuple(y.shape)} differs from the reference's {tuple(ref.shape)}")
        result.psnr_db = psnr(y, ref)
        result.max_diff_255 = float((y - ref).abs().max()) * 255
    return result


def _timed(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    wall, cpu = wall_clock(), cpu_clock()
    y = run(x)
    return wall_clock() - wall, cpu_clock() - cpu, y


_Details = tuple[str, int, str, bool, str | None]  # dtype, tile, backend, compiled, how auto was decided


def _plain_runner(
    net: nn.Module, _config: Config, x: torch.Tensor, device: str
) -> tuple[Callable[[torch.Tensor], torch.Tensor], _Details]:
    """The reference: fp32, contiguous NCHW, the whole image in one call, output clamped and on the CPU (as
    Real-ESRGAN's RealESRGANer does without tiles, including its padding to the network's size multiple)."""
    from esrgan.archs import as_sr_network
    from esrgan.inference import pad_to_multiple

    dev = torch.device(device)
    net = net.eval().to(dev, torch.float32)
    contract = as_sr_network(net)
    scale, multiple = contract.scale, contract.size_multiple

    def run(x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        with torch.inference_mode():
            y = net(pad_to_multiple(x, multiple).to(dev).contiguous())
            return y[..., : height * scale, : width * scale].clamp(0, 1).float().cpu()

    return run, ("fp32", 0, "torch (plain)", False, None)


def _engine_runner(
    net: nn.Module, config: Config, x: torch.Tensor, device: str
) -> tuple[Callable[[torch.Tensor], torch.Tensor], _Details]:
    """The Upscaler as ``esrgan upscale`` builds it without engine flags, with ``config``'s changes."""
    from esrgan.inference import Upscaler, pad_to_multiple

    options = config.engine_options(device)
    up = Upscaler.from_options(net, options)
    tile = up.tile_for(pad_to_multiple(x, up.size_multiple)) if up.tile == "auto" else int(up.tile)
    auto = up.choice.source if options.backend == "auto" else None
    return up, (up.precision_name, tile, up.backend, options.compile, auto)


class _MemoryProbe:
    """Resident memory in MiB: current at :meth:`start`, high-water mark since then at :meth:`peak`.

    On Linux the kernel's high-water mark is reset at start (``/proc/self/clear_refs``), so the one-off
    memory of loading a model does not count. Elsewhere a fresh process falls back to ``ru_maxrss`` (its whole
    life), and in-process mode reports no peak.
    """

    def __init__(self, isolated: bool) -> None:
        self.isolated = isolated
        self.reset = False

    def start(self) -> float | None:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # 5: reset the peak RSS to the current RSS (Linux >= 4.0)
            self.reset = True
        except OSError:
            self.reset = False
        current = _proc_status_mib("VmRSS")
        return current if current is not None else (_ru_maxrss_mib() if self.isolated else None)

    def peak(self) -> float | None:
        if self.reset:
            hwm = _proc_status_mib("VmHWM")
            if hwm is not None:
                return hwm
        return _ru_maxrss_mib() if self.isolated else None


def _proc_status_mib(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ru_maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux
