"""Measure the engine: speed, fidelity and peak memory of upscaling configurations against the plain forward.

The reference configuration, ``plain``, is what Real-ESRGAN's inference code and spandrel do on a CPU: one fp32
``model(x)`` on a contiguous NCHW tensor under ``torch.inference_mode``, no tiling, glibc's default allocator.
Every other configuration goes through :class:`esrgan.inference.Upscaler` the way the ``esrgan`` command builds it
(:class:`esrgan.inference.EngineOptions`' defaults, allocator tuned), with some options changed: precision, tile,
backend, compile.

Each (configuration, model, input size) runs in a fresh Python process of its own (``python -m esrgan.bench JOB
RESULT``), so it gets a clean allocator, its own oneDNN primitive cache and its own peak memory. All of them
upscale the same real photo (skimage's astronaut, cropped or resized to the size), because GAN models behave
differently on noise. The machine's convolution peak is measured here too (:func:`conv_peaks`), so achieved
GFLOP/s can be read as a percentage of what this CPU can do at the same dtype.

Modules: :mod:`~esrgan.bench.configs` (configurations and sizes, torch-free), :mod:`~esrgan.bench.machine` (the CPU
and its convolution peak), :mod:`~esrgan.bench.measurement` (one job in this process), :mod:`~esrgan.bench.jobs`
(planning, child processes), :mod:`~esrgan.bench.report` (derived figures). Typical use (what ``esrgan bench``
does)::

    peaks = conv_peaks(threads=2)
    jobs = plan(["realesrgan-x4plus"], [(256, 256)], [parse_config(c) for c in ("plain", "default", "fp32")])
    rows = summarise(run_jobs(jobs), peaks)

This package logs and never prints; the table is the command's job.
"""

from esrgan.bench.configs import (
    PLAIN,
    SIZE_PRESETS,
    Config,
    default_configs,
    parse_config,
    parse_size,
    unavailable_reason,
)
from esrgan.bench.jobs import plan, run_jobs
from esrgan.bench.machine import CONV_CHANNELS, CONV_SIZE, ConvPeak, conv_peak, conv_peaks, machine_info, peak_for
from esrgan.bench.measurement import FAILED, OK, SKIPPED, Job, Measurement, measure, photo, psnr
from esrgan.bench.report import Row, Scaling, Versus, scaling, summarise, versus

__all__ = [
    "CONV_CHANNELS",
    "CONV_SIZE",
    "FAILED",
    "OK",
    "PLAIN",
    "SIZE_PRESETS",
    "SKIPPED",
    "Config",
    "ConvPeak",
    "Job",
    "Measurement",
    "Row",
    "Scaling",
    "Versus",
    "conv_peak",
    "conv_peaks",
    "default_configs",
    "machine_info",
    "measure",
    "parse_config",
    "parse_size",
    "peak_for",
    "photo",
    "plan",
    "psnr",
    "run_jobs",
    "scaling",
    "summarise",
    "unavailable_reason",
    "versus",
]
