"""Names and defaults that ``esrgan --help`` shows, in a module that imports nothing heavy.

``esrgan --help`` must not wait for torch or PyAV (seconds), yet its flags show the model, precision, backend and
encoder names and the defaults. They live here, once: the commands read them for their flags and help texts, and
the library modules that own each concept (``esrgan.models.zoo``, ``esrgan.backends``, ``esrgan.inference``,
``esrgan.video``) import them from here instead of declaring their own copies. Nothing here may import torch,
numpy or av.
"""

from __future__ import annotations

import typing
from typing import Literal

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "DEFAULT_BACKEND",
    "DEFAULT_CODEC",
    "DEFAULT_CRF",
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MODEL",
    "DEFAULT_PIX_FMT",
    "DEFAULT_PRECISION",
    "DEFAULT_PRESET",
    "DEFAULT_SEGMENT_FRAMES",
    "DEFAULT_TILE",
    "DEFAULT_TILE_PAD",
    "FAST_MODEL",
    "FAST_PHOTO_MODEL",
    "MIN_CLI_TILE",
    "OUTPUT_FORMATS",
    "PRECISIONS",
    "BackendName",
    "PrecisionName",
    "TileSize",
]

# ---- models (esrgan.models.zoo lists the built-ins)

DEFAULT_MODEL = "realesrgan-x4plus"
FAST_MODEL = "realesr-animevideov3"  # ~30x cheaper per pixel than the default; for anime and video
FAST_PHOTO_MODEL = "realesrgan-x4plus-fast"  # the same network distilled from the default: for photos on a CPU

# ---- the engine (esrgan.inference.EngineOptions)

# Compute precision: "auto" is resolved per device by esrgan.device.resolve_precision; "int8" is only ever asked for
# (OpenVINO on the CPU, esrgan.backends.int8).
PrecisionName = Literal["auto", "fp32", "bf16", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = typing.get_args(PrecisionName)
DEFAULT_PRECISION: PrecisionName = "auto"

# Inference backends (esrgan.backends); "auto" is resolved per network, machine and device by
# esrgan.backends.calibrate (measured once, cached).
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

# ---- images (esrgan upscale, esrgan.inference.files)

# Output formats of upscaled images ("auto": the input's, where it can store the image).
OUTPUT_FORMATS = ("auto", "png", "jpg", "webp", "tif")
# `esrgan upscale` refuses inputs with more pixels than this unless told otherwise (0: no limit).
DEFAULT_MAX_PIXELS = 25_000_000
# ... and inputs whose output (at the network's scale or --outscale, whichever is larger) would have more pixels:
# what the default input limit gives at x4. 400 MP is 4.8 GB as float RGB, beside the network's activations.
DEFAULT_MAX_OUTPUT_PIXELS = 400_000_000

# ---- video (esrgan.video)

DEFAULT_CODEC = "libx264"
DEFAULT_PIX_FMT = "yuv420p"
# Constant-quality defaults per encoder (each encoder's own scale). x264 18 is close to visually lossless,
# which an upscaler's output deserves; the others are set to a similar quality.
DEFAULT_CRF: dict[str, float] = {"libx264": 18, "libx264rgb": 18, "libx265": 20, "libvpx-vp9": 24, "libsvtav1": 24}
# x264 "veryfast" encodes ~3x faster than "medium" (40 vs 13 fps at 720p on 2 cores, realesr-animevideov3 output,
# crf 18) for 1 dB less PSNR at ~49 dB (invisible) and smaller files. The encoder shares the CPU with the network
# and can become the bottleneck behind a GPU; preset medium/slow compress ~10% better for archival encodes.
DEFAULT_PRESET: dict[str, str] = {"libx264": "veryfast", "libx264rgb": "veryfast"}
# Frames per resumable segment: an interruption loses at most one segment's work (300 frames = 12.5 s of 24 fps video).
DEFAULT_SEGMENT_FRAMES = 300
