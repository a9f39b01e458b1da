"""Sample types and layouts: stored integer samples <-> float [0, 1], numpy (H, W, C) <-> torch (1, C, H, W).

Inside the package images are float RGB in [0, 1]; these are the conversions at its edges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from esrgan.errors import InputError

if TYPE_CHECKING:  # imported where a tensor is made: the image package itself costs no torch
    import torch

__all__ = ["from_tensor", "to_float", "to_tensor", "to_uint8", "to_unit"]


def to_unit(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer or float samples -> float32 in [0, 1] (float clipped), plus the bit depth they came in (8, 16, 32).

    Raises:
        InputError: a sample type other than uint8, uint16, float32 or float64.
    """
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0, 8
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0, 16
    if arr.dtype in (np.float32, np.float64):
        return np.clip(arr.astype(np.float32), 0.0, 1.0), 32
    raise InputError(f"unsupported sample type {arr.dtype} (supported: 8-bit, 16-bit, float)")


def to_float(img: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 / uint16 / float array -> float32 in [0, 1] (float input is not clipped)."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    return img.astype(np.float32)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float samples in [0, 1] (any shape) -> uint8, clipped and rounded half up in float64: what an 8-bit file holds.

    Exact for 8-bit sources (k / 255 comes back as k) and for 16-bit ones (no 16-bit level lies on a rounding tie).
    """
    return np.floor(np.clip(pixels.astype(np.float64) * 255.0, 0.0, 255.0) + 0.5).astype(np.uint8)


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(H, W, C) float array in [0, 1] -> (1, C, H, W) float32 tensor (same colour order)."""
    import torch

    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)


def from_tensor(t: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) float tensor -> (H, W, C) float32 array (same colour order, not clamped)."""
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got {tuple(t.shape)}")
        t = t[0]
    return t.detach().float().cpu().permute(1, 2, 0).contiguous().numpy()
