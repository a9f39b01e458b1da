"""esrgan.inference.files: one image file into another through the engine, keeping bit depth, alpha and gray, with
the output format chosen from the input, and never writing over an input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from esrgan.archs import SRVGGNetCompact
from esrgan.image import ImageData, read_image
from esrgan.inference import Upscaler, upscale_file
from esrgan.inference.files import InputTooLargeError, OverwritesInputError, output_extension


@pytest.fixture(scope="module")
def upscaler() -> Upscaler:
    """A random x2 SRVGGNetCompact, fp32, whole images: fast, and its output depends on the input."""
    return Upscaler(SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2), tile=0, precision="fp32", device="cpu")


def photo(h: int = 24, w: int = 32) -> np.ndarray:
    """A crop of a real photo, (h, w, 3) uint8 RGB."""
    return skimage.data.coffee()[100 : 100 + h, 200 : 200 + w]


def test_output_extension_keeps_the_input_format_where_it_can() -> None:
    rgb = ImageData(np.zeros((2, 2, 3), np.float32))
    alpha = ImageData(np.zeros((2, 2, 3), np.float32), alpha=np.zeros((2, 2), np.float32))
    deep = ImageData(np.zeros((2, 2, 3), np.float32), bit_depth=16)
    assert output_extension("a.JPEG", rgb) == ".jpg" and output_extension("a.tiff", deep) == ".tif"
    assert output_extension("a.jpg", alpha) == ".png" and output_extension("a.webp", alpha) == ".webp"
    assert output_extension("a.webp", deep) == ".png" and output_extension("a.bmp", rgb) == ".bmp"
    assert output_extension("a.png", alpha, "jpg") == ".jpg"
    with pytest.raises(ValueError, match="unknown output format 'gif'"):
        output_extension("a.png", rgb, "gif")


def test_keeps_16_bit_gray_and_alpha(tmp_path: Path, upscaler: Upscaler) -> None:
    cv2.imwrite(str(tmp_path / "deep.png"), (photo().astype(np.uint16) * 257)[..., ::-1].copy())
    cv2.imwrite(str(tmp_path / "gray.png"), photo()[..., 0])
    ramp = np.tile(np.linspace(0, 255, 32), (24, 1)).astype(np.uint8)
    Image.fromarray(np.dstack([photo(), ramp]), "RGBA").save(tmp_path / "alpha.jpgsource.webp", lossless=True)
    deep = upscale_file(tmp_path / "deep.png", tmp_path / "out" / "deep.png", upscaler)
    assert (deep.width, deep.height, deep.skipped) == (64, 48, False)
    written = cv2.imread(str(deep.target), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == (48, 64, 3)
    gray = upscale_file(tmp_path / "gray.png", tmp_path / "out" / "gray", upscaler, ext="auto", outscale=1.5)
    assert gray.target.name == "gray.png" and cv2.imread(str(gray.target), cv2.IMREAD_UNCHANGED).shape == (36, 48)
    # The stem keeps its dots: the extension is appended, not substituted.
    alpha = upscale_file(tmp_path / "alpha.jpgsource.webp", tmp_path / "out" / "alpha.v2", upscaler, ext="auto")
    assert alpha.target.name == "alpha.v2.webp"
    planes = np.asarray(Image.open(alpha.target))
    assert planes.shape == (48, 64, 4) and planes[:, :4, 3].mean() < 80 and planes[:, -4:, 3].mean() > 175


def test_inputs_are_never_written_over(tmp_path: Path, upscaler: Upscaler) -> None:
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), photo())
    other = tmp_path / "b.png"
    cv2.imwrite(str(other), photo())
    before = src.read_bytes(), other.read_bytes()
    with pytest.raises(OverwritesInputError, match="would overwrite an input") as info:
        upscale_file(src, tmp_path / "a", upscaler, ext="png")
    assert info.value.source == src and info.value.target == src
    with pytest.raises(OverwritesInputError):
        upscale_file(src, other, upscaler, inputs={other.resolve()})
    assert (src.read_bytes(), other.read_bytes()) == before


def test_existing_outputs_size_limit_and_messages(tmp_path: Path, upscaler: Upscaler) -> None:
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), photo())
    out = tmp_path / "o.png"
    out.write_bytes(b"old")
    assert upscale_file(src, out, upscaler, existing="skip").skipped and out.read_bytes() == b"old"
    with pytest.raises(FileExistsError, match="already exists"):
        upscale_file(src, out, upscaler, existing="error")
    assert upscale_file(src, out, upscaler).width == 64 and read_image(out).width == 64
    with pytest.raises(InputTooLargeError, match=r"a\.png: 0\.0 MP is above max_pixels 100") as info:
        upscale_file(src, tmp_path / "p.png", upscaler, max_pixels=100)
    assert (info.value.pixels, info.value.limit) == (24 * 32, 100) and "--" not in str(info.value)
    assert not (tmp_path / "p.png").exists()


def test_prepare_and_finish_are_upscale_file_in_two_halves(tmp_path: Path, upscaler: Upscaler) -> None:
    from esrgan.image import encode_image
    from esrgan.inference.files import PreparedFile, UpscaledFile, finish_file, prepare_file, upscale_image_data

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), photo()[:, :, ::-1])
    whole = upscale_file(src, tmp_path / "whole" / "out", upscaler, ext="auto")
    prepared = prepare_file(src, tmp_path / "apart" / "out", ext="auto")
    assert isinstance(prepared, PreparedFile) and prepared.target == tmp_path / "apart" / "out.png"
    result = upscale_image_data(upscaler, prepared.image)
    data = encode_image(prepared.target, result)
    done = finish_file(prepared.source, prepared.target, data, result.width, result.height)
    assert (done.width, done.height) == (whole.width, whole.height) == (64, 48)
    assert done.target.read_bytes() == whole.target.read_bytes()
    skipped = prepare_file(src, tmp_path / "apart" / "out", ext="auto", existing="skip")
    assert skipped == UpscaledFile(src, tmp_path / "apart" / "out.png", skipped=True)
