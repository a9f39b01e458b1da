"""ncnn loader glue: graphs go to the architecture that recognises them, are checked by running them, trailing
resizes are reported, and graphs of no registered architecture are refused. (Each architecture's graphs are tested
in its room's tests; the container in tests/formats.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.models import load_model
from esrgan.models.ncnn import read_ncnn, write_ncnn
from esrgan.models.zoo import models_dir


def srvgg() -> SRVGGNetCompact:
    net = SRVGGNetCompact(3, 3, num_feat=8, num_conv=2, upscale=4).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.5)
    return net


def test_trailing_resize_is_stripped_and_reported(tmp_path: Path) -> None:
    net = srvgg()
    write_ncnn(net, tmp_path / "m.param", fp16=False, trailing_resize=("bicubic", 0.5))
    assert "Interp" in (tmp_path / "m.param").read_text().splitlines()[-1]
    loaded, info = load_model(tmp_path / "m.param")
    assert info.trailing_resize == ("bicubic", 0.5) and info.scale == 4
    assert any("bicubic resize x0.5" in n and "output scale 2" in n for n in info.notes)
    x = torch.rand(1, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=1e-5, atol=1e-5)


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


def test_check_uses_the_graph_not_the_shapes() -> None:
    model = read_ncnn(models_dir() / "REALESRGAN_ANIMAVIDEOV3_UP4X.param", verify=False)
    net = SRVGGNetCompact(**model.hparams)
    sd = dict(model.state_dict)
    sd["body.2.weight"], sd["body.4.weight"] = sd["body.4.weight"], sd["body.2.weight"]
    net.load_state_dict(sd)
    with pytest.raises(ValueError, match="wired differently"):
        model.check(net)
    net.load_state_dict(model.state_dict)
    model.check(net)


def test_writer_needs_a_network_of_the_registry(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"Conv2d is not a super-resolution network of esrgan\.archs"):
        write_ncnn(nn.Conv2d(3, 3, 3), tmp_path / "m.param")
    assert not list(tmp_path.iterdir())
