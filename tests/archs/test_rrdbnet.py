"""The RRDBNet room: the network, its checkpoint layouts (every one loads to the same network, in every
container), its sizes' bounds, and its ncnn graphs (round trip, and the real releases' structure)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet
from esrgan.archs.rrdbnet import SPEC
from esrgan.archs.rrdbnet import layout as rrdb_layout
from esrgan.formats.ncnn import parse_param
from esrgan.models import load_model
from esrgan.models.ncnn import describe_param, write_ncnn
from esrgan.models.zoo import models_dir

# (in_ch, scale, num_feat, num_block, num_grow_ch[, pixel_unshuffle]): every scale, channels 1/3/4, several sizes.
CASES = [
    (3, 4, 8, 1, 4),
    (3, 1, 8, 2, 4),
    (3, 2, 4, 1, 8),
    (1, 8, 8, 1, 4),
    (4, 4, 6, 2, 3),
    (1, 2, 8, 1, 4),
    (4, 1, 4, 1, 4),
    (3, 8, 4, 3, 2),
    (3, 2, 8, 1, 4, False),  # original-ESRGAN-style x2: one upsampling conv, no pixel-unshuffle
    (1, 1, 4, 2, 4, False),  # ... and x1: no upsampling conv
]
IDS = [f"c{c[0]}x{c[1]}nf{c[2]}nb{c[3]}gc{c[4]}{'' if len(c) == 5 else 'plain'}" for c in CASES]
NCNN_CASES = [(3, 4, 8, 1, 4), (3, 1, 8, 2, 4), (3, 2, 4, 1, 8), (1, 8, 8, 1, 4), (4, 4, 6, 2, 3), (4, 1, 4, 1, 4)]


def make(case: tuple[Any, ...]) -> RRDBNet:
    c, scale, nf, nb, gc, *unshuffle = case
    net = RRDBNet(c, c, scale=scale, num_feat=nf, num_block=nb, num_grow_ch=gc, pixel_unshuffle=all(unshuffle))
    return net.eval()


def same_output(a: nn.Module, b: nn.Module, channels: int, atol: float = 1e-5) -> None:
    x = torch.rand(1, channels, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=1e-5, atol=atol)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------------------------------- network


def test_realesrgan_x4plus_parameter_count() -> None:
    # The published RealESRGAN_x4plus / ESRGAN generator has 16,697,987 parameters.
    assert n_params(RRDBNet()) == 16_697_987


def test_basicsr_key_names() -> None:
    keys = set(RRDBNet(num_block=2).state_dict())
    for k in (
        "conv_first.weight",
        "body.1.rdb3.conv5.bias",
        "conv_body.weight",
        "conv_up1.weight",
        "conv_up2.weight",
        "conv_hr.weight",
        "conv_last.bias",
    ):
        assert k in keys
    assert "conv_up3.weight" in set(RRDBNet(scale=8, num_block=1).state_dict())


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_shapes(scale: int, channels: int) -> None:
    net = RRDBNet(channels, channels, scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    out = net(torch.rand(2, channels, 8, 12))
    assert out.shape == (2, channels, 8 * scale, 12 * scale)


def test_rejects_bad_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        RRDBNet(scale=3)


@pytest.mark.parametrize("scale, ups", [(1, 0), (2, 1)])
def test_without_pixel_unshuffle(scale: int, ups: int) -> None:
    net = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow_ch=4, pixel_unshuffle=False)
    assert net.size_multiple == 1 and net.num_upsample == ups
    assert sum(k.startswith("conv_up") for k in net.state_dict()) == 2 * ups
    assert net(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5 * scale, 7 * scale)  # odd sizes: no unshuffle
    assert net.hparams()["pixel_unshuffle"] is False
    assert "pixel_unshuffle" not in RRDBNet(scale=scale, num_block=1).hparams()


@pytest.mark.parametrize("scale, minimum", [(1, 4), (2, 2), (4, 1), (8, 1)])
def test_min_size_is_one_pixel_after_the_unshuffle(scale: int, minimum: int) -> None:
    net = RRDBNet(scale=scale, num_feat=4, num_block=1, num_grow_ch=2).eval()
    assert net.min_size == net.size_multiple == minimum
    with torch.no_grad():
        assert net(torch.rand(1, 3, minimum, minimum)).shape[-1] == minimum * scale


# ---------------------------------------------------------------------------------------------------- layouts


def to_old_esrgan(sd: dict[str, torch.Tensor], num_block: int, num_up: int) -> dict[str, torch.Tensor]:
    """BasicSR names -> the original ESRGAN release's ``model.N`` names."""
    out = {}
    for key, value in sd.items():
        module, kind = key.rsplit(".", 1)
        if module == "conv_first":
            new = "model.0"
        elif m := re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)", module):
            new = f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0"
        elif module == "conv_body":
            new = f"model.1.sub.{num_block}"
        elif m := re.fullmatch(r"conv_up(\d)", module):
            new = f"model.{3 * int(m[1])}"
        elif module == "conv_hr":
            new = f"model.{3 * num_up + 2}"
        else:
            assert module == "conv_last"
            new = f"model.{3 * num_up + 4}"
        out[f"{new}.{kind}"] = value
    return out


def to_new_esrgan(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BasicSR names -> the later ESRGAN repository's names (RRDB_trunk, trunk_conv, upconvN, HRconv)."""
    out = {}
    for key, value in sd.items():
        key = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", key)
        key = re.sub(r"^conv_up(\d)\.", r"upconv\1.", key)
        key = key.replace("conv_body.", "trunk_conv.").replace("conv_hr.", "HRconv.")
        out[key] = value
    return out


def save_old(net: RRDBNet, d: Path) -> tuple[Path, str]:
    sd = to_old_esrgan(net.state_dict(), net.num_block, net.num_upsample)
    torch.save(sd, d / "old.pth", _use_new_zipfile_serialization=False)
    return d / "old.pth", "pth:esrgan-old"


def save_new(net: RRDBNet, d: Path) -> tuple[Path, str]:
    torch.save(to_new_esrgan(net.state_dict()), d / "new.pth")
    return d / "new.pth", "pth:esrgan-new"


def check_loaded(net: RRDBNet, case: tuple[Any, ...], path: Path, fmt: str) -> None:
    loaded, info = load_model(path)
    assert info.arch == "RRDBNet"
    assert info.hparams == net.hparams()
    assert (info.scale, info.in_channels, info.out_channels) == (case[1], case[0], case[0])
    assert info.source_format == fmt
    assert info.num_params == n_params(net)
    same_output(net, loaded, case[0])


@pytest.mark.parametrize("save", [save_old, save_new], ids=["esrgan-old", "esrgan-new"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_foreign_layout_loads_to_the_same_network(case: Any, save: Any, tmp_path: Path) -> None:
    net = make(case)
    check_loaded(net, case, *save(net, tmp_path))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_container_loads_to_the_same_network(case: Any, save_as: Any, tmp_path: Path) -> None:
    net = make(case)
    check_loaded(net, case, *save_as(net, tmp_path))


def test_detect_and_canonical_names() -> None:
    net = make((3, 4, 4, 2, 4))
    sd = net.state_dict()
    old, new = to_old_esrgan(sd, 2, 2), to_new_esrgan(sd)
    assert [SPEC.detect(frozenset(d)) for d in (old, new, sd)] == ["esrgan-old", "esrgan-new", "basicsr"]
    assert SPEC.detect(frozenset({"body.0.weight", "body.0.bias"})) is None  # SRVGGNetCompact's keys
    for layout, d in (("esrgan-old", old), ("esrgan-new", new), ("basicsr", sd)):
        assert set(SPEC.to_canonical(dict(d), layout, "<t>")) == set(sd)
    assert SPEC.hparams_from(dict(sd), "<t>") == net.hparams()
    assert rrdb_layout.LAYOUTS == ("esrgan-old", "esrgan-new", "basicsr")


def one_line_error(path: Path, match: str) -> None:
    with pytest.raises(ValueError) as info:
        load_model(path)
    assert "\n" not in str(info.value) and re.search(match, str(info.value)), str(info.value)


def test_unsupported_variants_explain_why(tmp_path: Path) -> None:
    # Four upsampling convs (x16) is no RRDBNet esrgan builds.
    sd = make((3, 8, 4, 1, 4)).state_dict()
    sd["conv_up4.weight"], sd["conv_up4.bias"] = sd["conv_up3.weight"].clone(), sd["conv_up3.bias"].clone()
    torch.save(sd, tmp_path / "x16.pth")
    one_line_error(tmp_path / "x16.pth", r"4 upsampling conv\(s\) and pixel-unshuffle 1 \(x16\) cannot be built")
    # A layer missing from an otherwise recognised file.
    sd = make((3, 4, 4, 1, 4)).state_dict()
    del sd["conv_hr.weight"]
    torch.save(sd, tmp_path / "hole.pth")
    one_line_error(tmp_path / "hole.pth", r"weights do not fit RRDBNet\(.*\): missing conv_hr\.weight")
    # ESRGAN+ adds conv1x1 branches: not ours; spandrel's ESRGAN loader takes such files (and says why this made-up
    # one, a zero conv1x1 and none of the others, does not fit); without spandrel, the hint names it.
    sd = to_old_esrgan(make((3, 4, 4, 1, 4)).state_dict(), 1, 2)
    sd["model.1.sub.0.RDB1.conv1x1.weight"] = torch.zeros(4, 4, 1, 1)
    torch.save(sd, tmp_path / "plus.pth")
    one_line_error(tmp_path / "plus.pth", r"plus\.pth: spandrel detected ESRGAN but could not build it")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("esrgan.models.spandrel_bridge.spandrel_version", lambda: None)
        one_line_error(
            tmp_path / "plus.pth",
            r"plus\.pth: ESRGAN\+ .* not supported; supported: ESRGAN.*its keys look like ESRGAN\+, which loads",
        )


@pytest.mark.parametrize(
    ("hparams", "match"),
    [
        ({"num_block": 30_000_000}, "num_block must be an integer from 1 to 256, got 30000000"),
        ({"num_feat": 0}, "num_feat must be an integer from 1 to 1024, got 0"),
        ({"num_grow_ch": 4.0}, "num_grow_ch must be an integer"),
        ({"num_in_ch": True}, "num_in_ch must be an integer"),
        ({"scale": 3}, "scale must be one of 1, 2, 4, 8, got 3"),
        ({"scale": True}, "scale must be one of"),  # True == 1, but not a scale
        ({"pixel_unshuffle": 0}, "pixel_unshuffle must be one of True, False, got 0"),
    ],
)
def test_validate_hparams_bounds(hparams: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=f"^<where>: {match}"):
        SPEC.validate_hparams(hparams, "<where>")


def test_validate_hparams_accepts_real_models() -> None:
    SPEC.validate_hparams(RRDBNet().hparams(), "<t>")  # realesrgan-x4plus
    SPEC.validate_hparams(make((3, 2, 8, 1, 4, False)).hparams(), "<t>")
    SPEC.validate_hparams({}, "<t>")  # constructor defaults


# ------------------------------------------------------------------------------------------------------ ncnn


def fp16_rounded(net: nn.Module) -> nn.Module:
    """The network with conv kernels rounded through float16 (what an fp16 ncnn file stores; biases stay fp32)."""
    out = type(net)(**net.hparams())  # type: ignore[operator]
    sd = {k: (v.half().float() if v.ndim == 4 else v) for k, v in net.state_dict().items()}
    out.load_state_dict(sd)
    return out.eval()


@pytest.mark.parametrize("fp16", [True, False], ids=["fp16", "fp32"])
@pytest.mark.parametrize("case", NCNN_CASES, ids=[f"c{c}x{s}nf{f}nb{b}gc{g}" for c, s, f, b, g in NCNN_CASES])
def test_ncnn_round_trip(case: Any, fp16: bool, tmp_path: Path) -> None:
    net = make(case)
    param, bin_ = write_ncnn(net, tmp_path / "m.param", fp16=fp16)
    loaded, info = load_model(bin_ if fp16 else param)  # either file of the pair
    assert info.hparams == net.hparams()
    assert info.source_format == ("ncnn:fp16" if fp16 else "ncnn:fp32")
    assert info.path == str(bin_ if fp16 else param) and info.trailing_resize is None
    same_output(fp16_rounded(net) if fp16 else net, loaded, case[0])


def wheel_file(stem: str, suffix: str = ".param") -> Path:
    return models_dir() / f"{stem}{suffix}"


def layer_signature(path: Path) -> list[tuple[str, int, int, tuple[tuple[int, Any], ...]]]:
    """Layer types, arities and parameters, without names: the graph's structure."""
    return [
        (layer.type, len(layer.bottoms), len(layer.tops), tuple(sorted(layer.params.items())))
        for layer in parse_param(path.read_text(), str(path))
    ]


def test_writer_reproduces_the_real_graph_structure(tmp_path: Path) -> None:
    # Same layers with the same parameters, and a .bin of the same size: the round-trip tests above exercise
    # exactly the structure of the released files.
    stem = "REALESRGAN_X4PLUSANIME_UP4X"
    param, bin_ = write_ncnn(RRDBNet(num_block=6), tmp_path / "m.param", fp16=True)
    assert layer_signature(param) == layer_signature(wheel_file(stem))
    assert bin_.stat().st_size == wheel_file(stem, ".bin").stat().st_size


def test_real_graphs_are_recognised_from_the_param_alone() -> None:
    with torch.device("meta"):  # shapes only
        default = RRDBNet()
    x4plus = describe_param(wheel_file("REALESRGAN_X4PLUS_UP4X"))
    assert x4plus.arch == "RRDBNet" and x4plus.trailing_resize is None
    assert x4plus.hparams == default.hparams()
    assert x4plus.num_params == n_params(default) == 16_697_987
    anime = describe_param(wheel_file("REALESRGAN_X4PLUSANIME_UP4X"))
    assert anime.hparams == RRDBNet(num_block=6).hparams()
