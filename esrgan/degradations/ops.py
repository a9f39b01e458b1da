"""The degradation steps: blur, resize, noise and JPEG, each with a random version that records its draws.

Images are (H, W, 3) float32 RGB arrays in [0, 1] (the datasets' layout); every function returns a new array.
Random versions take a ``numpy.random.Generator`` and return ``(image, record)``, the record holding what was
drawn (JSON-able values).

Conventions follow Real-ESRGAN / BasicSR (facts, re-implemented):

- blur is a correlation with the kernel, the image extended by mirroring without repeating the edge pixel
  (OpenCV's BORDER_REFLECT_101, what ``F.pad(mode="reflect")`` gives);
- resizes are ``torch.nn.functional.interpolate`` in mode area, bilinear or bicubic (align_corners False, no
  antialiasing): Real-ESRGAN's resampling, aliasing included;
- Gaussian noise has its sigma on the 0-255 scale; gray noise is one noise plane added to all three channels;
- Poisson noise counts ``2^ceil(log2(number of distinct 8-bit values))`` photon levels, as scikit-image does,
  and is scaled by ``scale``; gray Poisson noise is drawn on the luma (0.2989 R + 0.587 G + 0.114 B);
- JPEG is OpenCV's codec (libjpeg: baseline, 4:2:0 chroma subsampling) at an integer quality, on the image
  rounded to 8 bits (Real-ESRGAN's DiffJPEG simulates the same codec on the GPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "filter2d",
    "gaussian_noise",
    "jpeg",
    "poisson_noise",
    "random_jpeg",
    "random_noise",
    "random_resize",
    "resize",
]

_LUMA = np.array([0.2989, 0.587, 0.114], dtype=np.float32)  # torchvision's rgb_to_grayscale, as BasicSR uses


def filter2d(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate each channel with ``kernel`` (odd square), mirrored borders (BORDER_REFLECT_101)."""
    return cv2.filter2D(img, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


def resize(img: np.ndarray, size: tuple[int, int] | None = None, *, scale: float = 1.0, mode: str) -> np.ndarray:
    """Resize to ``size`` = (height, width), or by ``scale`` (output side floor(side * scale)), with
    ``F.interpolate`` in ``mode`` (area, bilinear, bicubic; no clamping: bicubic may overshoot [0, 1])."""
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].contiguous()  # NCHW: 3-4x faster here
    if size is not None:
        out = F.interpolate(t, size=size, mode=mode)
    else:
        out = F.interpolate(t, scale_factor=scale, mode=mode)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy())


def random_resize(
    img: np.ndarray,
    rng: np.random.Generator,
    probs: Sequence[float],
    scale_range: Sequence[float],
    modes: Sequence[str],
    size_of: tuple[float, float] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Resize up, down or keep (weights ``probs``) by a factor from ``[1, high]`` or ``[low, 1]``.

    ``size_of`` None: the factor scales the image itself (Real-ESRGAN's first order); otherwise the output is
    ``(int(size_of[0] * factor), int(size_of[1] * factor))`` (its second order: a factor of the LR size).
    """
    weights = np.asarray(probs, dtype=np.float64)
    direction = ("up", "down", "keep")[int(rng.choice(3, p=weights / weights.sum()))]
    factor = 1.0
    if direction == "up":
        factor = float(rng.uniform(1.0, scale_range[1]))
    elif direction == "down":
        factor = float(rng.uniform(scale_range[0], 1.0))
    mode = str(modes[int(rng.integers(len(modes)))])
    if size_of is None:
        h, w = img.shape[:2]
        if int(h * factor) < 1 or int(w * factor) < 1:  # a tiny image: keep at least one pixel
            out = resize(img, (max(1, int(h * factor)), max(1, int(w * factor))), mode=mode)
        else:
            out = resize(img, scale=factor, mode=mode)
    else:
        out = resize(img, (max(1, int(size_of[0] * factor)), max(1, int(size_of[1] * factor))), mode=mode)
    return out, {"direction": direction, "factor": factor, "mode": mode, "size": list(out.shape[:2])}


def gaussian_noise(img: np.ndarray, rng: np.random.Generator, sigma: float, gray: bool) -> np.ndarray:
    """Add N(0, (sigma / 255)^2) noise, one plane for all channels when ``gray``; clipped to [0, 1]."""
    h, w, c = img.shape
    noise = rng.standard_normal((h, w, 1) if gray else (h, w, c), dtype=np.float32) * np.float32(sigma / 255.0)
    return np.clip(img + noise, 0.0, 1.0)


def _poisson(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shot noise of ``img`` (any channels) quantised to 8 bits: the (noisy - clean) difference."""
    q8 = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    levels = 2.0 ** np.ceil(np.log2(np.count_nonzero(np.bincount(q8.ravel(), minlength=256))))
    q = q8.astype(np.float32) / np.float32(255.0)
    return (rng.poisson(q * levels) / levels - q).astype(np.float32)


def poisson_noise(img: np.ndarray, rng: np.random.Generator, scale: float, gray: bool) -> np.ndarray:
    """Add ``scale`` times Poisson (shot) noise, of the luma when ``gray``; clipped to [0, 1]."""
    noise = _poisson(img @ _LUMA, rng)[:, :, None] if gray else _poisson(img, rng)
    return np.clip(img + np.float32(scale) * noise, 0.0, 1.0)


def random_noise(
    img: np.ndarray,
    rng: np.random.Generator,
    gaussian_prob: float,
    sigma_range: Sequence[float],
    poisson_scale_range: Sequence[float],
    gray_prob: float,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Gaussian noise with ``gaussian_prob``, Poisson otherwise; gray with ``gray_prob``."""
    if rng.random() < gaussian_prob:
        sigma = float(rng.uniform(sigma_range[0], sigma_range[1]))
        gray = bool(rng.random() < gray_prob)
        return gaussian_noise(img, rng, sigma, gray), {"kind": "gaussian", "sigma": sigma, "gray": gray}
    scale = float(rng.uniform(poisson_scale_range[0], poisson_scale_range[1]))
    gray = bool(rng.random() < gray_prob)
    return poisson_noise(img, rng, scale, gray), {"kind": "poisson", "scale": scale, "gray": gray}


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode with OpenCV's JPEG codec at ``quality`` (1-100), the image clamped and rounded first."""
    u8 = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(u8[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode a {img.shape} image")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError(f"OpenCV could not decode its own JPEG of a {img.shape} image")
    return np.asarray(decoded[:, :, ::-1], dtype=np.float32) / 255.0


def random_jpeg(
    img: np.ndarray, rng: np.random.Generator, quality_range: Sequence[int]
) -> tuple[np.ndarray, dict[str, Any]]:
    """JPEG at an integer quality drawn uniformly from ``quality_range`` (both ends included)."""
    quality = int(rng.integers(quality_range[0], quality_range[1] + 1))
    return jpeg(img, quality), {"quality": quality}
