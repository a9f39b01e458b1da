"""ncnn graphs: our writer's files read back to the same network, the real wheel's graphs are recognised, and
broken or foreign graphs are refused."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.models import load_model
from esrgan.models import ncnn as ncnn_mod
from esrgan.models.ncnn import TAG_FP16, describe_param, parse_param, read_ncnn, read_weights, write_ncnn
from esrgan.models.zoo import models_dir

RRDB_CASES = [(3, 4, 8, 1, 4), (3, 1, 8, 2, 4), (3, 2, 4, 1, 8), (1, 8, 8, 1, 4), (4, 4, 6, 2, 3), (4, 1, 4, 1, 4)]
SRVGG_CASES = [
    (3, 8, 2, 4, "prelu"),
    (1, 3, 1, 2, "prelu"),  # 1*3*9 = 27 fp16 values: the blob needs 2 bytes of padding
    (4, 8, 3, 3, "prelu"),
    (3, 6, 0, 1, "relu"),
    (3, 4, 2, 2, "lrelu"),
]


def fp16_rounded(net: nn.Module) -> nn.Module:
    """The network with conv kernels rounded through float16 (what an fp16 ncnn file stores; biases stay fp32)."""
    out = type(net)(**net.hparams())  # type: ignore[operator]
    sd = {k: (v.half().float() if v.ndim == 4 else v) for k, v in net.state_dict().items()}
    out.load_state_dict(sd)
    return out.eval()


def check_same(ref: nn.Module, loaded: nn.Module, channels: int) -> None:
    x = torch.rand(1, channels, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), ref(x), rtol=1e-5, atol=1e-5)


def srvgg(case: tuple[int, int, int, int, str]) -> SRVGGNetCompact:
    c, nf, nc, up, act = case
    net = SRVGGNetCompact(c, c, num_feat=nf, num_conv=nc, upscale=up, act_type=act).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.5)
    return net


@pytest.mark.parametrize("fp16", [True, False], ids=["fp16", "fp32"])
@pytest.mark.parametrize("case", RRDB_CASES, ids=[f"c{c}x{s}nf{f}nb{b}gc{g}" for c, s, f, b, g in RRDB_CASES])
def test_rrdbnet_ncnn_round_trip(case: Any, fp16: bool, tmp_path: Path) -> None:
    c, scale, nf, nb, gc = case
    net = RRDBNet(c, c, scale=scale, num_feat=nf, num_block=nb, num_grow_ch=gc).eval()
    param, bin_ = write_ncnn(net, tmp_path / "m.param", fp16=fp16)
    loaded, info = load_model(bin_ if fp16 else param)  # either file of the pair
    assert info.hparams == net.hparams()
    assert info.source_format == ("ncnn:fp16" if fp16 else "ncnn:fp32")
    assert info.path == str(bin_ if fp16 else param) and info.trailing_resize is None
    check_same(fp16_rounded(net) if fp16 else net, loaded, c)


@pytest.mark.parametrize("fp16", [True, False], ids=["fp16", "fp32"])
@pytest.mark.parametrize("case", SRVGG_CASES, ids=[f"c{c}nf{f}nc{n}x{u}{a}" for c, f, n, u, a in SRVGG_CASES])
def test_srvgg_ncnn_round_trip(case: Any, fp16: bool, tmp_path: Path) -> None:
    net = srvgg(case)
    write_ncnn(net, tmp_path / "m.param", fp16=fp16)
    loaded, info = load_model(tmp_path / "m.param")
    assert info.hparams == net.hparams()  # relu vs lrelu is in the graph, unlike in a state dict
    assert not info.notes
    check_same(fp16_rounded(net) if fp16 else net, loaded, case[0])


def test_trailing_resize_is_stripped_and_reported(tmp_path: Path) -> None:
    net = srvgg((3, 8, 2, 4, "prelu"))
    write_ncnn(net, tmp_path / "m.param", fp16=False, trailing_resize=("bicubic", 0.5))
    assert "Interp" in (tmp_path / "m.param").read_text().splitlines()[-1]
    loaded, info = load_model(tmp_path / "m.param")
    assert info.trailing_resize == ("bicubic", 0.5) and info.scale == 4
    assert any("bicubic resize x0.5" in n and "output scale 2" in n for n in info.notes)
    check_same(net, loaded, 3)


def test_blob_layout_tag_fp16_padding_and_raw_fp32() -> None:
    # One 1->1 3x3 conv with bias: 9 fp16 values (18 bytes + 2 padding) after the tag, then 1 raw fp32 bias.
    layers = parse_param("7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 data out 0=1 1=3 4=1 5=1 6=9\n", "<test>")
    weights = np.arange(9, dtype=np.float16) / 8
    data = struct.pack("<I", TAG_FP16) + weights.tobytes() + b"\0\0" + struct.pack("<f", -1.5)
    assert read_weights(layers, data, "<test>") == "fp16"
    np.testing.assert_array_equal(layers[1].weights[0], weights.astype(np.float32))
    np.testing.assert_array_equal(layers[1].weights[1], [-1.5])
    data32 = struct.pack("<I", 0) + weights.astype("<f4").tobytes() + struct.pack("<f", 2.0)
    assert read_weights(layers, data32, "<test>") == "fp32"
    with pytest.raises(ValueError, match="bytes left"):
        read_weights(layers, data + b"\0" * 4, "<test>")
    with pytest.raises(ValueError, match="truncated"):
        read_weights(layers, data[:-2], "<test>")
    with pytest.raises(ValueError, match=r"weight tag 0x000D4B38 .* only fp32 \(tag 0\) and fp16"):
        read_weights(layers, struct.pack("<I", 0x000D4B38) + data[4:], "<test>")


def test_parse_param_values() -> None:
    text = "7767517\n2 2\nInput in 0 1 data\nEltwise e 2 1 a b out 0=1 -23301=2,2.000000e-01,1.0 3=7 4=1e-3\n"
    layer = parse_param(text, "<t>")[1]
    assert layer.bottoms == ["a", "b"] and layer.tops == ["out"]
    assert layer.params == {0: 1, 1: [0.2, 1.0], 3: 7, 4: 1e-3}
    with pytest.raises(ValueError, match=r"not an ncnn text \.param file"):
        parse_param("7767518\n0 0\n", "<t>")
    with pytest.raises(ValueError, match="announces 3 layers but the file has 2"):
        parse_param(text.replace("2 2", "3 2", 1), "<t>")
    with pytest.raises(ValueError, match="line 4 is not a valid ncnn layer line"):
        parse_param(text.replace("a b out", "a"), "<t>")


def test_graphs_that_are_not_our_networks_are_refused(tmp_path: Path) -> None:
    net = RRDBNet(3, 3, scale=4, num_feat=4, num_block=1, num_grow_ch=2).eval()
    param, bin_ = write_ncnn(net, tmp_path / "m.param", fp16=False)
    text = param.read_text()

    def fails(new_text: str, match: str) -> None:
        param.write_text(new_text)
        with pytest.raises(ValueError) as info:
            load_model(param)
        assert "\n" not in str(info.value) and re.search(match, str(info.value)), str(info.value)

    # Residual scaled by 0.3 instead of 0.2: every shape fits, only running the graph shows the difference.
    fails(text.replace("-23301=2,2.000000e-01", "-23301=2,3.000000e-01", 1), "wired differently")
    # A layer type our networks do not have.
    lines = text.splitlines()
    lines[1] = f"{len(lines) - 1} 999"
    lines.append("Sigmoid                  sig                      1 1 output sigout")
    fails("\n".join(lines), r"layer types Sigmoid are not part of RRDBNet or SRVGGNetCompact")
    # Something else entirely.
    fails("7767517\n2 2\nInput in 0 1 data\nReLU r 1 1 data out\n", "not recognised as RRDBNet .* or SRVGGNetCompact")
    param.write_text(text)
    bin_.write_bytes(bin_.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        load_model(param)
    bin_.unlink()
    with pytest.raises(FileNotFoundError, match=r"m\.bin: not found"):
        load_model(param)
    param.unlink()
    (tmp_path / "m.bin").write_bytes(b"\0" * 16)
    with pytest.raises(FileNotFoundError, match=r"m\.param: not found"):
        load_model(tmp_path / "m.bin")


# ---------------------------------------------------------------------------------------- the wheel's graphs


def wheel_file(stem: str, suffix: str = ".param") -> Path:
    return models_dir() / f"{stem}{suffix}"


def layer_signature(path: Path) -> list[tuple[str, int, int, tuple[tuple[int, Any], ...]]]:
    """Layer types, arities and parameters, without names: the graph's structure."""
    return [
        (layer.type, len(layer.bottoms), len(layer.tops), tuple(sorted(layer.params.items())))
        for layer in parse_param(path.read_text(), str(path))
    ]


@pytest.mark.parametrize(
    ("stem", "net"),
    [
        ("REALESRGAN_X4PLUSANIME_UP4X", lambda: RRDBNet(num_block=6)),
        ("REALESRGAN_ANIMAVIDEOV3_UP4X", lambda: SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4)),
    ],
)
def test_writer_reproduces_the_real_graph_structure(stem: str, net: Any, tmp_path: Path) -> None:
    # Same layers with the same parameters, and a .bin of the same size: the round-trip tests above exercise
    # exactly the structure of the released files.
    param, bin_ = write_ncnn(net(), tmp_path / "m.param", fp16=True)
    assert layer_signature(param) == layer_signature(wheel_file(stem))
    assert bin_.stat().st_size == wheel_file(stem, ".bin").stat().st_size


def test_real_graphs_are_recognised_from_the_param_alone() -> None:
    with torch.device("meta"):  # shapes only
        default = RRDBNet()
    x4plus = describe_param(wheel_file("REALESRGAN_X4PLUS_UP4X"))
    assert x4plus.arch == "RRDBNet" and x4plus.trailing_resize is None
    assert x4plus.hparams == default.hparams()
    assert x4plus.num_params == sum(p.numel() for p in default.parameters()) == 16_697_987
    anime = describe_param(wheel_file("REALESRGAN_X4PLUSANIME_UP4X"))
    assert anime.hparams == RRDBNet(num_block=6).hparams()
    video = describe_param(wheel_file("REALESRGAN_ANIMAVIDEOV3_UP4X"))
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


def test_check_uses_the_graph_not_the_shapes() -> None:
    model = read_ncnn(wheel_file("REALESRGAN_ANIMAVIDEOV3_UP4X"), verify=False)
    net = SRVGGNetCompact(**model.hparams)
    sd = dict(model.state_dict)
    sd["body.2.weight"], sd["body.4.weight"] = sd["body.4.weight"], sd["body.2.weight"]
    net.load_state_dict(sd)
    with pytest.raises(ValueError, match="wired differently"):
        model.check(net)
    net.load_state_dict(model.state_dict)
    model.check(net)


def test_module_lists_only_supported_layers() -> None:
    # Every layer the interpreter runs is one the recogniser accepts, and vice versa (Input needs no function).
    assert set(ncnn_mod._LAYER_FNS) | {"Input"} == set(ncnn_mod.SUPPORTED_LAYERS)
