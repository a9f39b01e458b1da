"""PSNR and SSIM computed the way SR papers report them (BasicSR's protocol).

Protocol: both images on the [0, 255] scale in float64; by default the Y channel of BT.601 YCbCr
(``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for 8-bit R, G, B, not rounded); ``crop_border`` pixels
(normally the scale) removed from every edge; PSNR with peak 255; SSIM with an 11x11 Gaussian window
(sigma 1.5), K1 = 0.01, K2 = 0.03, "valid" filtering (no padding), averaged over the map (and over channels in
RGB mode). A single-channel image is used as Y directly.

Inputs are numpy images (H, W) or (H, W, C) RGB -- uint8 ([0, 255]), uint16 ([0, 65535]) or float ([0, 1]) -- or
float torch tensors (C, H, W) / (1, C, H, W) RGB in [0, 1]. A float SR output is *not* rounded here: round it to
uint8 first to score what a saved PNG would score (``esrgan test`` does).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from esrgan.errors import InputError, OptionsError

__all__ = ["calculate_psnr", "calculate_ssim", "gaussian_window", "rgb_to_y", "to_float255"]

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)


def to_float255(img: Any) -> np.ndarray:
    """Any supported image as float64 (H, W, C) on the [0, 255] scale (C = 1 for gray).

    Raises:
        ValueError: unsupported shape or dtype.
    """
    if not isinstance(img, np.ndarray):  # a torch tensor: (C, H, W) or (1, C, H, W) float in [0, 1]
        import torch

        t = img.detach()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"expected one image, got a batch of shape {tuple(t.shape)}")
            t = t[0]
        if t.ndim != 3 or not t.is_floating_point():
            raise ValueError(f"expected a float tensor (C, H, W), got {t.dtype} {tuple(t.shape)}")
        return t.to("cpu", dtype=torch.float64).permute(1, 2, 0).numpy() * 255.0
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"expected an image (H, W), (H, W, 1) or (H, W, 3), got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if img.dtype == np.uint16:
        return img.astype(np.float64) * (255.0 / 65535.0)
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float64) * 255.0
    raise ValueError(f"unsupported image dtype {img.dtype} (use uint8, uint16 or float in [0, 1])")


def rgb_to_y(img: Any) -> np.ndarray:
    """BT.601 luma Y of an RGB image, float64 (H, W) on the [0, 255] scale ([16, 235] for full-range RGB).

    Args:
        img: RGB image (see module docstring for types). A single-channel image is returned unchanged (gray is
            used as Y directly, as the benchmark scripts do for Set14's ``bridge``).
    """
    return _luma255(to_float255(img))


def _luma255(x: np.ndarray) -> np.ndarray:
    if x.shape[2] == 1:
        return x[:, :, 0]
    return 16.0 + (x @ _Y_WEIGHTS) / 255.0


def _prepare(img: Any, ref: Any, crop_border: int, test_y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_float255(img), to_float255(ref)
    if a.shape != b.shape:
        raise ValueError(
            f"image is {'x'.join(map(str, a.shape))} (HxWxC) but the reference is {'x'.join(map(str, b.shape))}"
        )
    h, w = b.shape[:2]
    if crop_border < 0 or 2 * crop_border >= min(h, w):
        raise OptionsError(f"crop_border must be in [0, {(min(h, w) - 1) // 2}] for a {h}x{w} image, got {crop_border}")
    if test_y_channel:
        a, b = _luma255(a)[:, :, None], _luma255(b)[:, :, None]
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    return a, b


def calculate_psnr(img: Any, ref: Any, crop_border: int, test_y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB (peak 255); ``inf`` for identical images.

    Args:
        img: test image (e.g. the SR output).
        ref: ground truth, same shape.
        crop_border: pixels removed from each edge before scoring (the scale factor in SR papers).
        test_y_channel: score the BT.601 Y channel (papers) instead of all RGB channels.
    """
    a, b = _prepare(img, ref, crop_border, test_y_channel)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian (size,), float64: the separable factor of SSIM's window."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation of (H, W) with g x g, "valid" part only (output H-n+1, W-n+1)."""
    n = g.size
    rows = np.zeros((x.shape[0] - n + 1, x.shape[1]))
    for k in range(n):
        rows += g[k] * x[k : x.shape[0] - n + 1 + k, :]
    out = np.zeros((rows.shape[0], x.shape[1] - n + 1))
    for k in range(n):
        out += g[k] * rows[:, k : x.shape[1] - n + 1 + k]
    return out


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    g = gaussian_window(11, 1.5)
    if min(a.shape) < g.size:
        raise InputError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[0]}x{a.shape[1]}")
    mu1, mu2 = _filter_valid(a, g), _filter_valid(b, g)
    s11 = _filter_valid(a * a, g) - mu1 * mu1
    s22 = _filter_valid(b * b, g) - mu2 * mu2
    s12 = _filter_valid(a * b, g) - mu1 * mu2
    num = (2 * mu1 * mu2 + c1) * (2 * s12 + c2)
    den = (mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2)
    return float(np.mean(num / den))


def calculate_ssim(img: Any, ref: Any, crop_border: int, test_y_channel: bool = True) -> float:
    """Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5, data range 255.

    Arguments as :func:`calculate_psnr`. In RGB mode the SSIM of each channel is averaged.
    """
    a, b = _prepare(img, ref, crop_border, test_y_channel)
    return float(np.mean([_ssim_channel(a[:, :, c], b[:, :, c]) for c in range(a.shape[2])]))
