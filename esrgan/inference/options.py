"""The engine's settings as one typed, validated value: :class:`EngineOptions`.

Everything an :class:`esrgan.inference.Upscaler` is told besides the network and its callbacks: tiling,
self-ensemble, precision, device, backend, torch.compile, tiles per call. The command-line flags
(``esrgan.commands.common.engine_options``), the evaluation options (``esrgan test``), the validation and the
teacher options of training all hold one, and ``Upscaler.from_options(net, options)`` builds the engine from it.
The ranges are checked here, once. Importing this module costs no torch (``esrgan --help`` reads it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from esrgan.defaults import (
    BACKEND_CHOICES,
    DEFAULT_BACKEND,
    DEFAULT_PRECISION,
    DEFAULT_TILE,
    DEFAULT_TILE_PAD,
    PRECISIONS,
    BackendName,
    PrecisionName,
)
from esrgan.errors import OptionsError, quote
from esrgan.options import Range

__all__ = ["EngineOptions"]

# Ranges of the numbers (the command-line flags take their types from these declarations).
TILE = Range(0, 65536)  # input pixels per tile side; 0: whole images ("auto" is allowed besides)
TILE_PAD = Range(0, 1024)
TILE_BATCH = Range(1, 1024)

# Backends that run on any device and can torch.compile; the others are compiled for the CPU.
_TORCH = ("auto", "torch")


@dataclass(frozen=True)
class EngineOptions:
    """How the inference engine runs a network (see :class:`esrgan.inference.Upscaler` for the details).

    Embedded in YAML options as keys of their section (``tile: 0``, ``precision: fp32``, ...), not as a
    sub-section: see :func:`esrgan.options.flat`.

    Raises:
        OptionsError: a value out of range, an unknown name, or a combination no backend runs.
    """

    # "auto": the largest tile that fits in free memory (on the CPU at most 256, which is faster); 0: whole
    # images; N: tiles of at most N input pixels per side.
    tile: Annotated[int, TILE] | Literal["auto"] = DEFAULT_TILE
    tile_pad: Annotated[int, TILE_PAD] = (
        DEFAULT_TILE_PAD  # context per tile side in input pixels; neighbours blend over 2 * tile_pad
    )
    ensemble: bool = False  # average the 8 flips/rotations (x8 self-ensemble, 8x slower)
    # auto: fp16 on CUDA, bf16 on CPUs with native bf16, fp32 elsewhere (esrgan.device.resolve_precision); with
    # backend auto on the CPU, bf16 only where measured faster and within 50 dB (esrgan.backends.calibrate)
    precision: PrecisionName = DEFAULT_PRECISION
    device: str = "auto"  # auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps
    # auto: on the CPU the fastest candidate within the fidelity bounds, measured once on this machine and cached
    # (esrgan.backends.calibrate), elsewhere torch; torch (any device);
    # onnxruntime or openvino (CPU only, compiled once and cached on disk)
    backend: BackendName = DEFAULT_BACKEND
    compile: bool = False  # torch.compile the network (torch backend; checked against eager on first use)
    tile_batch: Annotated[int, TILE_BATCH] = (
        1  # same-shaped tiles stacked into one network call (helps GPUs with small tiles)
    )
    # precision int8 only: a folder of images to calibrate the quantization on; None: scikit-image's photographs
    int8_calibration: str | None = None

    def __post_init__(self) -> None:
        if not (self.tile == "auto" or (_is_int(self.tile) and TILE.contains(self.tile))):
            raise OptionsError(
                f"tile must be 'auto', 0 (no tiling) or a size in pixels up to {TILE.hi:.0f}, got {quote(self.tile)}"
            )
        TILE_PAD.check(self.tile_pad, "tile_pad")
        TILE_BATCH.check(self.tile_batch, "tile_batch")
        if self.precision not in PRECISIONS:
            raise OptionsError(f"unknown precision {quote(self.precision)}: use one of {', '.join(PRECISIONS)}")
        if self.backend not in BACKEND_CHOICES:
            raise OptionsError(f"unknown backend {quote(self.backend)}: use one of {', '.join(BACKEND_CHOICES)}")
        if not isinstance(self.device, str) or not self.device.strip():
            raise OptionsError(f"device must be a name such as auto, cpu, cuda or cuda:1, got {quote(self.device)}")
        if self.compile and self.backend not in _TORCH:
            raise OptionsError(f"compile applies to the torch backend only, not {self.backend}")
        if self.precision == "int8":
            self._check_int8()
        elif self.int8_calibration is not None:
            raise OptionsError(f"int8_calibration applies to precision int8 only, not {self.precision}")
        if self.backend not in _TORCH and self.device.strip().lower() not in ("auto", "cpu"):
            raise OptionsError(
                f"the {self.backend} backend runs on the CPU only, not {self.device[:40]}: use device cpu or backend "
                "torch"
            )

    def _check_int8(self) -> None:
        """int8 runs on OpenVINO on the CPU; its calibration folder is a non-empty path or None."""
        if self.backend not in ("auto", "openvino"):
            raise OptionsError(f"precision int8 runs on the openvino backend only, not {self.backend}")
        if self.compile:
            raise OptionsError("compile applies to the torch backend only; precision int8 runs on openvino")
        if self.device.strip().lower() not in ("auto", "cpu"):
            raise OptionsError(f"precision int8 runs on the CPU only, not {self.device[:40]}: use device cpu or auto")
        if self.int8_calibration is not None and not (
            isinstance(self.int8_calibration, str) and self.int8_calibration.strip()
        ):
            raise OptionsError(f"int8_calibration must be a folder of images, got {quote(self.int8_calibration)}")

    def with_default_device(self, device: str) -> EngineOptions:
        """These options with device "auto" replaced by ``device`` (an explicit device is kept).

        Training runs validation and the teacher through the engine where it trains (``cuda:LOCAL_RANK`` under
        torchrun), unless the options name another device.
        """
        return self if self.device.strip().lower() != "auto" else dataclasses.replace(self, device=device)

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of :class:`esrgan.inference.Upscaler`."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
