"""Blur kernels: shapes and sums, each family against its formula, random draws against their probabilities."""

from __future__ import annotations

import math
from collections import Counter

import cv2
import numpy as np
import pytest
from scipy import special

from esrgan.degradations.kernels import (
    gaussian_kernel,
    generalized_gaussian_kernel,
    plateau_kernel,
    random_blur_kernel,
    random_sinc_kernel,
    sinc_kernel,
)
from esrgan.degradations.options import KERNEL_PROB, KERNEL_TYPES


def _random(rng: np.random.Generator, **changes: object) -> tuple[np.ndarray, dict[str, object]]:
    kwargs: dict[str, object] = {"max_size": 21, "kernel_list": KERNEL_TYPES, "kernel_prob": KERNEL_PROB,
                                 "sinc_prob": 0.1, "sigma_range": (0.2, 3.0), "betag_range": (0.5, 4.0),
                                 "betap_range": (1.0, 2.0)}  # fmt: skip
    kwargs.update(changes)
    return random_blur_kernel(rng, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [7, 13, 21])
def test_isotropic_gaussian_is_the_separable_gaussian(size: int) -> None:
    g = cv2.getGaussianKernel(size, 1.7)
    np.testing.assert_allclose(gaussian_kernel(size, 1.7), g @ g.T, rtol=1e-5, atol=1e-7)
    assert gaussian_kernel(size, 1.7).dtype == np.float32


def test_anisotropic_gaussian_axes_and_rotation() -> None:
    k = gaussian_kernel(21, 3.0, 1.0, 0.0)
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    # sigma_x along columns: wider horizontally; a quarter turn swaps the axes.
    assert k[10, 14] > k[14, 10]
    np.testing.assert_allclose(gaussian_kernel(21, 3.0, 1.0, math.pi / 2), k.T, atol=1e-7)
    # Point symmetric whatever the rotation (correlation == convolution).
    r = gaussian_kernel(21, 3.0, 1.0, 0.7)
    np.testing.assert_allclose(r, r[::-1, ::-1], atol=1e-7)
    # At 45 degrees the long axis is the diagonal of increasing x and y.
    d = gaussian_kernel(21, 3.0, 1.0, math.pi / 4)
    assert d[13, 13] > d[7, 13]


def test_generalized_and_plateau_follow_their_formulas() -> None:
    np.testing.assert_allclose(generalized_gaussian_kernel(15, 2.0, beta=1.0), gaussian_kernel(15, 2.0), atol=1e-7)
    ax = np.arange(15) - 7
    q = (ax[None, :] ** 2 + ax[:, None] ** 2) / 2.0**2
    expected = np.exp(-0.5 * q**0.6)
    np.testing.assert_allclose(generalized_gaussian_kernel(15, 2.0, beta=0.6), expected / expected.sum(), rtol=1e-5)
    plateau = 1 / (1 + q**1.5)
    np.testing.assert_allclose(plateau_kernel(15, 2.0, beta=1.5), plateau / plateau.sum(), rtol=1e-5)
    # beta > 1 flattens the top: the centre's neighbour is closer to the centre than a Gaussian's.
    flat, gauss = generalized_gaussian_kernel(15, 2.0, beta=3.0), gaussian_kernel(15, 2.0)
    assert flat[7, 8] / flat[7, 7] > 0.99 > gauss[7, 8] / gauss[7, 7]


def test_sinc_kernel_values_and_low_pass() -> None:
    cutoff = math.pi / 4
    k = sinc_kernel(cutoff, 21).astype(np.float64)
    # Relative to the centre, a pixel at distance r holds (2 J1(w r) / (w r)) (the r -> 0 limit is 1).
    for r_off in (1, 3):
        assert k[10, 10 + r_off] / k[10, 10] == pytest.approx(
            2 * special.j1(cutoff * r_off) / (cutoff * r_off), rel=1e-5
        )
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    assert (k < 0).any()  # ringing lobes
    spectrum = np.abs(np.fft.fft2(k, (64, 64)))
    assert spectrum[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert spectrum[32, 32] < 0.05 and spectrum[0, 32] < 0.1  # high frequencies removed


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(8, 1.0)
    with pytest.raises(ValueError, match="odd"):
        sinc_kernel(1.0, 4)
    with pytest.raises(ValueError, match="sigmas must be positive"):
        gaussian_kernel(7, 0.0)


def test_random_kernel_record_rebuilds_the_kernel() -> None:
    rng = np.random.default_rng(3)
    builders = {
        "iso": lambda r: gaussian_kernel(r["size"], r["sigma_x"]),
        "aniso": lambda r: gaussian_kernel(r["size"], r["sigma_x"], r["sigma_y"], r["theta"]),
        "generalized_iso": lambda r: generalized_gaussian_kernel(r["size"], r["sigma_x"], beta=r["beta"]),
        "generalized_aniso": lambda r: generalized_gaussian_kernel(
            r["size"], r["sigma_x"], r["sigma_y"], r["theta"], r["beta"]
        ),
        "plateau_iso": lambda r: plateau_kernel(r["size"], r["sigma_x"], beta=r["beta"]),
        "plateau_aniso": lambda r: plateau_kernel(r["size"], r["sigma_x"], r["sigma_y"], r["theta"], r["beta"]),
        "sinc": lambda r: sinc_kernel(r["cutoff"], r["size"]),
    }
    seen = set()
    for _ in range(300):
        kernel, record = _random(rng)
        seen.add(record["kind"])
        assert kernel.shape == (record["size"], record["size"]) and record["size"] in range(7, 22, 2)
        np.testing.assert_array_equal(kernel, builders[str(record["kind"])](record))
        if record["kind"] in ("iso", "generalized_iso", "plateau_iso"):
            assert record["sigma_x"] == record["sigma_y"] and record["theta"] == 0.0
        if record["kind"] == "sinc":
            low = math.pi / 3 if record["size"] < 13 else math.pi / 5  # type: ignore[operator]
            assert low <= record["cutoff"] <= math.pi  # type: ignore[operator]
    assert seen == set(builders)


def test_random_kernel_probabilities_and_ranges() -> None:
    rng = np.random.default_rng(0)
    draws = [_random(rng)[1] for _ in range(4000)]
    kinds = Counter(str(r["kind"]) for r in draws)
    assert kinds["sinc"] / 4000 == pytest.approx(0.1, abs=0.02)
    for kind, p in zip(KERNEL_TYPES, KERNEL_PROB, strict=True):
        assert kinds[kind] / 4000 == pytest.approx(0.9 * p, abs=0.025), kind
    assert Counter(int(r["size"]) for r in draws).keys() == set(range(7, 22, 2))  # type: ignore[call-overload]
    sigmas = [float(r["sigma_x"]) for r in draws if "sigma_x" in r]  # type: ignore[arg-type]
    assert 0.2 <= min(sigmas) < 0.3 and 2.9 < max(sigmas) <= 3.0
    betas = [float(r["beta"]) for r in draws if str(r["kind"]).startswith("plateau")]  # type: ignore[arg-type]
    assert min(betas) >= 1.0 and max(betas) <= 2.0
    # Only the listed kinds, and kernel sides up to max_size.
    only_iso = [_random(rng, kernel_list=("iso",), kernel_prob=(1.0,), sinc_prob=0.0, max_size=9)[1] for _ in range(50)]
    assert {r["kind"] for r in only_iso} == {"iso"} and {r["size"] for r in only_iso} <= {7, 9}


def test_random_draws_are_reproducible() -> None:
    a = [_random(np.random.default_rng(5))[0] for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    k1, r1 = random_sinc_kernel(np.random.default_rng(1), 21)
    k2, r2 = random_sinc_kernel(np.random.default_rng(1), 21)
    assert r1 == r2 and math.pi / 3 <= float(r1["cutoff"]) <= math.pi
    np.testing.assert_array_equal(k1, k2)
