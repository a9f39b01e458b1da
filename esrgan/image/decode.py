"""The one decoder of encoded image bytes (PNG, JPEG, WebP, BMP, TIFF, GIF), for files, LMDB values and dataset
scripts.

:func:`decode` turns bytes into the samples as stored (OpenCV's unchanged read: any depth, any channel count, BGR
order); :func:`split_channels` turns those into RGB (or gray) pixels plus an optional alpha plane. Every reader of
the package goes through :func:`decode`: :func:`esrgan.image.read_image` (files for upscaling and evaluation),
:func:`decode_rgb` (training data from folders and LMDB) and :func:`esrgan.image.read_unchanged` (the data
preparation scripts, which write OpenCV arrays back). :func:`check_encoded` is the one place where the encoded bytes
are checked before anything is decoded: the header is read (:mod:`esrgan.image.probe`), formats outside the
package's list are refused whatever the file is called, and an image above ``max_pixels`` is refused before the
decoder allocates what its header claims. Whatever the decoder's own failure, the caller gets one
:class:`~esrgan.errors.InputError` naming the file.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from esrgan.errors import InputError
from esrgan.image.probe import ImageHeader, check_pixels, probe_image, sniff_format, tiff_alpha_flag_offset

log = logging.getLogger(__name__)

__all__ = ["check_encoded", "decode", "decode_rgb", "sniff_extension", "split_channels"]

# The extension files of each format the decoder reads get.
_EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif", "gif": ".gif"}


def check_encoded(buf: np.ndarray | bytes, name: str, max_pixels: int | None = None) -> ImageHeader:
    """Checks on the encoded bytes, run before the decoder allocates anything.

    Args:
        buf: the encoded file, (N,) uint8 (or bytes).
        name: path or key, for error messages.
        max_pixels: refuse images with more pixels (None or 0: no limit).

    Returns:
        The header: format, size, channels, frames.

    Raises:
        InputError: empty, not a PNG, JPEG, WebP, BMP, TIFF or GIF, or a corrupt or truncated header.
        LimitError: more than ``max_pixels`` pixels.
    """
    header = probe_image(buf.data if isinstance(buf, np.ndarray) else buf, name)
    check_pixels(header, name, max_pixels)
    return header


def sniff_extension(data: bytes) -> str | None:
    """The extension (".png", ".jpg", ".webp", ".bmp", ".tif", ".gif") of encoded image bytes, from their first
    bytes (:func:`esrgan.image.probe.sniff_format`); None for anything else (bytes with no name, such as an image
    piped to standard input, get their format this way)."""
    fmt = sniff_format(data[:16])
    return _EXTENSIONS[fmt] if fmt is not None else None


def decode(
    data: bytes | np.ndarray, name: str, *, max_pixels: int | None = None, header: ImageHeader | None = None
) -> np.ndarray:
    """Decode encoded image bytes to the samples as stored (the first frame of an animation, with a warning).

    Args:
        data: the encoded file (bytes or a (N,) uint8 array).
        name: path or key, for error messages.
        max_pixels: refuse images with more pixels before decoding (None or 0: no limit).
        header: what :func:`check_encoded` returned for these bytes, if the caller ran it already.

    Returns:
        (H, W) or (H, W, C) array in OpenCV's channel order (gray, gray+alpha, BGR, BGRA), uint8, uint16 or float32
        as the file stores it. EXIF orientation is not applied (see :func:`esrgan.image.read_image`).

    Raises:
        InputError: empty, corrupt, truncated or unsupported data.
        LimitError: more than ``max_pixels`` pixels.
    """
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    if header is None:
        header = check_encoded(buf, name, max_pixels)
    if header.frames > 1:
        what = "pages" if header.format == "tiff" else "frames"
        log.warning("%s: %s with %d %s: only the first is read", name, header.format.upper(), header.frames, what)
    if header.format == "tiff" and header.alpha == "straight":
        # libtiff's RGBA interface, which OpenCV uses for 8-bit TIFFs, premultiplies unassociated alpha into the
        # colour (off by 60/255 on average for random colours); marked "unspecified", the alpha comes as stored.
        at = tiff_alpha_flag_offset(buf.data)  # the array's bytes, no copy
        if at is not None:
            buf = buf.copy() if not buf.flags.writeable else buf
            buf[at : at + 2] = 0
    try:
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV raises for some damaged files and returns None for others
        reason = " ".join(str(exc).split())[-160:]
        raise InputError(f"{name}: cannot decode this {header.format.upper()} file ({reason})") from exc
    if arr is None or arr.size == 0:
        raise InputError(f"{name}: cannot decode this {header.format.upper()} file (corrupt or truncated)")
    return arr


def split_channels(arr: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Stored samples (as :func:`decode` returns them) -> colour pixels and alpha, same sample type.

    Returns:
        ``(pixels, alpha)``: pixels (H, W, 1) gray or (H, W, 3) RGB; alpha (H, W) or None. Views where possible.

    Raises:
        InputError: more than 4 channels.
    """
    if arr.ndim == 2:
        return arr[:, :, None], None
    channels = arr.shape[2]
    if channels == 1:
        return arr, None
    if channels == 2:  # gray + alpha, as some TIFFs decode
        return arr[:, :, :1], arr[:, :, 1]
    if channels == 3:
        return arr[:, :, ::-1], None
    if channels == 4:
        return arr[:, :, 2::-1], arr[:, :, 3]
    raise InputError(f"{name}: {channels} channels are not supported (expected 1-4)")


def decode_rgb(data: bytes | np.ndarray, name: str) -> np.ndarray:
    """Decode encoded image bytes to (H, W, 3) RGB in the stored sample type (what the training datasets use).

    Args:
        data: the file's bytes.
        name: path or key, for error messages.

    Returns:
        (H, W, 3) uint8, uint16, or float32 (float files, clipped to [0, 1]); gray is replicated to three
        channels, alpha is dropped, BGR becomes RGB.

    Raises:
        InputError: empty, corrupt or unsupported data.
    """
    pixels, _ = split_channels(decode(data, name), name)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    if pixels.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(pixels)
    if np.issubdtype(pixels.dtype, np.floating):
        return np.clip(pixels, 0.0, 1.0).astype(np.float32)
    raise InputError(f"{name}: unsupported sample type {pixels.dtype} (expected 8-bit, 16-bit or float)")
