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

from esrgan.datasets.make_degraded_lr import main as make_degraded_lr
from esrgan.degradations import DegradationOptions, degraded_lr_file
from esrgan.errors import NotFoundError
from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not Test*: pytest would collect them
from esrgan.evaluation import (
    bicubic_sr,
    engine_sr,
    list_pairs,
    load_degradation,
    load_pair,
    load_uint8,
    luma_u8,
    score_image,
)
from esrgan.evaluation.protocol import SHIPPED_OPTIONS
from esrgan.image import bicubic_degrade, imresize, mod_crop
from esrgan.metrics import calculate_psnr, calculate_ssim
from esrgan.options import OptionsError, load_options


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


# ------------------------------------------------------------------------------------------- degraded LR images
def test_load_degradation_by_name_file_and_errors(tmp_path: Path) -> None:
    shipped = SHIPPED_OPTIONS / "degrade_test_x4.yml"
    by_name = load_degradation("degrade_test_x4", 5)
    assert (by_name.name, by_name.path, by_name.seed) == ("degrade_test_x4", shipped, 5)
    assert by_name.options == load_options(DegradationOptions, shipped) and by_name.options.jpeg_range2 == (30, 70)
    assert load_degradation("degrade_test_x4.yml").path == shipped and load_degradation(str(shipped)).seed == 0
    own = tmp_path / "mine.yml"
    own.write_text("jpeg_range2: [50, 60]\n")
    assert load_degradation(str(own)).options.jpeg_range2 == (50, 60)
    with pytest.raises(FileNotFoundError, match="'degrade_tst_x4' is neither a file nor a shipped block; did you mean "
                       "'degrade_test_x4'"):  # fmt: skip
        load_degradation("degrade_tst_x4")
    with pytest.raises(FileNotFoundError, match="neither a file"):
        load_degradation(str(tmp_path / "degrade_test_x4.yml"))  # a path is a path, not a name
    own.write_text("jpeg_rang2: [50, 60]\n")
    with pytest.raises(OptionsError, match=r"unknown key 'jpeg_rang2'.*jpeg_range2"):
        load_degradation(str(own))


def test_degraded_lr_is_what_make_degraded_lr_writes_bit_for_bit(tmp_path: Path, coffee: np.ndarray) -> None:
    """The LR made in memory for scoring equals the PNG the test-set maker writes, for colour and gray HR."""
    hr_dir = tmp_path / "HR"
    _write(hr_dir / "coffee.png", coffee)
    gray = skimage.data.camera()[200:261, 180:237]
    _write(hr_dir / "gray.png", gray)
    argv = [str(hr_dir), str(tmp_path / "LR"), "--options", str(SHIPPED_OPTIONS / "degrade_test_x4.yml")]
    assert make_degraded_lr([*argv, "-s", "4", "--seed", "3", "-q"]) == 0
    degradation = load_degradation("degrade_test_x4", 3)
    lr, hr = load_pair(hr_dir / "coffee.png", None, 4, degradation)
    written = cv2.imread(str(tmp_path / "LR" / "coffee.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert lr.dtype == np.uint8 and lr.shape == (15, 14, 3) and hr.shape == (60, 56, 3)
    np.testing.assert_array_equal(lr, written)
    np.testing.assert_array_equal(lr, degraded_lr_file(hr_dir / "coffee.png", degradation.options, 4, 3)[0])
    # A gray HR image: scored gray, from the LR the folder would give (RGB file -> luma).
    lr, hr = load_pair(hr_dir / "gray.png", None, 4, degradation)
    from_folder, _ = load_pair(hr_dir / "gray.png", tmp_path / "LR" / "gray.png", 4)
    assert lr.ndim == 2 and hr.shape == (60, 56)
    np.testing.assert_array_equal(lr, from_folder)
    # Another seed, other LR; bicubic without a degradation.
    other, _ = load_pair(hr_dir / "coffee.png", None, 4, load_degradation("degrade_test_x4", 4))
    assert not np.array_equal(other, written)
    np.testing.assert_array_equal(load_pair(hr_dir / "coffee.png", None, 4)[0], bicubic_degrade(coffee, 4))
