from __future__ import annotations

import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet
from esrgan.archs.discriminator import VGGStyleDiscriminator
from esrgan.archs.unet_discriminator import UNetDiscriminatorSN
from esrgan.degradations import USMSharp
from esrgan.losses import PixelLoss, vanilla_d_loss, vanilla_g_loss
from esrgan.train.steps import EMA, Amp, Losses, gan_step, psnr_step


def _batch(n: int = 2, side: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    hr = torch.rand(n, 3, side * 4, side * 4)
    lr = nn.functional.avg_pool2d(hr, 4)
    return lr, hr


def test_ema_is_the_exponential_moving_average() -> None:
    net = nn.Linear(3, 2)
    ema = EMA(net, decay=0.9)
    before = ema.net.state_dict()["weight"].clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    torch.testing.assert_close(ema.net.state_dict()["weight"], 0.9 * before + 0.1 * net.weight)
    assert not ema.net.training and not any(p.requires_grad for p in ema.net.parameters())
    bn = nn.BatchNorm1d(2)
    bn_ema = EMA(bn, 0.5)
    bn.state_dict()["running_mean"].fill_(3.0)
    bn_ema.update(bn)
    # Buffers are copied, not averaged.
    assert torch.equal(bn_ema.net.state_dict()["running_mean"], torch.full((2,), 3.0))


def test_psnr_step_fits_a_batch_and_clips_gradients() -> None:
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    opt = torch.optim.Adam(g.parameters(), 2e-3)
    losses = Losses(pixel=PixelLoss("l1"))
    lr, hr = _batch()
    first = psnr_step(lr, hr, g, opt, losses, Amp("cpu"))["l_pix"].item()
    for _ in range(30):
        last = psnr_step(lr, hr, g, opt, losses, Amp("cpu"), grad_clip=0.05)["l_pix"].item()
    assert last < 0.5 * first
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in g.parameters() if p.grad is not None]))
    assert norm <= 0.05 + 1e-6


def test_gan_step_updates_both_networks_and_reports_the_discriminator() -> None:
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    d = VGGStyleDiscriminator(3, 4, input_size=32)
    opt_g = torch.optim.Adam(g.parameters(), 1e-4)
    opt_d = torch.optim.Adam(d.parameters(), 1e-4)
    losses = Losses(pixel=PixelLoss("l1"), pixel_weight=0.01, gan_weight=0.005)
    g0 = [p.clone() for p in g.parameters()]
    d0 = [p.clone() for p in d.parameters()]
    lr, hr = _batch(4)
    out = gan_step(lr, hr, g, d, opt_g, opt_d, losses, Amp("cpu"))
    assert set(out) == {"l_pix", "l_g_gan", "l_d", "d_real", "d_fake", "p_real", "p_fake"}
    assert all(torch.isfinite(v) for v in out.values())
    assert 0.0 < out["p_real"].item() < 1.0 and 0.0 < out["p_fake"].item() < 1.0
    assert all(p.requires_grad for p in d.parameters())  # D is unfrozen again after the G update
    assert any(not torch.equal(a, b) for a, b in zip(g0, g.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, d.parameters(), strict=True))


def test_gan_step_vanilla_with_the_unet_discriminator() -> None:
    """Real-ESRGAN's stage 2: per-pixel logits, standard GAN losses, D's probabilities as plain sigmoids."""
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    d = UNetDiscriminatorSN(3, 4)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-4), torch.optim.Adam(d.parameters(), 1e-4)
    losses = Losses(pixel=PixelLoss("l1"), gan_weight=0.1, gan_kind="vanilla")
    lr, hr = _batch(2, side=9)  # 36-pixel patches: no multiple of 8 needed
    g_copy, d_copy = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4), UNetDiscriminatorSN(3, 4)
    g_copy.load_state_dict(g.state_dict())
    d_copy.load_state_dict(d.state_dict())
    out = gan_step(lr, hr, g, d, opt_g, opt_d, losses, Amp("cpu"))
    assert set(out) == {"l_pix", "l_g_gan", "l_d", "d_real", "d_fake", "p_real", "p_fake"}
    # The losses are the standard GAN's on the networks as they were before the step. D's spectral norm runs one
    # power iteration per training forward, so the copy makes the same forwards in the same order.
    with torch.no_grad():
        sr = g_copy(lr)
        fake_for_g = d_copy(sr)
        real, fake = d_copy(hr), d_copy(sr)
    torch.testing.assert_close(out["l_g_gan"], 0.1 * vanilla_g_loss(fake_for_g))
    torch.testing.assert_close(out["l_d"], vanilla_d_loss(real, fake))
    torch.testing.assert_close(out["p_real"], torch.sigmoid(real).mean())
    torch.testing.assert_close(out["p_fake"], torch.sigmoid(fake).mean())


def test_sharpened_targets_per_loss() -> None:
    hr = torch.rand(2, 3, 32, 32)
    plain = Losses(pixel=PixelLoss("l1"))
    t = plain.targets(hr)
    assert t.pixel is hr and t.perceptual is hr and t.gan is hr
    usm = USMSharp()
    some = Losses(pixel=PixelLoss("l1"), usm=usm, usm_targets=frozenset({"pixel", "perceptual"}))
    t = some.targets(hr)
    torch.testing.assert_close(t.pixel, usm(hr))
    assert t.perceptual is t.pixel and t.gan is hr
    # The PSNR step fits the sharpened target: its loss is measured against usm(hr).
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    lr = nn.functional.avg_pool2d(hr, 4)
    with torch.no_grad():
        expected = PixelLoss("l1")(g(lr), usm(hr))
    out = psnr_step(lr, hr, g, torch.optim.Adam(g.parameters()), some, Amp("cpu"))
    torch.testing.assert_close(out["l_pix"], expected)


def test_gan_step_bf16_autocast_keeps_fp32_losses() -> None:
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    d = VGGStyleDiscriminator(3, 4, input_size=32)
    opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    losses = Losses(pixel=PixelLoss("l1"), gan_weight=0.005)
    out = gan_step(*_batch(2), g, d, opt_g, opt_d, losses, Amp("cpu", torch.bfloat16))
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in out.values())
    assert all(p.dtype == torch.float32 for p in g.parameters())


@pytest.mark.gpu
def test_fp16_step_uses_the_grad_scaler() -> None:
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4).cuda()
    opt = torch.optim.Adam(g.parameters(), 1e-3)
    amp = Amp("cuda", torch.float16, torch.amp.GradScaler("cuda"))
    lr, hr = (t.cuda() for t in _batch())
    out = psnr_step(lr, hr, g, opt, Losses(pixel=PixelLoss("l1")), amp)
    assert torch.isfinite(out["l_pix"]) and amp.scaler is not None and amp.scaler.get_scale() > 0
