"""The one decoder: bytes to stored samples, channel layouts, the training datasets' RGB view, bad data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from esrgan.errors import InputError
from esrgan.image import decode, decode_rgb, split_channels


def _png(arr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    return buf.tobytes()


def test_decode_returns_the_stored_samples() -> None:
    bgr = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    np.testing.assert_array_equal(decode(_png(bgr), "a.png"), bgr)
    gray16 = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000).astype(np.uint16)
    out = decode(np.frombuffer(_png(gray16), np.uint8), "g.png")  # bytes or a uint8 array
    assert out.dtype == np.uint16 and out.shape == (4, 5)
    np.testing.assert_array_equal(out, gray16)


def test_bad_data_names_the_source() -> None:
    with pytest.raises(ValueError, match=r"empty\.png: empty file"):
        decode(b"", "empty.png")
    with pytest.raises(InputError, match=r"junk\.png: not a PNG, JPEG, WebP, BMP, TIFF or GIF file"):
        decode(b"not an image", "junk.png")
    with pytest.raises(InputError, match=r"trunc\.png: (cannot decode|truncated)"):
        decode(_png(np.zeros((32, 32, 3), np.uint8))[:40], "trunc.png")


def test_split_channels_layouts() -> None:
    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = 10, 20, 30, 99
    pixels, alpha = split_channels(bgra, "x")
    assert pixels.shape == (2, 3, 3) and tuple(pixels[0, 0]) == (30, 20, 10)
    assert alpha is not None and (alpha == 99).all()
    pixels, alpha = split_channels(bgra[..., :3], "x")
    assert tuple(pixels[0, 0]) == (30, 20, 10) and alpha is None
    pixels, alpha = split_channels(bgra[..., 0], "x")
    assert pixels.shape == (2, 3, 1) and alpha is None
    pixels, alpha = split_channels(bgra[..., [0, 3]], "x")  # gray + alpha
    assert pixels.shape == (2, 3, 1) and (pixels == 10).all() and alpha is not None and (alpha == 99).all()
    with pytest.raises(ValueError, match="x: 5 channels are not supported"):
        split_channels(np.zeros((2, 2, 5), np.uint8), "x")


def test_decode_rgb_gray_rgba_16bit() -> None:
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 99  # B, G, R, A as OpenCV stores
    img = decode_rgb(_png(rgba), "rgba.png")
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8 and tuple(img[0, 0]) == (30, 20, 10)
    gray = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000).astype(np.uint16)
    img16 = decode_rgb(np.frombuffer(_png(gray), np.uint8), "gray16.png")
    assert img16.dtype == np.uint16 and img16.shape == (4, 5, 3)
    assert (img16 == gray[:, :, None]).all()
    with pytest.raises(InputError, match="not a PNG"):
        decode_rgb(b"not an image", "junk.png")


def test_decode_rgb_float_tiff_is_clipped() -> None:
    arr = np.array([[[-0.5, 0.25, 2.0]]], np.float32).repeat(3, 0).repeat(3, 1)
    ok, buf = cv2.imencode(".tiff", arr)
    assert ok
    img = decode_rgb(buf.tobytes(), "f.tiff")
    assert img.dtype == np.float32
    np.testing.assert_array_equal(img[0, 0], [1.0, 0.25, 0.0])  # BGR -> RGB, clipped to [0, 1]


def test_every_reader_probes_the_header_first(tmp_path: Path) -> None:
    """Files for upscaling and evaluation, training images from folders and LMDB values, the dataset scripts'
    reader: all go through the one decoder's header check, so a format outside the list (OpenCV would decode
    this PPM named .png) and an image above the limit are refused before any decoding, on every path."""
    from esrgan.data import ImageSource
    from esrgan.errors import LimitError
    from esrgan.evaluation.protocol import load_uint8
    from esrgan.image import check_encoded, read_image, read_unchanged

    ppm = b"P6\n2 2\n255\n" + bytes(12)
    (tmp_path / "x.png").write_bytes(ppm)
    source = ImageSource(tmp_path)
    readers = {
        "read_image": lambda: read_image(tmp_path / "x.png"),
        "read_unchanged": lambda: read_unchanged(tmp_path / "x.png"),
        "evaluation": lambda: load_uint8(tmp_path / "x.png"),
        "training folder": lambda: source.read("x"),
        "LMDB value": lambda: decode_rgb(ppm, "db:x"),
    }
    for name, read in readers.items():
        with pytest.raises(InputError, match="not a PNG, JPEG, WebP, BMP, TIFF or GIF file"):
            read()
            pytest.fail(name)
    big = _png(np.zeros((30, 40, 3), np.uint8))
    assert check_encoded(np.frombuffer(big, np.uint8), "big.png").pixels == 1200
    with pytest.raises(LimitError, match=r"big\.png: 40x30 is 0\.0 MP, above the limit of max_pixels=1000"):
        decode(big, "big.png", max_pixels=1000)


def test_sniff_extension_of_every_written_format() -> None:
    import cv2
    import numpy as np

    from esrgan.image.decode import sniff_extension

    arr = np.zeros((4, 4, 3), np.uint8)
    for ext in (".png", ".jpg", ".webp", ".bmp", ".tif"):
        assert sniff_extension(cv2.imencode(ext, arr)[1].tobytes()) == ext
    assert sniff_extension(b"GIF89a...") == ".gif" and sniff_extension(b"") is None
