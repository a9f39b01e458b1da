"""U-Net discriminator with spectral normalisation (Real-ESRGAN's ``UNetDiscriminatorSN``), for any patch size.

An encoder of three strided 4x4 convolutions (stride 2) and a decoder of three bilinear upsamplings, each
followed by a 3x3 convolution and (with ``skip_connection``) added to the encoder's feature map of the same
size, then two 3x3 convolutions and a last one to a single channel: one realness logit per pixel. Spectral
normalisation (one power iteration per training forward) bounds every inner convolution's Lipschitz constant;
the first and last convolutions are plain, as in Real-ESRGAN. Parameter names and shapes are Real-ESRGAN's
(``conv0`` .. ``conv9``, spectral-norm ``weight_orig``/``weight_u``/``weight_v``, from the same
``torch.nn.utils.spectral_norm``), so its released ``net_d`` file should load as it is (not tried: offline here).

Any size: Real-ESRGAN doubles the decoder's maps (``scale_factor=2``), so its input sides must be multiples of 8.
Here each upsampling goes to the size of the encoder map it meets, which is the same operation for those sizes
(bilinear with align_corners False maps coordinates by the size ratio, exactly 1/2 there) and keeps odd sizes
aligned: a 65-pixel side is encoded as 32, 16, 8 and decoded as 16, 32, 65. The strided convolutions need a
side of at least 8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from esrgan.errors import OptionsError

MIN_SIZE = 8

__all__ = ["MIN_SIZE", "UNetDiscriminatorSN"]


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=0.2)


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class UNetDiscriminatorSN(nn.Module):
    """U-Net discriminator with spectral normalisation.

    Args:
        num_in_ch: input channels (3 for RGB).
        num_feat: channels of the first level; the encoder has 2, 4, 8 times as many.
        skip_connection: add the encoder's maps to the decoder's (Real-ESRGAN: yes).

    Shapes:
        input (B, num_in_ch, H, W), H and W >= 8, RGB in [0, 1] (not normalised);
        output (B, 1, H, W) raw per-pixel logits (no sigmoid: losses use BCE-with-logits).
    """

    arch_name = "UNetDiscriminatorSN"
    # What training needs to know: Real-ESRGAN's vanilla GAN loss per pixel, and any patch of MIN_SIZE or more.
    gan_loss = "vanilla"
    patch_multiple = 1
    min_patch = MIN_SIZE

    @classmethod
    def for_patches(
        cls, num_in_ch: int, num_feat: int, patch_size: int, *, skip_connection: bool = True
    ) -> UNetDiscriminatorSN:
        """The discriminator for HR training patches (any size of at least :data:`MIN_SIZE`)."""
        return cls(num_in_ch, num_feat, skip_connection)

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.num_in_ch = num_in_ch
        self.num_feat = num_feat
        self.skip_connection = skip_connection
        nf = num_feat
        self.conv0 = nn.Conv2d(num_in_ch, nf, kernel_size=3, stride=1, padding=1)
        self.conv1 = spectral_norm(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def hparams(self) -> dict[str, int | bool]:
        """Constructor arguments (for self-describing checkpoints)."""
        return {"num_in_ch": self.num_in_ch, "num_feat": self.num_feat, "skip_connection": self.skip_connection}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_SIZE:
            raise OptionsError(
                f"UNetDiscriminatorSN needs inputs of at least {MIN_SIZE}x{MIN_SIZE}, got {tuple(x.shape)}"
            )
        x0 = _lrelu(self.conv0(x))
        x1 = _lrelu(self.conv1(x0))
        x2 = _lrelu(self.conv2(x1))
        x3 = _lrelu(self.conv3(x2))
        x4 = _lrelu(self.conv4(_up(x3, x2)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = _lrelu(self.conv5(_up(x4, x1)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = _lrelu(self.conv6(_up(x5, x0)))
        if self.skip_connection:
            x6 = x6 + x0
        out = _lrelu(self.conv7(x6))
        out = _lrelu(self.conv8(out))
        return self.conv9(out)
