"""Image files the command tests make: crops of a real photo, and PNG headers that declare any size."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import skimage.data


def photo(h: int = 24, w: int = 32) -> np.ndarray:
    """A crop of a real photo, (h, w, 3) uint8 RGB."""
    return skimage.data.coffee()[100 : 100 + h, 200 : 200 + w]


def save_rgb(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


def png_declaring(width: int, height: int) -> bytes:
    """57 bytes: a PNG header that declares any size, without the pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def valid_1bit_png(width: int, height: int) -> bytes:
    """A complete, decodable 1-bit gray PNG of any size, compressed to some tens of kilobytes (20000x20000:
    400 megapixels in 49 KB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" + bytes((width + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
