"""RRDBNet's int8 recipe (esrgan/archs/rrdbnet/int8.py): the equalisation changes no output and evens out the
channels; only the dense blocks' conv5 is chosen for int8."""

from __future__ import annotations

import pytest
import torch

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.archs.rrdbnet.int8 import _input_amax, equalize, quantize_conv


def spread(amax: torch.Tensor) -> float:
    """How uneven the channels' ranges are: largest over median."""
    return float(amax.max() / amax.median())


@pytest.mark.parametrize("scale", [4, 2])
def test_equalisation_changes_no_output_and_evens_the_channels(scale: int) -> None:
    net = RRDBNet(scale=scale, num_feat=16, num_block=2, num_grow_ch=8).eval()
    with torch.no_grad():  # loud channels, as trained networks have: trunk channel 0, each block's x1 channel 0
        for conv in [net.conv_first, *(rrdb.rdb1.conv1 for rrdb in net.body)]:
            conv.weight[0] *= 10
            conv.bias[0] *= 10
    batches = [torch.rand(1, 3, 16, 16) for _ in range(3)]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    eq = equalize(net, batches)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the original is untouched
    x = torch.rand(1, 3, 12, 20)
    with torch.no_grad():
        expected, got = net(x), eq(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    old, new = _input_amax(net, batches), _input_amax(eq, batches)
    trunk, x1 = slice(0, 16), slice(16, 24)  # the residual stream; the first dense feature of a block
    for name, part in [("body.1.rdb2.conv1", trunk), ("conv_up1", trunk), ("body.1.rdb1.conv5", x1)]:
        assert spread(new[name][part]) < 0.8 * spread(old[name][part]), name


def test_only_conv5_is_chosen_for_int8() -> None:
    hparams = {"num_feat": 64, "num_grow_ch": 32}
    widths = [3, 64, 96, 128, 160, 192, 64, 64]  # conv_first, conv1..conv5, conv_body, conv_up1 ...
    assert [quantize_conv(hparams, i, len(widths), w) for i, w in enumerate(widths)] == [
        False, False, False, False, False, True, False, False,
    ]  # fmt: skip
    with pytest.raises(TypeError, match="RRDBNet"):
        equalize(SRVGGNetCompact(num_feat=8, num_conv=2), [torch.rand(1, 3, 8, 8)])
