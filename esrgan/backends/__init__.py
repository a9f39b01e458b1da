"""Optional inference backends: run the network of an :class:`esrgan.inference.Upscaler` through ONNX Runtime or
OpenVINO instead of eager PyTorch, and export networks to ONNX.

A backend builds a *runner* from a loaded torch network (exported to ONNX in memory, compiled, and cached on
disk, see :mod:`esrgan.backends.cache`): a callable taking a CPU float32 (N, C, h, w) batch of RGB in [0, 1]
and returning CPU float32 (N, C_out, h * scale, w * scale), not clamped. The Upscaler uses it for each tile in
place of the network call, so padding, tiling, blending, self-ensemble and clamping stay the same.

``torch`` is always available; ``onnxruntime`` needs ``pip install esrgan[onnx]``, ``openvino``
``pip install esrgan[openvino]``. Both run on the CPU only. Which backend ``backend="auto"`` runs is decided in
:mod:`esrgan.backends.calibrate` (measured on this machine, cached).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

import torch
from torch import nn

from esrgan.backends.onnx_export import MissingPackageError, require_module
from esrgan.defaults import BACKEND_CHOICES, BACKENDS  # "auto" in BACKEND_CHOICES: see esrgan.backends.calibrate
from esrgan.errors import OptionsError

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "MissingPackageError",
    "Runner",
    "available_backends",
    "check_backend",
    "make_runner",
]

# Modules each backend imports, with the extra of setup.cfg that installs them.
REQUIREMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "torch": (),
    "onnxruntime": (("onnxruntime", "onnx"), ("onnx", "onnx")),
    "openvino": (("openvino", "openvino"), ("onnx", "openvino")),
}

Hint = Literal["latency", "throughput"]


class Runner(Protocol):
    """A compiled network. ``__call__``: CPU float32 (N, C, h, w) in [0, 1] -> CPU float32 (N, C_out, h*s, w*s).

    Attributes:
        name: backend name. precision: what it computes in ("fp32", "bf16" or "int8"); dtype: the torch dtype of
        that computation (float32 for int8, whose inputs and outputs are float32). cache_file: the on-disk cache
        entry (None if caching failed). cache_hit: whether this runner was loaded from it. build_seconds: export +
        compile (or load) time.
    """

    name: str
    precision: str
    dtype: torch.dtype
    cache_file: Path | None
    cache_hit: bool
    build_seconds: float

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


def check_backend(name: str) -> None:
    """Raise ValueError for an unknown backend name, :class:`MissingPackageError` (naming the package and the
    ``pip install esrgan[extra]`` to run) if one it needs is not installed."""
    if name not in BACKENDS:
        raise OptionsError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
    for module, extra in REQUIREMENTS[name]:
        require_module(module, extra)


def available_backends() -> list[str]:
    """Backends whose packages are installed here (found without importing them), "torch" first."""
    return [
        name
        for name in BACKENDS
        if all(importlib.util.find_spec(module) is not None for module, _ in REQUIREMENTS[name])
    ]


def make_runner(
    name: str,
    net: nn.Module,
    precision: str = "auto",
    device: str | torch.device = "cpu",
    *,
    static_shape: tuple[int, int, int, int] | None = None,
    hint: Hint = "latency",
    threads: int | None = None,
    use_cache: bool = True,
    export: Callable[[], bytes] | None = None,
    int8_calibration: str | os.PathLike[str] | None = None,
) -> Runner:
    """Build the runner of backend ``name`` for ``net`` (see :class:`Runner`).

    Args:
        name: "onnxruntime" or "openvino" ("torch" has no runner: the Upscaler calls the network itself).
        net: the loaded network (not modified).
        precision: "auto", "fp32", "bf16" or "int8". ONNX Runtime: fp32 only (auto = fp32). OpenVINO: auto =
            bf16 where the CPU has native bf16 (AVX512-BF16/AMX), else fp32; bf16 asked for on other CPUs runs fp32
            with a warning (it would be emulated, and slower); int8 (OpenVINO only, needs ``esrgan[int8]``): the
            architecture's measured recipe (:mod:`esrgan.backends.int8`).
        device: "cpu" or "auto" (both backends run on the CPU).
        static_shape: (B, C, H, W) to compile for that one input shape (other shapes are refused); None:
            dynamic batch, height and width.
        hint: OpenVINO performance hint, "latency" (one request at a time, as the engine runs) or
            "throughput"; ignored by ONNX Runtime.
        threads: intra-op threads; None = ``torch.get_num_threads()``.
        use_cache: read and write the on-disk cache (``${ESRGAN_CACHE_DIR:-~/.cache/esrgan}/compiled``).
        export: returns ``net``'s dynamic-shape ONNX export, called on a cache miss only (several runners of one
            network can share one export); None: the runner exports ``net`` itself.
        int8_calibration: int8 only: a folder of images to calibrate on; None: scikit-image's photographs.

    Raises:
        ValueError: unknown backend, unsupported precision or device.
        MissingPackageError: the backend's package is missing (the message says what to install).
    """
    check_backend(name)
    if name == "torch":
        raise ValueError("the torch backend has no runner: use esrgan.inference.Upscaler(net, backend='torch')")
    device_name = str(device).strip().lower()
    if device_name not in ("cpu", "auto"):
        raise OptionsError(f"the {name} backend runs on the CPU only, not {device!r}: use device cpu or backend torch")
    if precision == "int8" and name != "openvino":
        raise OptionsError(f"precision int8 runs on the openvino backend only, not {name}")
    allowed = "auto, fp32, bf16 or int8" if name == "openvino" else "auto, fp32 or bf16"
    if precision not in ("auto", "fp32", "bf16", "int8"):
        raise OptionsError(f"the {name} backend runs {allowed}, not {precision!r}")
    if int8_calibration is not None and precision != "int8":
        raise OptionsError(f"int8_calibration applies to precision int8 only, not {precision}")
    if hint not in ("latency", "throughput"):
        raise OptionsError(f"unknown performance hint {hint!r}: use 'latency' or 'throughput'")
    threads = torch.get_num_threads() if threads is None else threads
    if name == "onnxruntime":
        from esrgan.backends.onnxruntime import OnnxRuntimeRunner

        return OnnxRuntimeRunner(
            net, precision=precision, static_shape=static_shape, threads=threads, use_cache=use_cache, export=export
        )
    from esrgan.backends.openvino import OpenVinoRunner

    return OpenVinoRunner(
        net,
        precision=precision,
        static_shape=static_shape,
        hint=hint,
        threads=threads,
        use_cache=use_cache,
        export=export,
        int8_calibration=int8_calibration,
    )
