"""Image files in and out: the only place where image files meet the package's RGB float convention.

Reading decodes PNG, JPEG, WebP, BMP, TIFF and GIF (8-bit, 16-bit and float; gray, gray+alpha, RGB, RGBA and
palette) with the package's one decoder (:mod:`esrgan.image.decode`), applies the EXIF orientation (read with
Pillow, header only, because OpenCV ignores it for unchanged-depth reads), and returns RGB float32 pixels in [0, 1]
plus a separate, straight (not premultiplied) alpha plane and the metadata worth keeping (ICC profile, EXIF:
:mod:`esrgan.image.metadata`). The header is read first (:mod:`esrgan.image.probe`): files in other formats are
refused whatever their name, images above ``max_pixels`` are refused before the file is even read in full, and of
an animation or a multi-page TIFF only the first frame is read (with a warning). Writing goes the other way, puts
the metadata into the encoded file (:mod:`esrgan.image.embed`), and is atomic: the file appears complete under its
final name or not at all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from esrgan.errors import NotFoundError, OptionsError
from esrgan.fileio import atomic_path
from esrgan.image.convert import to_unit
from esrgan.image.decode import check_encoded, decode, split_channels
from esrgan.image.embed import embed_metadata
from esrgan.image.metadata import Header, ImageMetadata, read_header
from esrgan.image.probe import IMAGE_EXTENSIONS, ImageHeader, check_image_file

log = logging.getLogger(__name__)

# Formats that can store 16-bit samples / an alpha channel when OpenCV writes them.
_HIGH_DEPTH_EXTS = (".png", ".tif", ".tiff")
_ALPHA_EXTS = (".png", ".webp", ".tif", ".tiff")
_GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageData",
    "encode_image",
    "read_image",
    "read_image_bytes",
    "read_unchanged",
    "write_encoded",
    "write_image",
]


@dataclass
class ImageData:
    """A decoded image.

    Attributes:
        pixels: (H, W, C) float32 in [0, 1], C = 1 (gray) or 3 (RGB order).
        alpha: (H, W) float32 in [0, 1], or None when the file has no alpha channel.
        bit_depth: 8 or 16 for integer files, 32 for float files; writers keep it where the format allows.
        path: where it was read from (for messages), or None.
        metadata: ICC profile and EXIF to write with the pixels (:func:`write_image`), or None.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    path: Path | None = None
    metadata: ImageMetadata | None = None

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def is_gray(self) -> bool:
        return self.pixels.shape[2] == 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored (H, W[, C]) array upright according to the EXIF orientation tag (values 1..8)."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return np.swapaxes(arr, 0, 1)
    if orientation == 6:
        return np.rot90(arr, k=-1)
    if orientation == 7:
        return np.swapaxes(arr[::-1, ::-1], 0, 1)
    if orientation == 8:
        return np.rot90(arr, k=1)
    return arr


def _read_bytes(path: Path) -> np.ndarray:
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    return np.fromfile(path, dtype=np.uint8)


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> ImageData:
    """Read an image file.

    Args:
        path: a PNG, JPEG, WebP, BMP, TIFF or GIF file (recognised by its content, not its name).
        max_pixels: refuse images with more pixels (width x height from the header, checked before the file is
            read in full or decoded: a 50000x50000 PNG of 1 KB is refused in microseconds); None or 0: no limit.

    Returns:
        ImageData with RGB (or gray) float32 pixels in [0, 1], EXIF orientation applied, straight alpha, and the
        file's ICC profile and EXIF (orientation reset to 1) as ``metadata``.

    Raises:
        NotFoundError: the path does not exist or is not a file.
        InputError: the file is empty, corrupt, truncated or not a supported image format (one line, with the
            path), whatever the decoder's own failure was.
        LimitError: more than ``max_pixels`` pixels.
    """
    path = Path(path)
    probed = check_image_file(path, max_pixels)
    arr = decode(_read_bytes(path), str(path), header=probed)
    return _image_data(arr, read_header(path), probed, str(path), path)


def read_image_bytes(data: bytes, name: str = "<bytes>", *, max_pixels: int | None = None) -> ImageData:
    """:func:`read_image` for a file's bytes (an image piped to standard input); ``name`` names it in messages.

    Raises:
        InputError: empty, corrupt, truncated or not a supported image format.
        LimitError: more than ``max_pixels`` pixels (None or 0: no limit), checked before decoding.
    """
    probed = check_encoded(data, name, max_pixels)
    arr = decode(data, name, header=probed)
    return _image_data(arr, read_header(data, name), probed, name, None)


def _image_data(arr: np.ndarray, header: Header, probed: ImageHeader, name: str, path: Path | None) -> ImageData:
    """Decoded samples and the headers' facts -> :class:`ImageData` (orientation applied, gray kept gray, alpha
    straight)."""
    pixels, alpha = split_channels(_apply_orientation(arr, header.orientation), name)
    if header.mode in _GRAY_MODES and pixels.shape[2] == 3:
        # OpenCV expands gray+alpha PNGs to BGRA; keep them gray so gray in gives gray out.
        pixels = pixels[:, :, :1]

    if alpha is None and probed.channels in (2, 4):
        log.warning("%s: the decoder dropped the alpha channel the file has; reading it opaque", name)
    unit, depth = to_unit(np.ascontiguousarray(pixels))
    alpha_unit = to_unit(np.ascontiguousarray(alpha))[0] if alpha is not None else None
    if alpha_unit is not None and probed.alpha == "premultiplied":
        # TIFF with associated alpha: the file stores colour x alpha; the package's convention is straight colour.
        np.divide(unit, alpha_unit[:, :, None], out=unit, where=alpha_unit[:, :, None] > 0)
        np.clip(unit, 0.0, 1.0, out=unit)
    return ImageData(pixels=unit, alpha=alpha_unit, bit_depth=depth, path=path, metadata=header.metadata or None)


def read_unchanged(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as stored: (H, W) or (H, W, C) in OpenCV's channel order (BGR[A]), 8/16-bit or float.

    For tools that write OpenCV arrays back (the data preparation scripts); EXIF orientation is not applied.

    Raises:
        NotFoundError: the path does not exist.
        InputError: the file is empty, corrupt, truncated or not a supported image format.
        LimitError: more than ``max_pixels`` pixels (None or 0: no limit).
    """
    path = Path(path)
    probed = check_image_file(path, max_pixels)
    return decode(_read_bytes(path), str(path), header=probed)


def _quantise(arr: np.ndarray, bit_depth: int) -> np.ndarray:
    arr = np.clip(arr, 0.0, 1.0)
    if bit_depth == 8:
        return (arr * 255.0 + 0.5).astype(np.uint8)
    if bit_depth == 16:
        return (arr * 65535.0 + 0.5).astype(np.uint16)
    return arr.astype(np.float32)


def write_image(
    path: str | os.PathLike[str],
    image: ImageData,
    *,
    quality: int = 95,
    overwrite: bool = True,
) -> Path:
    """Write ``image`` atomically (temporary file in the same folder, then rename): :func:`encode_image`, then
    :func:`write_encoded`.

    Args:
        path: output file; its extension picks the format.
        image: pixels (H, W, 1|3) RGB float [0, 1] and optional alpha (H, W).
        quality: JPEG/WebP quality, 1..100.
        overwrite: if False an existing file is an error.
    """
    path = Path(path)
    if not path.parent.is_dir():
        _check_format(path)
        raise NotFoundError(f"{path.parent}: output folder does not exist")
    return write_encoded(path, encode_image(path, image, quality=quality), overwrite=overwrite)


def encode_image(path: str | os.PathLike[str], image: ImageData, *, quality: int = 95) -> bytes:
    """``image`` encoded in the format of ``path``'s extension (the file is not written; messages name it).

    The bit depth is kept where the format can store it (PNG/TIFF: 16-bit; TIFF: float); JPEG, WebP and BMP get
    8 bits (a warning says so). Alpha is kept where the format has it; otherwise it is dropped with a warning.
    ``image.metadata`` (ICC profile, EXIF with the new size) goes into PNG, JPEG, WebP and TIFF files; BMP holds
    none (a warning says so).
    """
    path = Path(path)
    ext = _check_format(path)
    depth = image.bit_depth
    if depth == 32 and ext not in (".tif", ".tiff"):
        depth = 16
    if depth > 8 and ext not in _HIGH_DEPTH_EXTS:
        log.warning("%s: %s stores 8-bit samples; writing 8-bit (use .png or .tif to keep 16-bit)", path, ext)
        depth = 8

    pixels = image.pixels
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise ValueError(f"pixels must be (H, W, 1) or (H, W, 3), got {pixels.shape}")
    planes = [pixels[:, :, 0]] if pixels.shape[2] == 1 else [pixels[:, :, 2], pixels[:, :, 1], pixels[:, :, 0]]
    if image.alpha is not None:
        if ext in _ALPHA_EXTS:
            if len(planes) == 1:  # OpenCV writes no gray+alpha: store as BGRA with equal colour planes
                planes = planes * 3
            planes.append(image.alpha)
        else:
            log.warning("%s: %s has no alpha channel; transparency is dropped (use .png or .webp)", path, ext)
    arr = _quantise(np.stack(planes, axis=-1) if len(planes) > 1 else planes[0], depth)

    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]  # fast; level 9 costs ~5x the time for ~5% size
    try:
        ok, buf = cv2.imencode(ext, arr, params)
    except cv2.error:  # e.g. sizes above what the format stores (JPEG 65535, WebP 16383 pixels a side)
        ok = False
    if not ok:
        raise OptionsError(f"{path}: cannot store a {arr.shape[1]}x{arr.shape[0]} {arr.dtype} image as {ext}; try .png")
    data = buf.tobytes()
    if image.metadata:
        channels = 1 if arr.ndim == 2 else arr.shape[2]
        data = embed_metadata(
            data, ext, image.metadata, width=arr.shape[1], height=arr.shape[0], channels=channels, name=str(path)
        )
    return data


def write_encoded(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write encoded image bytes (:func:`encode_image`) to ``path`` atomically; its folder must exist."""
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return path


def _check_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise OptionsError(f"{path}: unsupported output format {ext!r} (use one of {', '.join(IMAGE_EXTENSIONS)})")
    return ext
