"""How RRDBNet keeps its picture in int8: channel equalisation folded into the weights, and only the dense blocks'
closing convolutions (``conv5``) in int8.

Measured on realesrgan-x4plus (2-core AMD Zen 5 with AVX-512 VNNI, OpenVINO 2026.4, NNCF 3.4; PSNR of the int8
output against the fp32 output, on a 128x128 crop of skimage's astronaut / mean and worst of Set14's x4 LR inputs;
speed over OpenVINO fp32, the fastest fp32 backend there, side by side in one process at 96x96):

- every convolution in int8, NNCF's defaults: 35.4 / 28.3 / 19.2 dB, 4.5x;
- the first convolution and the last five (``conv_body`` and the upsampling tail) in fp32, NNCF's SmoothQuant
  (alpha 0.7): 43.6 / 38.0 / 30.3 dB, 2.0x (its per-convolution Multiply after each dense block's Concat stays in
  the graph);
- the same with this equalisation instead of SmoothQuant (alpha 0.5, exact, nothing added to the graph): 41.9 /
  37.3 / 29.0 dB, 3.3x;
- the same with the dense layers ``conv1``-``conv4`` in fp32 too (this recipe): 45.3 / 40.05 / 32.7 dB, 1.34x;
  with another draw of calibration crops 45.9 / 40.05 / 32.9 dB.

Even weights alone in int8 (symmetric, per output channel; activations fp32) keep only 39.1 dB on Set14: this GAN
network turns small changes of its weights into visible changes of the textures it invents (baboon, bridge, zebra
lose most), so more int8 costs fidelity almost linearly; the 40 dB bound leaves room for about half of it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from esrgan.archs.rrdbnet.net import RRDBNet
from esrgan.archs.spec import Int8Recipe

__all__ = ["RECIPE", "equalize", "quantize_conv"]

ALPHA = 0.5  # SmoothQuant's migration strength: 0.3 gave 38.98 dB on Set14, 0.5 40.05, 0.65 39.16
SCALE_RANGE = (1e-2, 1e2)  # per-channel scales are clamped here (a dead channel must not blow up its weights)


def quantize_conv(hparams: Mapping[str, Any], index: int, count: int, in_channels: int) -> bool:
    """int8 for the convolutions that read all of a dense block's features (``conv5``, ``num_feat + 4 *
    num_grow_ch`` input channels: no other convolution of the network reads that many); the others stay fp32."""
    return in_channels == int(hparams["num_feat"]) + 4 * int(hparams["num_grow_ch"])


@torch.no_grad()
def _input_amax(net: nn.Module, batches: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per convolution (by module name): the largest |input| of each input channel over ``batches``."""
    found: dict[str, torch.Tensor] = {}
    hooks = []
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):

            def hook(_: nn.Module, args: tuple[torch.Tensor, ...], name: str = name) -> None:
                amax = args[0].detach().abs().amax(dim=(0, 2, 3)).float()
                found[name] = torch.maximum(found[name], amax) if name in found else amax

            hooks.append(module.register_forward_pre_hook(hook))
    try:
        for x in batches:
            net(x)
    finally:
        for handle in hooks:
            handle.remove()
    return found


def _scales(x_amax: torch.Tensor, w_amax: torch.Tensor, alpha: float) -> torch.Tensor:
    """SmoothQuant's per-channel divisor: max|x|^alpha / max|w|^(1 - alpha), clamped to :data:`SCALE_RANGE`."""
    s = x_amax.clamp(min=1e-5) ** alpha / w_amax.clamp(min=1e-5) ** (1 - alpha)
    return s.clamp(*SCALE_RANGE)


def _rescale(producers: list[nn.Conv2d], consumers: list[nn.Conv2d], channels: slice, s: torch.Tensor) -> None:
    """Divide the producers' output channels by ``s`` and multiply the consumers' ``channels`` inputs by it."""
    for conv in producers:
        conv.weight /= s.view(-1, 1, 1, 1)
        assert conv.bias is not None
        conv.bias /= s
    for conv in consumers:
        conv.weight[:, channels] *= s.view(1, -1, 1, 1)


@torch.no_grad()
def equalize(net: nn.Module, batches: list[torch.Tensor], alpha: float = ALPHA) -> nn.Module:
    """An equivalent copy of ``net`` whose activation channels are rescaled so that one int8 scale per tensor
    fits them all: SmoothQuant's scales, folded into the weights instead of added to the graph.

    Exact because everything between a producer and its consumers commutes with a positive per-channel scale:
    LeakyReLU, nearest upsampling, the 0.2 residual scalings and the adds. The trunk (the residual stream that
    ``conv_first``, every ``conv5`` and ``conv_body`` write, and every dense block, ``conv_body`` and ``conv_up1``
    read) gets one scale per channel; each dense feature ``x_k`` (``conv_k`` + LeakyReLU, read by ``conv_k+1`` ..
    ``conv5`` of its block) its own.

    Args:
        net: an :class:`RRDBNet` (not modified).
        batches: calibration inputs, (1, C, h, w) float32 RGB in [0, 1].
        alpha: migration strength (0: weights keep their ranges; 1: activations become flat).
    """
    if not isinstance(net, RRDBNet):
        raise TypeError(f"equalize takes an RRDBNet, not {type(net).__name__}")
    net = copy.deepcopy(net).float().eval()
    amax = _input_amax(net, batches)
    feat, grow = net.num_feat, net.num_grow_ch
    blocks = [(f"body.{i}.rdb{j}", getattr(rrdb, f"rdb{j}")) for i, rrdb in enumerate(net.body) for j in (1, 2, 3)]
    trunk = slice(0, feat)
    readers = [(f"{name}.conv{k}", getattr(rdb, f"conv{k}")) for name, rdb in blocks for k in range(1, 6)]
    readers += [("conv_body", net.conv_body), ("conv_up1", net.conv_up1)]
    x = torch.stack([amax[name][trunk] for name, _ in readers]).amax(0)
    w = torch.stack([conv.weight[:, trunk].abs().amax(dim=(0, 2, 3)) for _, conv in readers]).amax(0)
    writers = [net.conv_first, net.conv_body, *(rdb.conv5 for _, rdb in blocks)]
    _rescale(writers, [conv for _, conv in readers], trunk, _scales(x, w, alpha))
    for name, rdb in blocks:
        for k in range(1, 5):
            part = slice(feat + grow * (k - 1), feat + grow * k)
            later = [getattr(rdb, f"conv{j}") for j in range(k + 1, 6)]
            w = torch.stack([conv.weight[:, part].abs().amax(dim=(0, 2, 3)) for conv in later]).amax(0)
            _rescale([getattr(rdb, f"conv{k}")], later, part, _scales(amax[f"{name}.conv5"][part], w, alpha))
    return net


RECIPE = Int8Recipe(quantize_conv=quantize_conv, equalize=equalize, crop=96, version=1)
