"""Degradation steps: blur borders, resize semantics, noise statistics, the JPEG codec and channel order."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from esrgan.degradations.kernels import gaussian_kernel
from esrgan.degradations.ops import (
    filter2d,
    gaussian_noise,
    jpeg,
    poisson_noise,
    random_jpeg,
    random_noise,
    random_resize,
    resize,
)


@pytest.fixture
def photo(photo_rgb: np.ndarray) -> np.ndarray:
    return photo_rgb[100:164, 200:280].astype(np.float32) / 255.0  # 64x80 crop of "astronaut"


def test_filter2d_is_basicsr_filter2d(photo: np.ndarray) -> None:
    kernel = gaussian_kernel(9, 2.0, 0.8, 0.4)
    t = torch.from_numpy(photo).permute(2, 0, 1)[:, None]
    # BasicSR: pad with F.pad(mode="reflect"), then a plain convolution (a correlation).
    expected = F.conv2d(F.pad(t, (4, 4, 4, 4), mode="reflect"), torch.from_numpy(kernel)[None, None])
    np.testing.assert_allclose(filter2d(photo, kernel), expected[:, 0].permute(1, 2, 0).numpy(), atol=2e-6)
    delta = np.zeros((7, 7), np.float32)
    delta[3, 3] = 1
    np.testing.assert_array_equal(filter2d(photo, delta), photo)
    assert filter2d(photo[:3, :3], kernel).shape == (3, 3, 3)  # kernels larger than the image


def test_resize_is_torch_interpolate(photo: np.ndarray) -> None:
    t = torch.from_numpy(photo).permute(2, 0, 1)[None]
    for mode in ("area", "bilinear", "bicubic"):
        out = resize(photo, scale=0.37, mode=mode)
        np.testing.assert_array_equal(out, F.interpolate(t, scale_factor=0.37, mode=mode)[0].permute(1, 2, 0).numpy())
        assert out.shape == (int(64 * 0.37), int(80 * 0.37), 3)
    assert resize(photo, (10, 17), mode="bicubic").shape == (10, 17, 3)
    np.testing.assert_array_equal(resize(photo, scale=1.0, mode="bicubic"), photo)


def test_random_resize_directions_and_sizes(photo: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    draws = [random_resize(photo, rng, (0.2, 0.7, 0.1), (0.15, 1.5), ("area", "bicubic"))[1] for _ in range(600)]
    counts = Counter(r["direction"] for r in draws)
    assert counts["down"] / 600 == pytest.approx(0.7, abs=0.06) and counts["up"] / 600 == pytest.approx(0.2, abs=0.05)
    assert all(0.15 <= r["factor"] <= 1.0 for r in draws if r["direction"] == "down")
    assert all(1.0 <= r["factor"] <= 1.5 for r in draws if r["direction"] == "up")
    assert all(r["factor"] == 1.0 for r in draws if r["direction"] == "keep")
    assert {r["mode"] for r in draws} == {"area", "bicubic"}
    for r in draws[:20]:
        assert r["size"] == [int(64 * r["factor"]), int(80 * r["factor"])]
    # The second order's sizes are a factor of a given (LR) size.
    out, rec = random_resize(photo, rng, (0, 1, 0), (0.5, 1.2), ("bilinear",), size_of=(16.0, 20.0))
    assert out.shape[:2] == (int(16 * rec["factor"]), int(20 * rec["factor"]))
    tiny, rec = random_resize(photo[:2, :2], rng, (0, 1, 0), (0.15, 0.2), ("area",))
    assert tiny.shape == (1, 1, 3)


def test_gaussian_noise_level_and_gray() -> None:
    flat = np.full((128, 128, 3), 0.5, np.float32)
    rng = np.random.default_rng(1)
    noisy = gaussian_noise(flat, rng, 10.0, gray=False)
    assert (noisy - flat).std() * 255 == pytest.approx(10.0, rel=0.03)
    assert not np.array_equal(noisy[..., 0], noisy[..., 1])
    gray = gaussian_noise(flat, rng, 10.0, gray=True)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    assert gaussian_noise(np.ones((8, 8, 3), np.float32), rng, 30.0, False).max() <= 1.0  # clipped


def test_poisson_noise_levels_and_gray(photo: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    # One distinct value v -> 1 photon level: noise = (Poisson(v) - v) * scale, variance v * scale^2.
    flat = np.full((200, 200, 3), 128 / 255, np.float32)
    noise = poisson_noise(flat, rng, 0.1, gray=False) - flat
    assert noise.var() == pytest.approx((128 / 255) * 0.1**2, rel=0.05)
    out = poisson_noise(photo, rng, 1.0, gray=True)
    unclipped = ((out > 0) & (out < 1)).all(-1)
    gray = out - photo
    assert unclipped.mean() > 0.9
    np.testing.assert_allclose(gray[..., 0][unclipped], gray[..., 2][unclipped], atol=1e-6)
    colour = poisson_noise(photo, rng, 1.0, gray=False) - photo
    assert abs(float(colour.mean())) < 0.01 and colour.std() > 0.01


def test_random_noise_choice_and_record() -> None:
    flat = np.full((16, 16, 3), 0.5, np.float32)
    rng = np.random.default_rng(3)
    records = [random_noise(flat, rng, 0.5, (1, 30), (0.05, 3), 0.4)[1] for _ in range(400)]
    kinds = Counter(r["kind"] for r in records)
    assert kinds["gaussian"] / 400 == pytest.approx(0.5, abs=0.08)
    assert sum(r["gray"] for r in records) / 400 == pytest.approx(0.4, abs=0.08)
    assert all(1 <= r["sigma"] <= 30 for r in records if r["kind"] == "gaussian")
    assert all(0.05 <= r["scale"] <= 3 for r in records if r["kind"] == "poisson")


def test_jpeg_is_opencv_in_rgb_order(photo: np.ndarray) -> None:
    u8 = np.round(photo * 255).astype(np.uint8)
    _, buf = cv2.imencode(".jpg", np.ascontiguousarray(u8[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 40])
    expected = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / 255
    np.testing.assert_array_equal(jpeg(photo, 40), expected)
    errors = [np.abs(jpeg(photo, q) - photo).mean() for q in (20, 50, 95)]
    assert errors[0] > errors[1] > errors[2] > 0
    red = np.zeros((32, 32, 3), np.float32)
    red[..., 0] = 0.9
    out = jpeg(red, 50)
    assert out[..., 0].mean() > 0.8 and out[..., 2].mean() < 0.1  # red stays red (RGB <-> BGR handled)
    assert jpeg(np.full((8, 8, 3), 1.5, np.float32), 90).max() <= 1.0  # clamped before encoding


def test_random_jpeg_integer_qualities(photo: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    qualities = {random_jpeg(photo[:8, :8], rng, (30, 32))[1]["quality"] for _ in range(60)}
    assert qualities == {30, 31, 32}
    assert random_jpeg(photo, rng, (55, 55))[1] == {"quality": 55}
