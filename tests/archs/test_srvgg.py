"""The SRVGGNetCompact room: the network, its checkpoint layout (in every container; ReLU vs LeakyReLU), its
sizes' bounds, and its ncnn graphs (round trip, the real releases' structure and their x2/x3 variants)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from esrgan.archs import SRVGGNetCompact
from esrgan.archs.srvgg import SPEC
from esrgan.formats.ncnn import parse_param
from esrgan.models import load_model, save_model
from esrgan.models.ncnn import describe_param, read_ncnn, write_ncnn
from esrgan.models.zoo import models_dir

# (in_ch, num_feat, num_conv, upscale, act_type)
CASES = [
    (3, 8, 2, 4, "prelu"),
    (1, 3, 1, 2, "prelu"),  # ncnn: 1*3*9 = 27 fp16 values: the blob needs 2 bytes of padding
    (4, 8, 3, 3, "prelu"),
    (3, 6, 0, 1, "prelu"),
    (3, 4, 2, 2, "lrelu"),
]
NCNN_CASES = [*CASES[:3], (3, 6, 0, 1, "relu"), CASES[4]]


def ids(cases: list[tuple[int, int, int, int, str]]) -> list[str]:
    return [f"c{c}nf{f}nc{n}x{u}{a}" for c, f, n, u, a in cases]


def make(case: tuple[int, int, int, int, str]) -> SRVGGNetCompact:
    c, nf, nc, up, act = case
    net = SRVGGNetCompact(c, c, num_feat=nf, num_conv=nc, upscale=up, act_type=act).eval()
    with torch.no_grad():  # PReLU starts at a constant 0.25: make every slope distinct so a mix-up shows
        for m in net.modules():
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.5)
    return net


def same_output(a: nn.Module, b: nn.Module, channels: int) -> None:
    x = torch.rand(1, channels, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------- network


def test_animevideov3_parameter_count() -> None:
    # realesr-animevideov3: 64 features, 16 hidden convs, x4, PReLU.
    net = SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4)
    expected = 3 * 64 * 9 + 64 + 64 + 16 * (64 * 64 * 9 + 64 + 64) + 64 * 48 * 9 + 48
    assert sum(p.numel() for p in net.parameters()) == expected


@pytest.mark.parametrize("act", ["prelu", "relu", "lrelu"])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_shapes_and_residual(act: str, scale: int) -> None:
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=scale, act_type=act)
    # With a zeroed last conv the network is exactly a nearest-neighbour upscale of the input.
    torch.nn.init.zeros_(net.body[-1].weight)
    torch.nn.init.zeros_(net.body[-1].bias)
    x = torch.rand(1, 3, 5, 7)
    out = net(x)
    assert out.shape == (1, 3, 5 * scale, 7 * scale)
    torch.testing.assert_close(out, torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest"))
    assert net(torch.rand(1, 3, net.min_size, net.min_size)).shape[-1] == scale  # one pixel in


@pytest.mark.parametrize("act", ["prelu", "lrelu", "relu"])
def test_initialisation_keeps_the_signal(act: str) -> None:
    """A fresh SRVGGNetCompact starts near nearest upsampling but with a live signal through all 17 layers
    (PyTorch's default init left ~1e-7 of it, and a from-scratch student sat at the nearest-neighbour output)."""
    import skimage.data

    torch.manual_seed(0)
    net = SRVGGNetCompact(act_type=act)
    x = torch.from_numpy(skimage.data.astronaut()[::8, ::8].copy()).permute(2, 0, 1)[None].float() / 255
    h = x
    with torch.no_grad():
        for layer in list(net.body)[:-1]:
            h = layer(h)
        residual = net.body[-1](h)
    assert 0.05 < float(h.std()) < 5.0
    assert 0.005 < float(residual.std()) < 0.5  # small: the output begins close to nearest upsampling


# ----------------------------------------------------------------------------------------------------- layout


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_every_container_loads_to_the_same_network(case: Any, save_as: Any, tmp_path: Path) -> None:
    net = make(case)
    path, fmt = save_as(net, tmp_path)
    loaded, info = load_model(path)
    assert info.arch == "SRVGGNetCompact"
    assert info.hparams == net.hparams()
    assert info.scale == case[3] and info.source_format == fmt
    same_output(net, loaded, case[0])


def test_without_prelu_is_assumed_lrelu_unless_metadata_says_relu(tmp_path: Path) -> None:
    net = make((3, 6, 2, 2, "relu"))
    torch.save(net.state_dict(), tmp_path / "bare.pth")
    _, info = load_model(tmp_path / "bare.pth")
    assert info.hparams["act_type"] == "lrelu"
    assert any("assumed LeakyReLU" in n for n in info.notes)
    # Our own file carries act_type: it fits the tensors, so it is used and the output is exact.
    save_model(net, tmp_path / "ours.pth")
    loaded, info = load_model(tmp_path / "ours.pth")
    assert info.hparams["act_type"] == "relu" and not info.notes
    same_output(net, loaded, 3)


def test_detect_and_hparams_from_shapes() -> None:
    net = make((3, 8, 2, 4, "prelu"))
    sd = net.state_dict()
    assert SPEC.detect(frozenset(sd)) == "basicsr"
    assert SPEC.detect(frozenset({*sd, "conv_first.weight"})) is None  # every key must be body.N
    assert SPEC.hparams_from(dict(sd), "<t>") == net.hparams()
    assert SPEC.shape_notes(net.hparams()) == []
    assert SPEC.shape_notes({**net.hparams(), "act_type": "lrelu"}) != []


@pytest.mark.parametrize(
    ("hparams", "match"),
    [
        ({"num_conv": 30_000_000}, "num_conv must be an integer from 0 to 256, got 30000000"),
        ({"num_feat": -1}, "num_feat must be an integer from 1 to 1024, got -1"),
        ({"upscale": 17}, "upscale must be an integer from 1 to 16, got 17"),
        ({"num_out_ch": "3"}, "num_out_ch must be an integer"),
        ({"act_type": "gelu"}, "act_type must be one of 'prelu', 'relu', 'lrelu', got 'gelu'"),
    ],
)
def test_validate_hparams_bounds(hparams: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=f"^<where>: {match}"):
        SPEC.validate_hparams(hparams, "<where>")


# ------------------------------------------------------------------------------------------------------ ncnn


def fp16_rounded(net: nn.Module) -> nn.Module:
    """The network with conv kernels rounded through float16 (what an fp16 ncnn file stores; biases stay fp32)."""
    out = type(net)(**net.hparams())  # type: ignore[operator]
    sd = {k: (v.half().float() if v.ndim == 4 else v) for k, v in net.state_dict().items()}
    out.load_state_dict(sd)
    return out.eval()


@pytest.mark.parametrize("fp16", [True, False], ids=["fp16", "fp32"])
@pytest.mark.parametrize("case", NCNN_CASES, ids=ids(NCNN_CASES))
def test_ncnn_round_trip(case: Any, fp16: bool, tmp_path: Path) -> None:
    net = make(case)
    write_ncnn(net, tmp_path / "m.param", fp16=fp16)
    loaded, info = load_model(tmp_path / "m.param")
    assert info.hparams == net.hparams()  # relu vs lrelu is in the graph, unlike in a state dict
    assert not info.notes
    same_output(fp16_rounded(net) if fp16 else net, loaded, case[0])


def wheel_file(stem: str, suffix: str = ".param") -> Path:
    return models_dir() / f"{stem}{suffix}"


def test_writer_reproduces_the_real_graph_structure(tmp_path: Path) -> None:
    stem = "REALESRGAN_ANIMAVIDEOV3_UP4X"
    param, bin_ = write_ncnn(SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4), tmp_path / "m.param")

    def signature(path: Path) -> list[tuple[str, int, int, tuple[tuple[int, Any], ...]]]:
        layers = parse_param(path.read_text(), str(path))
        return [(la.type, len(la.bottoms), len(la.tops), tuple(sorted(la.params.items()))) for la in layers]

    assert signature(param) == signature(wheel_file(stem))
    assert bin_.stat().st_size == wheel_file(stem, ".bin").stat().st_size


def test_real_graph_is_recognised_from_the_param_alone() -> None:
    video = describe_param(wheel_file("REALESRGAN_ANIMAVIDEOV3_UP4X"))
    assert video.arch == "SRVGGNetCompact"
    assert video.hparams == SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4, act_type="prelu").hparams()


@pytest.mark.parametrize(
    ("stem", "factor"), [("REALESRGAN_ANIMAVIDEOV3_UP2X", 0.5), ("REALESRGAN_ANIMAVIDEOV3_UP3X", 0.75)]
)
def test_animevideov3_x2_x3_graphs_are_the_x4_network_plus_a_resize(stem: str, factor: float) -> None:
    x4 = read_ncnn(wheel_file("REALESRGAN_ANIMAVIDEOV3_UP4X"))
    other = read_ncnn(wheel_file(stem))
    assert other.trailing_resize == ("bicubic", factor)
    assert other.hparams == x4.hparams and other.weight_format == "fp16"
    for key, value in x4.state_dict.items():
        torch.testing.assert_close(other.state_dict[key], value, rtol=0, atol=0)
