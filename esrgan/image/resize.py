"""Resizing images: MATLAB's bicubic ``imresize`` (the SR benchmarks' degradation) and the ``--outscale`` resize.

``imresize`` works on numpy arrays and torch tensors; with :func:`mod_crop` and :func:`bicubic_degrade` it makes
the LR images of the benchmark protocol (:mod:`esrgan.evaluation`), of training pairs made on the fly
(:mod:`esrgan.data`), of distillation inputs (:mod:`esrgan.train.teacher`) and of ``esrgan.datasets.make_lr``.
:func:`output_size` and :func:`resize` bring an upscaled image to an arbitrary output scale (``--outscale``).

``imresize`` reproduces MATLAB's ``imresize(img, scale, 'bicubic')`` (Image Processing Toolbox), the function every SR
benchmark used to make its LR images, bit for bit on uint8 images:

- Keys' cubic kernel with a = -0.5, support 4 input pixels;
- antialiasing when downscaling: the kernel is stretched by 1/scale (support 4/scale), so it low-passes;
- the output pixel ``i`` (1-based) samples the input at ``u = i / scale + 0.5 * (1 - 1 / scale)`` (pixel centres
  aligned, the "half-pixel" convention); weights are normalised to sum to 1 per output pixel;
- symmetric padding (the edge pixel is repeated: ... 2 1 | 1 2 3 ... n | n n-1 ...);
- the output size is ``ceil(scale * size)`` when a scale is given;
- separable: one 1-D pass per dimension, the dimension with the smaller scale first (height first on ties);
- integer images are rounded (half away from zero) and saturated after *each* 1-D pass, as MATLAB's
  ``imresizemex`` returns the input's class; float images are resized in float64 without rounding.

References: MATLAB ``imresize.m`` (``contributions``, ``cubic``); BasicSR ``basicsr/utils/matlab_functions.py``
(which skips the per-pass rounding, so it differs from MATLAB by up to 1 level on uint8 images).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar, overload

import numpy as np

from esrgan.errors import InputError

if TYPE_CHECKING:  # imported where a tensor is resized: the image package itself costs no torch
    import torch

__all__ = [
    "bicubic_degrade",
    "contributions",
    "cubic",
    "imresize",
    "matlab_output_size",
    "mod_crop",
    "output_size",
    "resize",
]

A = TypeVar("A", np.ndarray, "torch.Tensor")


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, written as MATLAB's ``cubic`` (same operation order).

    Args:
        x: distances (any shape), float64.

    Returns:
        Kernel values, same shape: 1 at 0, 0 at every other integer, 0 beyond |x| = 2.
    """
    absx = np.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2))
    return inner + outer


def contributions(
    in_length: int, out_length: int, scale: float, antialiasing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and input indices of a 1-D bicubic resize (MATLAB's ``contributions``).

    Args:
        in_length: input length (pixels).
        out_length: output length (pixels).
        scale: output / input scale factor of this dimension (< 1 downscales).
        antialiasing: stretch the kernel by 1/scale when downscaling (MATLAB's default).

    Returns:
        ``(weights, indices)``, both (out_length, P): output pixel ``i`` is
        ``sum_k weights[i, k] * input[indices[i, k]]``; indices are 0-based and already mirrored into
        ``[0, in_length)`` (symmetric padding); columns whose weights are all zero are removed, as MATLAB does.
    """
    if in_length < 1 or out_length < 1:
        raise ValueError(f"imresize: lengths must be positive, got input {in_length} and output {out_length}")
    kernel_width = 4.0
    stretch = scale < 1 and antialiasing
    if stretch:
        kernel_width = kernel_width / scale
    x = np.arange(1, out_length + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1 - 1 / scale)  # input coordinate (1-based) of each output pixel centre
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left + np.arange(taps, dtype=np.float64)[None, :]
    distance = u - indices
    weights = scale * cubic(scale * distance) if stretch else cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Symmetric padding: index sequence 1..n, n..1 repeated (MATLAB's `aux` trick), converted to 0-based.
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    idx = aux[np.mod(indices.astype(np.int64) - 1, aux.size)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], idx[:, keep]


def matlab_output_size(in_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """MATLAB's output size for a scale factor: ``ceil(scale * size)`` per dimension."""
    return math.ceil(scale * in_size[0]), math.ceil(scale * in_size[1])


def _plan(
    in_size: tuple[int, int], scale: float | None, shape: tuple[int, int] | None
) -> tuple[tuple[int, int], tuple[float, float]]:
    if (scale is None) == (shape is None):
        raise ValueError("imresize: give exactly one of scale or output_shape")
    if scale is not None:
        if not scale > 0:
            raise ValueError(f"imresize: scale must be positive, got {scale}")
        out = matlab_output_size(in_size, scale)
        scales = (float(scale), float(scale))
    else:
        assert shape is not None
        out = (int(shape[0]), int(shape[1]))
        if min(out) < 1:
            raise ValueError(f"imresize: output_shape must be positive, got {shape}")
        scales = (out[0] / in_size[0], out[1] / in_size[1])
    if min(out) < 1:
        raise ValueError(f"imresize: scale {scale} makes an empty image from {in_size[0]}x{in_size[1]}")
    return out, scales


def _order(scales: tuple[float, float]) -> tuple[int, int]:
    # MATLAB: [~, order] = sort(scale) -- the stronger reduction first, height first on ties (stable sort).
    return (0, 1) if scales[0] <= scales[1] else (1, 0)


def _resize_axis_numpy(img: np.ndarray, axis: int, weights: np.ndarray, indices: np.ndarray) -> np.ndarray:
    shape = [1] * img.ndim
    shape[axis] = weights.shape[0]
    out = np.zeros((*img.shape[:axis], weights.shape[0], *img.shape[axis + 1 :]), dtype=np.float64)
    # Accumulate tap by tap in float64, in MATLAB's order, so rounding ties fall the same way.
    for k in range(weights.shape[1]):
        out += np.take(img, indices[:, k], axis=axis) * weights[:, k].reshape(shape)
    return out


def _round_saturate(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    # MATLAB rounds half away from zero; values are clipped first, so floor(x + 0.5) is that rounding.
    return np.floor(np.clip(x, info.min, info.max) + 0.5).astype(dtype)


def _imresize_numpy(
    img: np.ndarray, scale: float | None, shape: tuple[int, int] | None, antialiasing: bool
) -> np.ndarray:
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize: numpy images must be (H, W) or (H, W, C), got shape {img.shape}")
    if img.dtype == np.bool_ or not (np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)):
        raise ValueError(f"imresize: unsupported dtype {img.dtype}")
    integer = np.issubdtype(img.dtype, np.integer)
    out_size, scales = _plan((img.shape[0], img.shape[1]), scale, shape)
    x: np.ndarray = img if integer else img.astype(np.float64)
    for axis in _order(scales):
        w, idx = contributions(img.shape[axis], out_size[axis], scales[axis], antialiasing)
        y = _resize_axis_numpy(x, axis, w, idx)
        x = _round_saturate(y, img.dtype) if integer else y
    return x if integer else x.astype(img.dtype)


def _imresize_torch(
    img: torch.Tensor, scale: float | None, shape: tuple[int, int] | None, antialiasing: bool, quantize: bool
) -> torch.Tensor:
    import torch

    if img.ndim < 2 or not img.is_floating_point():
        raise ValueError(
            f"imresize: torch input must be a float tensor (..., H, W), got {img.dtype} {tuple(img.shape)}"
        )
    in_size = (img.shape[-2], img.shape[-1])
    out_size, scales = _plan(in_size, scale, shape)
    # Quantised mode works in float64 on exact 8-bit levels so that rounding ties match the uint8 numpy path.
    x = torch.floor(img.double() * 255 + 0.5) if quantize else img
    for axis in _order(scales):
        w_np, idx_np = contributions(in_size[axis], out_size[axis], scales[axis], antialiasing)
        dim = x.ndim - 2 + axis
        w = torch.from_numpy(w_np).to(device=x.device, dtype=x.dtype)
        idx = torch.from_numpy(idx_np).to(x.device)
        view = [1] * x.ndim
        view[dim] = w.shape[0]
        y = torch.zeros((), dtype=x.dtype, device=x.device)
        for k in range(w.shape[1]):
            y = y + x.index_select(dim, idx[:, k]) * w[:, k].reshape(view)
        x = torch.floor(y.clamp(0, 255) + 0.5) if quantize else y
    return (x / 255).to(img.dtype) if quantize else x


@overload
def imresize(
    img: np.ndarray,
    scale: float | None = ...,
    output_shape: tuple[int, int] | None = ...,
    *,
    antialiasing: bool = ...,
    quantize: bool = ...,
) -> np.ndarray: ...
@overload
def imresize(
    img: torch.Tensor,
    scale: float | None = ...,
    output_shape: tuple[int, int] | None = ...,
    *,
    antialiasing: bool = ...,
    quantize: bool = ...,
) -> torch.Tensor: ...
def imresize(
    img: np.ndarray | torch.Tensor,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    *,
    antialiasing: bool = True,
    quantize: bool = False,
) -> np.ndarray | torch.Tensor:
    """Resize like MATLAB's ``imresize(img, scale, 'bicubic')`` (see the module docstring for the algorithm).

    Args:
        img: a numpy image (H, W) or (H, W, C) of any channel order, uint8/uint16 (rounded and saturated after
            each 1-D pass, as MATLAB does, giving MATLAB's exact output) or float (any range, no clamping);
            or a float torch tensor (..., H, W), e.g. (B, C, H, W) RGB in [0, 1], resized on its own device
            with differentiable torch operations.
        scale: scale factor (0.25 downscales by 4); the output is ``ceil(scale * H) x ceil(scale * W)``.
        output_shape: (H_out, W_out) instead of ``scale``; the scale of each dimension is out / in.
        antialiasing: low-pass when downscaling (MATLAB's default ``true``).
        quantize: torch only. Treat the input as 8-bit levels in [0, 1]: round to multiples of 1/255 first and
            after each pass, as the uint8 numpy path does (for making LR images on the fly that equal the
            offline-made uint8 LR files). Not differentiable (rounding has zero gradient).

    Returns:
        The resized image, same type, dtype and leading dimensions as ``img``.
    """
    if isinstance(img, np.ndarray):
        if quantize:
            raise ValueError("imresize: quantize applies to torch tensors; uint8 numpy images are always rounded")
        return _imresize_numpy(img, scale, output_shape, antialiasing)
    return _imresize_torch(img, scale, output_shape, antialiasing, quantize)


def mod_crop(img: A, scale: int) -> A:
    """Crop the bottom and right edges so height and width are multiples of ``scale`` (numpy HW[C] or torch ..HW)."""
    if isinstance(img, np.ndarray):
        h, w = img.shape[0], img.shape[1]
        return img[: h - h % scale, : w - w % scale]
    h, w = img.shape[-2], img.shape[-1]
    return img[..., : h - h % scale, : w - w % scale]


def bicubic_degrade(hr: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark LR image: ``imresize(mod_crop(hr, scale), 1 / scale)`` (numpy HW[C], uint8 stays uint8)."""
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    cropped = mod_crop(hr, scale)
    if min(cropped.shape[:2]) == 0:
        raise InputError(f"image of {hr.shape[0]}x{hr.shape[1]} is smaller than the scale {scale}")
    return imresize(cropped, 1 / scale)


def output_size(height: int, width: int, outscale: float) -> tuple[int, int]:
    """Output (H, W) for an arbitrary scale, rounded to the nearest pixel and at least 1."""
    return max(1, round(height * outscale)), max(1, round(width * outscale))


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """High-quality resize of (B, C, H, W) float images: antialiased bicubic, clamped to [0, 1].

    Antialiasing matters when shrinking (for example x4 model output to x2): plain bicubic would alias.
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    import torch.nn.functional as F

    out = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrinking)
    return out.clamp_(0.0, 1.0)
