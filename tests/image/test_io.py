"""Image files: reading with orientation, depth and alpha; atomic writing; the stored-samples reader."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

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
    with pytest.raises(ValueError, match=r"junk\.png: cannot decode"):
        read_unchanged(tmp_path / "junk.png")


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
