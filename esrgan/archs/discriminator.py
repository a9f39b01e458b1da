"""VGG-style discriminator of SRGAN/ESRGAN with BasicSR's module and parameter names.

Five stages, each a 3x3 convolution and a strided 4x4 convolution (stride 2) with BatchNorm and LeakyReLU(0.2),
bring a (B, C, S, S) patch down to (B, 8 * num_feat, S / 32, S / 32); two linear layers give one logit per
image. BasicSR fixes S to 128 (or adds a sixth stage for 256); here the first linear layer's input follows from
the patch size, so any S divisible by 32 works, and S = 128 has exactly BasicSR's state-dict keys and shapes.
"""

from __future__ import annotations

import torch
from torch import nn

from esrgan.errors import OptionsError


class VGGStyleDiscriminator(nn.Module):
    """VGG-style discriminator.

    Args:
        num_in_ch: input channels (3 for RGB).
        num_feat: channels of the first stage; stages have 1, 2, 4, 8, 8 times as many.
        input_size: height and width of the patches it judges; a positive multiple of 32.

    Shapes:
        input (B, num_in_ch, input_size, input_size), RGB in [0, 1] (any range works; it is not normalised);
        output (B, 1) raw logits (no sigmoid: losses use BCE-with-logits).
    """

    arch_name = "VGGStyleDiscriminator"
    # What training needs to know: ESRGAN's relativistic loss, and patches halved five times.
    gan_loss = "ragan"
    patch_multiple = 32
    min_patch = 32

    @classmethod
    def for_patches(
        cls, num_in_ch: int, num_feat: int, patch_size: int, *, skip_connection: bool = True
    ) -> VGGStyleDiscriminator:
        """The discriminator for HR training patches of ``patch_size`` (``skip_connection`` is the U-Net's)."""
        return cls(num_in_ch, num_feat, patch_size)

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size <= 0 or input_size % 32:
            raise OptionsError(f"discriminator input_size must be a positive multiple of 32, got {input_size}")
        self.num_in_ch = num_in_ch
        self.num_feat = num_feat
        self.input_size = input_size
        nf = num_feat
        self.conv0_0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(nf, nf, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(nf, affine=True)
        # Convolutions followed by BatchNorm carry no bias: BatchNorm's shift makes it redundant.
        self.conv1_0 = nn.Conv2d(nf, nf * 2, 3, 1, 1, bias=False)
        self.bn1_0 = nn.BatchNorm2d(nf * 2, affine=True)
        self.conv1_1 = nn.Conv2d(nf * 2, nf * 2, 4, 2, 1, bias=False)
        self.bn1_1 = nn.BatchNorm2d(nf * 2, affine=True)
        self.conv2_0 = nn.Conv2d(nf * 2, nf * 4, 3, 1, 1, bias=False)
        self.bn2_0 = nn.BatchNorm2d(nf * 4, affine=True)
        self.conv2_1 = nn.Conv2d(nf * 4, nf * 4, 4, 2, 1, bias=False)
        self.bn2_1 = nn.BatchNorm2d(nf * 4, affine=True)
        self.conv3_0 = nn.Conv2d(nf * 4, nf * 8, 3, 1, 1, bias=False)
        self.bn3_0 = nn.BatchNorm2d(nf * 8, affine=True)
        self.conv3_1 = nn.Conv2d(nf * 8, nf * 8, 4, 2, 1, bias=False)
        self.bn3_1 = nn.BatchNorm2d(nf * 8, affine=True)
        self.conv4_0 = nn.Conv2d(nf * 8, nf * 8, 3, 1, 1, bias=False)
        self.bn4_0 = nn.BatchNorm2d(nf * 8, affine=True)
        self.conv4_1 = nn.Conv2d(nf * 8, nf * 8, 4, 2, 1, bias=False)
        self.bn4_1 = nn.BatchNorm2d(nf * 8, affine=True)
        side = input_size // 32
        self.linear1 = nn.Linear(nf * 8 * side * side, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def hparams(self) -> dict[str, int]:
        """Constructor arguments, for self-describing checkpoints."""
        return {"num_in_ch": self.num_in_ch, "num_feat": self.num_feat, "input_size": self.input_size}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise OptionsError(
                f"discriminator expects {self.input_size}x{self.input_size} patches, got {tuple(x.shape)}; "
                "set network_d.input_size to the HR patch size"
            )
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))  # S/2
        feat = self.lrelu(self.bn1_0(self.conv1_0(feat)))
        feat = self.lrelu(self.bn1_1(self.conv1_1(feat)))  # S/4
        feat = self.lrelu(self.bn2_0(self.conv2_0(feat)))
        feat = self.lrelu(self.bn2_1(self.conv2_1(feat)))  # S/8
        feat = self.lrelu(self.bn3_0(self.conv3_0(feat)))
        feat = self.lrelu(self.bn3_1(self.conv3_1(feat)))  # S/16
        feat = self.lrelu(self.bn4_0(self.conv4_0(feat)))
        feat = self.lrelu(self.bn4_1(self.conv4_1(feat)))  # S/32
        # reshape, not view: the features may be channels_last.
        feat = self.lrelu(self.linear1(feat.reshape(feat.shape[0], -1)))
        return self.linear2(feat)
