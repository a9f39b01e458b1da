"""Names and defaults shared by the command line and the library, in a module that imports nothing heavy.

``esrgan --help`` must not wait for torch (seconds), yet its flags show the model, precision and backend names
and the engine's defaults. They live here, once: the commands read them for their flags and help texts, and the
library modules that own each concept (``esrgan.models.zoo``, ``esrgan.backends``, ``esrgan.inference``) import
them from here instead of declaring their own copies. Nothing here may import torch, numpy or av.
"""

from __future__ import annotations

import typing
from typing import Literal

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "DEFAULT_BACKEND",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MODEL",
    "DEFAULT_PRECISION",
    "DEFAULT_SEGMENT_FRAMES",
    "DEFAULT_TILE",
    "DEFAULT_TILE_PAD",
    "FAST_MODEL",
    "MIN_CLI_TILE",
    "OUTPUT_FORMATS",
    "PRECISIONS",
    "BackendName",
    "PrecisionName",
    "TileSize",
]

# Built-in models (esrgan.models.zoo lists them): the default one, and the one ~30x cheaper per pixel.
DEFAULT_MODEL = "realesrgan-x4plus"
FAST_MODEL = "realesr-animevideov3"

# Compute precision of the engine: "auto" is resolved per device by esrgan.device.resolve_precision.
PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = typing.get_args(PrecisionName)
DEFAULT_PRECISION: PrecisionName = "auto"

# Inference backends (esrgan.backends); "auto" is resolved per network and device by esrgan.backends.auto_backend.
BackendName = Literal["auto", "torch", "onnxruntime", "openvino"]
BACKEND_CHOICES: tuple[str, ...] = typing.get_args(BackendName)
BACKENDS: tuple[str, ...] = BACKEND_CHOICES[1:]  # the real ones, "torch" first
DEFAULT_BACKEND: BackendName = "auto"

# Tiling: "auto" (the largest tile that fits in memory), 0 (whole images) or a tile side in input pixels.
TileSize = int | Literal["auto"]
DEFAULT_TILE: TileSize = "auto"
DEFAULT_TILE_PAD = 16
# Smallest tile the command line accepts: smaller tiles spend most of their time on the overlap.
MIN_CLI_TILE = 16

# Output formats of upscaled images ("auto": the input's, where it can store the image: esrgan.inference.files).
OUTPUT_FORMATS = ("auto", "png", "jpg", "webp", "tif")

# `esrgan upscale` refuses inputs with more pixels than this unless told otherwise (0: no limit).
DEFAULT_MAX_PIXELS = 25_000_000

# `esrgan video`: frames per resumable segment (an interrupted run redoes at most one segment).
DEFAULT_SEGMENT_FRAMES = 300
