"""esrgan.cluster.engine: a network sent as data is rebuilt exactly; the engine is built on the worker's device."""

from __future__ import annotations

import pickle

import pytest
import torch

from esrgan.archs import SPAN, RRDBNet, SRVGGNetCompact
from esrgan.cluster.engine import EngineSpec, NetworkRecipe
from esrgan.inference import EngineOptions


@pytest.mark.parametrize(
    "net",
    [
        RRDBNet(num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=1, num_grow_ch=4),
        SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2, act_type="prelu"),
        SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2),
    ],
)
def test_a_recipe_rebuilds_the_same_network(net: torch.nn.Module) -> None:
    recipe = pickle.loads(pickle.dumps(NetworkRecipe.of(net)))
    rebuilt = recipe.build()
    assert type(rebuilt) is type(net) and rebuilt.hparams() == net.hparams()
    assert not rebuilt.training and not any(p.requires_grad for p in rebuilt.parameters())
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net.eval()(x))
    rebuilt.state_dict()[next(iter(rebuilt.state_dict()))].add_(1)  # the copy is the worker's own
    assert torch.equal(NetworkRecipe.of(net).state[next(iter(recipe.state))], recipe.state[next(iter(recipe.state))])


def test_a_network_that_does_not_describe_itself_is_refused() -> None:
    with pytest.raises(ValueError, match="Conv2d does not carry arch_name"):
        NetworkRecipe.of(torch.nn.Conv2d(3, 3, 3))


def test_engine_spec_builds_an_upscaler_on_the_given_device() -> None:
    net = RRDBNet(num_in_ch=3, num_out_ch=3, scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    spec = EngineSpec(NetworkRecipe.of(net), EngineOptions(tile=0, precision="fp32", backend="torch", device="cuda:7"))
    upscaler = spec.build("cpu")
    assert upscaler.device.type == "cpu" and upscaler.tile == 0 and upscaler.net is not net
    assert upscaler(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("name", ["RealPLKSR", "SwinIR", "OmniSR"])
def test_a_network_spandrel_built_is_rebuilt_by_spandrel(name: str) -> None:
    from esrgan.models.spandrel_bridge import load_with_spandrel
    from tests.spandrel_models import state_dict_of

    found = load_with_spandrel(state_dict_of(name), f"{name}.pth")
    assert found is not None
    net = found[0]
    recipe = pickle.loads(pickle.dumps(NetworkRecipe.of(net)))
    assert recipe.loader == "spandrel" and recipe.arch == net.arch_name
    rebuilt = recipe.build()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def test_a_spandrel_network_without_spandrel_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = NetworkRecipe("RealPLKSR", {}, {}, loader="spandrel")
    monkeypatch.setattr("esrgan.models.spandrel_bridge.load_with_spandrel", lambda sd, where: None)
    with pytest.raises(ValueError, match="needs spandrel where the workers run"):
        recipe.build()
