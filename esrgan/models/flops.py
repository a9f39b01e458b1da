"""Compute cost of a network: floating-point operations per input pixel, counted from the operations it runs."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["flops_per_input_pixel"]


def flops_per_input_pixel(net: nn.Module, in_channels: int, size: int = 32) -> float:
    """FLOPs (multiply and add counted as two) per input pixel of one forward pass.

    Counted by torch's ``FlopCounterMode`` while a ``size`` x ``size`` input runs through the network:
    convolutions, matrix products (linear layers, attention) and ``scaled_dot_product_attention``, whether they are
    modules or functional calls (SPAN runs its folded convolutions as ``F.conv2d``); activations, additions,
    normalisations and resizes are left out (under 1% for RRDBNet). The second of two calls is counted, so
    work a network caches between calls is not. ``size`` must meet the network's size
    requirements (a multiple of ``size_multiple``, at least ``min_size``). The cost per pixel of fully
    convolutional networks does not depend on the image size; for window-attention networks it does slightly
    (windows padded at the border).

    Example: RealESRGAN_x4plus costs about 35.9 MFLOP per input pixel (587 GFLOP for a 128x128 input).
    """
    param = next(net.parameters())
    x = torch.zeros(1, in_channels, size, size, device=param.device, dtype=param.dtype)
    with torch.inference_mode():
        net(x)  # a first call fills caches (SPAN folds its convolutions once per weight change): not per-image cost
        with FlopCounterMode(display=False) as counter:
            net(x)
    return counter.get_total_flops() / float(size * size)
