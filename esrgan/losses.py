"""Training losses: pixel (L1, MSE, Charbonnier), perceptual (VGG19 features), relativistic average GAN, the
vanilla GAN, and feature matching between a student and a teacher network (knowledge distillation).

All losses take RGB float tensors (B, C, H, W) in [0, 1] (or discriminator logits: (B, 1) per image, or
(B, 1, H, W) per pixel from the U-Net discriminator, averaged over every logit) and return a scalar mean. They
compute in float32 whatever dtype comes in, so autocast never reduces a loss in bf16/fp16.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.archs.vgg import VGG19FeatureExtractor

PixelKind = Literal["l1", "mse", "charbonnier"]

__all__ = [
    "FeatureMatchingLoss",
    "PerceptualLoss",
    "PixelKind",
    "PixelLoss",
    "ragan_d_loss",
    "ragan_g_loss",
    "vanilla_d_loss",
    "vanilla_g_loss",
]


class PixelLoss(nn.Module):
    """Mean pixel distance between output and target.

    Args:
        kind: "l1" (mean |x - y|), "mse" (mean (x - y)^2) or "charbonnier" (mean sqrt((x - y)^2 + eps^2)).
        eps: Charbonnier's smoothing constant.
    """

    def __init__(self, kind: PixelKind = "l1", eps: float = 1e-6) -> None:
        super().__init__()
        if kind not in ("l1", "mse", "charbonnier"):
            raise ValueError(f"pixel loss kind must be l1, mse or charbonnier, got {kind!r}")
        self.kind = kind
        self.eps = eps

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        output, target = output.float(), target.float()
        if self.kind == "l1":
            return F.l1_loss(output, target)
        if self.kind == "mse":
            return F.mse_loss(output, target)
        return torch.sqrt((output - target) ** 2 + self.eps**2).mean()


class PerceptualLoss(nn.Module):
    """Weighted distance between VGG19 features of output and target (ESRGAN: conv5_4 before ReLU, L1).

    Args:
        extractor: a frozen :class:`~esrgan.archs.vgg.VGG19FeatureExtractor` returning at least the weighted layers.
        layer_weights: {layer name: weight}.
        criterion: "l1" or "mse" between features.

    The target's features are computed without gradient; gradients flow only into ``output``.
    """

    def __init__(
        self,
        extractor: VGG19FeatureExtractor,
        layer_weights: Mapping[str, float],
        criterion: Literal["l1", "mse"] = "l1",
    ) -> None:
        super().__init__()
        missing = set(layer_weights) - set(extractor.layers)
        if missing:
            raise ValueError(
                f"perceptual layers {sorted(missing)} are not extracted (extractor has {extractor.layers})"
            )
        if criterion not in ("l1", "mse"):
            raise ValueError(f"perceptual criterion must be l1 or mse, got {criterion!r}")
        self.extractor = extractor
        self.layer_weights = dict(layer_weights)
        self.criterion = criterion

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out_feats = self.extractor(output)
        with torch.no_grad():
            tgt_feats = self.extractor(target)
        dist = F.l1_loss if self.criterion == "l1" else F.mse_loss
        total = output.new_zeros((), dtype=torch.float32)
        for name, weight in self.layer_weights.items():
            total = total + weight * dist(out_feats[name].float(), tgt_feats[name].float())
        return total


class FeatureMatchingLoss(nn.Module):
    """Distance between a student's feature map, projected by a learned 1x1 convolution, and a teacher's.

    The projection lets a narrow student (say 32 channels) match a wide teacher (64): it is trained with the
    student's optimiser and discarded afterwards (the exported student never needs it).

    Args:
        student_channels, teacher_channels: channels of the two feature maps.
        criterion: "l1" or "mse".

    Shapes:
        student (B, student_channels, h, w), teacher (B, teacher_channels, h, w) -> scalar float32.
    """

    def __init__(self, student_channels: int, teacher_channels: int, criterion: Literal["l1", "mse"] = "l1") -> None:
        super().__init__()
        if criterion not in ("l1", "mse"):
            raise ValueError(f"feature criterion must be l1 or mse, got {criterion!r}")
        self.adapter = nn.Conv2d(student_channels, teacher_channels, 1)
        self.criterion = criterion

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape[-2:] != teacher.shape[-2:]:
            raise ValueError(
                f"feature maps differ in size: student {tuple(student.shape)}, teacher {tuple(teacher.shape)}; "
                "tap layers at the same resolution"
            )
        projected = self.adapter(student).float()
        dist = F.l1_loss if self.criterion == "l1" else F.mse_loss
        return dist(projected, teacher.detach().float())


def ragan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of the relativistic average GAN (ESRGAN, eq. 2).

    L_D = -E[log σ(C(x_r) - E[C(x_f)])] - E[log(1 - σ(C(x_f) - E[C(x_r)]))], with -log σ(z) computed as
    BCE-with-logits(z, 1) and -log(1 - σ(z)) as BCE-with-logits(z, 0), which stay finite for any logits.

    Args:
        real_logits: C(x_r), (B, 1) raw discriminator outputs on real (HR) patches.
        fake_logits: C(x_f), (B, 1) on generated patches (detached from the generator for the D update).
    """
    real, fake = real_logits.float(), fake_logits.float()
    real_rel = real - fake.mean()
    fake_rel = fake - real.mean()
    return F.binary_cross_entropy_with_logits(real_rel, torch.ones_like(real_rel)) + F.binary_cross_entropy_with_logits(
        fake_rel, torch.zeros_like(fake_rel)
    )


def ragan_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss of the relativistic average GAN (ESRGAN, eq. 3), the symmetric form of :func:`ragan_d_loss`.

    L_G = -E[log(1 - σ(C(x_r) - E[C(x_f)]))] - E[log σ(C(x_f) - E[C(x_r)])]: the generator gains from the
    gradients of both real and fake logits. Pass ``real_logits`` detached (they do not depend on G).
    """
    real, fake = real_logits.float(), fake_logits.float()
    real_rel = real - fake.mean()
    fake_rel = fake - real.mean()
    return F.binary_cross_entropy_with_logits(
        real_rel, torch.zeros_like(real_rel)
    ) + F.binary_cross_entropy_with_logits(fake_rel, torch.ones_like(fake_rel))


def vanilla_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of the standard GAN (Real-ESRGAN with its U-Net discriminator):
    BCE(D(x_r), 1) + BCE(D(x_f), 0), each the mean over all logits (per pixel for the U-Net)."""
    real, fake = real_logits.float(), fake_logits.float()
    return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros_like(fake)
    )


def vanilla_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss of the standard GAN, non-saturating form: BCE(D(G(x)), 1) = -E[log sigmoid(D(G(x)))]."""
    fake = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
