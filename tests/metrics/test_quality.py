"""PSNR / SSIM protocol: hand-computed values and scikit-image as references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from esrgan.metrics.quality import calculate_psnr, calculate_ssim, gaussian_window, rgb_to_y


def test_rgb_to_y_bt601_values() -> None:
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(rgb_to_y(img)[0], [16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=1e-12)
    # float [0, 1] and uint16 inputs are the same colours
    np.testing.assert_allclose(rgb_to_y(img.astype(np.float32) / 255), rgb_to_y(img), atol=1e-4)
    np.testing.assert_allclose(rgb_to_y(img.astype(np.uint16) * 257), rgb_to_y(img), atol=1e-9)
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(rgb_to_y(gray), gray)  # a single channel is Y already


def test_psnr_hand_computed(photo_rgb: np.ndarray) -> None:
    ref8 = np.minimum(photo_rgb[:64, :64], 250)  # so that +5 never saturates
    img = ref8 + 5
    # RGB: every value off by 5 -> MSE 25.
    assert calculate_psnr(img, ref8, 0, test_y_channel=False) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-9)
    # Y: an offset of 5 in R, G and B moves Y by 5 * 219 / 255.
    dy = 5 * 219 / 255
    assert calculate_psnr(img, ref8, 4) == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-9)
    assert calculate_psnr(ref8, ref8, 4) == math.inf


def test_psnr_matches_skimage_rgb_and_y(photo_rgb: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    ref = photo_rgb[100:200, 150:260]
    img = np.clip(ref + rng.normal(0, 8, ref.shape), 0, 255).astype(np.uint8)
    c = 4
    expected_rgb = peak_signal_noise_ratio(ref[c:-c, c:-c], img[c:-c, c:-c], data_range=255)
    assert calculate_psnr(img, ref, c, test_y_channel=False) == pytest.approx(expected_rgb, abs=1e-9)
    y = lambda a: 16 + (a.astype(np.float64) @ [65.481, 128.553, 24.966]) / 255  # noqa: E731
    expected_y = peak_signal_noise_ratio(y(ref)[c:-c, c:-c], y(img)[c:-c, c:-c], data_range=255)
    assert calculate_psnr(img, ref, c) == pytest.approx(expected_y, abs=1e-9)


def test_crop_border_ignores_the_edges(photo_rgb: np.ndarray) -> None:
    ref = photo_rgb[:40, :40].copy()
    img = ref.copy()
    img[:3] = 0
    img[:, -3:] = 255
    assert calculate_psnr(img, ref, 3) == math.inf
    assert calculate_psnr(img, ref, 2) < 40
    assert calculate_ssim(img, ref, 3) == pytest.approx(1.0, abs=1e-12)


def test_gaussian_window() -> None:
    g = gaussian_window(11, 1.5)
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0) and g.argmax() == 5
    assert g[4] / g[5] == pytest.approx(math.exp(-1 / (2 * 1.5**2)))


def test_ssim_matches_skimage(photo_rgb: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    ref = photo_rgb[200:290, 100:197]
    img = np.clip(ref + rng.normal(0, 12, ref.shape), 0, 255).astype(np.uint8)
    c = 3
    kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
    y = lambda a: 16 + (a.astype(np.float64) @ [65.481, 128.553, 24.966]) / 255  # noqa: E731
    expected_y = structural_similarity(y(ref)[c:-c, c:-c], y(img)[c:-c, c:-c], **kw)
    assert calculate_ssim(img, ref, c) == pytest.approx(expected_y, abs=1e-10)
    expected_rgb = structural_similarity(
        ref[c:-c, c:-c].astype(np.float64), img[c:-c, c:-c].astype(np.float64), channel_axis=2, **kw
    )
    assert calculate_ssim(img, ref, c, test_y_channel=False) == pytest.approx(expected_rgb, abs=1e-10)
    assert 0.2 < expected_y < 0.95  # a non-trivial value
    assert calculate_ssim(ref, ref, c) == pytest.approx(1.0, abs=1e-12)


def test_ssim_constant_shift_hand_computed() -> None:
    # Two constant images a and b: sigma terms vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = np.full((20, 20), 100, np.uint8), np.full((20, 20), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert calculate_ssim(a, b, 0) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), abs=1e-12)


def test_gray_is_used_directly_and_torch_equals_numpy(photo_rgb: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    gray = photo_rgb[:50, :50, 1]
    noisy = np.clip(gray + rng.normal(0, 5, gray.shape), 0, 255).astype(np.uint8)
    mse = np.mean((noisy[2:-2, 2:-2].astype(np.float64) - gray[2:-2, 2:-2]) ** 2)
    assert calculate_psnr(noisy, gray, 2) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)
    assert calculate_psnr(noisy[:, :, None], gray, 2) == calculate_psnr(noisy, gray, 2)
    rgb = photo_rgb[:50, :50]
    t = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    assert calculate_psnr(t, photo_rgb[1:51, :50], 4) == pytest.approx(
        calculate_psnr(rgb, photo_rgb[1:51, :50], 4), abs=1e-4
    )


def test_errors() -> None:
    a = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="reference"):
        calculate_psnr(a, np.zeros((20, 21, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="reference"):
        calculate_psnr(a, np.zeros((20, 20), np.uint8), 0)
    with pytest.raises(ValueError, match="crop_border"):
        calculate_psnr(a, a, 10)
    with pytest.raises(ValueError, match="11x11"):
        calculate_ssim(a, a, 5)
    with pytest.raises(ValueError, match="dtype"):
        calculate_psnr(a.astype(np.int32), a, 0)
