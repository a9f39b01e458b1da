"""The protocol image by image: pairing, loading at 8 bits, LR images, the SR functions and scoring."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from esrgan.errors import NotFoundError
from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not Test*: pytest would collect them
from esrgan.evaluation import (
    bicubic_sr,
    engine_sr,
    list_pairs,
    load_pair,
    load_uint8,
    luma_u8,
    score_image,
)
from esrgan.image import bicubic_degrade, imresize, mod_crop
from esrgan.metrics import calculate_psnr, calculate_ssim


def _write(path: Path, img: np.ndarray) -> Path:
    """Write RGB (or gray) with OpenCV (which wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img[:, :, ::-1] if img.ndim == 3 else img)
    return path


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    """(63, 58, 3) uint8 RGB: sizes that are not multiples of 2, 3 or 4."""
    return np.ascontiguousarray(skimage.data.coffee()[100:163, 200:258])


def test_pairs_by_stem_and_div2k_names(tmp_path: Path, coffee: np.ndarray) -> None:
    for stem in ("a", "b"):
        _write(tmp_path / "HR" / f"{stem}.png", coffee)
    _write(tmp_path / "LR" / "a.png", bicubic_degrade(coffee, 2))
    _write(tmp_path / "LR" / "bx2.png", bicubic_degrade(coffee, 2))
    ds = DatasetOptions("t", tmp_path / "HR", tmp_path / "LR")
    assert list_pairs(ds, 2) == [
        ("a", tmp_path / "HR" / "a.png", tmp_path / "LR" / "a.png"),
        ("b", tmp_path / "HR" / "b.png", tmp_path / "LR" / "bx2.png"),
    ]
    assert list_pairs(DatasetOptions("t", tmp_path / "HR"), 2)[1] == ("b", tmp_path / "HR" / "b.png", None)


def test_pairing_errors_name_the_set_and_the_file(tmp_path: Path, coffee: np.ndarray) -> None:
    _write(tmp_path / "HR" / "a.png", coffee)
    _write(tmp_path / "LR" / "a.png", coffee)
    _write(tmp_path / "LR" / "stray.png", coffee)
    with pytest.raises(ValueError, match=r"stray\.png has no HR image .*\(1 unpaired LR files\)"):
        list_pairs(DatasetOptions("t", tmp_path / "HR", tmp_path / "LR"), 2)
    with pytest.raises(NotFoundError, match="t: LR folder not found"):
        list_pairs(DatasetOptions("t", tmp_path / "HR", tmp_path / "nowhere"), 2)
    with pytest.raises(NotFoundError, match="t: HR path is not a folder"):
        list_pairs(DatasetOptions("t", tmp_path / "HR" / "a.png"), 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="t: no images in"):
        list_pairs(DatasetOptions("t", tmp_path / "empty"), 2)
    _write(tmp_path / "HR" / "a.jpg", coffee)
    with pytest.raises(ValueError, match="share the stem 'a'"):
        list_pairs(DatasetOptions("t", tmp_path / "HR"), 2)


def test_load_uint8_rounds_16bit_and_drops_alpha_with_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    v16 = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 997 % 65536).astype(np.uint16)
    with caplog.at_level(logging.WARNING):
        got = load_uint8(_write(tmp_path / "a16.png", v16))
    np.testing.assert_array_equal(got, np.floor(v16 / 257 + 0.5).astype(np.uint8))
    assert "16-bit image scored at 8 bits" in caplog.text
    rgba = np.full((4, 5, 4), 7, np.uint8)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_uint8(tmp_path / "rgba.png").shape == (4, 5, 3)
    assert "alpha channel ignored" in caplog.text
    assert load_uint8(_write(tmp_path / "g.png", rgba[:, :, 0])).shape == (4, 5)  # gray stays (H, W)


def test_load_pair_makes_or_checks_the_lr_image(tmp_path: Path, coffee: np.ndarray) -> None:
    hr_path = _write(tmp_path / "hr.png", coffee)
    lr, hr = load_pair(hr_path, None, 4)
    np.testing.assert_array_equal(hr, mod_crop(coffee, 4))
    np.testing.assert_array_equal(lr, bicubic_degrade(coffee, 4))
    given, _ = load_pair(hr_path, _write(tmp_path / "lr.png", lr), 4)
    np.testing.assert_array_equal(given, lr)
    with pytest.raises(ValueError, match=r"lr_short\.png: LR is 14x14 \(WxH\); x4 gives 56x56.*is 56x60"):
        load_pair(hr_path, _write(tmp_path / "lr_short.png", lr[:-1]), 4)
    with pytest.raises(ValueError, match="smaller than the scale 64"):
        load_pair(hr_path, None, 64)


def test_lr_channels_follow_the_hr_image(tmp_path: Path, coffee: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    gray = np.ascontiguousarray(coffee[:, :, 1])
    lr_rgb = bicubic_degrade(coffee, 2)
    with caplog.at_level(logging.WARNING):
        lr, hr = load_pair(_write(tmp_path / "g.png", gray), _write(tmp_path / "lr.png", lr_rgb), 2)
    assert hr.ndim == 2 and lr.ndim == 2 and "converted to gray" in caplog.text
    np.testing.assert_array_equal(lr, luma_u8(lr_rgb))
    lr, hr = load_pair(tmp_path / "lr.png", _write(tmp_path / "lr_gray.png", bicubic_degrade(lr_rgb, 2)[:, :, 0]), 2)
    assert hr.ndim == 3 and lr.shape[2] == 3 and (lr[:, :, 0] == lr[:, :, 2]).all()


def test_luma_is_bt601_and_keeps_gray() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [90, 90, 90]]], np.uint8)
    np.testing.assert_array_equal(luma_u8(rgb), [[76, 150, 29, 90]])


def test_bicubic_sr_is_matlab_upscaling(coffee: np.ndarray) -> None:
    lr = bicubic_degrade(coffee, 3)
    np.testing.assert_array_equal(bicubic_sr(3)(lr), imresize(lr, 3.0))


def test_engine_sr_rounds_and_turns_gray_back_into_gray(coffee: np.ndarray) -> None:
    seen: list[torch.Tensor] = []

    def nearest(x: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return F.interpolate(x, scale_factor=2, mode="nearest") - 0.4 / 255  # rounds (not truncates) back

    sr = engine_sr(nearest)(coffee)
    assert sr.dtype == np.uint8 and sr.shape == (126, 116, 3)
    np.testing.assert_array_equal(sr, coffee.repeat(2, 0).repeat(2, 1))
    assert seen[0].shape == (1, 3, 63, 58) and seen[0].dtype == torch.float32
    gray = np.ascontiguousarray(coffee[:, :, 0])
    out = engine_sr(nearest)(gray)
    assert out.shape == (126, 116) and seen[1].shape[1] == 3  # three equal channels in, gray out
    np.testing.assert_array_equal(out, gray.repeat(2, 0).repeat(2, 1))


def test_score_image_scores_what_it_returns(coffee: np.ndarray) -> None:
    hr = mod_crop(coffee, 2)
    lr = bicubic_degrade(coffee, 2)
    score, sr = score_image("coffee", lr, hr, bicubic_sr(2), crop_border=2)
    assert (score.image, score.height, score.width) == ("coffee", 62, 58) and score.seconds >= 0
    assert score.psnr == calculate_psnr(sr, hr, 2) and score.ssim == calculate_ssim(sr, hr, 2)
    rgb, _ = score_image("coffee", lr, hr, bicubic_sr(2), crop_border=0, test_y_channel=False)
    assert rgb.psnr == calculate_psnr(sr, hr, 0, test_y_channel=False)
    with pytest.raises(ValueError, match=r"coffee: SR is \(93, 87, 3\) but HR is \(62, 58, 3\)"):
        score_image("coffee", lr, hr, bicubic_sr(3), crop_border=2)
