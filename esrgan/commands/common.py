"""Argument types and the engine flags shared by the verbs that run a network (upscale, video, test)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from esrgan.defaults import BACKEND_CHOICES, MIN_CLI_TILE, PRECISIONS

__all__ = ["add_engine_args", "positive_float", "positive_int", "tile_size"]


def tile_size(text: str) -> int | str:
    """``--tile``: 'auto', 0 (no tiling) or a size in input pixels of at least 16."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto', 0 (no tiling) or a size in pixels, got {text!r}") from None
    if value < 0 or 0 < value < MIN_CLI_TILE:
        raise argparse.ArgumentTypeError(f"must be 0 (no tiling) or at least {MIN_CLI_TILE} pixels, got {value}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_engine_args(p: Any, *, defaults: bool = True) -> None:
    """Add --tile, --tile-pad, --ensemble, --precision, --device, --backend and --compile to a parser or group.

    Args:
        defaults: False leaves every default as None, for verbs that merge flags over a YAML file.
    """

    def d(value: Any) -> Any:
        return value if defaults else None

    p.add_argument("--tile", type=tile_size, default=d("auto"), help="tile size in input pixels, 'auto' or 0 (off)")
    p.add_argument("--tile-pad", type=non_negative_int, default=d(16), help="overlap per tile side (default 16)")
    p.add_argument("--ensemble", action="store_true", help="x8 self-ensemble: 8 flips/rotations averaged (8x slower)")
    p.add_argument("--precision", choices=PRECISIONS, default=d("auto"), help="auto: fp16 on CUDA, bf16 on CPUs "
                   "with native bf16, else fp32")  # fmt: skip
    p.add_argument("--device", default=d("auto"), help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--backend", choices=BACKEND_CHOICES, default=d("auto"), help="auto (default: the fastest measured "
                   "for the model: openvino for compact models on the CPU when installed, else torch), torch (any "
                   "device), or onnxruntime / openvino on the CPU (compiled once, cached in "
                   "~/.cache/esrgan/compiled)")  # fmt: skip
    p.add_argument("--compile", action="store_true", default=d(False), help="torch.compile the network (torch "
                   "backend; the first call pays a warm-up, checked against eager)")  # fmt: skip


def upscaler_from(net: Any, flags: Any, **kwargs: Any) -> Any:
    """The engine for ``net`` configured from anything with ``tile``, ``tile_pad``, ``ensemble``, ``precision`` and
    ``device`` attributes: parsed engine flags or an options dataclass; ``backend`` and ``compile`` are read when
    present (default auto, off). ``kwargs`` go to the Upscaler as well."""
    from esrgan.inference import Upscaler

    return Upscaler(
        net,
        tile=flags.tile,
        tile_pad=flags.tile_pad,
        ensemble=flags.ensemble,
        precision=flags.precision,
        device=flags.device,
        backend=getattr(flags, "backend", None) or "auto",
        compile=bool(getattr(flags, "compile", False)),
        **kwargs,
    )
