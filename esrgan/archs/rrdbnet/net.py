"""RRDBNet: the ESRGAN generator (Wang et al., 2018) with BasicSR's module and parameter names.

Parameter names match BasicSR / Real-ESRGAN exactly (``conv_first``, ``body.N.rdbK.convJ``, ``conv_body``,
``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``) so their state dicts load without renaming. Scale 8
adds ``conv_up3`` (spandrel's convention for x8 ESRGAN models). Scales 1 and 2 pixel-unshuffle the input
(by 4 and 2) as Real-ESRGAN's x2plus does, so the trunk always runs at 1/4 of the output resolution; with
``pixel_unshuffle=False`` they instead have 0 or 1 upsampling convolutions, as the original ESRGAN code builds
x1/x2 models (some community models use that layout).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.errors import OptionsError

SUPPORTED_SCALES = (1, 2, 4, 8)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convolutions; the output is scaled by 0.2 and added to the input.

    Args:
        num_feat: channels in and out.
        num_grow_ch: channels each of the first four convolutions adds.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        # Residual scaling 0.2 (ESRGAN paper, section 3.2) keeps very deep networks trainable.
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and an outer residual scaled by 0.2."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator.

    Args:
        num_in_ch: input channels (3 for RGB, 1 for gray, 4 for RGBA).
        num_out_ch: output channels.
        scale: 1, 2, 4 or 8.
        num_feat: trunk channels (64 in ESRGAN).
        num_block: number of RRDB blocks (23 in ESRGAN).
        num_grow_ch: growth channels of the dense blocks (32 in ESRGAN).
        pixel_unshuffle: scales 1 and 2 only: fold the input's pixels into channels and keep two x2
            upsampling convolutions (Real-ESRGAN, default), or run the trunk at input resolution with
            log2(scale) upsampling convolutions (original ESRGAN code).

    Shapes:
        input (B, num_in_ch, H, W) with H and W multiples of :attr:`size_multiple`;
        output (B, num_out_ch, H * scale, W * scale). Values are nominally in [0, 1] but not clamped.
    """

    arch_name = "RRDBNet"
    # Real-ESRGAN runs these networks in fp16 on GPUs; the engine recomputes in fp32 any output fp16 breaks.
    supports_fp16 = True
    supports_bf16 = True

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        pixel_unshuffle: bool = True,
    ) -> None:
        super().__init__()
        if scale not in SUPPORTED_SCALES:
            raise OptionsError(f"RRDBNet supports scale {SUPPORTED_SCALES}, got {scale}")
        self.scale = scale
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.num_feat = num_feat
        self.num_block = num_block
        self.num_grow_ch = num_grow_ch
        self.pixel_unshuffle = pixel_unshuffle or scale >= 4
        # Scales 1 and 2 fold space into channels first, so the trunk and the two x2 upsamplers are shared.
        self.unshuffle = {1: 4, 2: 2}.get(scale, 1) if self.pixel_unshuffle else 1
        self.num_upsample = {1: 0, 2: 1, 4: 2, 8: 3}[scale * self.unshuffle]
        first_in = num_in_ch * self.unshuffle**2
        self.conv_first = nn.Conv2d(first_in, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(1, self.num_upsample + 1):  # conv_up1, conv_up2(, conv_up3): BasicSR/spandrel names
            setattr(self, f"conv_up{i}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (pixel-unshuffle factor)."""
        return self.unshuffle

    @property
    def min_size(self) -> int:
        """The smallest input side: one pixel after the pixel-unshuffle (3x3 convolutions pad by 1)."""
        return self.unshuffle

    def hparams(self) -> dict[str, int | bool]:
        """Constructor arguments, for self-describing checkpoints (``pixel_unshuffle`` only when it matters)."""
        extra = {} if self.pixel_unshuffle else {"pixel_unshuffle": False}
        return {
            "num_in_ch": self.num_in_ch,
            "num_out_ch": self.num_out_ch,
            "scale": self.scale,
            "num_feat": self.num_feat,
            "num_block": self.num_block,
            "num_grow_ch": self.num_grow_ch,
            **extra,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(1, self.num_upsample + 1):
            conv = getattr(self, f"conv_up{i}")
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
