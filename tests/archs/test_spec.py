"""The spec's helpers: the SRNetwork contract check, hyper-parameter bounds, scale and build."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet, find
from esrgan.archs.discriminator import VGGStyleDiscriminator
from esrgan.archs.spec import Described, SRNetwork, as_sr_network, check_hparams


def test_as_sr_network_names_what_is_missing() -> None:
    net = RRDBNet(num_feat=4, num_block=1, num_grow_ch=2)
    assert as_sr_network(net) is net
    with pytest.raises(ValueError, match=r"^Conv2d is not a super-resolution network of esrgan\.archs: it lacks "):
        as_sr_network(nn.Conv2d(3, 3, 3))

    class Partial(nn.Module):
        arch_name = "Partial"
        scale = 2

        def hparams(self) -> dict[str, int]:
            return {}

    with pytest.raises(ValueError, match="it lacks size_multiple, min_size, num_in_ch, num_out_ch, supports_fp16"):
        as_sr_network(Partial())
    # Discriminators describe themselves for checkpoints, but are no super-resolution networks.
    disc = VGGStyleDiscriminator(3, 8, 128)
    assert isinstance(disc, Described) and not isinstance(disc, SRNetwork)


def test_check_hparams() -> None:
    sizes = {"n": (0, 4)}
    choices = {"mode": ("a", "b"), "flag": (True, False)}
    check_hparams({"n": 0, "mode": "b", "flag": False, "other": object()}, "<w>", sizes=sizes, choices=choices)
    check_hparams({}, "<w>", sizes=sizes, choices=choices)  # absent: the constructor's defaults
    for bad in (-1, 5, 2.0, "2", True, None):
        with pytest.raises(ValueError, match=r"^<w>: n must be an integer from 0 to 4, got "):
            check_hparams({"n": bad}, "<w>", sizes=sizes)
    with pytest.raises(ValueError, match=r"^<w>: mode must be one of 'a', 'b', got 'c'$"):
        check_hparams({"mode": "c"}, "<w>", sizes={}, choices=choices)
    with pytest.raises(ValueError, match=r"^<w>: flag must be one of True, False, got 1$"):
        check_hparams({"flag": 1}, "<w>", sizes={}, choices=choices)


def test_scale_of_and_build() -> None:
    spec = find("RRDBNet")
    assert spec.scale_of({"scale": 2}) == 2 and spec.scale_of({}) == 4  # the constructor's default
    assert find("SRVGGNetCompact").scale_of({"upscale": 3}) == 3
    with torch.device("meta"):
        net = spec.build({"num_block": 2}, "<b>")
    assert isinstance(net, RRDBNet) and net.num_block == 2
    with pytest.raises(ValueError, match=r"^<b>: .*unexpected keyword argument 'num_blocks'"):
        spec.build({"num_blocks": 2}, "<b>")
    with pytest.raises(ValueError, match=r"^<b>: num_block must be an integer from 1 to 256, got 100000$"):
        spec.build({"num_block": 100_000}, "<b>")
