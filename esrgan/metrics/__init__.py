"""Evaluation protocol of SR papers: MATLAB-compatible bicubic resizing, PSNR and SSIM on the Y channel."""

from esrgan.metrics.imresize import bicubic_degrade, imresize, mod_crop
from esrgan.metrics.quality import calculate_psnr, calculate_ssim, rgb_to_y

__all__ = ["bicubic_degrade", "calculate_psnr", "calculate_ssim", "imresize", "mod_crop", "rgb_to_y"]
