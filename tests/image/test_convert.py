"""Sample conversions: stored samples <-> float [0, 1] <-> uint8, numpy <-> torch layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from esrgan.image import from_tensor, to_float, to_tensor, to_uint8, to_unit


def ramp(h: int = 6, w: int = 8, c: int = 3) -> np.ndarray:
    return (np.arange(h * w * c, dtype=np.float32).reshape(h, w, c) % 251) / 250.0


def test_tensor_conversion_shapes() -> None:
    arr = ramp(5, 7, 3)
    t = to_tensor(arr)
    assert t.shape == (1, 3, 5, 7)
    np.testing.assert_array_equal(from_tensor(t), arr)
    assert to_tensor(arr[:, :, 0]).shape == (1, 1, 5, 7)
    with pytest.raises(ValueError, match="batch of one"):
        from_tensor(torch.zeros(2, 3, 4, 4))


def test_to_unit_reports_the_bit_depth_and_clips_float() -> None:
    u8, depth8 = to_unit(np.array([[0, 255]], np.uint8))
    u16, depth16 = to_unit(np.array([[0, 65535]], np.uint16))
    f, depth32 = to_unit(np.array([[-0.5, 1.5]], np.float64))
    assert (depth8, depth16, depth32) == (8, 16, 32)
    np.testing.assert_array_equal(u8, [[0.0, 1.0]])
    np.testing.assert_array_equal(u16, [[0.0, 1.0]])
    np.testing.assert_array_equal(f, [[0.0, 1.0]])
    assert u8.dtype == u16.dtype == f.dtype == np.float32
    with pytest.raises(ValueError, match="unsupported sample type int32"):
        to_unit(np.zeros((2, 2), np.int32))


def test_to_float_scales_integers_and_keeps_float() -> None:
    np.testing.assert_array_equal(to_float(np.array([51], np.uint8)), np.float32(51) / np.float32(255))
    np.testing.assert_array_equal(to_float(np.array([65535], np.uint16)), [1.0])
    np.testing.assert_array_equal(to_float(np.array([1.5], np.float64)), [1.5])  # not clipped


def test_to_uint8_rounds_half_up_and_is_exact_for_8_and_16_bit_sources() -> None:
    levels = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(to_unit(levels)[0]), levels)
    # Every 16-bit level rounds to the nearest 8-bit one (v / 257 never lies on a tie).
    v16 = np.arange(65536, dtype=np.uint16)
    np.testing.assert_array_equal(to_uint8(to_unit(v16)[0]), np.floor(v16 / 257 + 0.5).astype(np.uint8))
    np.testing.assert_array_equal(to_uint8(np.array([0.5 / 255, 1.5 / 255, -1.0, 2.0])), [1, 2, 0, 255])
