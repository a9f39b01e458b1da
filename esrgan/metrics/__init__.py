"""Image quality as SR papers report it: PSNR and SSIM on the BT.601 Y channel (see :mod:`esrgan.metrics.quality`).

The protocol around them (pairing, LR images, rounding, tables) is :mod:`esrgan.evaluation`; the MATLAB bicubic
resize that makes benchmark LR images is :mod:`esrgan.image.resize`.
"""

from esrgan.metrics.quality import calculate_psnr, calculate_ssim, rgb_to_y

__all__ = ["calculate_psnr", "calculate_ssim", "rgb_to_y"]
