"""Compute cost of a network: floating-point operations per input pixel, counted from its convolutions."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["flops_per_input_pixel"]


def flops_per_input_pixel(net: nn.Module, in_channels: int, size: int = 32) -> float:
    """FLOPs (multiply and add counted as two) per input pixel of one forward pass.

    Convolutions and linear layers dominate ESRGAN-family networks; activations, additions and resizes are left
    out (under 1% for RRDBNet). Counted by running a ``size`` x ``size`` input through the network with hooks,
    so any architecture and scale works; the cost per pixel of these fully convolutional networks does not
    depend on the image size.

    Example: RealESRGAN_x4plus costs about 35.9 MFLOP per input pixel (587 GFLOP for a 128x128 input).
    """
    total = 0

    def hook(module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * (module.in_channels // module.groups)
            total += 2 * k * output.numel()
        elif isinstance(module, nn.Linear):
            total += 2 * module.in_features * output.numel()

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        param = next(net.parameters())
        with torch.inference_mode():
            net(torch.zeros(1, in_channels, size, size, device=param.device, dtype=param.dtype))
    finally:
        for h in handles:
            h.remove()
    return total / float(size * size)
