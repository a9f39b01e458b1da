from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from esrgan.inference.pipeline import output_size, run_channels, upscale_image


class Nearest:
    """A stand-in network: nearest x2 of whatever it gets, recording the channel counts it saw."""

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.seen: list[tuple[int, ...]] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == self.channels, "the network must only ever see its own channel count"
        self.seen.append(tuple(x.shape))
        return F.interpolate(x, scale_factor=2, mode="nearest")


@pytest.mark.parametrize("img_c, net_c", [(3, 3), (1, 3), (3, 1), (1, 1), (3, 4), (1, 4)])
def test_run_channels_maps_and_returns_same_channels(img_c: int, net_c: int) -> None:
    x = torch.rand(1, img_c, 5, 6)
    out = run_channels(Nearest(net_c), x, net_c)
    torch.testing.assert_close(out, F.interpolate(x, scale_factor=2, mode="nearest"))


def test_unmappable_channels_error() -> None:
    with pytest.raises(ValueError, match="cannot map a 2-channel"):
        run_channels(Nearest(3), torch.rand(1, 2, 4, 4), 3)


def test_alpha_through_model_or_bicubic() -> None:
    rgb, alpha = torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 8)
    net = Nearest(3)
    _, a = upscale_image(net, rgb, alpha, net_channels=3, scale=2, alpha_mode="model")
    assert a is not None
    torch.testing.assert_close(a, F.interpolate(alpha, scale_factor=2, mode="nearest"))
    assert len(net.seen) == 2  # colour and alpha both went through the network
    net = Nearest(3)
    _, a = upscale_image(net, rgb, alpha, net_channels=3, scale=2, alpha_mode="bicubic")
    assert len(net.seen) == 1 and a is not None and a.shape == (1, 1, 16, 16)


def test_four_channel_network_takes_alpha_directly() -> None:
    rgb, alpha = torch.rand(1, 3, 4, 4), torch.rand(1, 1, 4, 4)
    net = Nearest(4)
    _, a = upscale_image(net, rgb, alpha, net_channels=4, scale=2)
    assert len(net.seen) == 1 and a is not None
    torch.testing.assert_close(a, F.interpolate(alpha, scale_factor=2, mode="nearest"))


@pytest.mark.parametrize("outscale", [1.0, 2.0, 3.5, 1.3])
def test_outscale_sizes(outscale: float) -> None:
    sr, _ = upscale_image(Nearest(3), torch.rand(1, 3, 10, 7), None, net_channels=3, scale=2, outscale=outscale)
    assert sr.shape[-2:] == output_size(10, 7, outscale) == (round(10 * outscale), round(7 * outscale))
    assert float(sr.min()) >= 0.0 and float(sr.max()) <= 1.0
