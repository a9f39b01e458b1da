"""Image headers without decoding: size, channels, bit depth and frame count of PNG, JPEG, WebP, BMP, TIFF and GIF.

A decoder allocates what a header claims before it finds out whether the data are there: a 70-byte PNG that
declares 50000x50000 makes OpenCV try to allocate 7.5 GB. Reading the header first lets the caller refuse such a
file in microseconds (:func:`esrgan.image.decode.check_encoded`, which every decoder path of the package calls,
and :func:`esrgan.image.read_image` with ``max_pixels``). Every function here works on any bytes-like
object (``bytes``, ``memoryview``, ``mmap``), reads only the header structures (never pixel data), takes time
bounded by the file size and by fixed step budgets, and raises :class:`~esrgan.errors.InputError` for anything it
does not recognise or that contradicts itself. It is also the allowlist of formats the package decodes: OpenCV
would decode PPM, Sun raster, JPEG 2000, HDR, PFM and AVIF bytes too, whatever the file is called.

Pure Python (no torch, numpy or OpenCV), so a batch can be screened before the heavy libraries are imported.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from esrgan.errors import InputError, LimitError, NotFoundError

__all__ = [
    "FORMATS",
    "IMAGE_EXTENSIONS",
    "ImageHeader",
    "check_image_file",
    "check_pixels",
    "probe_file",
    "probe_image",
    "sniff_format",
    "tiff_alpha_flag_offset",
]

Buffer = bytes | bytearray | memoryview | mmap.mmap
Alpha = Literal["straight", "premultiplied"]

FORMATS = ("png", "jpeg", "webp", "bmp", "tiff", "gif")
# File names picked up from folders and accepted as outputs (GIF is read when named, never written).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# Step budgets of the walks over chunk / segment / block lists: enough for any real file (a 1000-frame GIF takes
# a few thousand steps), small enough that a hostile file costs at most ~0.1 s of Python.
MAX_STEPS = 200_000
MAX_PAGES = 10_000  # TIFF pages followed (the IFD chain may loop or be absurdly long)
MAX_TAGS = 4096  # entries of one TIFF IFD (real files have 10-40)
MAX_SIDE = 1 << 31  # no format stores a larger side; anything above is corrupt


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says about its first image.

    Attributes:
        format: one of :data:`FORMATS`.
        width, height: in pixels, as stored (before any EXIF rotation). For GIF, the bounding box of the logical
            screen and the frames (what a decoder allocates).
        channels: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha (palette images count as colour, with alpha if
            they have a transparent entry); None where the header does not say it cheaply.
        bit_depth: bits per sample (1..32), None where unknown.
        frames: images in the file (animation frames, TIFF pages); 1 for a still image. Counted within the step
            budgets, so a lower bound for files beyond them.
        alpha: "straight" or "premultiplied" where the header says so (TIFF ExtraSamples), else None.
    """

    format: str
    width: int
    height: int
    channels: int | None = None
    bit_depth: int | None = None
    frames: int = 1
    alpha: Alpha | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height


class _TruncatedError(Exception):
    pass


def _unpack(fmt: str, buf: Buffer, offset: int) -> tuple[int, ...]:
    if offset < 0 or offset + struct.calcsize(fmt) > len(buf):
        raise _TruncatedError
    return struct.unpack_from(fmt, buf, offset)


def _u(fmt: str, buf: Buffer, offset: int) -> int:
    return int(_unpack(fmt, buf, offset)[0])


def probe_image(buf: Buffer, name: str = "<bytes>") -> ImageHeader:
    """The header of the image in ``buf``.

    Args:
        buf: the whole file (or at least its header structures; a cut-off file gives an error, not a guess).
        name: what to call it in messages (usually the path).

    Raises:
        InputError: empty, not one of :data:`FORMATS`, truncated header, or a header that contradicts itself
            (zero or absurd sizes). One line starting with ``name``.
    """
    if len(buf) == 0:
        raise InputError(f"{name}: empty file")
    head = bytes(buf[:16])
    reader = _reader_for(head)
    if reader is None:
        raise InputError(f"{name}: not a PNG, JPEG, WebP, BMP, TIFF or GIF file (unknown signature {head[:8]!r})")
    try:
        header = reader(buf)
    except _TruncatedError:
        raise InputError(f"{name}: truncated or corrupt {reader.__name__[1:]} header") from None
    except _InvalidError as exc:
        raise InputError(f"{name}: corrupt {reader.__name__[1:]} header ({exc})") from None
    if not (0 < header.width < MAX_SIDE and 0 < header.height < MAX_SIDE):
        raise InputError(f"{name}: corrupt {header.format} header (size {header.width}x{header.height})")
    return header


def probe_file(path: str | os.PathLike[str]) -> ImageHeader:
    """:func:`probe_image` of a file, through a read-only memory map: only the header's pages are read."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise InputError(f"{os.fspath(path)}: empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return probe_image(mm, os.fspath(path))


def check_image_file(path: str | os.PathLike[str], max_pixels: int | None = None) -> ImageHeader:
    """The header of the image file ``path``, refused if it has more than ``max_pixels`` pixels (None or 0: no
    limit). What ``read_image`` checks before decoding, usable without torch or OpenCV to screen a batch.

    Raises:
        NotFoundError: no such file.
        InputError: not an image the package reads (see :func:`probe_image`).
        LimitError: more than ``max_pixels`` pixels.
    """
    if not os.path.isfile(path):
        raise NotFoundError(f"{os.fspath(path)}: no such file")
    header = probe_file(path)
    check_pixels(header, os.fspath(path), max_pixels)
    return header


def check_pixels(header: ImageHeader, name: str, max_pixels: int | None) -> None:
    """Raise :class:`LimitError` if the image of ``header`` has more than ``max_pixels`` pixels (None or 0: no
    limit); the message names ``name`` and the ``max_pixels`` argument."""
    if max_pixels and header.pixels > max_pixels:
        raise LimitError(
            f"{name}: {header.width}x{header.height} is {header.pixels / 1e6:.1f} MP, above the limit "
            f"of max_pixels={max_pixels}"
        )


class _InvalidError(Exception):
    pass


def sniff_format(head: bytes) -> str | None:
    """The format (one of :data:`FORMATS`) a file's first 16 bytes announce, None for any other signature."""
    reader = _reader_for(head)
    return reader.__name__[1:] if reader is not None else None


def _reader_for(head: bytes) -> Callable[[Buffer], ImageHeader] | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png
    if head.startswith(b"\xff\xd8\xff"):
        return _jpeg
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp
    if head.startswith(b"BM"):
        return _bmp
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return _tiff
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _gif
    return None


# ---------------------------------------------------------------------------------------------------------- PNG
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_MAX_CHUNK = (1 << 31) - 1  # the PNG specification's limit


def _png(buf: Buffer) -> ImageHeader:
    length, kind = _unpack(">I4s", buf, 8)
    if kind != b"IHDR" or length != 13:
        raise _InvalidError("the first chunk is not IHDR")
    width, height, depth, colour = _unpack(">IIBB", buf, 16)
    if colour not in _PNG_CHANNELS or depth not in _PNG_DEPTHS[colour]:
        raise _InvalidError(f"colour type {colour} with bit depth {depth}")
    channels, frames = _PNG_CHANNELS[colour], 1
    # Every chunk up to IEND: acTL (APNG frame count) and tRNS (transparency) come before the image data, and no
    # chunk may claim more bytes than the file has. OpenCV's reader allocates a chunk's declared length before
    # reading it: a 267-byte file whose IDAT claims 503 MB made it allocate that much.
    pos = 8 + 12 + 13
    for _ in range(MAX_STEPS):
        if pos + 8 > len(buf):
            break
        length, kind = _unpack(">I4s", buf, pos)
        if length > _PNG_MAX_CHUNK or pos + 12 + length > len(buf):
            raise _InvalidError(
                f"chunk {kind!r} at byte {pos} claims {length} bytes, {len(buf) - pos - 12} are left (truncated?)"
            )
        if kind == b"IEND":
            break
        if kind == b"acTL":
            frames = max(1, _u(">I", buf, pos + 8))
        elif kind == b"tRNS" and channels in (1, 3):
            channels += 1
        pos += 12 + length
    return ImageHeader("png", width, height, channels, depth, frames)


# --------------------------------------------------------------------------------------------------------- JPEG
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8}


def _jpeg(buf: Buffer) -> ImageHeader:
    pos = 2
    for _ in range(MAX_STEPS):
        if _u("B", buf, pos) != 0xFF:
            raise _InvalidError(f"no marker at byte {pos}")
        fill = 0
        while _u("B", buf, pos + 1) == 0xFF:  # fill bytes before a marker
            pos += 1
            fill += 1
            if fill > 1024:
                raise _InvalidError("endless fill bytes")
        marker = _u("B", buf, pos + 1)
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            raise _InvalidError("no frame header before the image data")
        length = _u(">H", buf, pos + 2)
        if length < 2:
            raise _InvalidError(f"segment length {length}")
        if marker in _SOF:
            precision, height, width, components = _unpack(">BHHB", buf, pos + 4)
            if components not in (1, 3, 4):
                raise _InvalidError(f"{components} components")
            if height == 0:
                raise _InvalidError("height defined after the image data (DNL) is not supported")
            return ImageHeader("jpeg", width, height, 1 if components == 1 else 3, precision)
        pos += 2 + length
    raise _InvalidError(f"no frame header in the first {MAX_STEPS} segments")


# --------------------------------------------------------------------------------------------------------- WebP
def _webp(buf: Buffer) -> ImageHeader:
    kind, size = _unpack("<4sI", buf, 12)
    if kind == b"VP8 ":
        tag0, start = _u("B", buf, 20), bytes(buf[23:26])
        if tag0 & 1 or start != b"\x9d\x01\x2a":
            raise _InvalidError("the lossy bitstream does not start with a key frame")
        w, h = _unpack("<HH", buf, 26)
        return ImageHeader("webp", w & 0x3FFF, h & 0x3FFF, 3, 8)
    if kind == b"VP8L":
        if _u("B", buf, 20) != 0x2F:
            raise _InvalidError("bad lossless signature")
        bits = _u("<I", buf, 21)
        if bits >> 29:
            raise _InvalidError(f"lossless version {bits >> 29}")
        alpha = (bits >> 28) & 1
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 3 + alpha, 8)
    if kind == b"VP8X":
        if size < 10:
            raise _InvalidError("short VP8X chunk")
        flags = _u("B", buf, 20)
        w = int.from_bytes(bytes(buf[24:27]), "little") + 1
        h = int.from_bytes(bytes(buf[27:30]), "little") + 1
        _u("B", buf, 29)  # truncation check
        frames = _count_webp_frames(buf) if flags & 0x02 else 1
        return ImageHeader("webp", w, h, 4 if flags & 0x10 else 3, 8, frames)
    raise _InvalidError(f"unknown first chunk {kind!r}")


def _count_webp_frames(buf: Buffer) -> int:
    frames, pos = 0, 12
    for _ in range(MAX_STEPS):
        if pos + 8 > len(buf):
            break
        kind, size = _unpack("<4sI", buf, pos)
        frames += kind == b"ANMF"
        pos += 8 + size + (size & 1)
    return max(frames, 1)


# ---------------------------------------------------------------------------------------------------------- BMP
def _bmp(buf: Buffer) -> ImageHeader:
    dib = _u("<I", buf, 14)
    if dib == 12:  # BITMAPCOREHEADER (OS/2 1.x)
        width, height, planes, bpp = _unpack("<HHHH", buf, 18)
    elif 40 <= dib <= 124:
        width, height, planes, bpp = _unpack("<iiHH", buf, 18)
        height = abs(height)  # negative: rows stored top-down
    else:
        raise _InvalidError(f"unknown info header of {dib} bytes")
    if planes != 1 or bpp not in (1, 2, 4, 8, 16, 24, 32):
        raise _InvalidError(f"{planes} planes of {bpp} bits")
    # <= 8 bits: a palette (gray or colour); 32 bits: alpha or padding. Neither is known from the header alone.
    return ImageHeader("bmp", width, height, 3 if bpp in (16, 24) else None, 8)


# --------------------------------------------------------------------------------------------------------- TIFF
_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 16: 8, 17: 8}  # BYTE .. LONG8/SLONG8
_TIFF_FORMATS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q"}


class _Tiff:
    """The first IFD of a TIFF or BigTIFF file, read entry by entry."""

    def __init__(self, buf: Buffer) -> None:
        self.buf = buf
        self.bo = "<" if bytes(buf[:2]) == b"II" else ">"
        self.big = _u(self.bo + "H", buf, 2) == 43
        if self.big:
            if _unpack(self.bo + "HH", buf, 4) != (8, 0):
                raise _InvalidError("bad BigTIFF header")
            self.first = _u(self.bo + "Q", buf, 8)
        else:
            self.first = _u(self.bo + "I", buf, 4)

    def _size(self, ifd: int) -> tuple[int, int, int]:
        """(entries, bytes per entry, bytes of the count) of the IFD at ``ifd``, checked against the buffer."""
        count_fmt, entry_size, count_size = ("Q", 20, 8) if self.big else ("H", 12, 2)
        n = _u(self.bo + count_fmt, self.buf, ifd)
        if not 0 < n <= MAX_TAGS or ifd + count_size + n * entry_size > len(self.buf):
            raise _InvalidError(f"IFD of {n} entries at byte {ifd}")
        return n, entry_size, count_size

    def next_pointer(self, ifd: int) -> int:
        """Offset of the next-IFD pointer of the IFD at ``ifd`` (its entries are not read)."""
        n, entry_size, count_size = self._size(ifd)
        return ifd + count_size + n * entry_size

    def entries(self, ifd: int) -> tuple[list[tuple[int, int, int, int]], int]:
        """((tag, type, count, offset of the value field), offset of the next-IFD pointer) of the IFD at ``ifd``."""
        n, entry_size, count_size = self._size(ifd)
        out = []
        for i in range(n):
            at = ifd + count_size + i * entry_size
            tag, typ = _unpack(self.bo + "HH", self.buf, at)
            count = _u(self.bo + ("Q" if self.big else "I"), self.buf, at + 4)
            out.append((tag, typ, count, at + (12 if self.big else 8)))
        return out, ifd + count_size + n * entry_size

    def value_at(self, typ: int, count: int, field: int) -> int:
        """Offset of the first value of an entry: inline in the field, or where the field points."""
        inline = 8 if self.big else 4
        if typ not in _TIFF_SIZES:
            raise _InvalidError(f"field type {typ}")
        if _TIFF_SIZES[typ] * count <= inline:
            return field
        return _u(self.bo + ("Q" if self.big else "I"), self.buf, field)

    def first_value(self, typ: int, count: int, field: int) -> int:
        if typ not in _TIFF_FORMATS or count == 0:
            raise _InvalidError(f"field type {typ} with {count} values")
        return _u(self.bo + _TIFF_FORMATS[typ], self.buf, self.value_at(typ, count, field))

    def next_ifd(self, pointer: int) -> int:
        return _u(self.bo + ("Q" if self.big else "I"), self.buf, pointer)


def _tiff(buf: Buffer) -> ImageHeader:
    t = _Tiff(buf)
    entries, pointer = t.entries(t.first)
    tags = {tag: (typ, count, field) for tag, typ, count, field in entries}
    for needed in (256, 257):
        if needed not in tags:
            raise _InvalidError("no ImageWidth/ImageLength")
    width, height = (t.first_value(*tags[tag]) for tag in (256, 257))
    spp = t.first_value(*tags[277]) if 277 in tags else 1
    depth = t.first_value(*tags[258]) if 258 in tags else 1
    alpha: Alpha | None = None
    if 338 in tags:
        extra = t.first_value(*tags[338])
        alpha = {1: "premultiplied", 2: "straight"}.get(extra)  # type: ignore[assignment]
    photometric = t.first_value(*tags[262]) if 262 in tags else 1
    colour = 3 if photometric in (2, 3, 6, 8) else 1  # RGB, palette, YCbCr, CIELab: colour
    channels = colour + 1 if (alpha is not None or spp > colour) and photometric != 3 else colour
    # Pages: follow the IFD chain (each page once; a loop or a chain beyond MAX_PAGES stops the count).
    pages, seen, ifd = 1, {t.first}, t.next_ifd(pointer)
    while ifd and ifd not in seen and pages < MAX_PAGES and ifd < len(buf):
        seen.add(ifd)
        try:
            ifd = t.next_ifd(t.next_pointer(ifd))
        except (_InvalidError, _TruncatedError):
            break  # a damaged later page does not change what the first one is
        pages += 1
    return ImageHeader("tiff", width, height, min(channels, 4), depth, pages, alpha)


def tiff_alpha_flag_offset(buf: Buffer) -> int | None:
    """Byte offset of the first ExtraSamples value (a 16-bit integer) of the first page of the TIFF in ``buf``,
    or None if it has none. Writing 0 there ("unspecified") makes libtiff hand over the alpha plane as stored:
    its RGBA interface, which OpenCV uses for 8-bit images, premultiplies unassociated alpha (value 2) into the
    colour otherwise."""
    try:
        t = _Tiff(buf)
        entries, _ = t.entries(t.first)
        for tag, typ, count, field in entries:
            if tag == 338 and typ == 3 and count >= 1:
                at = t.value_at(typ, count, field)
                return at if at + 2 <= len(buf) else None
    except (_InvalidError, _TruncatedError):
        return None
    return None


# ---------------------------------------------------------------------------------------------------------- GIF
def _gif(buf: Buffer) -> ImageHeader:
    screen_w, screen_h, packed = _unpack("<HHB", buf, 6)
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    width, height, frames = screen_w, screen_h, 0
    in_data = False  # inside data sub-blocks: a length byte, then that many bytes; length 0 ends them
    try:
        for _ in range(MAX_STEPS):  # one shared budget: every step consumes at least one byte
            if in_data:
                size = _u("B", buf, pos)
                pos += 1 + size
                in_data = size != 0
                continue
            block = _u("B", buf, pos)
            if block == 0x3B:  # trailer
                break
            if block == 0x21:  # extension: label, then data sub-blocks
                pos += 2
            elif block == 0x2C:  # image descriptor, optional local colour table, LZW code size, data sub-blocks
                left, top, w, h, flags = _unpack("<HHHHB", buf, pos + 1)
                if frames == 0:  # decoders allocate the screen and the first frame
                    width, height = max(width, left + w), max(height, top + h)
                frames += 1
                pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
            elif frames:
                break  # junk after the frames: decoders stop here too
            else:
                raise _InvalidError(f"unknown block 0x{block:02x} at byte {pos}")
            in_data = True
    except _TruncatedError:
        if frames == 0:
            raise  # a cut-off file after its first frame still has that frame
    if frames == 0:
        raise _InvalidError("no image in the file")
    return ImageHeader("gif", width, height, 3, 8, frames)
