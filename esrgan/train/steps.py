"""One optimisation step of each ESRGAN stage, and the generator's EMA.

- :func:`psnr_step` (stage 1): G minimises the pixel loss.
- :func:`gan_step` (stage 2): G minimises pixel + perceptual + adversarial losses, then D minimises its GAN loss
  (relativistic average GAN as in ESRGAN, or the standard GAN as Real-ESRGAN uses with its U-Net discriminator).
- :func:`distill_step` (distillation): the student G minimises pixel (+ perceptual, + feature matching) losses
  against the teacher's output.

Both take a batch of (LR, HR) RGB float tensors in [0, 1] already on the device and return the step's scalars as
detached 0-d tensors (no host synchronisation here; the loop reads them when it logs).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from esrgan.degradations.usm import USMSharp
from esrgan.losses import PerceptualLoss, PixelLoss, ragan_d_loss, ragan_g_loss, vanilla_d_loss, vanilla_g_loss
from esrgan.train.distributed import unwrap_ddp
from esrgan.train.teacher import FeatureTap


@dataclass
class Amp:
    """Mixed precision: autocast ``dtype`` (None: fp32) on ``device_type``, with a grad scaler for fp16."""

    device_type: str
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)


@dataclass
class Targets:
    """What each loss compares the output with: the HR patch, or its USM-sharpened copy."""

    pixel: torch.Tensor
    perceptual: torch.Tensor
    gan: torch.Tensor  # the discriminator's real examples


@dataclass
class Losses:
    """Loss modules and their weights (perceptual and GAN are None in the PSNR stage).

    ``gan_kind``: "ragan" (ESRGAN) or "vanilla" (Real-ESRGAN's U-Net discriminator). ``usm`` sharpens the HR
    patches for the targets named in ``usm_targets`` ("pixel", "perceptual", "gan").
    """

    pixel: PixelLoss
    pixel_weight: float = 1.0
    perceptual: PerceptualLoss | None = None
    perceptual_weight: float = 0.0
    gan_weight: float = 0.0
    gan_kind: str = "ragan"
    usm: USMSharp | None = None
    usm_targets: frozenset[str] = frozenset()

    def targets(self, hr: torch.Tensor) -> Targets:
        """The targets of a (B, C, H, W) HR batch (sharpened once, shared by the losses that want it)."""
        if self.usm is None or not self.usm_targets:
            return Targets(hr, hr, hr)
        sharp = self.usm(hr).to(hr.dtype)
        if hr.is_contiguous(memory_format=torch.channels_last):
            sharp = sharp.contiguous(memory_format=torch.channels_last)
        pick = {k: sharp if k in self.usm_targets else hr for k in ("pixel", "perceptual", "gan")}
        return Targets(**pick)


@dataclass
class OnlineTeacher:
    """A teacher run inside each distillation step (``teacher.targets: online``).

    Attributes:
        net: the teacher, frozen, in eval mode, on the training device.
        amp: its autocast settings.
        tap, student_tap: feature taps for feature matching (None without ``losses.feature``).
        feature: the feature-matching loss with its adapter (possibly DDP-wrapped), or None.
        feature_weight: its weight.
    """

    net: nn.Module
    amp: Amp
    tap: FeatureTap | None = None
    student_tap: FeatureTap | None = None
    feature: nn.Module | None = None
    feature_weight: float = 0.0


class EMA:
    """Exponential moving average of a network's weights: ema = decay * ema + (1 - decay) * weights.

    Buffers (none in RRDBNet; BatchNorm statistics elsewhere) are copied, not averaged. The copy lives on the
    network's device, in eval mode, without gradients.
    """

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        ema: list[torch.Tensor] = list(self.net.parameters())
        cur: list[torch.Tensor] = [p.detach() for p in net.parameters()]
        torch._foreach_lerp_(ema, cur, 1.0 - self.decay)
        for b_ema, b in zip(self.net.buffers(), net.buffers(), strict=True):
            b_ema.copy_(b)


def _update(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: Iterable[nn.Parameter], amp: Amp, grad_clip: float
) -> None:
    """Backward, optional gradient-norm clipping, optimiser step (through the grad scaler for fp16)."""
    optimizer.zero_grad(set_to_none=True)
    if amp.scaler is not None:
        amp.scaler.scale(loss).backward()
        if grad_clip > 0:
            amp.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(params, grad_clip)
        amp.scaler.step(optimizer)
    else:
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()


def _content_loss(
    sr: torch.Tensor, target: torch.Tensor | Targets, losses: Losses, amp: Amp, out: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Weighted pixel loss plus, when configured, the weighted perceptual loss; records ``l_pix`` and
    ``l_percep`` (detached) in ``out``. Shared by the GAN and distillation steps."""
    pixel_target = target.pixel if isinstance(target, Targets) else target
    l_pix = losses.pixel_weight * losses.pixel(sr, pixel_target)
    out["l_pix"] = l_pix.detach()
    if losses.perceptual is None:
        return l_pix
    with amp.autocast():
        l_percep = losses.perceptual_weight * losses.perceptual(
            sr, target.perceptual if isinstance(target, Targets) else target
        )
    out["l_percep"] = l_percep.detach()
    return l_pix + l_percep


def psnr_step(
    lr: torch.Tensor,
    hr: torch.Tensor,
    net_g: nn.Module,
    opt_g: torch.optim.Optimizer,
    losses: Losses,
    amp: Amp,
    grad_clip: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Stage 1: one Adam step of G on the pixel loss.

    Args:
        lr: (B, C, h, w) LR patches; hr: (B, C, h * scale, w * scale) HR patches, RGB in [0, 1] (sharpened
            first when ``losses.usm_targets`` has "pixel").
        net_g: the generator (possibly DDP-wrapped), in train mode.

    Returns:
        {"l_pix": weighted pixel loss}.
    """
    target = losses.targets(hr).pixel
    with amp.autocast():
        sr = net_g(lr)
    l_pix = losses.pixel_weight * losses.pixel(sr, target)
    _update(l_pix, opt_g, net_g.parameters(), amp, grad_clip)
    if amp.scaler is not None:
        amp.scaler.update()
    return {"l_pix": l_pix.detach()}


def gan_step(
    lr: torch.Tensor,
    hr: torch.Tensor,
    net_g: nn.Module,
    net_d: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    losses: Losses,
    amp: Amp,
    grad_clip: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Stage 2: one step of G (pixel + perceptual + adversarial), then one step of D, as in ESRGAN/Real-ESRGAN.

    Args:
        lr, hr: as in :func:`psnr_step`; HR patches must suit the discriminator (the VGG-style one's input size).
        net_g, net_d: generator and discriminator (possibly DDP-wrapped), in train mode.

    Returns:
        Weighted losses ``l_pix``, ``l_percep`` (if used), ``l_g_gan``, the D loss ``l_d``, the mean logits
        ``d_real`` and ``d_fake``, and the mean probabilities D gives real and generated patches (per pixel for the
        U-Net): ``p_real`` and ``p_fake``, relativistic for RaGAN (sigmoid(C(x_r) - E[C(x_f)]) and
        sigmoid(C(x_f) - E[C(x_r)])), plain sigmoid(D(x)) for the vanilla GAN. 0.5 and 0.5: D cannot tell; near 1
        and 0: D wins easily.
    """
    targets = losses.targets(hr)
    ragan = losses.gan_kind == "ragan"
    # Generator update. D runs unwrapped and frozen: G's loss must not touch D's weights (nor D's DDP reducer,
    # which would wait for gradients D does not get here).
    d_plain = unwrap_ddp(net_d)
    d_plain.requires_grad_(False)
    with amp.autocast():
        sr = net_g(lr)
    out: dict[str, torch.Tensor] = {}
    l_g = _content_loss(sr, targets, losses, amp, out)
    with amp.autocast():
        real_for_g = d_plain(targets.gan).detach() if ragan else None
        fake_for_g = d_plain(sr)
    if real_for_g is not None:
        l_g_gan = losses.gan_weight * ragan_g_loss(real_for_g, fake_for_g)
    else:
        l_g_gan = losses.gan_weight * vanilla_g_loss(fake_for_g)
    l_g = l_g + l_g_gan
    out["l_g_gan"] = l_g_gan.detach()
    _update(l_g, opt_g, net_g.parameters(), amp, grad_clip)

    # Discriminator update on the same fake patches (detached: G is not updated by D's loss).
    d_plain.requires_grad_(True)
    with amp.autocast():
        real = net_d(targets.gan)
        fake = net_d(sr.detach())
    l_d = ragan_d_loss(real, fake) if ragan else vanilla_d_loss(real, fake)
    _update(l_d, opt_d, net_d.parameters(), amp, grad_clip)
    if amp.scaler is not None:
        amp.scaler.update()

    with torch.no_grad():
        real32, fake32 = real.detach().float(), fake.detach().float()
        out["l_d"] = l_d.detach()
        out["d_real"] = real32.mean()
        out["d_fake"] = fake32.mean()
        out["p_real"] = torch.sigmoid(real32 - fake32.mean() if ragan else real32).mean()
        out["p_fake"] = torch.sigmoid(fake32 - real32.mean() if ragan else fake32).mean()
    return out


def distill_step(
    lr: torch.Tensor,
    target: torch.Tensor | None,
    net_g: nn.Module,
    opt_g: torch.optim.Optimizer,
    losses: Losses,
    amp: Amp,
    grad_clip: float = 0.0,
    teacher: OnlineTeacher | None = None,
) -> dict[str, torch.Tensor]:
    """Distillation: one Adam step of the student G towards the teacher's output.

    Args:
        lr: (B, C, h, w) LR patches, RGB in [0, 1].
        target: (B, C, h * scale, w * scale) teacher outputs for ``lr`` (precomputed targets), or None when
            ``teacher`` computes them here.
        net_g: the student (possibly DDP-wrapped), in train mode.
        teacher: the online teacher; with feature matching, ``opt_g`` must also hold the adapter's parameters.

    Returns:
        Weighted losses ``l_pix``, ``l_percep`` and ``l_feat`` (those in use).
    """
    t_feat: torch.Tensor | None = None
    if teacher is not None:
        with torch.no_grad(), teacher.amp.autocast():
            target = teacher.net(lr).float().clamp_(0.0, 1.0)
        if teacher.tap is not None:
            t_feat = teacher.tap.take()
    if target is None:
        raise ValueError("distill_step needs precomputed targets or an online teacher")
    with amp.autocast():
        sr = net_g(lr)
    out: dict[str, torch.Tensor] = {}
    loss = _content_loss(sr, target, losses, amp, out)
    params = list(net_g.parameters())
    if teacher is not None and teacher.feature is not None:
        assert teacher.student_tap is not None and t_feat is not None
        with amp.autocast():
            l_feat = teacher.feature_weight * teacher.feature(teacher.student_tap.take(), t_feat)
        loss = loss + l_feat
        out["l_feat"] = l_feat.detach()
        params += list(teacher.feature.parameters())
    _update(loss, opt_g, params, amp, grad_clip)
    if amp.scaler is not None:
        amp.scaler.update()
    return out
