"""The one decoder of encoded image bytes (PNG, JPEG, WebP, BMP, TIFF), for files, LMDB values and dataset scripts.

:func:`decode` turns bytes into the samples as stored (OpenCV's unchanged read: any depth, any channel count, BGR
order); :func:`split_channels` turns those into RGB (or gray) pixels plus an optional alpha plane. Every reader of
the package goes through :func:`decode`: :func:`esrgan.image.read_image` (files for upscaling and evaluation),
:func:`decode_rgb` (training data from folders and LMDB) and :func:`esrgan.image.read_unchanged` (the data
preparation scripts, which write OpenCV arrays back). :func:`check_encoded` is the one place where the encoded bytes
are checked before anything is decoded.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["check_encoded", "decode", "decode_rgb", "sniff_extension", "split_channels"]

# First bytes of each format the decoder reads, and the extension its files get.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)


def check_encoded(buf: np.ndarray, name: str) -> None:
    """Checks on the encoded bytes, run before the decoder allocates anything.

    Args:
        buf: the encoded file, (N,) uint8.
        name: path or key, for error messages.

    Raises:
        ValueError: the data is empty.
    """
    if buf.size == 0:
        raise ValueError(f"{name}: empty file")


def sniff_extension(data: bytes) -> str | None:
    """The extension (".png", ".jpg", ".webp", ".bmp", ".tif") of encoded image bytes, from their first bytes; None
    for anything else (bytes with no name, such as an image piped to standard input, get their format this way)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in _SIGNATURES if data.startswith(magic)), None)


def decode(data: bytes | np.ndarray, name: str) -> np.ndarray:
    """Decode encoded image bytes to the samples as stored.

    Args:
        data: the encoded file (bytes or a (N,) uint8 array).
        name: path or key, for error messages.

    Returns:
        (H, W) or (H, W, C) array in OpenCV's channel order (gray, gray+alpha, BGR, BGRA), uint8, uint16 or float32
        as the file stores it. EXIF orientation is not applied (see :func:`esrgan.image.read_image`).

    Raises:
        ValueError: empty, corrupt, truncated or unsupported data.
    """
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    check_encoded(buf, name)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.size == 0:
        raise ValueError(f"{name}: cannot decode image (corrupt, truncated or not a supported image format)")
    return arr


def split_channels(arr: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Stored samples (as :func:`decode` returns them) -> colour pixels and alpha, same sample type.

    Returns:
        ``(pixels, alpha)``: pixels (H, W, 1) gray or (H, W, 3) RGB; alpha (H, W) or None. Views where possible.

    Raises:
        ValueError: more than 4 channels.
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
    raise ValueError(f"{name}: {channels} channels are not supported (expected 1-4)")


def decode_rgb(data: bytes | np.ndarray, name: str) -> np.ndarray:
    """Decode encoded image bytes to (H, W, 3) RGB in the stored sample type (what the training datasets use).

    Args:
        data: the file's bytes.
        name: path or key, for error messages.

    Returns:
        (H, W, 3) uint8, uint16, or float32 (float files, clipped to [0, 1]); gray is replicated to three
        channels, alpha is dropped, BGR becomes RGB.

    Raises:
        ValueError: empty, corrupt or unsupported data.
    """
    pixels, _ = split_channels(decode(data, name), name)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    if pixels.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(pixels)
    if np.issubdtype(pixels.dtype, np.floating):
        return np.clip(pixels, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"{name}: unsupported sample type {pixels.dtype} (expected 8-bit, 16-bit or float)")
