"""Reading the metadata worth keeping: the ICC profile as stored, EXIF cleaned (orientation 1, no storage tags,
no maker note, no thumbnail), sizes rewritten for the output."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from PIL.TiffImagePlugin import IFDRational

from esrgan.image import read_image
from esrgan.image.metadata import (
    EXIF_IFD,
    GPS_IFD,
    INTEROP_IFD,
    MAKER_NOTE,
    ImageMetadata,
    exif_for_output,
    icc_colour_space,
    read_header,
)

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a camera writes it: camera and date, a storage tag, a maker note, GPS, interoperability."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "Canon", "EOS 5D", "2024:01:02 03:04:05"
    exif[0x0112] = orientation
    exif[0x0100] = 4000  # ImageWidth: how the old file stored it
    sub = exif.get_ifd(EXIF_IFD)
    sub[0x9003], sub[0x829A] = "2024:01:02 03:04:05", IFDRational(1, 250)  # DateTimeOriginal, ExposureTime
    sub[0xA002], sub[0xA003] = 4000, 3000
    sub[MAKER_NOTE] = b"private offsets" * 4
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.5)
    sub[INTEROP_IFD] = {1: "R03"}  # Adobe RGB, the DCF way
    return exif


def parse(exif: bytes) -> Image.Exif:
    out = Image.Exif()
    out.load(exif)
    return out


def test_read_keeps_the_profile_and_cleans_exif(tmp_path: Path) -> None:
    rgb = (np.random.default_rng(0).random((6, 8, 3)) * 255).astype(np.uint8)
    path = tmp_path / "camera.jpg"
    Image.fromarray(rgb).save(path, exif=camera_exif(orientation=6).tobytes(), icc_profile=SRGB, quality=95)
    image = read_image(path)
    assert image.pixels.shape == (8, 6, 3)  # orientation 6 applied: 6x8 stored, 8x6 upright
    assert image.metadata is not None and image.metadata.icc_profile == SRGB
    assert image.metadata.exif is not None and image.metadata.exif[:4] in (b"II*\0", b"MM\0*")
    exif = parse(image.metadata.exif)
    assert (exif[0x010F], exif[0x0110], exif[0x0132], exif[0x0112]) == ("Canon", "EOS 5D", "2024:01:02 03:04:05", 1)
    assert 0x0100 not in exif
    sub = exif.get_ifd(EXIF_IFD)
    assert sub[0x9003] == "2024:01:02 03:04:05" and float(sub[0x829A]) == pytest.approx(1 / 250)
    assert MAKER_NOTE not in sub
    assert dict(exif.get_ifd(GPS_IFD)) == {1: "N", 2: (52.0, 31.0, 12.5)}
    assert dict(exif.get_ifd(INTEROP_IFD)) == {1: "R03"}


def test_files_without_metadata_have_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (4, 3)).save(path)
    assert read_image(path).metadata is None
    assert not ImageMetadata() and ImageMetadata(icc_profile=SRGB)


def test_header_of_unreadable_files_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(b"not an image at all")
    header = read_header(path)
    assert (header.mode, header.orientation, bool(header.metadata)) == (None, 1, False)


def test_exif_for_output_writes_the_new_size() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3)).save(buf, "PNG", exif=camera_exif().tobytes())
    exif = read_header_of(buf.getvalue())
    out = parse(exif_for_output(exif, 1600, 1200)).get_ifd(EXIF_IFD)
    assert (out[0xA002], out[0xA003]) == (1600, 1200)


def read_header_of(data: bytes) -> bytes:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(data)
        f.flush()
        exif = read_header(f.name).metadata.exif
    assert exif is not None
    return exif


def test_icc_colour_space() -> None:
    assert icc_colour_space(SRGB) == "RGB" and icc_colour_space(b"short") == ""
