from __future__ import annotations

from pathlib import Path

import pytest
import torch

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.cli import main
from esrgan.errors import OptionsError
from esrgan.models import load_model, save_model
from esrgan.models.flops import flops_per_input_pixel
from esrgan.models.interpolate import interp_weights, interpolate_models, parse_interp_spec


def rrdb() -> RRDBNet:
    return RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2)


@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path, RRDBNet, RRDBNet]:
    a, b = rrdb(), rrdb()  # different random weights
    save_model(a, tmp_path / "a.pth")
    save_model(b, tmp_path / "b.safetensors")
    return tmp_path / "a.pth", tmp_path / "b.safetensors", a, b


def test_alpha_0_and_1_give_a_and_b_exactly(pair: tuple[Path, Path, RRDBNet, RRDBNet]) -> None:
    pa, pb, a, b = pair
    for alpha, ref in ((0.0, a), (1.0, b)):
        net, _ = interpolate_models([pa, pb], interp_weights(2, [alpha]))
        for k, v in ref.state_dict().items():
            assert torch.equal(net.state_dict()[k], v), k


def test_midpoint_is_parameter_average(pair: tuple[Path, Path, RRDBNet, RRDBNet]) -> None:
    pa, pb, a, b = pair
    net, _ = interpolate_models([pa, pb], [0.3, 0.7])
    k = "body.0.rdb1.conv1.weight"
    torch.testing.assert_close(net.state_dict()[k], 0.3 * a.state_dict()[k] + 0.7 * b.state_dict()[k])


def test_mismatched_architectures_are_refused(tmp_path: Path, pair: tuple[Path, Path, RRDBNet, RRDBNet]) -> None:
    save_model(RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=2), tmp_path / "deeper.pth")
    with pytest.raises(ValueError, match=r"num_block: 1 vs 2"):
        interpolate_models([pair[0], tmp_path / "deeper.pth"], [0.5, 0.5])
    save_model(SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2), tmp_path / "vgg.pth")
    with pytest.raises(ValueError, match=r"RRDBNet vs SRVGGNetCompact"):
        interpolate_models([pair[0], tmp_path / "vgg.pth"], [0.5, 0.5])


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


def test_interp_command_refuses_nan_without_writing(pair: tuple[Path, Path, RRDBNet, RRDBNet], tmp_path: Path) -> None:
    a, b, _, _ = pair
    with pytest.raises(SystemExit) as info:  # the flag's declared range: any finite number
        main(["interp", str(a), str(b), "--weights", "nan", "nan", "-o", str(tmp_path / "c.pth")])
    assert info.value.code == 2 and not (tmp_path / "c.pth").exists()


def test_interp_command_writes_loadable_checkpoint(pair: tuple[Path, Path, RRDBNet, RRDBNet], tmp_path: Path) -> None:
    pa, pb, a, b = pair
    out = tmp_path / "c.pth"
    assert main(["interp", str(pa), str(pb), "--alpha", "0.7", "-o", str(out)]) == 0
    net, info = load_model(out)
    k = "conv_first.weight"
    torch.testing.assert_close(net.state_dict()[k], 0.3 * a.state_dict()[k] + 0.7 * b.state_dict()[k])
    assert info.arch == "RRDBNet" and info.scale == 2
    assert main(["interp", str(pa), str(pb), "--alpha", "0.5", "-o", str(pa)]) == 2  # never overwrite an input


def test_upscale_with_interp_equals_interpolated_file(
    pair: tuple[Path, Path, RRDBNet, RRDBNet], tmp_path: Path
) -> None:
    import cv2
    import numpy as np

    pa, pb, _, _ = pair
    img = (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "i.png"), img)
    assert main(["interp", str(pa), str(pb), "--alpha", "0.4", "-o", str(tmp_path / "m.pth")]) == 0
    common = ["--precision", "fp32", "--tile", "0", "-q"]
    assert main(["upscale", str(tmp_path / "i.png"), "-o", str(tmp_path / "x.png"), "-m", str(tmp_path / "m.pth"),
                 *common]) == 0  # fmt: skip
    assert main(["upscale", str(tmp_path / "i.png"), "-o", str(tmp_path / "y.png"), "--interp",
                 f"{pa}:{pb}:0.4", *common]) == 0  # fmt: skip
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "x.png")), cv2.imread(str(tmp_path / "y.png")))


def test_flops_per_pixel_matches_hand_count() -> None:
    net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2)
    # convs: 3->8, 8->8, 8->8, 8->12, all 3x3 at input resolution
    per_pixel = 2 * 9 * (3 * 8 + 8 * 8 + 8 * 8 + 8 * 12)
    assert flops_per_input_pixel(net, 3, size=8) == per_pixel
    # RRDBNet x4 with the published shape: ~35.85 MFLOP per input pixel
    assert flops_per_input_pixel(RRDBNet(), 3, size=8) == pytest.approx(35.85e6, rel=1e-3)


def test_info_command(pair: tuple[Path, Path, RRDBNet, RRDBNet], capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["info", str(pair[0]), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["arch"] == "RRDBNet" and d["scale"] == 2 and d["kind"] == "file"
    assert d["hparams"]["num_block"] == 1 and d["parameters"] == sum(p.numel() for p in rrdb().parameters())
    assert len(d["sha256"]) == 64 and d["gflop_per_input_megapixel"] > 0
    assert main(["info", "realesr-animevideov3"]) == 0
    out = capsys.readouterr().out
    assert "built-in" in out and "SRVGGNetCompact x4" in out and "1,238.4 GFLOP per input megapixel" in out
    assert main(["info", "no-such-model"]) == 1
