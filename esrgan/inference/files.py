"""Upscale an image file into another: read, run the engine, write, keeping what the input had.

:func:`upscale_file` is what ``esrgan upscale`` does for each file: decode (any bit depth, gray, alpha, EXIF
orientation; :mod:`esrgan.image`), map the image onto the network's channels and upscale it and its alpha
(:mod:`esrgan.inference.pipeline`), resize to ``outscale``, and write atomically with the input's bit depth, alpha,
gray-ness, ICC profile and EXIF where the output format can store them. The output format follows the target's
extension, or the input's (:func:`output_extension`). An input file is never written over. The input's header is
checked before it is decoded (:mod:`esrgan.image.probe`): an image above ``max_pixels``, or whose output would
exceed ``max_output_pixels``, is refused before any pixel is decoded or computed.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from esrgan.errors import OutputExistsError
from esrgan.image import (
    ImageData,
    check_encoded,
    check_image_file,
    encode_image,
    from_tensor,
    read_image,
    read_image_bytes,
    sniff_extension,
    to_tensor,
    write_encoded,
)
from esrgan.inference.limits import InputTooLargeError, OutputTooLargeError, OverwritesInputError, check_sizes
from esrgan.inference.naming import output_extension
from esrgan.inference.pipeline import AlphaMode, upscale_image
from esrgan.inference.upscaler import Upscaler

__all__ = [
    "InputTooLargeError",
    "OutputTooLargeError",
    "OverwritesInputError",
    "PreparedFile",
    "UpscaledBytes",
    "UpscaledFile",
    "check_sizes",
    "finish_file",
    "output_extension",
    "prepare_file",
    "upscale_bytes",
    "upscale_file",
    "upscale_image_data",
]

Existing = Literal["overwrite", "skip", "error"]


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
    keep_metadata: bool = True,
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
        keep_metadata: write the input's ICC profile and EXIF into the output where its format holds them
            (:mod:`esrgan.image.metadata`); False writes neither.

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
    factor = max(float(upscaler.scale), outscale or 0.0)
    prepared = prepare_file(source, target, ext=ext, max_pixels=max_pixels, max_output_pixels=max_output_pixels,
                            factor=factor, existing=existing, inputs=inputs, written=written)  # fmt: skip
    if isinstance(prepared, UpscaledFile):
        return prepared
    result = upscale_image_data(upscaler, prepared.image, outscale=outscale, alpha_mode=alpha_mode)
    if not keep_metadata:
        result.metadata = None
    data = encode_image(prepared.target, result, quality=quality)
    return finish_file(prepared.source, prepared.target, data, result.width, result.height, existing=existing)


@dataclass(frozen=True)
class PreparedFile:
    """An input read and checked, its output file decided: what :func:`upscale_file` knows before the engine
    runs (``image`` as :func:`esrgan.image.read_image` decoded it)."""

    source: Path
    target: Path
    image: ImageData


def prepare_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    ext: str | None = None,
    max_pixels: int = 0,
    max_output_pixels: int = 0,
    factor: float = 0.0,
    existing: Existing = "overwrite",
    inputs: Collection[Path] = (),
    written: Collection[Path] = (),
) -> PreparedFile | UpscaledFile:
    """The first half of :func:`upscale_file` (arguments as there; ``factor``: the larger of the network's scale
    and the output scale, for ``max_output_pixels``): check ``source``'s header (size, format) and read it, decide
    the output file, refuse to write over an input or an earlier output of the batch. Returns an
    :class:`UpscaledFile` with ``skipped=True`` when ``existing="skip"`` and the output exists, else what the
    engine needs.

    The second half runs the engine and encodes (:func:`upscale_image_data`, :func:`esrgan.image.encode_image`),
    then :func:`finish_file` writes; the halves may run in different processes (:mod:`esrgan.cluster`).
    """
    source = Path(source)
    check_sizes(check_image_file(source), source, max_pixels=max_pixels, max_output_pixels=max_output_pixels,
                factor=factor)  # fmt: skip
    image = read_image(source)
    target = Path(target) if ext is None else Path(f"{target}{output_extension(source, image, ext)}")
    resolved = target.resolve()
    if resolved == source.resolve() or resolved in inputs:
        raise OverwritesInputError(source, target)
    if resolved in written:
        raise OutputExistsError(f"{source}: output {target} was written by this run for another input; not replaced")
    if existing == "skip" and target.exists():
        return UpscaledFile(source, target, skipped=True)
    return PreparedFile(source, target, image)


def finish_file(
    source: Path, target: Path, data: bytes, width: int, height: int, *, existing: Existing = "overwrite"
) -> UpscaledFile:
    """The last step of :func:`upscale_file`: write the encoded output ``data`` (``width`` x ``height`` pixels)
    of ``source`` to ``target`` (a :class:`PreparedFile`'s) atomically, creating its folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    write_encoded(target, data, overwrite=existing == "overwrite")
    return UpscaledFile(source, target, width, height)


@dataclass(frozen=True)
class UpscaledBytes:
    """What :func:`upscale_bytes` made: the encoded output, its format's extension and its size in pixels."""

    data: bytes
    ext: str
    width: int
    height: int


def upscale_bytes(
    data: bytes,
    upscaler: Upscaler,
    *,
    name: str = "<bytes>",
    ext: str = "auto",
    outscale: float | None = None,
    alpha_mode: AlphaMode = "model",
    quality: int = 95,
    max_pixels: int = 0,
    max_output_pixels: int = 0,
    keep_metadata: bool = True,
) -> UpscaledBytes:
    """:func:`upscale_file` for an encoded image in memory (an image piped to standard input, or to be written to
    standard output): encoded bytes in, encoded bytes out, nothing written.

    Args:
        data: the encoded input (PNG, JPEG, WebP, BMP, TIFF).
        name: what to call it in messages.
        ext: the output format as for :func:`output_extension` ("auto" keeps the input's format, found from its
            first bytes, where it can store the image), or an output file's own extension (".bmp").
        Others: as for :func:`upscale_file`.

    Raises:
        InputTooLargeError, OutputTooLargeError: the limits, checked from the header before decoding.
        InputError: the bytes are not an image this package decodes (corrupt, truncated, another format).
    """
    factor = max(float(upscaler.scale), outscale or 0.0)
    check_sizes(check_encoded(data, name), Path(name), max_pixels=max_pixels, max_output_pixels=max_output_pixels,
                factor=factor)  # fmt: skip
    image = read_image_bytes(data, name)
    suffix = ext if ext.startswith(".") else output_extension(f"{name}{sniff_extension(data) or '.png'}", image, ext)
    result = upscale_image_data(upscaler, image, outscale=outscale, alpha_mode=alpha_mode)
    if not keep_metadata:
        result.metadata = None
    encoded = encode_image(Path(f"{name}{suffix}"), result, quality=quality)
    return UpscaledBytes(encoded, suffix, result.width, result.height)


def upscale_image_data(
    upscaler: Upscaler, image: ImageData, *, outscale: float | None = None, alpha_mode: AlphaMode = "model"
) -> ImageData:
    """Upscale a decoded image and its alpha, keeping its bit depth and metadata (see :func:`upscale_file`)."""
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
        metadata=image.metadata,
    )
