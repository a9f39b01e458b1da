from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from esrgan.archs import vgg as vgg_module
from esrgan.archs.vgg import VGG19_LAYERS, VGG19FeatureExtractor

# VGG19 as documented by torchvision (configuration "E"): the layer indices of `features` and the classifier.
CONFIG_E = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def torchvision_vgg19_state() -> dict[str, torch.Tensor]:
    """A state dict with torchvision's exact VGG19 keys and shapes; each tensor is a distinct constant.

    Tensors are stride-0 expansions of one number, so even the 25088x4096 classifier costs no memory.
    """
    state: dict[str, torch.Tensor] = {}
    index, in_ch, value = 0, 3, 1.0
    for v in CONFIG_E:
        if v == "M":
            index += 1
            continue
        assert isinstance(v, int)
        state[f"features.{index}.weight"] = torch.full((1,), value).expand(v, in_ch, 3, 3)
        state[f"features.{index}.bias"] = torch.full((1,), -value).expand(v)
        index += 2  # conv, ReLU
        in_ch, value = v, value + 1
    for i, (out_f, in_f) in zip((0, 3, 6), ((4096, 512 * 7 * 7), (4096, 4096), (1000, 4096)), strict=True):
        state[f"classifier.{i}.weight"] = torch.zeros(1).expand(out_f, in_f)
        state[f"classifier.{i}.bias"] = torch.zeros(1).expand(out_f)
    return state


def test_torchvision_state_dict_loads_strictly(tmp_path: Path) -> None:
    state = torchvision_vgg19_state()
    assert "features.34.weight" in state and "features.36.weight" not in state
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    net = VGG19FeatureExtractor(["conv5_4"], path)
    assert net.weights_path == path and not net.random_weights
    own = net.state_dict()
    assert set(own) == {k for k in state if k.startswith("features.")}
    for k, v in own.items():
        assert v.shape == state[k].shape and bool((v == state[k]).all()), k
    assert VGG19_LAYERS[34] == "conv5_4" and VGG19_LAYERS[0] == "conv1_1" and VGG19_LAYERS[36] == "pool5"


def test_wrong_state_dict_is_refused(tmp_path: Path) -> None:
    state = torchvision_vgg19_state()
    state.pop("features.34.weight")
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"bad\.pth: not torchvision's VGG19 weights.*features\.34\.weight"):
        VGG19FeatureExtractor(["conv5_4"], path)


def test_hub_cache_is_the_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    expected = tmp_path / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert vgg_module.default_weights_path() == expected
    with pytest.raises(FileNotFoundError, match=r"vgg19-dcbb9e9d\.pth") as info:
        VGG19FeatureExtractor(["conv5_4"])
    assert str(expected) in str(info.value) and "perceptual.weights" in str(info.value)
    expected.parent.mkdir(parents=True)
    torch.save(torchvision_vgg19_state(), expected)
    assert VGG19FeatureExtractor(["relu1_1"]).weights_path == expected


def test_random_weights_only_when_allowed_and_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with caplog.at_level(logging.WARNING):
        net = VGG19FeatureExtractor(["conv1_1"], allow_random_weights=True)
    assert net.random_weights
    assert "RANDOM weights" in caplog.text and "smoke tests only" in caplog.text


def test_random_weights_keep_the_feature_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's init: deep random features stay O(1), so a smoke test's perceptual loss is not ~0."""
    import skimage.data

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(0)
    net = VGG19FeatureExtractor(["conv5_4"], allow_random_weights=True)
    photo = torch.from_numpy(skimage.data.astronaut()[::4, ::4].copy()).permute(2, 0, 1)[None].float() / 255
    std = float(net(photo)["conv5_4"].std())
    assert 0.05 < std < 20, std  # PyTorch's default init gives ~1e-7 here


def test_layers_normalisation_and_freezing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    net = VGG19FeatureExtractor(["conv1_1", "relu1_1", "pool1", "conv5_4", "relu5_4"], allow_random_weights=True)
    x = torch.rand(2, 3, 64, 48)
    out = net(x)
    assert out["conv5_4"].shape == (2, 512, 4, 3) and out["pool1"].shape == (2, 64, 32, 24)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    conv11 = net.features[0]((x - mean) / std)
    torch.testing.assert_close(out["conv1_1"], conv11)
    torch.testing.assert_close(out["relu1_1"], F.relu(conv11))
    assert (out["conv5_4"] < 0).any() and (out["relu5_4"] >= 0).all()  # conv5_4 is before the ReLU
    torch.testing.assert_close(out["relu5_4"], F.relu(out["conv5_4"]))
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training


def test_unknown_layer_suggests_closest() -> None:
    with pytest.raises(ValueError, match="did you mean 'conv5_4'"):
        VGG19FeatureExtractor(["conv5_5"], allow_random_weights=True)
