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


def test_cpu_workers_run_what_auto_decides_on_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker calibrating with its own thread count could choose another backend than the local run, and its
    outputs would differ in the last bits: for CPU workers the driver decides "auto" once, as a local run would."""
    from esrgan.backends.calibrate import Choice
    from esrgan.cluster.images import ImageJob
    from esrgan.commands.workers import settled

    asked: list[tuple[str, str, int]] = []

    def decide(net: torch.nn.Module, *, backend: str, precision: str, device: torch.device, **kw: object) -> Choice:
        asked.append((backend, precision, torch.get_num_threads()))
        # what a machine decides depends on its threads: the driver's answer must be the one every worker gets
        return Choice("openvino", "bf16", "cache") if torch.get_num_threads() == 2 else Choice("torch", "bf16", "cache")

    monkeypatch.setattr("esrgan.backends.calibrate.decide", decide)
    net = RRDBNet(num_in_ch=3, num_out_ch=3, scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    # the command's options carry its device list, as `--device cpu,cpu` gives them
    spec = EngineSpec(NetworkRecipe.of(net), EngineOptions(tile=0, precision="auto", backend="auto", device="cpu,cpu"))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for devices in (["cpu"], ["cpu", "cpu"], ["auto"]):
            decided = spec.settled(devices)
            assert (decided.options.backend, decided.options.precision) == ("openvino", "bf16")
            assert decided.options.tile == 0 and decided.recipe is spec.recipe
        job = settled(ImageJob(spec), ["cpu", "cpu"])
        assert (job.engine.options.backend, job.engine.options.precision) == ("openvino", "bf16")  # type: ignore[attr-defined]
    finally:
        torch.set_num_threads(before)
    assert asked[0] == ("auto", "auto", 2)
    asked.clear()
    for devices in (["cuda:0", "cuda:1"], ["cpu", "cuda:0"], ["mps"]):  # a GPU's auto is its own fixed rule
        assert spec.settled(devices) is spec
    torch_spec = EngineSpec(spec.recipe, EngineOptions(backend="torch", precision="auto"))
    int8_spec = EngineSpec(spec.recipe, EngineOptions(backend="auto", precision="int8"))
    assert torch_spec.settled(["cpu"]) is torch_spec and int8_spec.settled(["cpu"]) is int8_spec and not asked
