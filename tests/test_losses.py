from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from esrgan.archs.vgg import VGG19FeatureExtractor
from esrgan.losses import PerceptualLoss, PixelLoss, ragan_d_loss, ragan_g_loss, vanilla_d_loss, vanilla_g_loss


def test_pixel_losses_hand_computed() -> None:
    out = torch.tensor([0.0, 0.5, 0.25, 1.0]).view(1, 1, 2, 2)
    tgt = torch.tensor([1.0, 0.5, 0.75, 0.0]).view(1, 1, 2, 2)
    # |d| = 1, 0, 0.5, 1
    assert PixelLoss("l1")(out, tgt).item() == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert PixelLoss("mse")(out, tgt).item() == pytest.approx((1 + 0 + 0.25 + 1) / 4)
    eps = 1e-3
    expected = (2 * math.sqrt(1 + eps**2) + math.sqrt(eps**2) + math.sqrt(0.25 + eps**2)) / 4
    assert PixelLoss("charbonnier", eps=eps)(out, tgt).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="l1, mse or charbonnier"):
        PixelLoss("l2")  # type: ignore[arg-type]


def test_pixel_loss_reduces_in_float32() -> None:
    a = torch.rand(1, 3, 8, 8).bfloat16()
    b = torch.rand(1, 3, 8, 8)
    assert PixelLoss("l1")(a, b).dtype == torch.float32


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_ragan_losses_hand_computed() -> None:
    real = torch.tensor([[2.0], [0.0]])
    fake = torch.tensor([[1.0], [-1.0]])
    # E[C(x_f)] = 0, E[C(x_r)] = 1: relative logits real - 0 = (2, 0), fake - 1 = (0, -2).
    l_d = (
        -(math.log(_sigmoid(2)) + math.log(_sigmoid(0))) / 2
        - (math.log(1 - _sigmoid(0)) + math.log(1 - _sigmoid(-2))) / 2
    )
    l_g = (
        -(math.log(1 - _sigmoid(2)) + math.log(1 - _sigmoid(0))) / 2
        - (math.log(_sigmoid(0)) + math.log(_sigmoid(-2))) / 2
    )
    assert ragan_d_loss(real, fake).item() == pytest.approx(l_d, rel=1e-6)
    assert ragan_g_loss(real, fake).item() == pytest.approx(l_g, rel=1e-6)


def test_ragan_is_stable_for_huge_logits() -> None:
    real = torch.tensor([[1e4], [2e4]])
    fake = torch.tensor([[-1e4], [-3e4]])
    d, g = ragan_d_loss(real, fake), ragan_g_loss(real, fake)
    assert torch.isfinite(d) and torch.isfinite(g)
    assert d.item() == pytest.approx(0.0, abs=1e-6)  # D is perfectly right
    # Relative logits: real - E[fake] = (3e4, 4e4), fake - E[real] = (-2.5e4, -4.5e4). For large |z|,
    # -log(1 - σ(z)) ≈ z and -log σ(z) ≈ -z, so L_G ≈ mean(3e4, 4e4) + mean(2.5e4, 4.5e4) = 7e4.
    assert g.item() == pytest.approx(7e4, rel=1e-6)


def test_ragan_gradients_match_the_naive_formula() -> None:
    real = torch.randn(4, 1, requires_grad=True)
    fake = torch.randn(4, 1, requires_grad=True)
    naive_d = (
        -torch.log(torch.sigmoid(real - fake.mean())).mean() - torch.log(1 - torch.sigmoid(fake - real.mean())).mean()
    )
    gr, gf = torch.autograd.grad(naive_d, (real, fake))
    gr2, gf2 = torch.autograd.grad(ragan_d_loss(real, fake), (real, fake))
    torch.testing.assert_close(gr2, gr)
    torch.testing.assert_close(gf2, gf)


def test_perceptual_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    vgg = VGG19FeatureExtractor(["conv1_1", "conv2_1"], allow_random_weights=True)
    loss = PerceptualLoss(vgg, {"conv1_1": 0.5, "conv2_1": 2.0}, "l1")
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    y = torch.rand(1, 3, 32, 32, requires_grad=True)
    fx, fy = vgg(x), vgg(y)
    expected = 0.5 * F.l1_loss(fx["conv1_1"], fy["conv1_1"]) + 2.0 * F.l1_loss(fx["conv2_1"], fy["conv2_1"])
    value = loss(x, y)
    torch.testing.assert_close(value, expected)
    value.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert y.grad is None  # the target's features carry no gradient
    assert loss(y, y).item() == 0.0
    with pytest.raises(ValueError, match="not extracted"):
        PerceptualLoss(vgg, {"conv5_4": 1.0})


def test_vanilla_gan_losses_hand_computed() -> None:
    real = torch.tensor([2.0, 0.0]).view(2, 1, 1, 1)
    fake = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1)

    def nll(p: float) -> float:
        return -math.log(p)

    d_expected = (nll(_sigmoid(2)) + nll(_sigmoid(0))) / 2 + (nll(1 - _sigmoid(-1)) + nll(1 - _sigmoid(1))) / 2
    assert vanilla_d_loss(real, fake).item() == pytest.approx(d_expected, rel=1e-6)
    assert vanilla_g_loss(fake).item() == pytest.approx((nll(_sigmoid(-1)) + nll(_sigmoid(1))) / 2, rel=1e-6)
    # Per-pixel maps average over every logit; bf16 logits reduce in float32.
    maps = torch.randn(2, 1, 8, 8)
    assert vanilla_g_loss(maps).item() == pytest.approx(F.softplus(-maps).mean().item(), rel=1e-6)
    assert vanilla_d_loss(maps.bfloat16(), maps.bfloat16()).dtype == torch.float32
