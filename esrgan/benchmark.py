"""Measure the engine: speed, fidelity and peak memory of upscaling configurations against the plain forward.

The reference configuration, ``plain``, is what Real-ESRGAN's inference code and spandrel do on a CPU: one fp32
``model(x)`` on a contiguous NCHW tensor under ``torch.inference_mode``, no tiling, glibc's default allocator.
Every other configuration goes through :class:`esrgan.inference.Upscaler` the way the ``esrgan`` command builds it
(its engine flags' defaults, allocator tuned), with some options changed: precision, tile, backend, compile.

Each (configuration, model, input size) runs in a fresh Python process of its own (``python -m esrgan.benchmark
JOB RESULT``), so it gets a clean allocator, its own oneDNN primitive cache and its own peak memory. All of them
upscale the same real photo (skimage's astronaut, cropped or resized to the size), because GAN models behave
differently on noise. The machine's convolution peak is measured here too (:func:`conv_peaks`), so achieved
GFLOP/s can be read as a percentage of what this CPU can do at the same dtype.

Typical use (what ``esrgan bench`` does)::

    peaks = conv_peaks(threads=2)
    jobs = plan(["realesrgan-x4plus"], [(256, 256)], [parse_config(c) for c in ("plain", "default", "fp32")])
    rows = summarise(run_jobs(jobs), peaks)

This module logs and never prints; the table is the command's job.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import inspect
import json
import logging
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.errors import OptionsError

log = logging.getLogger(__name__)

__all__ = [
    "Config",
    "ConvPeak",
    "Job",
    "Measurement",
    "Row",
    "Scaling",
    "conv_peak",
    "conv_peaks",
    "default_configs",
    "machine_info",
    "measure",
    "parse_config",
    "parse_size",
    "photo",
    "plan",
    "run_jobs",
    "scaling",
    "summarise",
    "unavailable_reason",
]

PLAIN = "plain"
OK, SKIPPED, FAILED = "ok", "skipped", "failed"

# The convolution of the peak measurement: 3x3, 64 -> 64 channels (the body of RRDBNet and SRVGGNetCompact) on
# a 1 x 64 x 256 x 256 input: 4.8 GFLOP per call, big enough for oneDNN to reach its steady state.
CONV_CHANNELS = 64
CONV_SIZE = 256

PRECISION_TOKENS = ("auto", "fp32", "bf16")
BACKEND_TOKENS = ("torch", "onnxruntime", "openvino")
# Optional backends: the Python package each needs, and how to install it.
BACKEND_PACKAGES = {
    "onnxruntime": ("onnxruntime", "pip install 'esrgan[onnx]'"),
    "openvino": ("openvino", "pip install 'esrgan[openvino]'"),
}
SIZE_PRESETS = {
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "2160p": (3840, 2160),
    "4k": (3840, 2160),
}
_DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}

# Looked up at call time so that tests can replace them with fake clocks.
_wall_clock: Callable[[], float] = time.perf_counter
_cpu_clock: Callable[[], float] = time.process_time


# --------------------------------------------------------------------------------------------------------------
# Configurations and sizes


@dataclass(frozen=True)
class Config:
    """One way of running a model.

    Attributes:
        name: what the user wrote (``fp32``, ``openvino+bf16``, ``fp32+tile=0``); the row's label.
        plain: the reference (fp32 NCHW ``model(x)``); every other field is then unused.
        precision, tile, backend, compile: Upscaler arguments to change; None keeps the command's default.
    """

    name: str
    plain: bool = False
    precision: str | None = None
    tile: int | str | None = None
    backend: str | None = None
    compile: bool | None = None

    def engine_overrides(self) -> dict[str, Any]:
        """The Upscaler keyword arguments this configuration sets (the rest keep the command's defaults)."""
        names = ("precision", "tile", "backend", "compile")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def parse_config(text: str) -> Config:
    """Parse a configuration name: tokens joined with ``+``.

    Tokens: ``plain`` (the reference, alone), ``default`` (the command's defaults), a precision (``auto``,
    ``fp32``, ``bf16``), a backend (``torch``, ``onnxruntime``, ``openvino``), ``compile`` (torch.compile), and
    ``tile=N`` / ``tile=auto`` / ``tile=0``. Examples: ``fp32``, ``openvino+bf16``, ``fp32+tile=0``.

    Raises:
        ValueError: an unknown or repeated token, or ``plain`` combined with anything.
    """
    name = text.strip()
    tokens = [t.strip().lower() for t in name.split("+")]
    if not name or any(not t for t in tokens):
        raise OptionsError(f"empty configuration in {text!r}: use e.g. plain, default, fp32, openvino+bf16")
    if PLAIN in tokens:
        if len(tokens) > 1:
            raise OptionsError(f"{text!r}: 'plain' is the fixed reference and takes no options")
        return Config(name=name, plain=True)
    values: dict[str, Any] = {}

    def put(key: str, value: Any, token: str) -> None:
        if key in values:
            raise OptionsError(f"{text!r}: {key} given twice ({token!r})")
        values[key] = value

    for token in tokens:
        if token == "default":
            continue
        if token in PRECISION_TOKENS:
            put("precision", token, token)
        elif token in BACKEND_TOKENS:
            put("backend", token, token)
        elif token == "compile":
            put("compile", True, token)
        elif token.startswith("tile="):
            value = token.removeprefix("tile=")
            if value != "auto" and not (value.isdigit() and (int(value) == 0 or int(value) >= 16)):
                raise OptionsError(f"{text!r}: tile must be auto, 0 (no tiling) or at least 16 pixels, got {value!r}")
            put("tile", value if value == "auto" else int(value), token)
        else:
            raise OptionsError(
                f"unknown configuration token {token!r} in {text!r}: use plain, default, auto/fp32/bf16, "
                "torch/onnxruntime/openvino, compile or tile=N, joined with + (e.g. openvino+bf16)"
            )
    return Config(name=name, **values)


def parse_size(text: str) -> tuple[int, int]:
    """``"256"`` -> (256, 256); ``"320x180"`` -> (320, 180) as (width, height); ``"1080p"`` -> (1920, 1080).

    Raises:
        ValueError: anything else, or a side below 1.
    """
    spec = text.strip().lower()
    if spec in SIZE_PRESETS:
        return SIZE_PRESETS[spec]
    parts = spec.split("x")
    if len(parts) in (1, 2) and all(p.isdigit() for p in parts):
        width, height = int(parts[0]), int(parts[-1])
        if width >= 1 and height >= 1:
            return width, height
    raise OptionsError(f"bad size {text!r}: use N (square), WxH (e.g. 320x180) or one of {', '.join(SIZE_PRESETS)}")


def unavailable_reason(config: Config) -> str | None:
    """Why ``config`` cannot run in this installation (None if it can).

    Backends and ``compile`` need the Upscaler to accept ``backend=`` / ``compile=``; a backend also needs its
    Python package, and torch.compile needs a C++ compiler for its CPU kernels.
    """
    if config.plain:
        return None
    from esrgan.inference import Upscaler

    params = inspect.signature(Upscaler).parameters
    backend = config.backend
    if backend not in (None, "torch"):
        if "backend" not in params:
            return "this version's Upscaler has no backend= argument"
        package, hint = BACKEND_PACKAGES[str(backend)]
        if importlib.util.find_spec(package) is None:
            return f"{package} is not installed ({hint})"
        registered = _registered_backends()
        if registered is not None and backend not in registered:
            return f"backend {backend!r} is not available: esrgan.backends.available_backends() = {sorted(registered)}"
    if config.compile:
        if "compile" not in params:
            return "this version's Upscaler has no compile= argument"
        if shutil.which(os.environ.get("CXX", "g++")) is None and shutil.which("c++") is None:
            return "torch.compile needs a C++ compiler (g++) for its CPU kernels"
    return None


def _registered_backends() -> set[str] | None:
    """Backend names esrgan.backends says are usable, or None if that registry does not exist."""
    try:
        module = importlib.import_module("esrgan.backends")
    except ImportError:
        return None
    available = getattr(module, "available_backends", None)
    if available is None:
        return None
    try:
        names = available()
        if isinstance(names, Mapping):  # name -> False or a reason string when unusable; anything else is usable
            names = [name for name, value in names.items() if value is not False and not isinstance(value, str)]
        return {str(getattr(name, "name", name)) for name in names}
    except Exception as exc:  # a broken optional backend must not stop the other measurements
        log.warning("esrgan.backends.available_backends() failed: %s", exc)
        return None


def default_configs() -> list[Config]:
    """``plain``, ``default`` and ``fp32``, plus each optional backend that is installed here, and then ``torch``
    too (the default backend, ``auto``, may pick an installed one: this row shows the torch engine beside it)."""
    configs = [parse_config(name) for name in (PLAIN, "default", "fp32")]
    backends = [parse_config(backend) for backend in BACKEND_PACKAGES]
    installed = [config for config in backends if unavailable_reason(config) is None]
    return configs + ([parse_config("torch"), *installed] if installed else [])


# --------------------------------------------------------------------------------------------------------------
# Input image and fidelity


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


# --------------------------------------------------------------------------------------------------------------
# Convolution peak


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
) -> float:
    """GFLOP/s of a 3x3 ``channels`` -> ``channels`` convolution on a (1, channels, size, size) CPU input.

    The median of ``repeats`` timed calls after ``warmup`` untimed ones, under ``torch.inference_mode``, with
    ``threads`` torch threads (None: the current setting; restored afterwards). Inputs and weights come from a
    private generator, so the global random state is untouched.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, channels, size, size, generator=gen).to(dtype)
    w = (torch.randn(channels, channels, 3, 3, generator=gen) / math.sqrt(9 * channels)).to(dtype)
    b = torch.zeros(channels, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        w = w.contiguous(memory_format=torch.channels_last)
    times = []
    with _torch_threads(threads), torch.inference_mode():
        for _ in range(warmup):
            F.conv2d(x, w, b, padding=1)
        for _ in range(repeats):
            start = _wall_clock()
            F.conv2d(x, w, b, padding=1)
            times.append(_wall_clock() - start)
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
        dname = _DTYPE_NAMES[dtype]
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


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------------------------------------------
# One measurement (runs in the child process)


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
    with _torch_threads(job.threads):
        return _measure(job, result, isolated)


def _measure(job: Job, result: Measurement, isolated: bool) -> Measurement:
    from esrgan.device import tune_cpu_allocator
    from esrgan.models import load_model
    from esrgan.models.flops import flops_per_input_pixel

    result.threads = torch.get_num_threads()
    if isolated and not job.config.plain:
        tune_cpu_allocator()  # as the esrgan command runs; the plain reference keeps glibc's defaults
    net, info = load_model(job.model)
    multiple = max(1, int(getattr(net, "size_multiple", 1)))
    result.flops_per_pixel = flops_per_input_pixel(net, info.in_channels, size=8 * multiple)
    x = photo(job.width, job.height, info.in_channels)
    run, details = (_plain_runner if job.config.plain else _engine_runner)(net, job.config, x, job.device)
    result.dtype, result.tile, result.backend, result.compiled = details
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
    wall, cpu = _wall_clock(), _cpu_clock()
    y = run(x)
    return _wall_clock() - wall, _cpu_clock() - cpu, y


_Details = tuple[str, int, str, bool]  # dtype, tile, backend, compiled


def _plain_runner(
    net: nn.Module, _config: Config, x: torch.Tensor, device: str
) -> tuple[Callable[[torch.Tensor], torch.Tensor], _Details]:
    """The reference: fp32, contiguous NCHW, the whole image in one call, output clamped and on the CPU (as
    Real-ESRGAN's RealESRGANer does without tiles, including its padding to the network's size multiple)."""
    from esrgan.inference import pad_to_multiple

    dev = torch.device(device)
    net = net.eval().to(dev, torch.float32)
    scale, multiple = int(getattr(net, "scale", 1)), int(getattr(net, "size_multiple", 1))

    def run(x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        with torch.inference_mode():
            y = net(pad_to_multiple(x, multiple).to(dev).contiguous())
            return y[..., : height * scale, : width * scale].clamp(0, 1).float().cpu()

    return run, ("fp32", 0, "torch (plain)", False)


def _engine_runner(
    net: nn.Module, config: Config, x: torch.Tensor, device: str
) -> tuple[Callable[[torch.Tensor], torch.Tensor], _Details]:
    """The Upscaler as ``esrgan upscale`` builds it from its default engine flags, with ``config``'s changes."""
    from esrgan.inference import Upscaler, pad_to_multiple

    kwargs = {**engine_defaults(), **config.engine_overrides(), "device": device}
    up = Upscaler(net, **kwargs)
    tile = up.tile_for(pad_to_multiple(x, up.size_multiple)) if up.tile == "auto" else int(up.tile)
    backend = getattr(up, "backend", None)
    backend_name = backend if isinstance(backend, str) else str(kwargs.get("backend", "torch"))
    details = (_DTYPE_NAMES.get(up.dtype, str(up.dtype)), tile, backend_name, bool(kwargs.get("compile", False)))
    return up, details


def engine_defaults() -> dict[str, Any]:
    """The Upscaler arguments the ``esrgan`` command passes when no engine flag is given (its parser's defaults,
    restricted to what this Upscaler accepts), so ``default`` is what ``esrgan upscale`` runs."""
    import argparse

    from esrgan.commands.common import add_engine_args
    from esrgan.inference import Upscaler

    parser = argparse.ArgumentParser(add_help=False)
    add_engine_args(parser)
    flags = vars(parser.parse_args([]))
    params = inspect.signature(Upscaler).parameters
    return {k: v for k, v in flags.items() if k in params and v is not None}


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


# --------------------------------------------------------------------------------------------------------------
# Planning and running jobs (in the parent)


def plan(
    models: Sequence[str] | Mapping[str, Sequence[tuple[int, int]]],
    sizes: Sequence[tuple[int, int]] | None,
    configs: Sequence[Config],
    *,
    repeats: int = 3,
    warmup: int = 1,
    threads: int | None = None,
    device: str = "cpu",
) -> list[Job]:
    """Jobs for every model x size x configuration, the plain reference first within each (model, size).

    Args:
        models: model specs, or a mapping of model spec to its own sizes (then ``sizes`` must be None).
        sizes: (width, height) pairs for every model.
    """
    if isinstance(models, Mapping):
        per_model = {m: list(s) for m, s in models.items()}
    else:
        if sizes is None:
            raise ValueError("sizes are needed when models is a list")
        per_model = {m: list(sizes) for m in models}
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    ordered = sorted(configs, key=lambda c: not c.plain)  # stable: the reference first, then as given
    jobs = []
    for model, model_sizes in per_model.items():
        for width, height in model_sizes:
            for config in ordered:
                jobs.append(Job(model, config, width, height, repeats, warmup, threads, device))
    return jobs


def run_jobs(
    jobs: Sequence[Job],
    *,
    isolate: bool = True,
    on_start: Callable[[Job], None] | None = None,
    on_done: Callable[[Job, Measurement], None] | None = None,
) -> list[Measurement]:
    """Run jobs in order, each in a fresh child process (``isolate``) or in this one.

    The plain job of each (model, size) saves its output to a temporary folder; the later jobs of that
    (model, size) compare theirs with it. Unavailable configurations are skipped without starting a process;
    a job that fails (exception, killed by the OOM killer) is reported as failed and the others go on.
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="esrgan-bench-") as tmp:
        references: dict[tuple[str, int, int], str] = {}
        for n, job in enumerate(jobs):
            if on_start is not None:
                on_start(job)
            key = (job.model, job.width, job.height)
            if job.config.plain:
                job = Job(**{**vars(job), "save_output": os.path.join(tmp, f"reference-{n}.pt")})
            elif key in references:
                job = Job(**{**vars(job), "reference": references[key]})
            reason = unavailable_reason(job.config)
            if reason is not None:
                result = Measurement(job.model, job.config.name, job.width, job.height, SKIPPED, reason)
            elif isolate:
                result = _run_child(job, Path(tmp), n)
            else:
                result = _run_here(job)
            if job.config.plain and result.status == OK and job.save_output:
                references[key] = job.save_output
            log.debug("%s %s %dx%d: %s", job.model, job.config.name, job.width, job.height, result.status)
            results.append(result)
            if on_done is not None:
                on_done(job, result)
    return results


def _run_here(job: Job) -> Measurement:
    try:
        return measure(job, isolated=False)
    except (RuntimeError, ValueError, OSError, ImportError, TypeError) as exc:
        log.debug("job failed", exc_info=True)
        return Measurement(job.model, job.config.name, job.width, job.height, FAILED, _one_line(exc))


def _run_child(job: Job, tmp: Path, n: int) -> Measurement:
    job_path, result_path = tmp / f"job-{n}.json", tmp / f"result-{n}.json"
    job_path.write_text(json.dumps(job.to_dict()))
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])  # so the child imports this same package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "esrgan.benchmark", str(job_path), str(result_path)]
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    output = done.stdout.strip()
    if output:
        log.debug("child output (%s %s):\n%s", job.model, job.config.name, output)
    failed = Measurement(job.model, job.config.name, job.width, job.height, FAILED)
    if done.returncode < 0:
        signal = -done.returncode
        failed.reason = f"killed by signal {signal}" + (" (out of memory?)" if signal == 9 else "")
        return failed
    if done.returncode != 0 or not result_path.exists():
        lines = [line for line in output.splitlines() if line.strip()]
        failed.reason = lines[-1].strip() if lines else f"child exited with status {done.returncode}"
        return failed
    return Measurement(**json.loads(result_path.read_text()))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _child_main(argv: Sequence[str]) -> int:
    """``python -m esrgan.benchmark JOB.json RESULT.json``: run one job, write its Measurement as JSON."""
    from esrgan.fileio import write_text_atomic

    if len(argv) != 2:
        raise SystemExit("usage: python -m esrgan.benchmark JOB.json RESULT.json (run by esrgan bench)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname).1s %(name)s: %(message)s", stream=sys.stderr)
    job = Job.from_dict(json.loads(Path(argv[0]).read_text()))
    try:
        result = measure(job, isolated=True)
    except Exception as exc:  # any failure becomes one row of the table; the traceback goes to the log
        log.debug("job failed", exc_info=True)
        result = Measurement(job.model, job.config.name, job.width, job.height, FAILED, _one_line(exc))
    write_text_atomic(argv[1], json.dumps(asdict(result)))
    return 0


# --------------------------------------------------------------------------------------------------------------
# Derived figures


@dataclass
class Row(Measurement):
    """A measurement with the derived figures the table shows.

    Attributes:
        seconds, cpu_seconds: medians of the timed calls. speedup: the plain row's seconds / these seconds (same
            model and size, same run). gflops: flops_per_pixel * input pixels / seconds (the network's nominal
            work; tile overlap recomputed is not counted). pct_peak: gflops as a percentage of the measured conv
            peak of the same dtype (``peak_name``). us_per_pixel: microseconds per input pixel.
            frames_per_second: 1 / seconds. over_baseline_mib: peak_mib - baseline_mib.
    """

    seconds: float | None = None
    cpu_seconds: float | None = None
    speedup: float | None = None
    gflops: float | None = None
    peak_name: str | None = None
    pct_peak: float | None = None
    us_per_pixel: float | None = None
    frames_per_second: float | None = None
    over_baseline_mib: float | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (an infinite PSNR, for identical outputs, becomes the string "inf")."""
        return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def summarise(measurements: Sequence[Measurement], peaks: Sequence[ConvPeak] = ()) -> list[Row]:
    """Rows with speed-up (against the plain row of the same model and size), GFLOP/s, % of the conv peak of
    the row's dtype (CPU rows only), µs per pixel, frames/s and memory over the baseline."""
    plain = {
        (m.model, m.width, m.height): statistics.median(m.times)
        for m in measurements
        if m.config == PLAIN and m.status == OK and m.times
    }
    rows = []
    for m in measurements:
        row = Row(**{f.name: getattr(m, f.name) for f in fields(Measurement)})
        if m.status == OK and m.times:
            seconds = statistics.median(m.times)
            pixels = m.width * m.height
            row.seconds = seconds
            row.cpu_seconds = statistics.median(m.cpu_times) if m.cpu_times else None
            row.us_per_pixel = seconds / pixels * 1e6
            row.frames_per_second = 1 / seconds if seconds > 0 else None
            reference = plain.get((m.model, m.width, m.height))
            if reference is not None and seconds > 0:
                row.speedup = reference / seconds
            if m.flops_per_pixel and seconds > 0:
                row.gflops = m.flops_per_pixel * pixels / seconds / 1e9
                peak = peak_for(peaks, m.dtype) if m.device == "cpu" else None
                if peak is not None and peak.gflops:
                    row.peak_name = peak.name
                    row.pct_peak = 100 * row.gflops / peak.gflops
            if m.peak_mib is not None and m.baseline_mib is not None:
                row.over_baseline_mib = m.peak_mib - m.baseline_mib
        rows.append(row)
    return rows


@dataclass
class Scaling:
    """How time and memory grow with the image, for one model and configuration over several sizes.

    Attributes:
        us_per_pixel_min, us_per_pixel_max: the extremes over the sizes; ``spread`` = max / min (1.0 = linear).
        activations_mib_max: largest (peak - baseline - output) over the sizes: memory beyond the output
            itself, which tiling should keep bounded.
    """

    model: str
    config: str
    sizes: list[str]
    us_per_pixel_min: float
    us_per_pixel_max: float
    spread: float
    activations_mib_max: float | None


def scaling(rows: Sequence[Row]) -> list[Scaling]:
    """One :class:`Scaling` per (model, configuration) measured at two or more sizes."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.status == OK and row.us_per_pixel is not None:
            groups.setdefault((row.model, row.config), []).append(row)
    out = []
    for (model, config), group in groups.items():
        if len(group) < 2:
            continue
        us = [r.us_per_pixel for r in group if r.us_per_pixel is not None]
        extra = [
            r.over_baseline_mib - r.output_mib
            for r in group
            if r.over_baseline_mib is not None and r.output_mib is not None
        ]
        out.append(
            Scaling(
                model,
                config,
                [r.size for r in group],
                min(us),
                max(us),
                max(us) / min(us),
                max(extra) if extra else None,
            )
        )
    return out


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


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
