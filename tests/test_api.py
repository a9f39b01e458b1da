"""``esrgan.upscale``: arrays and files in, the input's dtype and layout out, one clear error otherwise."""

from __future__ import annotations

import doctest
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

import esrgan
import esrgan.api
from esrgan.archs import SRVGGNetCompact
from esrgan.cli import main
from esrgan.models import save_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny_x2.pth"
    save_model(SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2), path)
    return path


def photo(h: int = 12, w: int = 16) -> np.ndarray:
    return skimage.data.coffee()[100 : 100 + h, 200 : 200 + w]


def test_the_docstring_example_runs() -> None:
    """The module's example is a doctest, run here (a model download is never needed: the model is built in)."""
    result = doctest.testmod(esrgan.api)
    assert result.attempted >= 4 and result.failed == 0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("channels", [0, 1, 2, 3, 4])
def test_dtype_and_layout_come_back(tiny_model: Path, dtype: type, channels: int) -> None:
    rgb = photo().astype(np.float64) / 255
    planes = {0: rgb[:, :, 0], 1: rgb[:, :, :1], 2: np.dstack([rgb[:, :, 0], np.full((12, 16), 0.5)]), 3: rgb}
    planes[4] = np.dstack([rgb, np.full((12, 16), 0.5)])
    unit = planes[channels]
    scale = {np.uint8: 255, np.uint16: 65535}.get(dtype, 1)
    image = (unit * scale + (0.5 if scale > 1 else 0)).astype(dtype)
    out = esrgan.upscale(image, str(tiny_model), alpha="bicubic", tile=0)
    assert out.dtype == image.dtype and out.shape == (24, 32, *image.shape[2:])
    if channels in (2, 4):  # a constant alpha resized with bicubic stays what it was
        np.testing.assert_allclose(out[:, :, -1].astype(np.float64) / scale, 0.5, atol=1 / 255)


def test_same_pixels_as_the_command(tiny_model: Path, tmp_path: Path) -> None:
    """The function runs the command's per-image pipeline: the same photo gives the same pixels."""
    rgb = photo(20, 28)
    cv2.imwrite(str(tmp_path / "a.png"), np.ascontiguousarray(rgb[:, :, ::-1]))
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "cli.png"), "-m", str(tiny_model), "-q"]) == 0
    from_cli = cv2.imread(str(tmp_path / "cli.png"))[:, :, ::-1]
    np.testing.assert_array_equal(esrgan.upscale(rgb, str(tiny_model)), from_cli)
    np.testing.assert_array_equal(esrgan.upscale(tmp_path / "a.png", str(tiny_model)), from_cli)


def test_files_come_back_as_they_are_stored(tiny_model: Path, tmp_path: Path) -> None:
    gray16 = (photo()[:, :, 0].astype(np.uint16) * 257).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), gray16)
    out = esrgan.upscale(str(tmp_path / "g.png"), tiny_model)
    assert out.dtype == np.uint16 and out.shape == (24, 32)


def test_the_engine_is_built_once_per_model_and_settings(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import esrgan.models

    loads: list[str] = []
    real = esrgan.models.load_model
    monkeypatch.setattr(esrgan.models, "load_model", lambda spec, *a, **k: loads.append(str(spec)) or real(spec))
    esrgan.api._cached_engine.cache_clear()
    for _ in range(3):
        esrgan.upscale(photo(), str(tiny_model), tile=0)
    esrgan.upscale(photo(), str(tiny_model), tile=8)  # other settings: another engine
    assert loads == [str(tiny_model)] * 2
    up = esrgan.api._cached_engine(str(tiny_model), esrgan.api._options({"tile": 0}))
    np.testing.assert_array_equal(esrgan.upscale(photo(), up), esrgan.upscale(photo(), str(tiny_model), tile=0))
    net = SRVGGNetCompact(num_feat=4, num_conv=1, upscale=3)
    assert esrgan.upscale(photo(), net).shape == (36, 48, 3)  # a loaded network works too


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8, 3), np.int32), "dtype int32 is not supported: use uint8, uint16, or float32/float64"),
        (np.zeros((8, 8, 3), np.float16), "dtype float16 is not supported"),
        (np.zeros((8, 8, 3), bool), "dtype bool is not supported"),
        (np.zeros((8, 8, 5), np.uint8), r"shape \(8, 8, 5\) is not an image: use \(H, W\) gray"),
        (np.zeros((3, 8, 8, 3), np.uint8), r"shape \(3, 8, 8, 3\) is not an image"),
        (np.zeros(8, np.uint8), r"shape \(8,\) is not an image"),
        (np.zeros((0, 8, 3), np.uint8), r"shape \(0, 8, 3\) is not an image"),
        (np.full((8, 8, 3), np.nan, np.float32), "NaN or infinite"),
        ([[0, 1], [1, 0]], "must be a numpy array or a file path, not list"),
    ],
)
def test_wrong_inputs_raise_one_clear_error(tiny_model: Path, image: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        esrgan.upscale(image, str(tiny_model))  # type: ignore[arg-type]


def test_wrong_options_raise_one_clear_error(tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="unknown engine option 'tiles': did you mean 'tile'"):
        esrgan.upscale(photo(), str(tiny_model), tiles=0)
    up = esrgan.api._cached_engine(str(tiny_model), esrgan.api._options({}))
    with pytest.raises(ValueError, match="cannot change an Upscaler"):
        esrgan.upscale(photo(), up, tile=0)
    with pytest.raises(ValueError, match="unknown model 'realesrgan-x5plus'"):
        esrgan.upscale(photo(), "realesrgan-x5plus")


def test_import_esrgan_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, esrgan; assert 'torch' not in sys.modules and 'numpy' not in sys.modules; esrgan.upscale"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
