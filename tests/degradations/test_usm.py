"""USM sharpening: BasicSR's formula, OpenCV and torch paths agree, any image size."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from esrgan.degradations import USMSharp, usm_sharp


def _basicsr_usm(img: torch.Tensor) -> torch.Tensor:
    """BasicSR's USMSharp written out: a 51x51 2-D Gaussian (outer product), reflect padding, weight 0.5, threshold
    10 (an independent check of the separable implementations)."""
    g = torch.from_numpy(cv2.getGaussianKernel(51, 0)).float()
    kernel = (g @ g.T)[None, None]

    def blur(x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = F.pad(x, (25, 25, 25, 25), mode="reflect").reshape(b * c, 1, h + 50, w + 50)
        return F.conv2d(x, kernel).reshape(b, c, h, w)

    residual = img - blur(img)
    mask = blur((residual.abs() * 255 > 10).float())
    sharp = (img + 0.5 * residual).clamp(0, 1)
    return mask * sharp + (1 - mask) * img


def test_matches_basicsr_on_both_paths(photo_rgb: np.ndarray) -> None:
    img = torch.from_numpy(photo_rgb[150:246, 200:280].astype(np.float32) / 255).permute(2, 0, 1)[None]
    img = torch.cat([img, img.flip(-1)])
    expected = _basicsr_usm(img)
    usm = USMSharp()
    torch.testing.assert_close(usm(img), expected, atol=2e-5, rtol=0)  # the CPU path (OpenCV)
    torch.testing.assert_close(usm.sharpen_with_torch(img), expected, atol=2e-5, rtol=0)  # the GPU path
    np.testing.assert_allclose(usm_sharp(img[0].permute(1, 2, 0).numpy()), expected[0].permute(1, 2, 0), atol=2e-5)
    # Sharpening raises edge contrast: the output differs from the input where there are edges.
    assert (usm(img) - img).abs().max() > 0.05


def test_any_size_and_flat_images() -> None:
    usm = USMSharp()
    small = torch.rand(1, 3, 5, 9)
    torch.testing.assert_close(usm(small), usm.sharpen_with_torch(small), atol=2e-5, rtol=0)
    one = torch.rand(2, 3, 1, 1)
    torch.testing.assert_close(usm(one), one)
    flat = torch.full((1, 3, 40, 40), 0.3)
    torch.testing.assert_close(usm(flat), flat)
    # Half-precision or channels-last inputs come back as float32 NCHW.
    half = torch.rand(1, 3, 32, 32).bfloat16().to(memory_format=torch.channels_last)
    assert usm(half).dtype == torch.float32
