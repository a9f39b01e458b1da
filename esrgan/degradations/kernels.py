"""Blur kernels of the degradation model: Gaussian (isotropic, anisotropic), generalised Gaussian, plateau, sinc.

Every kernel is a (K, K) float32 array summing to 1, K odd, centred on its middle element. The shapes follow
BasicSR's ``degradations.py`` (facts, re-derived here):

- Gaussian: ``exp(-q / 2)`` with ``q = c^T S^-1 c`` for the offset ``c = (x, y)`` from the centre and the covariance
  ``S = R diag(sigma_x^2, sigma_y^2) R^T`` rotated by ``theta``; isotropic when ``sigma_x == sigma_y``.
- generalised Gaussian: ``exp(-q^beta / 2)`` (beta < 1: heavier tails, > 1: flatter top);
- plateau: ``1 / (1 + q^beta)``;
- sinc (circular low-pass, the ringing and overshoot of sharpened or resampled images):
  ``omega_c * J1(omega_c * r) / (2 pi r)``, ``omega_c^2 / (4 pi)`` at the centre.

The random draws take a ``numpy.random.Generator``; each returns the kernel and a record of what it drew
(JSON-able values), so a sample's degradation can be shown and reproduced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special

from esrgan.degradations.options import MIN_KERNEL_SIZE

__all__ = [
    "gaussian_kernel",
    "generalized_gaussian_kernel",
    "plateau_kernel",
    "random_blur_kernel",
    "random_sinc_kernel",
    "sinc_kernel",
]


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """``q = c^T S^-1 c`` on the (size, size) grid of offsets from the centre (x: columns, y: rows)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"kernel sigmas must be positive, got {sigma_x}, {sigma_y}")
    ax = np.arange(size, dtype=np.float64) - size // 2
    xx, yy = np.meshgrid(ax, ax)
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    inv = np.linalg.inv(rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T)
    return inv[0, 0] * xx * xx + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy * yy


def _normalised(kernel: np.ndarray) -> np.ndarray:
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """Bivariate Gaussian; ``sigma_y`` None: isotropic."""
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalised(np.exp(-0.5 * q))


def generalized_gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> np.ndarray:
    """Bivariate generalised Gaussian ``exp(-q^beta / 2)``; beta 1 is the Gaussian."""
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalised(np.exp(-0.5 * np.power(q, beta)))


def plateau_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> np.ndarray:
    """Bivariate plateau ``1 / (1 + q^beta)``."""
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalised(1.0 / (np.power(q, beta) + 1.0))


def sinc_kernel(cutoff: float, size: int) -> np.ndarray:
    """Circularly symmetric low-pass (2-D sinc) with cutoff ``cutoff`` radians per pixel (pi: no filtering)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    ax = np.arange(size, dtype=np.float64) - size // 2
    r = np.hypot(*np.meshgrid(ax, ax))
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    kernel[size // 2, size // 2] = cutoff**2 / (4 * np.pi)  # the limit at r = 0
    return _normalised(kernel)


def _sizes(max_size: int) -> list[int]:
    return list(range(MIN_KERNEL_SIZE, max_size + 1, 2))


def _shape_beta(rng: np.random.Generator, beta_range: Sequence[float]) -> float:
    # BasicSR: below or above 1 with p = 0.5 each (a plateau range [1, 2] thus gives beta = 1 half the time).
    if rng.random() < 0.5:
        return float(rng.uniform(beta_range[0], 1.0))
    return float(rng.uniform(1.0, beta_range[1]))


def _sinc_cutoff(rng: np.random.Generator, size: int) -> float:
    # Small kernels cannot hold a low cutoff's wide lobes: pi/3..pi below 13 pixels, pi/5..pi from 13 (Real-ESRGAN).
    return float(rng.uniform(np.pi / 3 if size < 13 else np.pi / 5, np.pi))


def random_blur_kernel(
    rng: np.random.Generator,
    *,
    max_size: int,
    kernel_list: Sequence[str],
    kernel_prob: Sequence[float],
    sinc_prob: float,
    sigma_range: Sequence[float],
    betag_range: Sequence[float],
    betap_range: Sequence[float],
) -> tuple[np.ndarray, dict[str, Any]]:
    """A random blur kernel as Real-ESRGAN's dataset draws it.

    The side is drawn from 7, 9, ..., ``max_size``; with ``sinc_prob`` the kernel is a sinc, otherwise one of
    ``kernel_list`` (weights ``kernel_prob``) with sigmas from ``sigma_range`` (both axes for anisotropic ones)
    and a rotation from [-pi, pi].

    Returns:
        (the (size, size) kernel, record ``{"kind", "size", ...parameters}``). Real-ESRGAN zero-pads kernels to
        max_size to batch them; filtering one image at a time needs no padding (and is cheaper without).
    """
    size = int(rng.choice(_sizes(max_size)))
    if rng.random() < sinc_prob:
        cutoff = _sinc_cutoff(rng, size)
        return sinc_kernel(cutoff, size), {"kind": "sinc", "size": size, "cutoff": cutoff}
    weights = np.asarray(kernel_prob, dtype=np.float64)
    kind = str(kernel_list[int(rng.choice(len(kernel_list), p=weights / weights.sum()))])
    sigma_x = float(rng.uniform(sigma_range[0], sigma_range[1]))
    sigma_y, theta = sigma_x, 0.0
    if kind.endswith("aniso"):
        sigma_y = float(rng.uniform(sigma_range[0], sigma_range[1]))
        theta = float(rng.uniform(-np.pi, np.pi))
    record: dict[str, Any] = {"kind": kind, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}
    if kind in ("iso", "aniso"):
        kernel = gaussian_kernel(size, sigma_x, sigma_y, theta)
    elif kind.startswith("generalized"):
        record["beta"] = _shape_beta(rng, betag_range)
        kernel = generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, record["beta"])
    elif kind.startswith("plateau"):
        record["beta"] = _shape_beta(rng, betap_range)
        kernel = plateau_kernel(size, sigma_x, sigma_y, theta, record["beta"])
    else:
        raise ValueError(f"unknown kernel kind {kind!r}")  # DegradationOptions admits only known kinds
    return kernel, record


def random_sinc_kernel(rng: np.random.Generator, max_size: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The final sinc filter: side from 7..max_size, cutoff from [pi/3, pi]; (kernel, record)."""
    size = int(rng.choice(_sizes(max_size)))
    cutoff = float(rng.uniform(np.pi / 3, np.pi))
    return sinc_kernel(cutoff, size), {"kind": "sinc", "size": size, "cutoff": cutoff}
