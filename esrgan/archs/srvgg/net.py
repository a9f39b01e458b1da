"""SRVGGNetCompact: Real-ESRGAN's compact VGG-style network (used by realesr-animevideov3).

A plain stack of 3x3 convolutions and activations at low resolution, a pixel shuffle to the output size, and
the nearest-upsampled input added so the network only learns the residual. Parameter names match
Real-ESRGAN (``body.N.weight``; PReLU slopes are ``body.N.weight`` too).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.errors import OptionsError

ACT_TYPES = ("prelu", "relu", "lrelu")


class SRVGGNetCompact(nn.Module):
    """Compact super-resolution network.

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels.
        num_feat: channels of every hidden convolution.
        num_conv: hidden 3x3 convolutions after the first one (16 in realesr-animevideov3, 32 in general-x4v3).
        upscale: output scale (any positive integer).
        act_type: "prelu" (per-channel slopes), "relu" or "lrelu" (slope 0.1).

    Shapes:
        input (B, num_in_ch, H, W), any H and W; output (B, num_out_ch, H * upscale, W * upscale).
    """

    arch_name = "SRVGGNetCompact"
    size_multiple = 1
    min_size = 1  # 3x3 convolutions pad by 1: any input from one pixel up
    supports_fp16 = True
    supports_bf16 = True

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        upscale: int = 4,
        act_type: str = "prelu",
    ) -> None:
        super().__init__()
        if act_type not in ACT_TYPES:
            raise OptionsError(f"act_type must be one of {ACT_TYPES}, got {act_type!r}")
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.num_feat = num_feat
        self.num_conv = num_conv
        self.upscale = upscale
        self.act_type = act_type

        self.body = nn.ModuleList([nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), self._act(num_feat)])
        for _ in range(num_conv):
            self.body.append(nn.Conv2d(num_feat, num_feat, 3, 1, 1))
            self.body.append(self._act(num_feat))
        self.body.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.upsampler = nn.PixelShuffle(upscale)
        self._init_weights()

    def _init_weights(self) -> None:
        """He initialisation for the activation's slope, and a last convolution scaled by 0.1.

        PyTorch's default conv init shrinks the signal's standard deviation ~2.4x per layer with PReLU(0.25): 17
        layers in, the residual is ~1e-7 of the input and a from-scratch training sits for hundreds of steps at the
        nearest-neighbour output. Kaiming-normal weights keep the scale through the stack; the small last layer
        starts the residual near zero (the network begins as nearest upsampling) with gradients flowing.
        Loaded checkpoints overwrite all of this.
        """
        slope = {"prelu": 0.25, "lrelu": 0.1, "relu": 0.0}[self.act_type]
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        for conv in convs:
            nn.init.kaiming_normal_(conv.weight, a=slope, mode="fan_in", nonlinearity="leaky_relu")
            assert conv.bias is not None
            nn.init.zeros_(conv.bias)
        with torch.no_grad():
            convs[-1].weight.mul_(0.1)

    @property
    def scale(self) -> int:
        return self.upscale

    def _act(self, num_feat: int) -> nn.Module:
        if self.act_type == "prelu":
            return nn.PReLU(num_parameters=num_feat)
        if self.act_type == "relu":
            return nn.ReLU(inplace=True)
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def hparams(self) -> dict[str, int | str]:
        """Constructor arguments, for self-describing checkpoints."""
        return {
            "num_in_ch": self.num_in_ch,
            "num_out_ch": self.num_out_ch,
            "num_feat": self.num_feat,
            "num_conv": self.num_conv,
            "upscale": self.upscale,
            "act_type": self.act_type,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        # Residual learning: the network predicts the difference to a nearest-neighbour upscale.
        base = F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        if base.shape[1] != out.shape[1]:
            # num_in_ch != num_out_ch: repeat or trim the base so the residual is still defined.
            base = base.repeat(1, (out.shape[1] + base.shape[1] - 1) // base.shape[1], 1, 1)[:, : out.shape[1]]
        return out + base
