"""Argument types and the engine flags shared by the verbs that run a network (upscale, video, test).

Numeric flags take their allowed values from a :class:`~esrgan.options.Range` declared with the flag (or with the
option field the flag fills), through :func:`esrgan.options.arg_type`: one mechanism for files and flags.
"""

from __future__ import annotations

from typing import Any

from esrgan.options import Range, arg_type

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BACKENDS = ("auto", "torch", "onnxruntime", "openvino")  # = esrgan.backends.BACKEND_CHOICES (--help stays fast)
MIN_TILE = 16
TILE = Range(MIN_TILE, 65536, also=(0,))  # input pixels; 0: no tiling
TILE_PAD = Range(0, 1024)
OUTSCALE = Range(0, 32, lo_open=True)  # final scale of upscale/video -s

__all__ = ["PRECISIONS", "add_engine_args", "positive_float", "positive_int", "tile_size"]


def tile_size(text: str) -> int | str:
    """``--tile``: 'auto', 0 (no tiling) or a size in input pixels of at least 16."""
    return text if text == "auto" else int(arg_type(int, TILE)(text))


def positive_int(text: str) -> int:
    return int(arg_type(int, Range(1, None))(text))


def non_negative_int(text: str) -> int:
    return int(arg_type(int, Range(0, None))(text))


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return float(arg_type(float, Range(0, None, lo_open=True))(text))


def add_engine_args(p: Any, *, defaults: bool = True) -> None:
    """Add --tile, --tile-pad, --ensemble, --precision, --device, --backend and --compile to a parser or group.

    Args:
        defaults: False leaves every default as None, for verbs that merge flags over a YAML file.
    """

    def d(value: Any) -> Any:
        return value if defaults else None

    p.add_argument("--tile", type=tile_size, default=d("auto"), help="tile size in input pixels, 'auto' or 0 (off)")
    p.add_argument("--tile-pad", type=arg_type(int, TILE_PAD), default=d(16), help="overlap per tile side (default 16)")
    p.add_argument("--ensemble", action="store_true", help="x8 self-ensemble: 8 flips/rotations averaged (8x slower)")
    p.add_argument("--precision", choices=PRECISIONS, default=d("auto"), help="auto: fp16 on CUDA, bf16 on CPUs "
                   "with native bf16, else fp32")  # fmt: skip
    p.add_argument("--device", default=d("auto"), help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--backend", choices=BACKENDS, default=d("auto"), help="auto (default: the fastest measured "
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
