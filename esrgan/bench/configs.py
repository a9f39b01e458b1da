"""Benchmark configurations and input sizes: what ``esrgan bench --configs`` and ``--sizes`` accept.

A configuration is tokens joined with ``+`` (``plain``, ``default``, ``fp32``, ``openvino+bf16``, ``tile=128``);
every configuration but ``plain`` is :class:`esrgan.inference.EngineOptions`' defaults (what ``esrgan upscale``
runs without engine flags) with the tokens' changes. Importing this module costs no torch.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from typing import Any

from esrgan.defaults import BACKENDS, PRECISIONS
from esrgan.errors import OptionsError
from esrgan.inference.options import EngineOptions

__all__ = [
    "PLAIN",
    "SIZE_PRESETS",
    "Config",
    "default_configs",
    "parse_config",
    "parse_size",
    "unavailable_reason",
]

PLAIN = "plain"
PRECISION_TOKENS = PRECISIONS  # fp16: CUDA only (the engine refuses it on the CPU)
BACKEND_TOKENS = BACKENDS
SIZE_PRESETS = {
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "2160p": (3840, 2160),
    "4k": (3840, 2160),
}


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
        """The engine options this configuration sets (the rest keep the command's defaults)."""
        names = ("precision", "tile", "backend", "compile")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def engine_options(self, device: str) -> EngineOptions:
        """What ``esrgan upscale`` runs with no engine flag (:class:`EngineOptions`' defaults), with this
        configuration's changes, on ``device``."""
        return dataclasses.replace(EngineOptions(), **self.engine_overrides(), device=device)


def parse_config(text: str) -> Config:
    """Parse a configuration name: tokens joined with ``+``.

    Tokens: ``plain`` (the reference, alone), ``default`` (the command's defaults), a precision (``auto``,
    ``fp32``, ``bf16``, ``fp16``, ``int8``: OpenVINO with the architecture's int8 recipe), a backend (``torch``,
    ``onnxruntime``, ``openvino``), ``compile`` (torch.compile), and ``tile=N`` / ``tile=auto`` / ``tile=0``.
    Examples: ``fp32``, ``openvino+bf16``, ``fp32+tile=0``, ``int8``.

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
                f"unknown configuration token {token!r} in {text!r}: use plain, default, auto/fp32/bf16/fp16/int8, "
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
    """Why ``config`` cannot run in this installation (None if it can): its backend's Python packages are missing,
    or torch.compile has no C++ compiler for its CPU kernels."""
    if config.plain:
        return None
    backend = "openvino" if config.precision == "int8" else config.backend
    if backend not in (None, "torch"):
        from esrgan.backends import MissingPackageError, check_backend
        from esrgan.backends.onnx_export import require_module

        try:
            check_backend(str(backend))
            if config.precision == "int8":
                require_module("nncf", "int8")
        except MissingPackageError as exc:
            return str(exc)
    if config.compile and shutil.which(os.environ.get("CXX", "g++")) is None and shutil.which("c++") is None:
        return "torch.compile needs a C++ compiler (g++) for its CPU kernels"
    return None


def default_configs(native_bf16: bool | None = None, device: str = "cpu") -> list[Config]:
    """``plain``, ``default`` and ``fp32`` (backend auto at fp32), then on the CPU every candidate backend ``auto``
    chooses from, each by name at a fixed precision: ``<backend>+fp32`` for each installed backend and, on CPUs
    with native bf16 (``native_bf16``; None asks this machine), ``torch+bf16`` and ``openvino+bf16``. So the table
    shows the default beside the fastest fp32-exact row and the fastest row of any precision. On other devices
    only the first three (the compiled backends run on the CPU)."""
    from esrgan.backends import available_backends
    from esrgan.device import cpu_has_native_bf16

    if device.strip().lower() != "cpu":
        return [parse_config(name) for name in (PLAIN, "default", "fp32")]
    if native_bf16 is None:
        native_bf16 = cpu_has_native_bf16()
    installed = available_backends()
    names = [PLAIN, "default", "fp32", *(f"{b}+fp32" for b in installed)]
    if native_bf16:
        names += [f"{b}+bf16" for b in installed if b != "onnxruntime"]  # ONNX Runtime: no bf16 on the CPU
    return [parse_config(name) for name in names]
