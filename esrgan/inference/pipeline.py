"""Image-level upscaling on top of the engine: any channel layout onto the network's, alpha, any output scale.

Networks take a fixed number of channels (3 for nearly all ESRGAN models; some take 1 or 4) while images come
gray, RGB or with alpha. This module maps one onto the other and back, upscales alpha either through the
network or with bicubic, and resizes to an arbitrary output scale (:func:`esrgan.image.resize.resize`). It works
on tensors only: files are ``esrgan.image``'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from esrgan.errors import InputError, OptionsError
from esrgan.image.resize import output_size, resize

AlphaMode = Literal["model", "bicubic"]

__all__ = ["AlphaMode", "output_size", "resize", "run_channels", "upscale_image"]


def run_channels(upscale: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, net_channels: int) -> torch.Tensor:
    """Run ``upscale`` on (B, C, H, W) ``x`` whatever C is, mapping C onto the network's ``net_channels``.

    - C == net_channels: as is.
    - gray (C=1) into a 3- or 4-channel network: the plane is repeated, the output's colour planes averaged.
    - colour (C=3) into a 1-channel network: each plane goes through as its own batch item.
    - C=3 into a 4-channel network: an opaque alpha plane is added and dropped again.

    Returns:
        (B, C, H*s, W*s) with the same C as ``x``.
    """
    b, c = x.shape[:2]
    if c == net_channels:
        return upscale(x)
    if net_channels == 1:
        out = upscale(x.reshape(b * c, 1, *x.shape[2:]))
        return out.reshape(b, c, *out.shape[2:])
    if c == 1:
        out = upscale(x.expand(b, net_channels, *x.shape[2:]).contiguous())
        return out[:, :3].mean(dim=1, keepdim=True)
    if c == 3 and net_channels == 4:
        opaque = torch.ones_like(x[:, :1])
        return upscale(torch.cat([x, opaque], dim=1))[:, :3]
    raise InputError(f"cannot map a {c}-channel image onto a {net_channels}-channel network")


def upscale_image(
    upscale: Callable[[torch.Tensor], torch.Tensor],
    pixels: torch.Tensor,
    alpha: torch.Tensor | None,
    *,
    net_channels: int,
    scale: int,
    outscale: float | None = None,
    alpha_mode: AlphaMode = "model",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Upscale one image and its alpha.

    Args:
        upscale: the engine, (B, C, H, W) float [0, 1] -> (B, C, H*scale, W*scale), e.g. an ``Upscaler``.
        pixels: (1, C, H, W) RGB (C=3) or gray (C=1) float in [0, 1].
        alpha: (1, 1, H, W) float in [0, 1], or None.
        net_channels: input channels of the network (1, 3 or 4).
        scale: the network's scale.
        outscale: final scale relative to the input (default: ``scale``); the network's output is resized.
        alpha_mode: "model" runs alpha through the network as a gray image (sharp edges, as Real-ESRGAN does);
            "bicubic" resizes it (faster, softer). A 4-channel network always takes alpha directly.

    Returns:
        (pixels, alpha) at round(H*outscale) x round(W*outscale), float in [0, 1].
    """
    h, w = pixels.shape[-2:]
    target = output_size(h, w, outscale if outscale is not None else scale)
    if alpha is not None and net_channels == 4:
        rgb = pixels if pixels.shape[1] == 3 else pixels.expand(-1, 3, -1, -1)
        out = upscale(torch.cat([rgb, alpha], dim=1))
        sr = out[:, :3] if pixels.shape[1] == 3 else out[:, :3].mean(dim=1, keepdim=True)
        return resize(sr, target), resize(out[:, 3:4], target)

    sr = resize(run_channels(upscale, pixels, net_channels), target)
    if alpha is None:
        return sr, None
    if alpha_mode == "model":
        return sr, resize(run_channels(upscale, alpha, net_channels), target)
    if alpha_mode == "bicubic":
        return sr, resize(alpha, target)
    raise OptionsError(f"alpha mode must be 'model' or 'bicubic', got {alpha_mode!r}")
