"""Argument types and the engine flags shared by the verbs that run a network (upscale, video, test).

Numeric flags take their allowed values from a :class:`~esrgan.options.Range` declared with the option field the
flag fills (:func:`esrgan.options.field_arg_type`) or with the flag, through :func:`esrgan.options.arg_type`: one
mechanism for files and flags.
"""

from __future__ import annotations

import argparse
from typing import Any

from esrgan.defaults import (
    BACKEND_CHOICES,
    DEFAULT_BACKEND,
    DEFAULT_PRECISION,
    DEFAULT_TILE,
    DEFAULT_TILE_PAD,
    MIN_CLI_TILE,
    PRECISIONS,
)
from esrgan.inference.options import TILE, EngineOptions
from esrgan.options import Range, arg_type, field_arg_type

CLI_TILE = Range(MIN_CLI_TILE, TILE.hi, also=(0,))  # input pixels; 0: no tiling

__all__ = ["add_engine_args", "engine_options", "non_negative_int", "positive_float", "positive_int", "tile_size"]


def tile_size(text: str) -> int | str:
    """``--tile``: 'auto', 0 (no tiling) or a size in input pixels of at least 16."""
    return text if text == "auto" else int(arg_type(int, CLI_TILE)(text))


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    return int(arg_type(int, Range(1, None))(text))


def non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    return int(arg_type(int, Range(0, None))(text))


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return float(arg_type(float, Range(0, None, lo_open=True))(text))


def add_engine_args(p: Any, *, defaults: bool = True) -> None:
    """Add --tile, --tile-pad, --ensemble, --precision, --int8-calibration, --device, --backend and --compile to a
    parser or group.

    Args:
        defaults: False leaves every default as None, for verbs that merge flags over a YAML file.
    """

    def d(value: Any) -> Any:
        return value if defaults else None

    p.add_argument(
        "--tile", type=tile_size, default=d(DEFAULT_TILE), help="tile size in input pixels, 'auto' or 0 (off)"
    )
    p.add_argument(
        "--tile-pad",
        type=field_arg_type(EngineOptions, "tile_pad"),
        default=d(DEFAULT_TILE_PAD),
        help=f"overlap per tile side (default {DEFAULT_TILE_PAD})",
    )
    p.add_argument("--ensemble", action="store_true", help="x8 self-ensemble: 8 flips/rotations averaged (8x slower)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=d(DEFAULT_PRECISION),
        help="auto: fp16 on CUDA, bf16 on CPUs with native bf16 (with --backend auto: where measured faster "
        "within 50 dB), else fp32; int8: OpenVINO on the CPU, quantized with the model's measured recipe (at least "
        "40 dB from fp32 on photos; pip install esrgan[int8]; calibrated once, cached)",
    )
    p.add_argument(
        "--int8-calibration",
        metavar="DIR",
        default=None,
        help="with --precision int8: calibrate on the images of DIR (like the ones you upscale) instead of "
        "scikit-image's photographs",
    )
    p.add_argument("--device", default=d("auto"), help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=d(DEFAULT_BACKEND),
        help="auto (default: on the CPU the fastest backend and precision within the fidelity bounds, measured "
        "once per model and machine and cached; ESRGAN_CALIBRATE=0 skips measuring, =force redoes it; elsewhere "
        "torch), torch (any device), or onnxruntime / openvino on the CPU (compiled once, cached in "
        "~/.cache/esrgan/compiled)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        default=d(False),
        help="torch.compile the network (torch backend; the first call pays a warm-up, checked against eager)",
    )


def engine_options(args: argparse.Namespace) -> EngineOptions:
    """The engine options the flags of :func:`add_engine_args` (with defaults) ask for; checked by
    :class:`EngineOptions`. ``Upscaler.from_options(net, engine_options(args))`` builds the engine."""
    return EngineOptions(
        tile=args.tile,
        tile_pad=args.tile_pad,
        ensemble=args.ensemble,
        precision=args.precision,
        device=args.device,
        backend=args.backend,
        compile=args.compile,
        int8_calibration=args.int8_calibration,
    )
