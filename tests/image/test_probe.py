"""Image headers without decoding: every format the package reads, files written by OpenCV and Pillow and headers
written by hand (bombs, both TIFF byte orders, BigTIFF, animations), hostile bytes in bounded time."""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from esrgan.errors import InputError
from esrgan.image.probe import MAX_PAGES, ImageHeader, probe_file, probe_image, tiff_alpha_flag_offset

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)
RGBA = RNG.integers(0, 256, (37, 53, 4), dtype=np.uint8)


# ------------------------------------------------------------------------------------------ hand-made headers
def png(width: int, height: int, depth: int = 8, colour: int = 2, extra: bytes = b"") -> bytes:
    """A PNG signature, IHDR, optional chunks and an empty IDAT/IEND: 57 bytes declaring any size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def jpeg(width: int, height: int, components: int = 3, segments: bytes = b"") -> bytes:
    sof = struct.pack(">BHHB", 8, height, width, components) + b"\x01\x11\x00" * components
    return b"\xff\xd8" + segments + b"\xff\xc0" + struct.pack(">H", 2 + len(sof)) + sof + b"\xff\xd9"


def riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WEBP" + b"".join(k + struct.pack("<I", len(d)) + d + b"\0" * (len(d) & 1) for k, d in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8x(width: int, height: int, flags: int = 0, frames: int = 0) -> bytes:
    vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return riff((b"VP8X", vp8x), *[(b"ANMF", b"\0" * 16)] * frames)


def bmp(width: int, height: int, bpp: int = 24) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def tiff(
    width: int,
    height: int,
    spp: int = 3,
    bps: int = 8,
    extra: int | None = None,
    order: str = "<",
    pages: int = 1,
    big: bool = False,
) -> bytes:
    """An uncompressed chunky TIFF (or BigTIFF) with ``pages`` IFDs; pixel data of the first page only."""
    pixels = bytes(width * height * spp * bps // 8) if width * height < 1 << 20 else b""
    word, off, count_fmt, entry = ("Q", "Q", "Q", 20) if big else ("I", "I", "H", 12)
    tags = [(256, 4, width), (257, 4, height), (258, 3, bps), (262, 3, 2 if spp >= 3 else 1), (273, 4, 0),
            (277, 3, spp), (278, 4, height), (279, 4, len(pixels))]  # fmt: skip
    if extra is not None:
        tags.append((338, 3, extra))
    head = (b"II" if order == "<" else b"MM") + (
        struct.pack(order + "HHHQ", 43, 8, 0, 16) if big else struct.pack(order + "HI", 42, 8)
    )
    ifd_size = struct.calcsize(count_fmt) + entry * len(tags) + struct.calcsize(word)
    data_at = len(head) + ifd_size * pages
    out = bytearray(head)
    for page in range(pages):
        out += struct.pack(order + count_fmt, len(tags))
        for tag, typ, value in tags:
            value = data_at if tag == 273 else value
            field = struct.pack(order + ("H" if typ == 3 else "I"), value).ljust(8 if big else 4, b"\0")
            out += struct.pack(order + "HH" + off, tag, typ, 1) + field
        out += struct.pack(order + word, len(head) + ifd_size * (page + 1) if page + 1 < pages else 0)
    return bytes(out + pixels)


def gif(width: int, height: int, frames: int = 1, frame_size: tuple[int, int] | None = None) -> bytes:
    fw, fh = frame_size or (width, height)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, fw, fh, 0) + b"\x02" + b"\x02\x4c\x01\x00"
    return b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0" * 6 + image * frames + b"\x3b"


def _pil(arr: np.ndarray, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kwargs)
    return buf.getvalue()


def _pil_frames(fmt: str, n: int, **kwargs: object) -> bytes:
    frames = [Image.fromarray(np.roll(RGB, 7 * i, axis=1)) for i in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], **kwargs)
    return buf.getvalue()


def _cv(arr: np.ndarray, ext: str, *params: int) -> bytes:
    return cv2.imencode(ext, arr, list(params))[1].tobytes()


# --------------------------------------------------------------------------------- files real encoders write
REAL_FILES: dict[str, tuple[Callable[[], bytes], tuple[str, int | None, int | None, int]]] = {
    # name: (writer, (format, channels, bit depth, frames)); every one is 53x37
    "png rgb": (lambda: _cv(RGB, ".png"), ("png", 3, 8, 1)),
    "png rgba": (lambda: _cv(RGBA, ".png"), ("png", 4, 8, 1)),
    "png gray 16": (lambda: _cv(RGB[:, :, 0].astype(np.uint16) * 257, ".png"), ("png", 1, 16, 1)),
    "png palette": (lambda: _palette_png(), ("png", 3, 8, 1)),
    "apng": (lambda: _pil_frames("PNG", 4), ("png", 3, 8, 4)),
    "jpeg": (lambda: _cv(RGB, ".jpg"), ("jpeg", 3, 8, 1)),
    "jpeg gray": (lambda: _cv(RGB[:, :, 0], ".jpg"), ("jpeg", 1, 8, 1)),
    "jpeg progressive exif": (lambda: _pil(RGB, "JPEG", progressive=True, exif=_exif()), ("jpeg", 3, 8, 1)),
    "webp lossy": (lambda: _cv(RGB, ".webp", cv2.IMWRITE_WEBP_QUALITY, 80), ("webp", 3, 8, 1)),
    "webp lossless": (lambda: _cv(RGB, ".webp", cv2.IMWRITE_WEBP_QUALITY, 101), ("webp", 3, 8, 1)),
    "webp lossless alpha": (lambda: _pil(RGBA, "WEBP", lossless=True), ("webp", 4, 8, 1)),
    "webp lossy alpha (VP8X)": (lambda: _pil(RGBA, "WEBP", quality=80), ("webp", 4, 8, 1)),
    "webp animated": (lambda: _pil_frames("WEBP", 3), ("webp", 3, 8, 3)),
    "bmp 24": (lambda: _cv(RGB, ".bmp"), ("bmp", 3, 8, 1)),
    "bmp 8 palette": (lambda: _cv(RGB[:, :, 0], ".bmp"), ("bmp", None, 8, 1)),
    "tiff": (lambda: _cv(RGB, ".tif"), ("tiff", 3, 8, 1)),
    "tiff 16": (lambda: _cv(RGB.astype(np.uint16) * 257, ".tif"), ("tiff", 3, 16, 1)),
    "tiff rgba (Pillow)": (lambda: _pil(RGBA, "TIFF"), ("tiff", 4, 8, 1)),
    "tiff big-endian (Pillow)": (lambda: _pil(RGB, "TIFF", byteorder=">"), ("tiff", 3, 8, 1)),
    "tiff 3 pages": (lambda: _pil_frames("TIFF", 3), ("tiff", 3, 8, 3)),
    "gif": (lambda: _pil(RGB, "GIF"), ("gif", 3, 8, 1)),
    "gif animated": (lambda: _pil_frames("GIF", 5), ("gif", 3, 8, 5)),
}


def _palette_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RGB).convert("P").save(buf, "PNG")
    return buf.getvalue()


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()


@pytest.mark.parametrize("name", REAL_FILES)
def test_headers_of_real_files_match_what_opencv_decodes(name: str) -> None:
    writer, (fmt, channels, depth, frames) = REAL_FILES[name]
    data = writer()
    header = probe_image(data, name)
    assert (header.format, header.width, header.height) == (fmt, 53, 37)
    assert (header.channels, header.bit_depth, header.frames) == (channels, depth, frames)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape[:2] == (header.height, header.width)


def test_probe_file_reads_through_a_memory_map(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(_cv(RGB, ".png"))
    assert probe_file(path) == ImageHeader("png", 53, 37, 3, 8, 1)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        probe_file(tmp_path / "empty.png")


# ------------------------------------------------------------------------------------------ bombs, by hand
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(50000, 50000), ImageHeader("png", 50000, 50000, 3, 8)),
        (png(20000, 20000, 16, 6), ImageHeader("png", 20000, 20000, 4, 16)),
        (png(100, 100, 8, 3, b"\0\0\0\x01tRNS\0" + b"\0" * 4), ImageHeader("png", 100, 100, 4, 8)),
        (png(640, 480, extra=b"\0\0\0\x08acTL\0\0\0\x64\0\0\0\0" + b"\0" * 4), ImageHeader("png", 640, 480, 3, 8, 100)),
        (jpeg(65535, 65535), ImageHeader("jpeg", 65535, 65535, 3, 8)),
        (
            jpeg(40000, 30000, 1, b"\xff\xe1\x00\x04ab" + b"\xff\xff\xff\xfe\x00\x02"),
            ImageHeader("jpeg", 40000, 30000, 1, 8),
        ),
        (webp_vp8x(16384, 16384, 0x10), ImageHeader("webp", 16384, 16384, 4, 8)),
        (webp_vp8x(100, 100, 0x02, frames=7), ImageHeader("webp", 100, 100, 3, 8, 7)),
        (
            riff((b"VP8 ", b"\x10\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 16383, 16383))),
            ImageHeader("webp", 16383, 16383, 3, 8),
        ),
        (
            riff((b"VP8L", b"\x2f" + struct.pack("<I", 0x3FFF | (0x3FFF << 14) | (1 << 28)))),
            ImageHeader("webp", 16384, 16384, 4, 8),
        ),
        (bmp(30000, -30000), ImageHeader("bmp", 30000, 30000, 3, 8)),
        (tiff(50000, 50000), ImageHeader("tiff", 50000, 50000, 3, 8)),
        (tiff(50000, 50000, order=">"), ImageHeader("tiff", 50000, 50000, 3, 8)),
        (tiff(1000, 800, 4, 16, extra=2, big=True), ImageHeader("tiff", 1000, 800, 4, 16, 1, "straight")),
        (tiff(10, 10, 4, extra=1, pages=5, order=">"), ImageHeader("tiff", 10, 10, 4, 8, 5, "premultiplied")),
        (gif(65535, 65535), ImageHeader("gif", 65535, 65535, 3, 8)),
        (gif(1, 1, frames=3, frame_size=(60000, 60000)), ImageHeader("gif", 60000, 60000, 3, 8, 3)),
    ],
    ids=lambda v: f"{v.format} {v.width}x{v.height}" if isinstance(v, ImageHeader) else "",
)
def test_declared_sizes_are_read_without_decoding(data: bytes, expected: ImageHeader) -> None:
    start = time.perf_counter()
    assert probe_image(data) == expected
    assert time.perf_counter() - start < 0.5  # microseconds in fact; generous for a busy machine
    if expected.pixels > 10**8:
        assert len(data) < 200  # the bombs are tiny: a decoder would allocate gigabytes for them


def test_tiff_alpha_flag_offset_points_at_the_extra_samples_value() -> None:
    for order in "<>":
        data = bytearray(tiff(4, 4, 4, extra=2, order=order))
        at = tiff_alpha_flag_offset(data)
        assert at is not None and struct.unpack_from(order + "H", data, at)[0] == 2
        data[at : at + 2] = b"\0\0"
        assert probe_image(bytes(data)).alpha is None
    assert tiff_alpha_flag_offset(tiff(4, 4)) is None
    assert tiff_alpha_flag_offset(b"II*\0garbage") is None


# ------------------------------------------------------------------------------------------- refused bytes
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"P6\n50000 50000\n255\n", "not a PNG, JPEG, WebP, BMP, TIFF or GIF file"),  # OpenCV would decode PPM
        (b"\0\0\0\x0cjP  \r\n\x87\n", "not a PNG"),  # JPEG 2000
        (png(1, 1)[:20], "truncated or corrupt png header"),
        (png(0, 10), r"size 0x10"),
        (png(2**31, 1), "size"),
        (png(10, 10, 3, 2), "colour type 2 with bit depth 3"),
        # An IDAT claiming 503 MB in a 57-byte file: OpenCV allocated the claimed length (found by make fuzz).
        (
            png(16, 12)[:33] + struct.pack(">I", 503317079) + png(16, 12)[37:],
            "chunk b'IDAT' at byte 33 claims 503317079",
        ),
        (jpeg(100, 0), "DNL"),
        (b"\xff\xd8\xff\xda\x00\x02", "no frame header before the image data"),
        (b"\xff\xd8" + b"\xff" * 5000 + b"\xc0", "endless fill bytes"),
        (riff((b"VP8 ", b"\x11\x00\x00\x9d\x01\x2a\x10\x00\x10\x00")), "key frame"),
        (riff((b"ALPH", b"")), "unknown first chunk"),
        (bmp(10, 10, 7), "1 planes of 7 bits"),
        (tiff(10, 10)[:12], "corrupt tiff header"),
        (b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 0), "IFD of 0 entries"),
        (b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b"\x99", "unknown block 0x99"),
        (b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b"\x3b", "no image in the file"),
    ],
)
def test_bad_headers_are_one_line_input_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        probe_image(data, "f.png")
    assert str(info.value).startswith("f.png: ") and "\n" not in str(info.value)


def test_cut_off_animation_keeps_its_first_frame() -> None:
    data = _pil_frames("GIF", 4)
    assert probe_image(data[: len(data) * 3 // 4]).frames >= 1


@pytest.mark.parametrize(
    "data",
    [
        # a GIF whose data is 2 MB of one-byte sub-blocks: the walk stops at its step budget
        b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b"\x2c" + struct.pack("<HHHHB", 0, 0, 10, 10, 0)
        + b"\x02" + b"\x01\x00" * 1_000_000,
        # a JPEG of 500,000 empty comment segments before its frame header
        b"\xff\xd8" + b"\xff\xfe\x00\x02" * 500_000 + jpeg(10, 10)[2:],
        # a PNG of 300,000 small chunks before IDAT
        png(10, 10)[:33] + b"\0\0\0\0tEXt\0\0\0\0" * 300_000,
        # a TIFF with more pages than are counted
        tiff(10, 10, pages=MAX_PAGES + 50),
    ],
    ids=["gif sub-blocks", "jpeg segments", "png chunks", "tiff pages"],
)  # fmt: skip
def test_pathological_files_take_bounded_time(data: bytes) -> None:
    start = time.perf_counter()
    try:
        header = probe_image(data)
        assert header.frames <= MAX_PAGES
    except InputError:
        pass
    assert time.perf_counter() - start < 3.0  # ~0.1 s measured; generous for a busy machine


def test_looping_tiff_page_chain_is_counted_once() -> None:
    data = bytearray(tiff(10, 10, pages=3))
    # point the last page's next-IFD pointer back at the first page
    last_pointer = 8 + (2 + 12 * 8 + 4) * 3 - 4
    assert struct.unpack_from("<I", data, last_pointer)[0] == 0
    struct.pack_into("<I", data, last_pointer, 8)
    assert probe_image(bytes(data)).frames == 3


# ----------------------------------------------------------------------------------------- property-based
SEEDS = [writer() for writer, _ in REAL_FILES.values()] + [png(50000, 50000), tiff(64, 64, 4, extra=2)]


def _probe_or_input_error(data: bytes) -> None:
    try:
        header = probe_image(data, "fuzz")
        assert 0 < header.width < 2**31 and 0 < header.height < 2**31 and header.frames >= 1
    except InputError as exc:
        assert "\n" not in str(exc)


@given(st.binary(max_size=4096))
def test_property_any_bytes_give_a_header_or_an_input_error(data: bytes) -> None:
    _probe_or_input_error(data)


@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=12),
       st.integers(0, 10**6))  # fmt: skip
def test_property_mutated_real_files(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for at, value in flips:
        data[at % len(data)] = value
    _probe_or_input_error(bytes(data[: max(1, len(data) - cut % len(data))]))
