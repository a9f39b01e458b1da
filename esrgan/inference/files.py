"""Upscale an image file into another: read, run the engine, write, keeping what the input had.

:func:`upscale_file` is what ``esrgan upscale`` does for each file: decode (any bit depth, gray, alpha, EXIF
orientation; :mod:`esrgan.image`), map the image onto the network's channels and upscale it and its alpha
(:mod:`esrgan.inference.pipeline`), resize to ``outscale``, and write atomically with the input's bit depth, alpha
and gray-ness where the output format can store them. The output format follows the target's extension, or the
input's (:func:`output_extension`). An input file is never written over. The input's header is checked before it
is decoded (:mod:`esrgan.image.probe`): an image above ``max_pixels``, or whose output would exceed
``max_output_pixels``, is refused before any pixel is decoded or computed.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from esrgan.errors import LimitError, OutputError, OutputExistsError
from esrgan.image import ImageData, from_tensor, read_image, to_tensor, write_image
from esrgan.image.probe import check_image_file
from esrgan.inference.naming import output_extension
from esrgan.inference.pipeline import AlphaMode, upscale_image
from esrgan.inference.upscaler import Upscaler

__all__ = [
    "InputTooLargeError",
    "OutputTooLargeError",
    "OverwritesInputError",
    "UpscaledFile",
    "output_extension",
    "upscale_file",
    "upscale_image_data",
]

Existing = Literal["overwrite", "skip", "error"]


class InputTooLargeError(LimitError):
    """An input has more pixels than ``max_pixels`` allows (read from its header, before anything is decoded)."""

    def __init__(self, path: Path, pixels: int, limit: int) -> None:
        self.path, self.pixels, self.limit = path, pixels, limit
        super().__init__(f"{path}: {pixels / 1e6:.1f} MP is above max_pixels {limit} (0 allows any size)")


class OutputTooLargeError(LimitError):
    """The output of an input would have more pixels than ``max_output_pixels`` allows (the input's size from its
    header times the network's scale or the output scale, whichever is larger; checked before the engine runs)."""

    def __init__(self, path: Path, width: int, height: int, limit: int) -> None:
        self.path, self.width, self.height, self.limit = path, width, height, limit
        self.pixels = width * height
        super().__init__(
            f"{path}: the output would be {width}x{height} ({self.pixels / 1e6:.1f} MP), above max_output_pixels "
            f"{limit} (0 allows any size)"
        )


class OverwritesInputError(OutputError):
    """The output would replace an input file."""

    def __init__(self, source: Path, target: Path) -> None:
        self.source, self.target = source, target
        super().__init__(f"{source}: output {target} would overwrite an input")


@dataclass(frozen=True)
class UpscaledFile:
    """What :func:`upscale_file` did.

    Attributes:
        source, target: the input and the output file.
        width, height: the output's size in pixels (0 when skipped).
        skipped: the target existed and ``existing="skip"`` left it alone.
    """

    source: Path
    target: Path
    width: int = 0
    height: int = 0
    skipped: bool = False


def upscale_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    upscaler: Upscaler,
    *,
    ext: str | None = None,
    outscale: float | None = None,
    alpha_mode: AlphaMode = "model",
    quality: int = 95,
    max_pixels: int = 0,
    max_output_pixels: int = 0,
    existing: Existing = "overwrite",
    inputs: Collection[Path] = (),
    written: Collection[Path] = (),
) -> UpscaledFile:
    """Upscale the image file ``source`` into ``target``.

    Args:
        source: an image file (PNG, JPEG, WebP, BMP, TIFF; 8/16-bit or float; gray, RGB, alpha).
        target: the output file, its extension choosing the format; with ``ext``, the output file without
            its extension (``ext`` is appended). Its folder is created if needed.
        upscaler: the engine (its network's scale and input channels are used).
        ext: None (``target`` is complete), or "auto", "png", "jpg", "webp", "tif": see :func:`output_extension`.
        outscale: final size relative to the input (default: the network's scale); the output is resized.
        alpha_mode: "model" upscales transparency with the network, "bicubic" resizes it.
        quality: JPEG / WebP quality, 1-100.
        max_pixels: refuse inputs with more pixels than this (0: no limit).
        max_output_pixels: refuse inputs whose output would have more pixels than this, at the network's scale
            or at ``outscale``, whichever is larger (0: no limit).
        existing: what to do when ``target`` exists: "overwrite" it, "skip" this file, or raise ("error").
        inputs: other files that must not be written over (e.g. the other inputs of a batch), as resolved paths
            (``Path.resolve()``; a set keeps the check cheap for big batches); ``source`` never is.
        written: outputs written earlier in the same batch, as resolved paths: never replaced (an
            :class:`~esrgan.errors.OutputExistsError` instead), whatever ``existing`` says.

    Returns:
        The source, the output file and its size, or ``skipped=True``.

    Raises:
        InputTooLargeError: more than ``max_pixels`` pixels (a :class:`~esrgan.errors.LimitError`).
        OutputTooLargeError: the output would have more than ``max_output_pixels`` pixels.
        OverwritesInputError: ``target`` is ``source`` or one of ``inputs`` (an :class:`~esrgan.errors.OutputError`).
        OutputExistsError: ``existing="error"`` and ``target`` exists, or ``target`` is in ``written``.
        NotFoundError, InputError: the file is missing, or not an image the package reads (corrupt, truncated,
            another format).
        OSError: the file cannot be read or written.
    """
    source = Path(source)
    header = check_image_file(source)
    if max_pixels and header.pixels > max_pixels:
        raise InputTooLargeError(source, header.pixels, max_pixels)
    factor = max(float(upscaler.scale), outscale if outscale is not None else 0.0)
    out_w, out_h = round(header.width * factor), round(header.height * factor)
    if max_output_pixels and out_w * out_h > max_output_pixels:
        raise OutputTooLargeError(source, out_w, out_h, max_output_pixels)
    image = read_image(source)
    target = Path(target) if ext is None else Path(f"{target}{output_extension(source, image, ext)}")
    resolved = target.resolve()
    if resolved == source.resolve() or resolved in inputs:
        raise OverwritesInputError(source, target)
    if resolved in written:
        raise OutputExistsError(f"{source}: output {target} was written by this run for another input; not replaced")
    if existing == "skip" and target.exists():
        return UpscaledFile(source, target, skipped=True)
    result = upscale_image_data(upscaler, image, outscale=outscale, alpha_mode=alpha_mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_image(target, result, quality=quality, overwrite=existing == "overwrite")
    return UpscaledFile(source, target, result.width, result.height)


def upscale_image_data(
    upscaler: Upscaler, image: ImageData, *, outscale: float | None = None, alpha_mode: AlphaMode = "model"
) -> ImageData:
    """Upscale a decoded image and its alpha, keeping its bit depth (see :func:`upscale_file`)."""
    alpha = to_tensor(image.alpha) if image.alpha is not None else None
    with torch.inference_mode():
        sr, sr_alpha = upscale_image(
            upscaler,
            to_tensor(image.pixels),
            alpha,
            net_channels=upscaler.in_channels or 3,
            scale=upscaler.scale,
            outscale=outscale,
            alpha_mode=alpha_mode,
        )
    return ImageData(
        pixels=from_tensor(sr),
        alpha=from_tensor(sr_alpha)[:, :, 0] if sr_alpha is not None else None,
        bit_depth=image.bit_depth,
    )
