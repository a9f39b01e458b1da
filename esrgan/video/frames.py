"""Frames between the codec and the network: uint8 RGB arrays <-> float tensors, and the output frame size.

Together with :mod:`esrgan.image` this is the only place that converts pixels between uint8 and the package's
(B, C, H, W) float RGB in [0, 1]. The size rule is the image one (:func:`esrgan.inference.pipeline.output_size`,
resampled with :func:`esrgan.inference.pipeline.resize`), so ``outscale`` gives a video frame the pixels an image
of it gets; the one difference is that frames get even sides, which 4:2:0 chroma (and so most players) needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from esrgan.errors import OptionsError
from esrgan.inference.pipeline import output_size, resize

__all__ = ["fit_frames", "frame_size", "frames_to_tensor", "tensor_to_frames"]


def frames_to_tensor(frames: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """Stack uint8 RGB frames into a float batch.

    Args:
        frames: (B, H, W, 3) uint8 array, or a sequence of (H, W, 3) uint8 arrays, RGB order.

    Returns:
        (B, 3, H, W) float32 contiguous tensor, RGB, values in [0, 1].
    """
    batch = np.stack(frames) if not isinstance(frames, np.ndarray) else frames
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames of shape (B, H, W, 3), got {batch.dtype} {batch.shape}")
    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)
    return x.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """Quantise a float batch to uint8 frames.

    Args:
        x: (B, 3, H, W) float tensor, RGB, nominally in [0, 1] (clamped), any device and memory format.

    Returns:
        (B, H, W, 3) uint8 C-contiguous array, RGB; values rounded to the nearest level (halves up).
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
    hwc = x.detach().to("cpu", torch.float32).numpy().transpose(0, 2, 3, 1)
    # NumPy, single-threaded: this runs in the encoder thread beside the network, and torch ops here would
    # compete for the network's thread pool (measured 2-3x slower than NumPy on a busy 2-core machine).
    buf = np.empty(hwc.shape, np.float32)
    np.multiply(hwc, 255.0, out=buf)
    np.add(buf, 0.5, out=buf)
    np.clip(buf, 0.0, 255.0, out=buf)
    return buf.astype(np.uint8)  # truncation after +0.5: round half up


def frame_size(width: int, height: int, scale: int, outscale: float | None) -> tuple[int, int]:
    """Output frame (width, height) for a ``width`` x ``height`` input, a model of ``scale`` and an optional
    final ``outscale`` (None = ``scale``).

    The size an image gets (:func:`esrgan.inference.pipeline.output_size`), with an odd side moved to the even
    neighbour nearer the exact product (down on a tie, so that an x``scale`` output of an odd input loses one
    pixel to a crop instead of being resampled). At least 2 pixels per side.
    """
    factor = scale if outscale is None else outscale
    if not factor > 0:
        raise OptionsError(f"outscale must be positive, got {outscale}")
    out_h, out_w = output_size(height, width, factor)
    return _even(out_w, width * factor), _even(out_h, height * factor)


def _even(side: int, exact: float) -> int:
    if side % 2 == 0:
        return max(2, side)
    return side + 1 if exact > side else max(2, side - 1)


def fit_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bring upscaled frames (B, C, H, W) float in [0, 1] to ``size`` = (width, height).

    A one-pixel parity excess is cropped (no resampling blur); any other size change is the image resize
    (:func:`esrgan.inference.pipeline.resize`: bicubic, antialiased when shrinking, clamped to [0, 1]).

    Returns:
        (B, C, height, width) float, a view of ``frames`` when only cropped.
    """
    w, h = size
    fh, fw = frames.shape[-2:]
    if 0 <= fw - w <= 1 and 0 <= fh - h <= 1:
        return frames[..., :h, :w]
    return resize(frames, (h, w))
