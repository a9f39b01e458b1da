from __future__ import annotations

import pytest
import torch

from esrgan.archs import RRDBNet, SRVGGNetCompact


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_realesrgan_x4plus_parameter_count() -> None:
    # The published RealESRGAN_x4plus / ESRGAN generator has 16,697,987 parameters.
    assert n_params(RRDBNet()) == 16_697_987


def test_animevideov3_parameter_count() -> None:
    # realesr-animevideov3: 64 features, 16 hidden convs, x4, PReLU.
    net = SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4)
    expected = 3 * 64 * 9 + 64 + 64 + 16 * (64 * 64 * 9 + 64 + 64) + 64 * 48 * 9 + 48
    assert n_params(net) == expected


def test_basicsr_key_names() -> None:
    keys = set(RRDBNet(num_block=2).state_dict())
    for k in (
        "conv_first.weight",
        "body.1.rdb3.conv5.bias",
        "conv_body.weight",
        "conv_up1.weight",
        "conv_up2.weight",
        "conv_hr.weight",
        "conv_last.bias",
    ):
        assert k in keys
    assert "conv_up3.weight" in set(RRDBNet(scale=8, num_block=1).state_dict())


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_rrdbnet_shapes(scale: int, channels: int) -> None:
    net = RRDBNet(channels, channels, scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    out = net(torch.rand(2, channels, 8, 12))
    assert out.shape == (2, channels, 8 * scale, 12 * scale)


def test_rrdbnet_rejects_bad_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        RRDBNet(scale=3)


@pytest.mark.parametrize("act", ["prelu", "relu", "lrelu"])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_srvgg_shapes_and_residual(act: str, scale: int) -> None:
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=scale, act_type=act)
    # With a zeroed last conv the network is exactly a nearest-neighbour upscale of the input.
    torch.nn.init.zeros_(net.body[-1].weight)
    torch.nn.init.zeros_(net.body[-1].bias)
    x = torch.rand(1, 3, 5, 7)
    out = net(x)
    assert out.shape == (1, 3, 5 * scale, 7 * scale)
    torch.testing.assert_close(out, torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest"))


@pytest.mark.parametrize("scale, ups", [(1, 0), (2, 1)])
def test_rrdbnet_without_pixel_unshuffle(scale: int, ups: int) -> None:
    net = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow_ch=4, pixel_unshuffle=False)
    assert net.size_multiple == 1 and net.num_upsample == ups
    assert sum(k.startswith("conv_up") for k in net.state_dict()) == 2 * ups
    assert net(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5 * scale, 7 * scale)  # odd sizes: no unshuffle
    assert net.hparams()["pixel_unshuffle"] is False
    assert "pixel_unshuffle" not in RRDBNet(scale=scale, num_block=1).hparams()


@pytest.mark.parametrize("act", ["prelu", "lrelu", "relu"])
def test_srvgg_initialisation_keeps_the_signal(act: str) -> None:
    """A fresh SRVGGNetCompact starts near nearest upsampling but with a live signal through all 17 layers
    (PyTorch's default init left ~1e-7 of it, and a from-scratch student sat at the nearest-neighbour output)."""
    import skimage.data

    torch.manual_seed(0)
    net = SRVGGNetCompact(act_type=act)
    x = torch.from_numpy(skimage.data.astronaut()[::8, ::8].copy()).permute(2, 0, 1)[None].float() / 255
    h = x
    with torch.no_grad():
        for layer in list(net.body)[:-1]:
            h = layer(h)
        residual = net.body[-1](h)
    assert 0.05 < float(h.std()) < 5.0
    assert 0.005 < float(residual.std()) < 0.5  # small: the output begins close to nearest upsampling
