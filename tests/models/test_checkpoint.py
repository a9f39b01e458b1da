"""The loader: containers -> the one architecture whose room knows the keys -> a ready network and its ModelInfo;
metadata trusted only when it fits; broken and foreign files refused with one clear line. (Each architecture's
layouts are tested in its room's tests, tests/archs/test_<name>.py; the containers in tests/formats.)"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.models import ModelInfo, build_network, convert_state_dict, load_model, save_model


def make_rrdb(case: tuple[Any, ...]) -> RRDBNet:
    c, scale, nf, nb, gc, *unshuffle = case
    net = RRDBNet(c, c, scale=scale, num_feat=nf, num_block=nb, num_grow_ch=gc, pixel_unshuffle=all(unshuffle))
    return net.eval()


def make_srvgg(case: tuple[int, int, int, int, str]) -> SRVGGNetCompact:
    c, nf, nc, up, act = case
    net = SRVGGNetCompact(c, c, num_feat=nf, num_conv=nc, upscale=up, act_type=act).eval()
    with torch.no_grad():  # PReLU starts at a constant 0.25: make every slope distinct so a mix-up shows
        for m in net.modules():
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.5)
    return net


def same_output(a: nn.Module, b: nn.Module, channels: int, atol: float = 1e-5) -> None:
    x = torch.rand(1, channels, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=1e-5, atol=atol)


def test_metadata_that_does_not_fit_the_tensors_is_ignored(tmp_path: Path) -> None:
    net = make_rrdb((3, 4, 8, 2, 4))
    meta = {"arch": "RRDBNet", "hparams": {**net.hparams(), "num_block": 5}, "version": "0"}
    torch.save({"params_ema": net.state_dict(), "esrgan": meta}, tmp_path / "m.pth")
    loaded, info = load_model(tmp_path / "m.pth")
    assert info.hparams["num_block"] == 2
    assert any("do not fit" in n for n in info.notes)
    same_output(net, loaded, 3)


def test_metadata_claiming_a_huge_network_is_not_built(tmp_path: Path) -> None:
    """A small file whose metadata claims 30 million convolutions loads at once from its shapes (the claim used to
    be built on the meta device before being compared: it hung the loader)."""
    net = make_srvgg((3, 4, 1, 2, "prelu"))
    meta = {"arch": "SRVGGNetCompact", "hparams": {**net.hparams(), "num_conv": 30_000_000}, "version": "0"}
    torch.save({"params_ema": net.state_dict(), "esrgan": meta}, tmp_path / "claim.pth")
    assert (tmp_path / "claim.pth").stat().st_size < 20_000
    loaded, info = load_model(tmp_path / "claim.pth")
    assert info.hparams == net.hparams()
    assert any("do not fit its tensors" in n for n in info.notes)
    same_output(net, loaded, 3)


def test_half_precision_checkpoint_loads_as_float32(tmp_path: Path) -> None:
    net = make_rrdb((3, 4, 8, 1, 4))
    torch.save({k: v.half() for k, v in net.state_dict().items()}, tmp_path / "half.pth")
    loaded, _ = load_model(tmp_path / "half.pth")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    same_output(net, loaded, 3, atol=2e-2)


def test_loaded_network_is_ready_for_inference_and_info_is_complete(tmp_path: Path) -> None:
    net = make_rrdb((3, 2, 4, 1, 4))
    save_model(net, tmp_path / "m.pth")
    loaded, info = load_model(str(tmp_path / "m.pth"), device="auto" if not torch.cuda.is_available() else "cpu")
    assert not loaded.training
    assert all(not p.requires_grad and p.dtype == torch.float32 and p.device.type == "cpu" for p in loaded.parameters())
    assert isinstance(info, ModelInfo)
    assert info.path == str(tmp_path / "m.pth") and info.name is None
    assert info.sha256 == hashlib.sha256((tmp_path / "m.pth").read_bytes()).hexdigest()
    assert info.summary().startswith("m.pth: RRDBNet x2 (1 blocks, 4 features, growth 4)")
    with pytest.raises(AttributeError):
        info.scale = 3  # type: ignore[misc]


def test_convert_state_dict_in_memory() -> None:
    net = make_srvgg((3, 8, 2, 4, "prelu"))
    loaded = convert_state_dict({"module." + k: v for k, v in net.state_dict().items()})
    assert loaded.arch == "SRVGGNetCompact" and loaded.hparams == net.hparams()
    assert set(loaded.state_dict) == set(net.state_dict())


# ------------------------------------------------------------------------------------------------ save_model


def test_save_model_writes_basicsr_layout_with_metadata(tmp_path: Path) -> None:
    net = make_rrdb((3, 4, 8, 1, 4))
    save_model(net, tmp_path / "g.pth", extra={"iteration": 7, "note": ["a", 1]})
    obj = torch.load(tmp_path / "g.pth", map_location="cpu", weights_only=True)
    assert set(obj) == {"params_ema", "esrgan"}
    meta = obj["esrgan"]
    assert meta["arch"] == "RRDBNet" and meta["hparams"] == net.hparams() and meta["iteration"] == 7
    assert isinstance(meta["version"], str)
    # BasicSR / Real-ESRGAN load it with their own RRDBNet: plain names, strict.
    fresh = RRDBNet(**net.hparams())
    fresh.load_state_dict(obj["params_ema"], strict=True)
    assert os.listdir(tmp_path) == ["g.pth"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "g.pth").stat().st_mode & 0o777 == 0o666 & ~umask  # not tempfile's 0600


def test_save_model_unwraps_dataparallel_and_compile(tmp_path: Path) -> None:
    class Compiled(nn.Module):  # what torch.compile returns: the network is kept as _orig_mod
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self._orig_mod = net

    net = make_srvgg((3, 8, 1, 2, "prelu"))
    for wrapped in (nn.DataParallel(Compiled(net)), Compiled(nn.DataParallel(Compiled(net)))):
        save_model(wrapped, tmp_path / "w.pth")
        keys = torch.load(tmp_path / "w.pth", weights_only=True)["params_ema"].keys()
        assert set(keys) == set(net.state_dict())


def test_save_model_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = make_rrdb((3, 4, 4, 1, 4))
    target = tmp_path / "g.pth"
    target.write_bytes(b"previous content")

    def broken_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        Path(f).write_bytes(b"half a fi")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(net, target)
    assert target.read_bytes() == b"previous content"
    assert os.listdir(tmp_path) == ["g.pth"]


def test_save_model_rejects_bad_input(tmp_path: Path) -> None:
    net = make_rrdb((3, 4, 4, 1, 4))
    with pytest.raises(ValueError, match="may not set arch"):
        save_model(net, tmp_path / "a.pth", extra={"arch": "x"})
    with pytest.raises(ValueError, match=r"extra\['where'\] is a PosixPath|extra\['where'\] is a WindowsPath"):
        save_model(net, tmp_path / "a.pth", extra={"where": tmp_path})
    with pytest.raises(ValueError, match="only RRDBNet"):
        save_model(nn.Conv2d(3, 3, 3), tmp_path / "a.pth")
    with pytest.raises(FileNotFoundError, match="folder does not exist"):
        save_model(net, tmp_path / "nope" / "a.pth")
    assert not list(tmp_path.iterdir())


def test_build_network() -> None:
    net = build_network("SRVGGNetCompact", {"num_feat": 4, "num_conv": 1, "upscale": 2})
    assert isinstance(net, SRVGGNetCompact) and net.scale == 2
    with pytest.raises(ValueError, match="unknown architecture 'EDSR'"):
        build_network("EDSR", {})
    with pytest.raises(ValueError, match="bad hyper-parameters for RRDBNet"):
        build_network("RRDBNet", {"num_blocks": 3})
    # Sizes are checked before anything is built: this would otherwise take minutes and gigabytes.
    with pytest.raises(ValueError, match="bad hyper-parameters for SRVGGNetCompact: num_conv must be an integer"):
        build_network("SRVGGNetCompact", {"num_conv": 30_000_000})
    with pytest.raises(ValueError, match="bad hyper-parameters for RRDBNet: scale must be one of 1, 2, 4, 8"):
        build_network("RRDBNet", {"scale": 3})


# ---------------------------------------------------------------------------------------------------- errors


def one_line_error(exc_type: type[Exception], path: Any, match: str) -> str:
    with pytest.raises(exc_type) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert re.search(match, message), message
    return message


def test_discriminators_are_recognised(tmp_path: Path) -> None:
    basicsr = {
        "conv0_0.weight": torch.zeros(8, 3, 3, 3),
        "conv0_1.weight": torch.zeros(8, 8, 4, 4),
        "bn0_1.weight": torch.zeros(8),
        "linear1.weight": torch.zeros(100, 32),
        "linear2.weight": torch.zeros(1, 100),
    }
    old = {
        "features.0.weight": torch.zeros(8, 3, 3, 3),
        "features.1.0.weight": torch.zeros(8, 8, 4, 4),
        "classifier.0.weight": torch.zeros(100, 32),
    }
    unet = {"conv0.weight": torch.zeros(8, 3, 3, 3), "conv1.weight_orig": torch.zeros(16, 8, 4, 4)}
    for i, sd in enumerate((basicsr, old, unet)):
        torch.save({"params": sd}, tmp_path / f"d{i}.pth")
        one_line_error(
            ValueError, tmp_path / f"d{i}.pth", r"a discriminator \(keys .*\), not a super-resolution generator"
        )


def test_unknown_architecture_names_what_was_found(tmp_path: Path) -> None:
    torch.save({"encoder.weight": torch.zeros(3), "decoder.bias": torch.zeros(3)}, tmp_path / "x.pth")
    one_line_error(ValueError, tmp_path / "x.pth", r"unrecognised architecture .*encoder\.weight.*supported: ESRGAN")


def test_empty_missing_and_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "empty.pth").write_bytes(b"")
    one_line_error(ValueError, tmp_path / "empty.pth", r"empty file \(0 bytes\)")
    one_line_error(FileNotFoundError, tmp_path / "missing.pth", "model file not found: .*missing.pth")
    (tmp_path / "text.pth").write_text("hello, I am not a model\n")
    one_line_error(ValueError, tmp_path / "text.pth", "not a PyTorch, safetensors or ncnn file")
    one_line_error(ValueError, tmp_path, "is a folder")
    torch.save({"optimizers": [{}], "schedulers": [{}], "iter": 3}, tmp_path / "s.state")
    one_line_error(ValueError, tmp_path / "s.state", "training state .* no network weights")
    with warnings.catch_warnings():  # torch deprecates tracing; it is only the way to make such a file here
        warnings.simplefilter("ignore")
        torch.jit.trace(make_srvgg((3, 4, 1, 2, "prelu")), torch.rand(1, 3, 4, 4)).save(tmp_path / "ts.pt")
    one_line_error(ValueError, tmp_path / "ts.pt", "a TorchScript archive")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    one_line_error(ValueError, tmp_path / "list.pth", "holds a list, not a dict of tensors")


def test_names_and_paths(tmp_path: Path) -> None:
    one_line_error(ValueError, "realesrgan-x4plu", "unknown model 'realesrgan-x4plu'.*did you mean 'realesrgan-x4plus'")
    one_line_error(FileNotFoundError, "weights/model.pth", "model file not found")
    one_line_error(FileNotFoundError, tmp_path / "a.param", "model file not found")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_saved_models_get_the_umasks_permissions(tmp_path: Path, suffix: str) -> None:
    """Like every output: safetensors' own writer would leave 0600 whatever the umask."""
    net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=1, upscale=2, act_type="prelu")
    old = os.umask(0o022)
    try:
        save_model(net, tmp_path / f"m{suffix}")
    finally:
        os.umask(old)
    assert (tmp_path / f"m{suffix}").stat().st_mode & 0o777 == 0o644
    assert load_model(tmp_path / f"m{suffix}")[1].arch == "SRVGGNetCompact"
