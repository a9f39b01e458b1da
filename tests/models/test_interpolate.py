"""Model interpolation: weights, architecture checks, the A:B:ALPHA spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.errors import OptionsError
from esrgan.models import save_model
from esrgan.models.interpolate import interp_weights, interpolate_models, parse_interp_spec


def test_alpha_0_and_1_give_a_and_b_exactly(model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module]) -> None:
    pa, pb, a, b = model_pair
    for alpha, ref in ((0.0, a), (1.0, b)):
        net, _ = interpolate_models([pa, pb], interp_weights(2, [alpha]))
        for k, v in ref.state_dict().items():
            assert torch.equal(net.state_dict()[k], v), k


def test_midpoint_is_parameter_average(model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module]) -> None:
    pa, pb, a, b = model_pair
    net, _ = interpolate_models([pa, pb], [0.3, 0.7])
    k = "body.0.rdb1.conv1.weight"
    torch.testing.assert_close(net.state_dict()[k], 0.3 * a.state_dict()[k] + 0.7 * b.state_dict()[k])


def test_mismatched_architectures_are_refused(
    tmp_path: Path, model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module]
) -> None:
    save_model(RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=2), tmp_path / "deeper.pth")
    with pytest.raises(ValueError, match=r"num_block: 1 vs 2"):
        interpolate_models([model_pair[0], tmp_path / "deeper.pth"], [0.5, 0.5])
    save_model(SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2), tmp_path / "vgg.pth")
    with pytest.raises(ValueError, match=r"RRDBNet vs SRVGGNetCompact"):
        interpolate_models([model_pair[0], tmp_path / "vgg.pth"], [0.5, 0.5])


def test_weight_parsing() -> None:
    assert parse_interp_spec("a.pth:b.pth:0.25") == (["a.pth", "b.pth"], [0.75, 0.25])
    assert parse_interp_spec("a:b:c:0.2,0.3,0.5")[1] == [0.2, 0.3, 0.5]
    with pytest.raises(ValueError, match="sum to 1"):
        interp_weights(3, [0.2, 0.2, 0.2])
    with pytest.raises(ValueError, match="A:B:ALPHA"):
        parse_interp_spec("a.pth:0.5")


@pytest.mark.parametrize("values", [[float("nan")], [float("inf"), float("-inf")], [0.5, float("nan")]])
def test_non_finite_weights_are_refused(values: list[float]) -> None:
    """inf + -inf = nan, and abs(nan - 1) > 1e-6 is False: the sum check alone let an all-NaN model through."""
    with pytest.raises(OptionsError, match="interpolation weights must be finite numbers"):
        interp_weights(2, values)
    with pytest.raises(OptionsError, match="must be finite"):
        parse_interp_spec("a:b:" + ",".join(map(str, values)))
