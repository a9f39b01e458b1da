"""The ICC profile and EXIF written into each output format: readable by Pillow and OpenCV, pixels untouched."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from esrgan.image import ImageData, ImageMetadata, write_image
from esrgan.image.embed import embed_metadata
from esrgan.image.metadata import EXIF_IFD, GPS_IFD, INTEROP_IFD, read_header

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def gray_profile() -> bytes:
    """A hand-built 132-byte ICC header declaring a gray colour space (enough for the colour-space check)."""
    header = bytearray(132)
    header[0:4] = struct.pack(">I", 132)
    header[12:16], header[16:20], header[20:24], header[36:40] = b"mntr", b"GRAY", b"XYZ ", b"acsp"
    return bytes(header)


def metadata() -> ImageMetadata:
    exif = Image.Exif()
    exif[0x010F], exif[0x0112], exif[0x0132] = "Nikon", 1, "2023:05:06 07:08:09"
    exif.get_ifd(EXIF_IFD)[0xA002] = 10
    exif.get_ifd(EXIF_IFD)[0xA003] = 10
    exif.get_ifd(GPS_IFD)[1] = "S"
    exif.get_ifd(EXIF_IFD)[INTEROP_IFD] = {1: "R98"}
    return ImageMetadata(icc_profile=SRGB, exif=bytes(exif.tobytes())[6:])


def image(channels: int, depth: int, h: int = 12, w: int = 20, meta: ImageMetadata | None = None) -> ImageData:
    rng = np.random.default_rng(channels * 100 + depth)
    pixels = rng.random((h, w, 1 if channels in (1, 2) else 3), dtype=np.float32)
    alpha = rng.random((h, w), dtype=np.float32) if channels in (2, 4) else None
    return ImageData(pixels=pixels, alpha=alpha, bit_depth=depth, metadata=meta)


CASES = [
    (".png", 3, 8),
    (".png", 3, 16),
    (".png", 4, 8),
    (".png", 1, 16),
    (".png", 2, 8),  # gray + alpha: OpenCV writes it as BGRA, so the file is colour
    (".jpg", 3, 8),
    (".jpg", 1, 8),
    (".webp", 3, 8),
    (".webp", 4, 8),
    (".tif", 3, 8),
    (".tif", 3, 16),
    (".tif", 4, 16),
    (".tif", 1, 8),
    (".tif", 3, 32),
]


@pytest.mark.parametrize(("ext", "channels", "depth"), CASES, ids=lambda v: str(v))
def test_every_format_keeps_profile_and_exif_and_the_pixels(
    tmp_path: Path, ext: str, channels: int, depth: int
) -> None:
    meta = metadata()
    if channels in (1,) and ext != ".webp":
        meta = ImageMetadata(icc_profile=gray_profile(), exif=meta.exif)
    plain, rich = tmp_path / f"plain{ext}", tmp_path / f"rich{ext}"
    write_image(plain, image(channels, depth))
    write_image(rich, image(channels, depth, meta=meta))
    # The pixel data is untouched: both files decode to the same samples.
    a, b = (cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in (plain, rich))
    assert a.dtype == b.dtype and np.array_equal(a, b)

    header = read_header(rich)
    assert header.metadata.icc_profile == meta.icc_profile
    exif = Image.Exif()
    assert header.metadata.exif is not None
    exif.load(header.metadata.exif)
    assert (exif[0x010F], exif[0x0112], exif[0x0132]) == ("Nikon", 1, "2023:05:06 07:08:09")
    sub = exif.get_ifd(EXIF_IFD)
    assert (sub[0xA002], sub[0xA003]) == (20, 12)  # the written image's size, not the input's
    assert exif.get_ifd(GPS_IFD)[1] == "S" and exif.get_ifd(INTEROP_IFD)[1] == "R98"
    if depth != 32:  # Pillow decodes these too (it has no float colour TIFF)
        with Image.open(rich) as im:
            im.load()
            assert im.size == (20, 12) and im.info.get("icc_profile") == meta.icc_profile


def test_a_profile_that_does_not_fit_the_stored_colours_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    meta = metadata()
    with caplog.at_level(logging.WARNING):
        write_image(tmp_path / "g.png", image(1, 8, meta=meta))  # gray file, RGB profile
        write_image(tmp_path / "ga.png", image(2, 8, meta=ImageMetadata(gray_profile(), meta.exif)))  # stored RGBA
        write_image(tmp_path / "g.webp", image(1, 8, meta=ImageMetadata(gray_profile(), meta.exif)))  # WebP is colour
    assert caplog.text.count("ICC profile does not fit") == 3
    for name in ("g.png", "ga.png", "g.webp"):
        header = read_header(tmp_path / name)
        assert header.metadata.icc_profile is None and header.metadata.exif is not None


def test_bmp_holds_none_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        write_image(tmp_path / "x.bmp", image(3, 8, meta=metadata()))
    assert "holds no ICC profile or EXIF" in caplog.text
    assert not read_header(tmp_path / "x.bmp").metadata


def test_large_profiles_span_several_jpeg_segments(tmp_path: Path) -> None:
    big = SRGB + bytes(range(256)) * 600  # 154 KB: three APP2 segments
    write_image(tmp_path / "big.jpg", image(3, 8, meta=ImageMetadata(icc_profile=big)))
    data = (tmp_path / "big.jpg").read_bytes()
    assert data.count(b"ICC_PROFILE\0") == 3
    assert read_header(tmp_path / "big.jpg").metadata.icc_profile == big


def test_png_srgb_chunk_gives_way_to_the_profile() -> None:
    _, buf = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    data = buf.tobytes()
    srgb = struct.pack(">I", 1) + b"sRGB\0" + struct.pack(">I", zlib.crc32(b"sRGB\0"))
    with_srgb = data[:33] + srgb + data[33:]
    out = embed_metadata(with_srgb, ".png", ImageMetadata(icc_profile=SRGB), width=4, height=4, channels=3)
    assert b"sRGB" not in out and b"iCCP" in out
    assert embed_metadata(data, ".png", ImageMetadata(), width=4, height=4, channels=3) is data


def test_metadata_survives_being_written_twice(tmp_path: Path) -> None:
    """An output read back and written again (a second upscale) holds one copy of each, not two."""
    write_image(tmp_path / "a.webp", image(3, 8, meta=metadata()))
    write_image(tmp_path / "a.png", image(3, 8, meta=metadata()))
    for name in ("a.webp", "a.png"):
        again = read_header(tmp_path / name).metadata
        data = embed_metadata((tmp_path / name).read_bytes(), Path(name).suffix, again, width=20, height=12, channels=3)
        assert data.count(b"ICCP" if name.endswith("webp") else b"iCCP") == 1
        assert data.count(b"EXIF" if name.endswith("webp") else b"eXIf") == 1
