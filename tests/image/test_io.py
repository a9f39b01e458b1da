"""Image files: reading with orientation, depth and alpha; atomic writing; the stored-samples reader."""

from __future__ import annotations

import io
import logging
import resource
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from esrgan.errors import InputError, LimitError
from esrgan.image import ImageData, read_image, read_unchanged, write_image


def ramp(h: int = 6, w: int = 8, c: int = 3) -> np.ndarray:
    """Distinct values per pixel and channel, so flips/rotations/channel swaps are caught."""
    return (np.arange(h * w * c, dtype=np.float32).reshape(h, w, c) % 251) / 250.0


def test_rgb_8bit_round_trip_is_exact_and_rgb_ordered(tmp_path: Path) -> None:
    arr = (ramp() * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), arr[:, :, ::-1])  # OpenCV writes BGR
    img = read_image(tmp_path / "a.png")
    assert img.bit_depth == 8 and img.alpha is None and not img.is_gray
    np.testing.assert_array_equal((img.pixels * 255).round().astype(np.uint8), arr)
    write_image(tmp_path / "b.png", img)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "b.png"))[:, :, ::-1], arr)


def test_16bit_in_16bit_out(tmp_path: Path) -> None:
    arr = (ramp() * 65535).round().astype(np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), arr[:, :, ::-1])
    img = read_image(tmp_path / "a.png")
    assert img.bit_depth == 16
    write_image(tmp_path / "b.png", img)
    out = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[:, :, ::-1], arr)


def test_16bit_to_jpeg_warns_and_writes_8bit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    img = ImageData(pixels=ramp(), bit_depth=16)
    with caplog.at_level(logging.WARNING):
        write_image(tmp_path / "a.jpg", img)
    assert "8-bit" in caplog.text
    assert cv2.imread(str(tmp_path / "a.jpg"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_gray_stays_gray(tmp_path: Path) -> None:
    arr = (ramp(c=1)[:, :, 0] * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), arr)
    img = read_image(tmp_path / "g.png")
    assert img.is_gray and img.pixels.shape == (6, 8, 1)
    write_image(tmp_path / "o.png", img)
    assert cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED).ndim == 2


def test_rgba_and_gray_alpha(tmp_path: Path) -> None:
    rgba = (ramp(c=4) * 255).round().astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.alpha is not None
    np.testing.assert_array_equal((img.pixels * 255).round().astype(np.uint8), rgba[:, :, :3])
    np.testing.assert_array_equal((img.alpha * 255).round().astype(np.uint8), rgba[:, :, 3])
    write_image(tmp_path / "b.png", img)
    assert Image.open(tmp_path / "b.png").mode == "RGBA"

    la = rgba[:, :, [0, 3]]
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    assert img.is_gray and img.alpha is not None
    np.testing.assert_array_equal((img.pixels[:, :, 0] * 255).round().astype(np.uint8), la[:, :, 0])


def test_palette_image_reads_as_rgb(tmp_path: Path) -> None:
    idx = (np.arange(48).reshape(6, 8) % 4).astype(np.uint8)
    pal = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0] + [0] * (768 - 12)
    p = Image.fromarray(idx, "P")
    p.putpalette(pal)
    p.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.pixels.shape == (6, 8, 3)
    np.testing.assert_array_equal(img.pixels[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(img.pixels[0, 3], [1.0, 1.0, 0.0])


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_applied(tmp_path: Path, orientation: int) -> None:
    # A lossless WebP carries EXIF; compare with Pillow's own transposition as the reference.
    from PIL import ImageOps

    arr = (ramp(6, 10) * 255).round().astype(np.uint8)
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(tmp_path / "o.webp", lossless=True, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.webp")).convert("RGB"))
    got = (read_image(tmp_path / "o.webp").pixels * 255).round().astype(np.uint8)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_bad_files_raise_with_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.png: empty file"):
        read_image(tmp_path / "empty.png")
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"trunc\.png: cannot decode"):
        read_image(tmp_path / "trunc.png")


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        write_image(tmp_path / "nope" / "a.png", ImageData(pixels=ramp()))
    with pytest.raises(ValueError, match="unsupported output format"):
        write_image(tmp_path / "a.gif", ImageData(pixels=ramp()))
    write_image(tmp_path / "a.png", ImageData(pixels=ramp()))
    with pytest.raises(FileExistsError):
        write_image(tmp_path / "a.png", ImageData(pixels=ramp()), overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no .part files left


def test_read_unchanged_keeps_opencv_order_depth_and_gray(tmp_path: Path) -> None:
    bgr = (ramp() * 65535).round().astype(np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), bgr)
    got = read_unchanged(tmp_path / "a.png")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, bgr)  # as stored: BGR, no conversion
    gray = (ramp(c=1)[:, :, 0] * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    assert read_unchanged(tmp_path / "g.png").shape == (6, 8)
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        read_unchanged(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"junk\.png: not a PNG, JPEG, WebP, BMP, TIFF or GIF file"):
        read_unchanged(tmp_path / "junk.png")


# ------------------------------------------------------------------------------------ hostile and odd files
def _png_header(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """57 bytes: a PNG that declares any size (no pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def _valid_1bit_png(width: int, height: int) -> bytes:
    """A complete, decodable 1-bit gray PNG of any size, compressed to a few hundred kilobytes."""
    row = b"\0" + bytes((width + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    png = _png_header(width, height, 1, 0)
    ihdr_end = 8 + 25
    idat = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    return png[:ihdr_end] + idat + png[-12:]


def test_max_pixels_refuses_a_400_mp_image_before_decoding(tmp_path: Path) -> None:
    """A real, valid 20000x20000 PNG: refused from its header, fast and without the gigabytes a decode takes."""
    big = tmp_path / "big.png"
    big.write_bytes(_valid_1bit_png(20000, 20000))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    with pytest.raises(LimitError, match=r"big\.png: 20000x20000 is 400\.0 MP, above the limit of max_pixels="):
        read_image(big, max_pixels=25_000_000)
    assert time.perf_counter() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak < 300  # MB above this process's peak
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((10, 20, 3), np.uint8))
    assert read_image(small, max_pixels=200).width == 20  # the limit itself is allowed
    with pytest.raises(LimitError):
        read_image(small, max_pixels=199)


def test_decoder_failures_are_one_line_input_errors(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(50000, 50000))  # no limit asked: OpenCV itself refuses, with cv2.error
    with pytest.raises(InputError, match=r"bomb\.png: cannot decode this PNG file") as info:
        read_image(bomb)
    assert "\n" not in str(info.value)
    ppm = tmp_path / "photo.png"  # OpenCV decodes PPM (and PFM, HDR, JPEG 2000 ...) whatever the name
    ppm.write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    with pytest.raises(InputError, match=r"photo\.png: not a PNG, JPEG, WebP, BMP, TIFF or GIF file"):
        read_image(ppm)


def test_a_png_named_jpg_is_read_by_its_content(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(cv2.imencode(".png", np.full((4, 6, 3), 7, np.uint8))[1].tobytes())
    assert read_image(path).pixels.shape == (4, 6, 3)


def _rgba_tiff(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "TIFF", compression="tiff_lzw")  # ExtraSamples = 2: unassociated
    return buf.getvalue()


def test_rgba_tiff_with_unassociated_alpha_is_not_premultiplied(tmp_path: Path) -> None:
    """libtiff's RGBA interface, which OpenCV uses for 8-bit TIFFs, premultiplied the colour by the alpha."""
    rgba = np.random.default_rng(0).integers(0, 256, (16, 24, 4), dtype=np.uint8)
    path = tmp_path / "straight.tif"
    path.write_bytes(_rgba_tiff(rgba))
    img = read_image(path)
    assert img.alpha is not None
    np.testing.assert_array_equal(np.round(img.pixels * 255).astype(np.uint8), rgba[:, :, :3])
    np.testing.assert_array_equal(np.round(img.alpha * 255).astype(np.uint8), rgba[:, :, 3])


def test_rgba_tiff_with_associated_alpha_comes_out_straight(tmp_path: Path) -> None:
    rgba = np.random.default_rng(1).integers(1, 256, (16, 24, 4), dtype=np.uint8)
    stored = rgba.copy()
    stored[:, :, :3] = (rgba[:, :, :3].astype(np.uint32) * rgba[:, :, 3:] + 127) // 255  # premultiplied
    data = _rgba_tiff(stored)
    unassociated = b"\x52\x01\x03\x00\x01\x00\x00\x00\x02\x00"  # tag 338, SHORT, 1 value: 2
    assert data.count(unassociated) == 1
    path = tmp_path / "associated.tif"
    path.write_bytes(data.replace(unassociated, unassociated[:-2] + b"\x01\x00"))
    img = read_image(path)
    expected = stored[:, :, :3] / np.maximum(rgba[:, :, 3:], 1)  # what the file means, within its 8-bit rounding
    assert np.abs(img.pixels - np.clip(expected, 0, 1)).max() < 1e-6
    assert np.abs(img.pixels * 255 - rgba[:, :, :3]).max() <= 255 / (2 * rgba[:, :, 3:].min()) + 1


def test_animations_say_only_the_first_frame_is_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frames = [Image.fromarray(np.full((8, 10, 3), 40 * i, np.uint8)) for i in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with caplog.at_level(logging.WARNING):
        img = read_image(path)
    assert "anim.gif: GIF with 3 frames: only the first is read" in caplog.text
    assert img.pixels.shape == (8, 10, 3) and img.pixels.max() == 0  # frame 0


# ----------------------------------------------------------------------------------------- property-based
def _seed_files() -> list[bytes]:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    seeds = [cv2.imencode(ext, img)[1].tobytes() for ext in (".png", ".jpg", ".webp", ".bmp", ".tif")]
    seeds.append(_rgba_tiff(rng.integers(0, 256, (12, 16, 4), dtype=np.uint8)))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "GIF")
    return [*seeds, buf.getvalue(), _png_header(3000, 3000)]


SEEDS = _seed_files()


def _image_or_package_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.png"
    path.write_bytes(data)
    try:
        img = read_image(path, max_pixels=4_000_000)
        assert img.pixels.dtype == np.float32 and img.pixels.ndim == 3 and img.pixels.shape[2] in (1, 3)
        assert np.isfinite(img.pixels).all() and img.pixels.min() >= 0 and img.pixels.max() <= 1
    except (InputError, LimitError) as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    # No example may make the decoder allocate what a file merely claims: a 267-byte PNG whose IDAT claimed 503 MB
    # made OpenCV allocate it (found by make fuzz). An image within max_pixels needs < 100 MB here.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - _RSS_MB_AT_START < 1000


_RSS_MB_AT_START = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

# One file, rewritten by every example: the function-scoped tmp_path is fine here.
_ONE_FILE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.filterwarnings("error")  # a warning would print lines of its own on stderr
@_ONE_FILE
@given(data=st.binary(max_size=2048))
def test_property_any_bytes_read_or_one_input_error(tmp_path: Path, data: bytes) -> None:
    _image_or_package_error(tmp_path, data)


@pytest.mark.filterwarnings("error")
@_ONE_FILE
@given(seed=st.sampled_from(SEEDS), flips=st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 10**5))  # fmt: skip
def test_property_mutated_images(tmp_path: Path, seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for at, value in flips:
        data[at % len(data)] = value
    _image_or_package_error(tmp_path, bytes(data[: max(1, len(data) - cut % len(data))]))


def test_encode_then_write_encoded_is_write_image(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from esrgan.image import encode_image, write_encoded

    img = ImageData(pixels=ramp(), alpha=ramp(c=1)[:, :, 0], bit_depth=16)
    write_image(tmp_path / "whole.jpg", img, quality=80)
    with caplog.at_level(logging.WARNING):
        data = encode_image(tmp_path / "apart.jpg", img, quality=80)
    assert not (tmp_path / "apart.jpg").exists()
    assert "apart.jpg: .jpg stores 8-bit samples" in caplog.text and "transparency is dropped" in caplog.text
    write_encoded(tmp_path / "apart.jpg", data)
    assert (tmp_path / "apart.jpg").read_bytes() == (tmp_path / "whole.jpg").read_bytes()
    with pytest.raises(FileExistsError):
        write_encoded(tmp_path / "apart.jpg", data, overwrite=False)
    with pytest.raises(ValueError, match=r"unsupported output format '\.gif'"):
        encode_image(tmp_path / "x.gif", img)


def test_read_image_bytes_is_read_image(tmp_path: Path) -> None:
    """An image piped in reads as the same file does: orientation, gray, alpha, metadata."""
    import skimage.data

    from esrgan.image import read_image_bytes

    rgba = np.dstack([skimage.data.coffee()[:12, :16], np.full((12, 16), 77, np.uint8)])
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.webp", exif=exif.tobytes(), lossless=True)
    from_file, from_bytes = read_image(tmp_path / "a.webp"), read_image_bytes((tmp_path / "a.webp").read_bytes())
    assert from_bytes.pixels.shape == (16, 12, 3) and np.array_equal(from_file.pixels, from_bytes.pixels)
    assert from_bytes.alpha is not None and np.array_equal(from_file.alpha, from_bytes.alpha)
    assert from_bytes.metadata == from_file.metadata and from_bytes.path is None
    with pytest.raises(ValueError, match="piped: empty file"):
        read_image_bytes(b"", "piped")
