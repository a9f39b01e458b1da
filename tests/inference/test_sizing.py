"""Size requirements (multiple, minimum) and the padding that meets them (esrgan/inference/sizing.py), and
how the Upscaler applies them and a network's precision support."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from spandrel import SizeRequirements
from spandrel.__helpers.size_req import pad_tensor
from torch import nn

from esrgan.inference import upscaler as upscaler_module
from esrgan.inference.sizing import SizeRule, fit_calls, pad_to
from esrgan.inference.upscaler import Upscaler


@pytest.mark.parametrize(
    "rule,size,expected",
    [
        (SizeRule(), (5, 7), (5, 7)),
        (SizeRule(multiple=4), (5, 8), (8, 8)),
        (SizeRule(minimum=16), (5, 30), (16, 30)),
        (SizeRule(multiple=8, minimum=12), (3, 17), (16, 24)),
    ],
)
def test_target_sizes(rule: SizeRule, size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert rule.target(*size) == expected


def test_rule_is_read_from_the_network() -> None:
    assert SizeRule.of(Picky(4, 16)) == SizeRule(4, 16)
    with pytest.raises(ValueError, match="multiple >= 1"):
        SizeRule(multiple=0)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 9), (16, 16), (20, 7)])
@pytest.mark.parametrize("req", [SizeRequirements(minimum=16), SizeRequirements(multiple_of=8, minimum=12)])
def test_padding_is_spandrels(size: tuple[int, int], req: SizeRequirements) -> None:
    x = torch.rand(1, 3, *size)
    rule = SizeRule(req.multiple_of, max(req.minimum, 1))
    _, expected = pad_tensor(x, req)
    got = pad_to(x, *rule.target(*size))
    assert torch.equal(got, expected)
    assert pad_to(x, *size) is x
    with pytest.raises(ValueError, match="cannot pad"):
        pad_to(x, size[0] - 1, size[1])


class Picky(nn.Module):
    """A pointwise x2 'network' (the SRNetwork contract) that refuses inputs breaking its size rule."""

    arch_name, scale, num_in_ch, num_out_ch = "Picky", 2, 3, 3

    def __init__(self, multiple: int = 1, minimum: int = 1) -> None:
        super().__init__()
        self.size_multiple, self.min_size = multiple, minimum
        self.supports_fp16 = self.supports_bf16 = True
        self.calls: list[tuple[int, int]] = []
        self.conv = nn.Conv2d(3, 3, 1)

    def hparams(self) -> dict[str, int]:
        return {"multiple": self.size_multiple, "minimum": self.min_size}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        assert h % self.size_multiple == 0 and w % self.size_multiple == 0 and min(h, w) >= self.min_size
        self.calls.append((h, w))
        return F.interpolate(x, scale_factor=2, mode="nearest") * 0.5


def test_fit_calls_pads_and_crops() -> None:
    net = Picky(minimum=8)
    fitted = fit_calls(net, SizeRule(1, 8), 2)
    x = torch.rand(1, 3, 3, 5)
    y = fitted(x)
    assert net.calls == [(8, 8)] and y.shape == (1, 3, 6, 10)
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=2, mode="nearest") * 0.5)


@pytest.mark.parametrize("tile", [0, 8, 20])
@pytest.mark.parametrize("rule", [SizeRule(1, 16), SizeRule(8, 16), SizeRule(4, 1)])
def test_upscaler_meets_the_rule_whole_and_tiled(tile: int, rule: SizeRule) -> None:
    net = Picky(rule.multiple, rule.minimum)
    x = torch.rand(1, 3, 13, 37)
    y = Upscaler(net, tile=tile, tile_pad=2, precision="fp32", device="cpu")(x)
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=2, mode="nearest") * 0.5)
    if tile:
        assert len(net.calls) > 1 and all(min(c) >= rule.minimum for c in net.calls)


def test_tiles_are_never_below_the_minimum() -> None:
    net = Picky(minimum=48)
    up = Upscaler(net, tile=16, tile_pad=0, precision="fp32", device="cpu")
    up(torch.rand(1, 3, 100, 100))
    # Tile 16 is raised to the minimum 48: 3 x 3 cores of 33-34 (each padded to 48), not 7 x 7 of 14-15.
    assert len(net.calls) == 9 and set(net.calls) == {(48, 48)}


@pytest.mark.parametrize(
    "device_bf16,fp16,bf16,expected",
    [(True, True, True, torch.bfloat16), (True, True, False, torch.float32), (False, True, True, torch.float32)],
)
def test_auto_precision_keeps_fp32_where_half_is_unsupported(
    monkeypatch: pytest.MonkeyPatch, device_bf16: bool, fp16: bool, bf16: bool, expected: torch.dtype
) -> None:
    monkeypatch.setattr("esrgan.device.cpu_has_native_bf16", lambda cpuinfo=None: device_bf16)
    net = Picky()
    net.supports_fp16, net.supports_bf16 = fp16, bf16
    assert Upscaler(net, precision="auto", device="cpu").dtype == expected


def test_explicit_unsupported_precision_is_refused() -> None:
    net = Picky()
    net.supports_bf16 = False
    with pytest.raises(ValueError, match="precision bf16: this network does not give correct output in bf16"):
        Upscaler(net, precision="bf16", device="cpu")
    assert upscaler_module.resolve_precision("fp32", torch.device("cpu"), bf16=False) == torch.float32


def test_auto_on_cuda_avoids_fp16_where_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert upscaler_module.resolve_precision("auto", cuda) == torch.float16
    assert upscaler_module.resolve_precision("auto", cuda, fp16=False) == torch.bfloat16
    assert upscaler_module.resolve_precision("auto", cuda, fp16=False, bf16=False) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert upscaler_module.resolve_precision("auto", cuda, fp16=False) == torch.float32
    with pytest.raises(ValueError, match="does not give correct output in fp16; use bf16 or fp32"):
        upscaler_module.resolve_precision("fp16", cuda, fp16=False)
