"""Real-ESRGAN's high-order degradation model: blur kernels, resize, noise, JPEG, the two-order pipeline, USM.

- :mod:`~esrgan.degradations.options`: :class:`DegradationOptions`, Real-ESRGAN's parameter names and defaults;
- :mod:`~esrgan.degradations.kernels`: Gaussian, generalised Gaussian, plateau and sinc kernels, random draws;
- :mod:`~esrgan.degradations.ops`: blur, resize, Gaussian/Poisson noise, JPEG (OpenCV's codec);
- :mod:`~esrgan.degradations.pipeline`: :func:`degrade` (first and second order, final sinc + resize), and
  :func:`describe` of what it drew;
- :mod:`~esrgan.degradations.usm`: unsharp-mask sharpening (the sharpened ground truth);
- :mod:`~esrgan.degradations.testset`: fixed-seed degraded LR images for evaluation.

Images are (H, W, 3) float32 RGB arrays in [0, 1] (the datasets' layout), except :class:`USMSharp`, which
sharpens (B, C, H, W) tensors on any device. Training data: :class:`esrgan.data.DegradedDataset`.
"""

from esrgan.degradations.options import DegradationOptions
from esrgan.degradations.pipeline import degrade, describe
from esrgan.degradations.testset import degraded_lr, degraded_lr_file
from esrgan.degradations.usm import USMSharp, usm_sharp

__all__ = ["DegradationOptions", "USMSharp", "degrade", "degraded_lr", "degraded_lr_file", "describe", "usm_sharp"]
