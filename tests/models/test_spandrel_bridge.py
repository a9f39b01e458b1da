"""Files of spandrel's architectures through our loader and engine (esrgan/models/spandrel_bridge.py, issue 14).

Every network is built with spandrel's own classes, saved as .pth and .safetensors, loaded with ``load_model``
(our safe reader in front, spandrel given tensors only), run through the engine whole and tiled with padding,
and compared with spandrel's own forward of the same weights.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import spandrel
import torch
from spandrel.__helpers.size_req import pad_tensor

from esrgan.archs import as_sr_network
from esrgan.inference import Upscaler, tiled
from esrgan.inference.sizing import SizeRule, pad_to
from esrgan.models import load_model
from esrgan.models import spandrel_bridge as bridge
from tests.spandrel_models import MODELS, save, state_dict_of

FAST = [name for name in MODELS if name != "RealCUGAN"]  # RealCUGAN (1.3 M parameters) runs in the slow set


def descriptor_of(state: dict[str, torch.Tensor]) -> spandrel.ImageModelDescriptor:
    found = spandrel.ModelLoader().load_from_state_dict(dict(state))
    assert isinstance(found, spandrel.ImageModelDescriptor)
    return found.eval()


def spandrel_unclamped(descriptor: spandrel.ImageModelDescriptor, x: torch.Tensor) -> torch.Tensor:
    """spandrel's call without the final clamp: its padding, its call of the network, the crop."""
    h, w = x.shape[-2:]
    _, padded = pad_tensor(x, descriptor.size_requirements)
    with torch.inference_mode():
        out = descriptor._call_fn(descriptor.model, padded)
    return out[..., : h * descriptor.scale, : w * descriptor.scale]


def check_through_engine(name: str, path: Path) -> None:
    state = state_dict_of(name)
    descriptor = descriptor_of(state)
    net, info = load_model(save(state, path))
    native = name == "SPAN"
    assert info.loader == ("native" if native else "spandrel")
    assert ("layout recognised from its keys" if native else f"detected {MODELS[name][1]}") in info.reason
    assert (info.scale, info.in_channels, info.out_channels) == (
        descriptor.scale,
        descriptor.input_channels,
        descriptor.output_channels,
    )
    req = descriptor.size_requirements
    rule = SizeRule.of(as_sr_network(net))
    assert (rule.multiple, rule.minimum) == (req.multiple_of, max(req.minimum, 1)) and not req.square
    # Sides that meet no multiple and, for some, no minimum: the engine pads, spandrel pads the same way.
    x = torch.rand(1, 3, 13, 21)
    whole = Upscaler(net, tile=0, precision="fp32", device="cpu")(x)
    with torch.inference_mode():
        expected = descriptor(x)
    assert whole.shape == expected.shape
    assert float((whole - expected).abs().max()) <= 1e-4
    # Tiled: the engine against spandrel's own padded call on each tile of the same plan.
    x = torch.rand(1, 3, 37, 45)
    tile, pad = 16, 4
    up = Upscaler(net, tile=tile, tile_pad=pad, precision="fp32", device="cpu")
    got = up(x)
    padded = pad_to(x, *rule.target(37, 45))
    reference = tiled(
        lambda t: spandrel_unclamped(descriptor, t),
        padded,
        scale=descriptor.scale,
        tile=max(tile, rule.minimum),
        pad=pad,
        multiple=rule.multiple,
    )[..., : 37 * descriptor.scale, : 45 * descriptor.scale].clamp(0, 1)
    assert float((got - reference).abs().max()) <= 1e-4


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", FAST)
def test_loads_and_runs_like_spandrel(name: str, suffix: str, tmp_path: Path) -> None:
    check_through_engine(name, tmp_path / f"{name}{suffix}")


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_real_cugan_loads_and_runs_like_spandrel(suffix: str, tmp_path: Path) -> None:
    check_through_engine("RealCUGAN", tmp_path / f"RealCUGAN{suffix}")


class Payload:
    """Unpickling this runs ``os.system`` (a file appears) unless the loader refuses code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_code_carrying_pickle_is_refused_before_spandrel_sees_it(
    protocol: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    state: dict[str, object] = dict(state_dict_of("RealPLKSR"))  # an architecture only spandrel knows
    state["extra"] = Payload(marker)
    path = tmp_path / "evil.pth"
    torch.save(state, path, pickle_protocol=protocol)
    seen: list[object] = []
    monkeypatch.setattr(bridge, "import_spandrel", lambda where: seen.append(where))
    with pytest.raises(ValueError, match=r"evil\.pth: not a plain weights file: .*refused without executing"):
        load_model(path)
    assert not marker.exists() and seen == []


@pytest.mark.parametrize("name", ["RealPLKSR", "SwinIR", "HAT", "DAT", "OmniSR", "DITN"])
def test_without_the_extra_one_line_names_the_architecture(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "spandrel_version", lambda: None)
    path = save(state_dict_of(name), tmp_path / f"{name}.safetensors")
    with pytest.raises(ValueError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"its keys look like {name}, which loads through the optional spandrel extra" in message
    assert "pip install 'esrgan[spandrel]'" in message


def test_unknown_keys_with_spandrel_installed_say_so(tmp_path: Path) -> None:
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "x.pth")
    with pytest.raises(ValueError, match=rf"unrecognised architecture .*spandrel {spandrel.__version__} does not"):
        load_model(tmp_path / "x.pth")


def test_spandrel_without_torchvision_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_torchvision(name: str) -> object:
        raise ModuleNotFoundError("No module named 'torchvision'", name="torchvision")

    monkeypatch.setattr(bridge.importlib, "import_module", no_torchvision)
    with pytest.raises(ValueError, match=r"f\.pth: needs spandrel, .*no module 'torchvision' \(spandrel imports"):
        bridge.load_with_spandrel(state_dict_of("MoSR"), "f.pth")


def test_misfit_tensors_name_the_architecture(tmp_path: Path) -> None:
    state = state_dict_of("OmniSR")
    state["up.0.weight"] = state["up.0.weight"][:5]  # an upsampler spandrel's shapes cannot explain
    with pytest.raises(ValueError, match=r"spandrel detected OmniSR but could not build it from the tensors"):
        load_model(save(state, tmp_path / "bad.safetensors"))


def test_prefixed_and_half_precision_files(tmp_path: Path) -> None:
    state = state_dict_of("RealPLKSR")
    wrapped = {f"module.{k}": v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"params": wrapped}, tmp_path / "ddp_fp16.pth")
    net, info = load_model(tmp_path / "ddp_fp16.pth")
    assert info.source_format == "pth:spandrel[params]" and info.arch == "RealPLKSR"
    assert all(p.dtype == torch.float32 for p in net.parameters())


def test_network_attributes_follow_the_descriptor() -> None:
    net, reason = bridge.load_with_spandrel(state_dict_of("HAT"), "f")  # type: ignore[misc]
    assert reason.startswith(f"spandrel {spandrel.__version__} detected HAT")
    assert (net.arch_name, net.spandrel_id, net.scale, net.min_size, net.size_multiple) == ("HAT", "HAT", 2, 16, 1)
    assert (net.supports_fp16, net.supports_bf16) == (False, True)  # spandrel: HAT is not fp16-safe
    assert net.hparams()["embed_dim"] == 12 and not net.training
    assert not any(p.requires_grad for p in net.parameters())


class SquareOnly(torch.nn.Module):
    """x2 nearest upscaling that refuses inputs that are not square (like Uformer)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2] == x.shape[-1], x.shape
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


def test_square_networks_get_square_inputs_and_cropped_outputs() -> None:
    from types import SimpleNamespace

    descriptor = SimpleNamespace(
        model=SquareOnly(),
        architecture=SimpleNamespace(id="Square"),
        scale=2,
        input_channels=3,
        output_channels=3,
        size_requirements=spandrel.SizeRequirements(square=True),
        supports_half=True,
        supports_bfloat16=True,
        tiling=spandrel.ModelTiling.SUPPORTED,
        purpose="SR",
        tags=[],
    )
    net = bridge.SpandrelNetwork(descriptor)
    x = torch.rand(1, 3, 5, 9)
    y = Upscaler(net, tile=0, precision="fp32", device="cpu")(x)
    torch.testing.assert_close(y, torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
