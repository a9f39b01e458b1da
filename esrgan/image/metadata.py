"""Image metadata kept from input to output: the ICC colour profile and EXIF (camera, date, GPS, exposure).

Pillow reads them from the file header (no pixels are decoded): :func:`read_header` also gives the EXIF orientation
and the image mode that :func:`esrgan.image.read_image` needs. What is kept is cleaned once, on reading:

- ICC profile: as stored. A wide-gamut photo (Display P3, Adobe RGB) without its profile is shown as sRGB and
  changes colour, so a profile is the most important thing to keep.
- EXIF: the descriptive tags of the main image (:data:`KEPT_IFD0_TAGS`: camera, date, author, resolution), the
  whole Exif sub-directory except the maker note (private offsets that break when the block moves), the GPS and
  interoperability sub-directories. The orientation is set to 1 because the reader turns the pixels upright;
  the thumbnail (a small copy of the old picture) and every tag describing the old file's storage (strips, bit
  depth, compression) are dropped, and :func:`exif_for_output` writes the output's size into PixelXDimension /
  PixelYDimension.

:mod:`esrgan.image.embed` writes the result into the encoded output (PNG, JPEG, WebP, TIFF). Torch-free.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["KEPT_IFD0_TAGS", "Header", "ImageMetadata", "exif_for_output", "icc_colour_space", "read_header"]

ORIENTATION = 0x0112
EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
MAKER_NOTE = 0x927C
ICC_TAG = 34675  # the profile as a TIFF tag
PIXEL_X_DIMENSION, PIXEL_Y_DIMENSION = 0xA002, 0xA003
# Main-image tags that describe the picture rather than how the old file stored it.
KEPT_IFD0_TAGS = frozenset(
    {
        0x010E,  # ImageDescription
        0x010F,  # Make
        0x0110,  # Model
        ORIENTATION,  # (set to 1: the pixels are upright)
        0x011A,  # XResolution
        0x011B,  # YResolution
        0x0128,  # ResolutionUnit
        0x0131,  # Software
        0x0132,  # DateTime
        0x013B,  # Artist
        0x013C,  # HostComputer
        0x4746,  # Rating
        0x8298,  # Copyright
        0x9C9B,  # XPTitle
        0x9C9C,  # XPComment
        0x9C9D,  # XPAuthor
        0x9C9E,  # XPKeywords
        0x9C9F,  # XPSubject
    }
)


@dataclass(frozen=True)
class ImageMetadata:
    """What an output keeps of its input's metadata.

    Attributes:
        icc_profile: the ICC profile's bytes, or None.
        exif: cleaned EXIF as a TIFF structure (starting ``II*\\0`` or ``MM\\0*``, no ``Exif\\0\\0`` prefix), or
            None.
    """

    icc_profile: bytes | None = None
    exif: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.icc_profile or self.exif)


@dataclass(frozen=True)
class Header:
    """What :func:`read_header` learns from a file header.

    Attributes:
        mode: Pillow's image mode ("RGB", "L", "I;16", ...), or None when Pillow cannot read the file.
        orientation: EXIF orientation, 1 (upright) to 8.
        metadata: the ICC profile and cleaned EXIF.
        size: (width, height) as stored (before the orientation turns it), or None.
    """

    mode: str | None = None
    orientation: int = 1
    metadata: ImageMetadata = ImageMetadata()
    size: tuple[int, int] | None = None


def read_header(source: str | os.PathLike[str] | bytes, name: str = "") -> Header:
    """Mode, orientation, ICC profile, EXIF and size of an image file (a path, or the file's bytes), from its
    header (no pixels decoded); ``name`` names bytes in messages.

    A file Pillow cannot open (it lacks some of OpenCV's codecs) or with broken metadata gives what could be read;
    this never raises. TIFFs that Pillow cannot decode (float colour) still give their tags.
    """
    from PIL import Image

    path = name or ("<bytes>" if isinstance(source, bytes) else os.fspath(source))

    def stream() -> Any:
        return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")

    # Pillow warns (on stderr, several lines) about damaged TIFF tags and large images; the decoder reports what
    # matters about the file in one line.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_header(Image, stream, path)


def _read_header(Image: Any, stream: Any, path: str) -> Header:  # noqa: N803 (the PIL.Image module)
    try:
        with stream() as f, Image.open(f) as im:
            return _header(im.getexif(), im.info.get("icc_profile"), im.mode, path, im.size)
    except Exception as exc:  # metadata is a bonus: the pixels are read by OpenCV either way
        log.debug("%s: Pillow cannot open it (%s)", path, exc)
    try:
        with stream() as f:
            if f.read(4) not in (b"II*\0", b"MM\0*"):
                return Header()
            f.seek(0)
            tags = Image.Exif()  # a TIFF's first directory: the same tags as EXIF, read without the pixels
            tags.load_from_fp(f)
            size = (int(tags.get(0x0100, 0)), int(tags.get(0x0101, 0)))  # ImageWidth, ImageLength
            return _header(tags, tags.get(ICC_TAG), None, path, size if all(size) else None)
    except Exception as exc:  # as above
        log.debug("%s: no TIFF tags (%s)", path, exc)
    return Header()


def _header(
    exif: Any, icc: bytes | None, mode: str | None, path: str | os.PathLike[str], size: tuple[int, int] | None
) -> Header:
    orientation = int(exif.get(ORIENTATION, 1) or 1)
    metadata = ImageMetadata(bytes(icc) if icc else None, _clean(exif, path))
    return Header(mode, orientation if 1 <= orientation <= 8 else 1, metadata, size)


def _clean(exif: Any, path: str | os.PathLike[str]) -> bytes | None:
    """The kept part of a Pillow ``Image.Exif`` (see the module's docstring), serialised; None if nothing is left."""
    from PIL import Image

    try:
        out = Image.Exif()
        for tag, value in exif.items():
            if tag in KEPT_IFD0_TAGS:
                out[tag] = 1 if tag == ORIENTATION else value
        sub = {k: v for k, v in exif.get_ifd(EXIF_IFD).items() if k not in (MAKER_NOTE, INTEROP_IFD)}
        interop = dict(exif.get_ifd(INTEROP_IFD))
        if interop:
            sub[INTEROP_IFD] = interop
        if sub:
            out[EXIF_IFD] = sub
        gps = dict(exif.get_ifd(GPS_IFD))
        if gps:
            out[GPS_IFD] = gps
        if not len(out):
            return None
        return bytes(out.tobytes())[6:]  # without "Exif\0\0": containers differ in whether they want it
    except Exception as exc:  # a tag Pillow cannot write back: keep the pixels and the profile
        log.warning("%s: EXIF not kept (%s)", path, exc)
        return None


def exif_for_output(exif: bytes, width: int, height: int) -> bytes:
    """``exif`` with the Exif sub-directory's PixelXDimension / PixelYDimension set to the output's size.

    Returns:
        TIFF-structured EXIF, no ``Exif\\0\\0`` prefix.
    """
    from PIL import Image

    out = Image.Exif()
    out.load(exif)
    sub = out.get_ifd(EXIF_IFD)
    if sub:  # cameras write the sizes there; an image without an Exif directory does not need one for them
        sub[PIXEL_X_DIMENSION], sub[PIXEL_Y_DIMENSION] = int(width), int(height)
    return bytes(out.tobytes())[6:]


def icc_colour_space(profile: bytes) -> str:
    """The data colour space an ICC profile describes: "RGB", "GRAY", "CMYK", ... ("" if the header is short)."""
    return profile[16:20].decode("ascii", "replace").strip() if len(profile) >= 20 else ""
