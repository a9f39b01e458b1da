"""U-Net discriminator with spectral normalisation: any size, Real-ESRGAN's layout and outputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from esrgan.archs.unet_discriminator import UNetDiscriminatorSN


def _reference_forward(d: UNetDiscriminatorSN, x: torch.Tensor) -> torch.Tensor:
    """Real-ESRGAN's forward: every decoder map doubled with scale_factor=2 (sides must be multiples of 8)."""

    def lrelu(t: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(t, 0.2)

    def up(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

    x0 = lrelu(d.conv0(x))
    x1 = lrelu(d.conv1(x0))
    x2 = lrelu(d.conv2(x1))
    x3 = lrelu(d.conv3(x2))
    x4 = lrelu(d.conv4(up(x3))) + x2
    x5 = lrelu(d.conv5(up(x4))) + x1
    x6 = lrelu(d.conv6(up(x5))) + x0
    return d.conv9(lrelu(d.conv8(lrelu(d.conv7(x6)))))


@pytest.mark.parametrize("size", [(8, 8), (9, 13), (33, 65), (64, 48), (17, 100)])
def test_any_size_gives_per_pixel_logits(size: tuple[int, int]) -> None:
    d = UNetDiscriminatorSN(3, 4)
    assert d(torch.rand(2, 3, *size)).shape == (2, 1, *size)
    assert UNetDiscriminatorSN(3, 4, skip_connection=False)(torch.rand(1, 3, *size)).shape == (1, 1, *size)


def test_too_small_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least 8x8"):
        UNetDiscriminatorSN(3, 4)(torch.rand(1, 3, 7, 32))


def test_equals_real_esrgans_forward_for_multiples_of_8() -> None:
    torch.manual_seed(0)
    d = UNetDiscriminatorSN(3, 8).eval()  # eval: no power iteration, both forwards see the same weights
    x = torch.rand(2, 3, 48, 64)
    torch.testing.assert_close(d(x), _reference_forward(d, x), rtol=0, atol=0)


def test_real_esrgan_state_dict_layout() -> None:
    sd = UNetDiscriminatorSN(3, 64).state_dict()
    assert set(sd) == {"conv0.weight", "conv0.bias", "conv9.weight", "conv9.bias"} | {
        f"conv{i}.{p}" for i in range(1, 9) for p in ("weight_orig", "weight_u", "weight_v")
    }
    assert sd["conv1.weight_orig"].shape == (128, 64, 4, 4) and sd["conv3.weight_orig"].shape == (512, 256, 4, 4)
    assert sd["conv4.weight_orig"].shape == (256, 512, 3, 3) and sd["conv9.weight"].shape == (1, 64, 3, 3)
    assert sd["conv1.weight_u"].shape == (128,) and sd["conv1.weight_v"].shape == (64 * 16,)
    # Loading Real-ESRGAN-shaped weights restores the same outputs.
    a, b = UNetDiscriminatorSN(3, 8).eval(), UNetDiscriminatorSN(3, 8).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert UNetDiscriminatorSN(3, 8, False).hparams() == {"num_in_ch": 3, "num_feat": 8, "skip_connection": False}


def test_spectral_norm_bounds_the_inner_layers() -> None:
    torch.manual_seed(1)
    d = UNetDiscriminatorSN(3, 8).train()
    with torch.no_grad():
        for _ in range(30):  # power iterations run in training forwards
            d(torch.rand(1, 3, 16, 16))
    for name in ("conv1", "conv4", "conv8"):
        weight = getattr(d, name).weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.02), name
