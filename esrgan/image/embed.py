"""Metadata into encoded images: the ICC profile and EXIF written into the bytes OpenCV encoded.

OpenCV encodes the pixels (every depth and channel layout the package writes) but drops metadata; re-encoding
with Pillow would lose 16-bit colour and float TIFF. So the metadata goes into the finished file as the container
defines it, leaving the pixel data untouched:

- PNG: ``iCCP`` (zlib-compressed profile) and ``eXIf`` chunks right after ``IHDR`` (both must precede ``IDAT``);
  an ``sRGB`` chunk, which an ``iCCP`` excludes, is removed.
- JPEG: an ``APP1`` "Exif" segment and the profile in ``APP2`` "ICC_PROFILE" segments (64 KB each, numbered),
  after SOI and the JFIF ``APP0``.
- WebP: ``ICCP`` and ``EXIF`` chunks of the extended format (a simple file becomes extended: a ``VP8X`` header
  with the canvas size and the feature flags).
- TIFF: a new first directory appended at the end of the file: the old entries (their values still point at the
  old data), the profile (tag 34675), the kept main-image tags, and the Exif and GPS sub-directories; the header
  then points at it. The old directory stays behind as a few unused bytes.

Only :func:`embed_metadata` is public. Torch-free.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator

from esrgan.image.metadata import (
    EXIF_IFD,
    GPS_IFD,
    ICC_TAG,
    INTEROP_IFD,
    ImageMetadata,
    exif_for_output,
    icc_colour_space,
)

log = logging.getLogger(__name__)

__all__ = ["FORMATS_WITH_METADATA", "embed_metadata"]

FORMATS_WITH_METADATA = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
_JPEG_SEGMENT_MAX = 65533  # payload of one marker segment (its 2-byte length counts itself)


def embed_metadata(
    encoded: bytes, ext: str, metadata: ImageMetadata, *, width: int, height: int, channels: int, name: str = ""
) -> bytes:
    """``encoded`` (a whole PNG, JPEG, WebP or TIFF file) with ``metadata`` written into it.

    Args:
        encoded: the file's bytes as the encoder wrote them.
        ext: its extension (".png", ".jpg", ...), which says the container.
        metadata: what to keep; EXIF gets the output's size (``width`` x ``height``).
        channels: channels of the encoded samples (1 gray, 3 colour, 4 colour + alpha): an ICC profile must
            describe the colour model the file stores (a gray profile in an RGB file is invalid), else it is
            left out with a warning.
        name: the output's name, for messages.

    Returns:
        The new file's bytes; ``encoded`` itself when there is nothing to write or the format holds no metadata
        (BMP: a warning says what was dropped).
    """
    ext = ext.lower()
    if not metadata:
        return encoded
    if ext not in FORMATS_WITH_METADATA:
        log.warning("%s: %s holds no ICC profile or EXIF; they are dropped (use .png, .jpg, .webp or .tif)", name, ext)
        return encoded
    icc = metadata.icc_profile
    stored = "GRAY" if channels == 1 and ext != ".webp" else "RGB"  # WebP always stores colour
    if icc is not None and icc_colour_space(icc) != stored:
        log.warning(
            "%s: the input's %s ICC profile does not fit the %s output; written without it",
            name,
            icc_colour_space(icc) or "unreadable",
            stored,
        )
        icc = None
    exif = exif_for_output(metadata.exif, width, height) if metadata.exif else None
    if ext == ".png":
        return _png(encoded, icc, exif)
    if ext in (".jpg", ".jpeg"):
        return _jpeg(encoded, icc, exif, name)
    if ext == ".webp":
        return _webp(encoded, icc, exif, width, height, channels == 4)
    return _tiff(encoded, icc, exif)


# ------------------------------------------------------------------------------------------------------ PNG


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(encoded: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    signature, pos = encoded[:8], 8
    chunks: list[tuple[bytes, bytes]] = []
    while pos + 8 <= len(encoded):
        (size,) = struct.unpack(">I", encoded[pos : pos + 4])
        kind = encoded[pos + 4 : pos + 8]
        chunks.append((kind, encoded[pos : pos + 12 + size]))
        pos += 12 + size
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValueError("not a PNG file (no IHDR chunk first)")
    added = []
    if icc is not None:
        added.append(_png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)))
    if exif is not None:
        added.append(_png_chunk(b"eXIf", exif))
    dropped = {b"iCCP", b"eXIf"} | ({b"sRGB"} if icc is not None else set())
    rest = [raw for kind, raw in chunks[1:] if kind not in dropped]
    return signature + chunks[0][1] + b"".join(added) + b"".join(rest)


# ------------------------------------------------------------------------------------------------------ JPEG


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _jpeg(encoded: bytes, icc: bytes | None, exif: bytes | None, name: str) -> bytes:
    if encoded[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG file (no SOI marker)")
    pos = 2
    if encoded[2:4] == b"\xff\xe0":  # JFIF APP0 stays first, as JFIF readers expect
        pos = 4 + struct.unpack(">H", encoded[4:6])[0]
    segments = []
    if exif is not None:
        if len(exif) + 6 <= _JPEG_SEGMENT_MAX:
            segments.append(_jpeg_segment(0xE1, b"Exif\0\0" + exif))
        else:
            log.warning("%s: EXIF of %d bytes does not fit a JPEG segment; written without it", name, len(exif))
    if icc is not None:
        step = _JPEG_SEGMENT_MAX - 14  # "ICC_PROFILE\0" + sequence number + count
        parts = [icc[i : i + step] for i in range(0, len(icc), step)]
        for i, part in enumerate(parts, start=1):
            segments.append(_jpeg_segment(0xE2, b"ICC_PROFILE\0" + bytes([i, len(parts)]) + part))
    return encoded[:pos] + b"".join(segments) + encoded[pos:]


# ------------------------------------------------------------------------------------------------------ WebP


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 12
    while pos + 8 <= len(data):
        kind, (size,) = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])
        yield kind, data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def _webp(encoded: bytes, icc: bytes | None, exif: bytes | None, width: int, height: int, alpha: bool) -> bytes:
    if encoded[:4] != b"RIFF" or encoded[8:12] != b"WEBP":
        raise ValueError("not a WebP file (no RIFF/WEBP header)")
    chunks = [(k, v) for k, v in _riff_chunks(encoded) if k not in (b"ICCP", b"EXIF")]
    if chunks and chunks[0][0] == b"VP8X":
        flags = chunks[0][1][0]
        canvas = chunks[0][1][4:10]
        chunks = chunks[1:]
    else:
        flags = 0x10 if alpha else 0
        canvas = struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]
    flags = (flags & ~0x28) | (0x20 if icc is not None else 0) | (0x08 if exif is not None else 0)
    body = _riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas)
    if icc is not None:
        body += _riff_chunk(b"ICCP", icc)  # right after VP8X, before the image data
    body += b"".join(_riff_chunk(k, v) for k, v in chunks)
    if exif is not None:
        body += _riff_chunk(b"EXIF", exif)  # after the image data
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


# ------------------------------------------------------------------------------------------------------ TIFF


def _tiff(encoded: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    from PIL import Image, TiffImagePlugin

    order = encoded[:2]
    if order not in (b"II", b"MM") or len(encoded) < 8:
        raise ValueError("not a TIFF file (no byte-order mark)")
    e = "<" if order == b"II" else ">"
    (first,) = struct.unpack(e + "I", encoded[4:8])
    entries, next_ifd = _read_ifd(encoded, first, e)

    # New main-image tags, laid out by Pillow in a scratch directory at offset 0, then read back as raw entries.
    extra = TiffImagePlugin.ImageFileDirectory_v2(ifh=encoded[:8])
    sub_ifds: dict[int, dict[int, object]] = {}
    if exif is not None:
        parsed = Image.Exif()
        parsed.load(exif)
        for tag, value in parsed.items():
            if tag not in (EXIF_IFD, GPS_IFD):
                extra[tag] = value
        sub_ifds = {tag: dict(parsed.get_ifd(tag)) for tag in (EXIF_IFD, GPS_IFD) if parsed.get_ifd(tag)}
        if INTEROP_IFD in sub_ifds.get(EXIF_IFD, {}):  # a pointer into the old block: write the directory itself
            sub_ifds[EXIF_IFD][INTEROP_IFD] = dict(parsed.get_ifd(INTEROP_IFD))
    if icc is not None:
        extra[ICC_TAG] = icc
    scratch = extra.tobytes(0) if len(extra) else b"\0\0\0\0\0\0"
    new_entries = {tag: (typ, count, data) for tag, (typ, count, data) in _read_ifd_values(scratch, e).items()}

    out = bytearray(encoded)
    for tag, values in sub_ifds.items():
        out += b"\0" * (len(out) & 1)
        ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=encoded[:8], group=tag)
        for key, value in values.items():
            ifd[key] = value
        new_entries[tag] = (4, 1, struct.pack(e + "I", len(out)))  # LONG: the sub-directory's offset
        out += ifd.tobytes(len(out))
    merged = {**entries, **{tag: (typ, count, data, False) for tag, (typ, count, data) in new_entries.items()}}
    out += b"\0" * (len(out) & 1)
    start = len(out)
    out += _write_ifd(merged, next_ifd, start, e)
    out[4:8] = struct.pack(e + "I", start)
    return bytes(out)


_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _read_ifd(data: bytes, offset: int, e: str) -> tuple[dict[int, tuple[int, int, bytes, bool]], int]:
    """{tag: (type, count, 4-byte value field, True)} of the directory at ``offset``, and the next one's offset.
    The value fields are kept as stored: those that point at data still point at it in the grown file."""
    (n,) = struct.unpack(e + "H", data[offset : offset + 2])
    entries = {}
    for i in range(n):
        tag, typ, count, field = struct.unpack(e + "HHI4s", data[offset + 2 + 12 * i : offset + 14 + 12 * i])
        entries[tag] = (typ, count, field, True)
    (next_ifd,) = struct.unpack(e + "I", data[offset + 2 + 12 * n : offset + 6 + 12 * n])
    return entries, next_ifd


def _read_ifd_values(data: bytes, e: str) -> dict[int, tuple[int, int, bytes]]:
    """{tag: (type, count, value bytes)} of a directory at offset 0 of ``data`` (values resolved, not pointers)."""
    entries, _ = _read_ifd(data, 0, e)
    out = {}
    for tag, (typ, count, field, _) in entries.items():
        size = _TYPE_SIZES.get(typ, 1) * count
        if size <= 4:
            out[tag] = (typ, count, field[:size])
        else:
            (at,) = struct.unpack(e + "I", field)
            out[tag] = (typ, count, data[at : at + size])
    return out


def _write_ifd(entries: dict[int, tuple[int, int, bytes, bool]], next_ifd: int, start: int, e: str) -> bytes:
    """A directory at file offset ``start``: sorted entries, then the values that do not fit in 4 bytes.
    An entry marked True carries its stored 4-byte field; False carries the value itself."""
    table = struct.pack(e + "H", len(entries))
    data = b""
    data_at = start + 2 + 12 * len(entries) + 4
    for tag in sorted(entries):
        typ, count, value, stored = entries[tag]
        if stored or len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack(e + "I", data_at + len(data))
            data += value + b"\0" * (len(value) & 1)
        table += struct.pack(e + "HHI", tag, typ, count) + field
    return table + struct.pack(e + "I", next_ifd) + data
