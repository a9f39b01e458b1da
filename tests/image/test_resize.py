"""MATLAB-compatible bicubic: checked against weights derived by hand and an independent dense reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from esrgan.image.resize import (
    bicubic_degrade,
    contributions,
    cubic,
    imresize,
    matlab_output_size,
    mod_crop,
    output_size,
    resize,
)

# Keys' kernel (a = -0.5) at the quarter-pixel distances, in 256ths: 222, 58, -18, -6 at 0.25, 0.75, 1.25, 1.75.
K025, K075, K125, K175 = 222 / 256, 58 / 256, -18 / 256, -6 / 256


def test_cubic_kernel_values() -> None:
    x = np.array([0.0, 0.25, 0.75, 1.0, 1.25, 1.75, 2.0, 2.5, -0.25, -1.25])
    expected = [1.0, K025, K075, 0.0, K125, K175, 0.0, 0.0, K025, K125]
    np.testing.assert_array_equal(cubic(x), expected)


def test_contributions_x2_downscale_interior_weights() -> None:
    # Antialiased x1/2: the kernel stretched by 2, taps at distances +-0.5, +-1.5, ... +-3.5 input pixels.
    w, idx = contributions(20, 10, 0.5)
    interior = np.array([K175, K125, K075, K025, K025, K075, K125, K175]) / 2
    row = 4  # output pixel 5 (1-based): u = 5 / 0.5 + 0.5 * (1 - 2) = 9.5 -> inputs 6..13 (1-based)
    nz = w[row] != 0
    np.testing.assert_allclose(w[row][nz], interior, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(idx[row][nz], np.arange(5, 13))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-15)


def test_contributions_x2_upscale_weights_and_symmetric_padding() -> None:
    w, idx = contributions(5, 10, 2.0)
    # Output pixel 1 (1-based): u = 0.75; taps at inputs -1, 0, 1, 2 (distances 1.75, 0.75, -0.25, -1.25).
    # Symmetric padding repeats the edge: input 0 is input 1 and input -1 is input 2 (0-based: 0 and 1).
    taps = dict.fromkeys(range(5), 0.0)
    for weight, i in zip(w[0], idx[0], strict=True):
        taps[int(i)] += weight
    np.testing.assert_allclose([taps[0], taps[1], taps[2]], [K075 + K025, K175 + K125, 0.0], atol=1e-15)
    assert idx.min() >= 0 and idx.max() <= 4


def test_output_size_is_matlab_ceil() -> None:
    assert matlab_output_size((10, 7), 0.5) == (5, 4)
    assert matlab_output_size((10, 7), 1 / 3) == (4, 3)
    assert matlab_output_size((10, 7), 2.5) == (25, 18)
    assert imresize(np.zeros((10, 7), np.uint8), 0.5).shape == (5, 4)
    assert imresize(np.zeros((10, 7, 3), np.float32), 2.5).shape == (25, 18, 3)
    assert imresize(np.zeros((10, 7, 3), np.float32), output_shape=(3, 9)).shape == (3, 9, 3)
    assert imresize(torch.zeros(2, 3, 10, 7), 1 / 3).shape == (2, 3, 4, 3)


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2, 3, 4])
def test_constant_image_stays_constant(scale: float) -> None:
    img = np.full((13, 17, 3), 117, np.uint8)
    assert (imresize(img, scale) == 117).all()
    np.testing.assert_allclose(imresize(img.astype(np.float64) / 255, scale), 117 / 255, atol=1e-12)


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0, 3.0])
def test_linear_ramp_is_reproduced_in_the_interior(scale: float) -> None:
    # Keys' cubic reproduces linear functions, so away from the padded edges the output samples the ramp at the
    # output pixel centres, 0-based input coordinate (i + 0.5) / scale - 0.5.
    n = 64
    ramp = np.tile(np.arange(n, dtype=np.float64) * 2.0 + 3.0, (5, 1))
    out = imresize(ramp, output_shape=(5, round(n * scale)))
    coords = (np.arange(out.shape[1]) + 0.5) / scale - 0.5
    reach = 2 / scale if scale < 1 else 2
    interior = (coords > reach + 1) & (coords < n - reach - 2)
    assert interior.sum() > 5
    np.testing.assert_allclose(out[2, interior], coords[interior] * 2 + 3, atol=1e-10)


def test_flip_symmetry(photo_rgb: np.ndarray) -> None:
    img = photo_rgb[:60, :48]  # divisible by 2, 3, 4: output pixel centres are symmetric too
    for scale in (0.25, 1 / 3, 0.5, 2):
        out = imresize(img, scale)
        np.testing.assert_array_equal(imresize(img[::-1, ::-1], scale), out[::-1, ::-1])


def test_round_trip_of_a_smooth_image_is_close() -> None:
    y, x = np.mgrid[0:96, 0:96] / 96.0
    img = 0.5 + 0.25 * np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y)
    back = imresize(imresize(img, 0.5), 2)
    err = np.sqrt(np.mean((back - img)[8:-8, 8:-8] ** 2))
    assert err < 2e-3


def _reference_matrix(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """Dense resize matrix written directly from the definition (independent of ``contributions``)."""

    def keys(t: float) -> float:
        t = abs(t)
        if t <= 1:
            return 1.5 * t**3 - 2.5 * t**2 + 1
        if t <= 2:
            return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
        return 0.0

    def mirror(j: int) -> int:  # symmetric padding, 0-based: -1 -> 0, -2 -> 1, n -> n - 1
        while j < 0 or j >= n_in:
            j = -j - 1 if j < 0 else 2 * n_in - 1 - j
        return j

    stretch = min(scale, 1.0)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 0.5) / scale - 0.5  # 0-based input coordinate of output pixel i
        for j in range(math.floor(centre - 2 / stretch) - 1, math.ceil(centre + 2 / stretch) + 2):
            m[i, mirror(j)] += stretch * keys((centre - j) * stretch)
    return m / m.sum(axis=1, keepdims=True)


def _round(x: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(x, 0, 255) + 0.5)


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2, 3])
def test_uint8_rounds_and_saturates_after_each_pass(scale: float) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (24, 30)).astype(np.uint8)
    img[:, 15:] = 255  # a hard edge: bicubic overshoots above 255 and below 0 next to it
    img[:, :3] = 0
    h, w = matlab_output_size(img.shape, scale)
    mh, mw = _reference_matrix(24, h, scale), _reference_matrix(30, w, scale)
    expected = _round(_round(mh @ img.astype(np.float64)) @ mw.T)  # height first, rounded after each pass
    out = imresize(img, scale)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)
    # The per-pass rounding matters: rounding once at the end gives a different image.
    assert not np.array_equal(out, _round(mh @ img.astype(np.float64) @ mw.T))
    # Float images are not rounded or clipped: the overshoot survives.
    f = imresize(img.astype(np.float64), scale)
    np.testing.assert_allclose(f, mh @ img.astype(np.float64) @ mw.T, atol=1e-9)
    if scale >= 1:
        assert f.max() > 255 and f.min() < 0


def test_uint8_rounds_half_away_from_zero() -> None:
    # Upscaling x2 one 64 among zeros: each output is 64 x one weight (a multiple of 2/256), so exact halves:
    # 64 * 222/256 = 55.5 -> 56 and 64 * 58/256 = 14.5 -> 15 (round-half-even would give 56 and 14),
    # and the negative lobes 64 * -18/256 = -4.5, 64 * -6/256 = -1.5 saturate to 0.
    img = np.array([[0, 0, 0, 64, 0, 0, 0, 0]], np.uint8)
    exact = imresize(img.astype(np.float64), output_shape=(1, 16))
    # Output pixel i samples input (i + 0.5) / 2 - 0.5: pixels 3..10 lie 1.75, 1.25, 0.75, 0.25, ... from the 64.
    np.testing.assert_allclose(exact[0, 3:11], [-1.5, -4.5, 14.5, 55.5, 55.5, 14.5, -4.5, -1.5], atol=1e-12)
    out = imresize(img, output_shape=(1, 16))
    np.testing.assert_array_equal(out[0, 2:12], [0, 0, 0, 15, 56, 56, 15, 0, 0, 0])


def test_dimension_order_smaller_scale_first() -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (20, 20)).astype(np.uint8)
    mh, mw = _reference_matrix(20, 10, 0.5), _reference_matrix(20, 40, 2.0)
    width_first = _round(mh @ _round(img.astype(np.float64) @ mw.T))
    height_first = _round(_round(mh @ img.astype(np.float64)) @ mw.T)
    np.testing.assert_array_equal(imresize(img, output_shape=(10, 40)), height_first)
    mh2, mw2 = _reference_matrix(20, 40, 2.0), _reference_matrix(20, 10, 0.5)
    np.testing.assert_array_equal(
        imresize(img, output_shape=(40, 10)), _round(mh2 @ _round(img.astype(np.float64) @ mw2.T))
    )
    assert not np.array_equal(width_first, height_first)


def test_torch_matches_numpy_and_keeps_batch_device_dtype(photo_rgb: np.ndarray) -> None:
    img = photo_rgb[100:163, 200:250].astype(np.float64) / 255
    t = torch.from_numpy(img).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    for scale in (0.25, 1 / 3, 2):
        out = imresize(t, scale)
        assert out.dtype == torch.float64 and out.device == t.device and out.shape[0] == 2
        np.testing.assert_allclose(out[1].permute(1, 2, 0).numpy(), imresize(img, scale), atol=1e-12)
    out32 = imresize(t.float(), 0.5)
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32[0].permute(1, 2, 0).numpy(), imresize(img, 0.5), atol=1e-5)


def test_torch_quantize_equals_uint8_path(photo_rgb: np.ndarray) -> None:
    img = photo_rgb[:97, :83]
    t = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)
    for scale in (0.25, 1 / 3, 0.5):
        q = imresize(t, scale, quantize=True)
        np.testing.assert_array_equal((q * 255).round().byte().permute(1, 2, 0).numpy(), imresize(img, scale))


def test_torch_is_differentiable() -> None:
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    imresize(x, 0.25).sum().backward()
    assert x.grad is not None
    # Each output pixel's weights sum to 1, so the total gradient is the number of output values.
    assert x.grad.sum().item() == pytest.approx(3 * 4 * 4, rel=1e-5)


def test_mod_crop_and_bicubic_degrade(photo_rgb: np.ndarray) -> None:
    img = photo_rgb[:51, :38]
    assert mod_crop(img, 4).shape == (48, 36, 3)
    assert mod_crop(torch.zeros(1, 3, 51, 38), 3).shape == (1, 3, 51, 36)
    lr = bicubic_degrade(img, 4)
    assert lr.shape == (12, 9, 3) and lr.dtype == np.uint8
    np.testing.assert_array_equal(lr, imresize(img[:48, :36], 0.25))


def test_invalid_arguments() -> None:
    img = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(img)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(img, 0.5, output_shape=(4, 4))
    with pytest.raises(ValueError, match="positive"):
        imresize(img, -1.0)
    with pytest.raises(ValueError, match="torch"):
        imresize(img, 0.5, quantize=True)
    with pytest.raises(ValueError, match="float tensor"):
        imresize(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 0.5)


# ---- the --outscale resize


def test_outscale_output_size_rounds_to_the_nearest_pixel() -> None:
    assert output_size(10, 7, 1.5) == (15, 10)  # 10.5 -> 10 (round half to even), 15 stays
    assert output_size(10, 7, 0.01) == (1, 1)  # never empty
    assert output_size(3, 5, 4) == (12, 20)


def test_resize_same_size_is_identity_and_clamps() -> None:
    x = torch.rand(1, 3, 6, 5)
    assert resize(x, (6, 5)) is x
    up = resize(torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]]), (8, 8))
    assert float(up.min()) >= 0.0 and float(up.max()) <= 1.0  # bicubic overshoots; clamped


def test_downscale_resize_is_antialiased() -> None:
    # A 1-pixel checkerboard shrunk 2x must average to grey; without antialiasing bicubic aliases.
    board = (torch.arange(16).reshape(4, 4) % 2 + torch.arange(4).reshape(4, 1)) % 2
    x = board.float().repeat(8, 8)[None, None]
    out = resize(x, (16, 16))
    assert float((out - 0.5).abs().max()) < 0.05
