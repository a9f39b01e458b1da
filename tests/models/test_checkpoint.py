"""Checkpoint layouts in, the same network out; unsafe, broken and foreign files refused with one clear line."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.models import ModelInfo, build_network, convert_state_dict, load_model, save_model

# (in_ch, scale, num_feat, num_block, num_grow_ch): every scale, channels 1/3/4, several sizes.
RRDB_CASES = [
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
# (in_ch, num_feat, num_conv, upscale, act_type)
SRVGG_CASES = [
    (3, 8, 2, 4, "prelu"),
    (1, 3, 1, 2, "prelu"),
    (4, 8, 3, 3, "prelu"),
    (3, 6, 0, 1, "prelu"),
    (3, 4, 2, 2, "lrelu"),
]


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


# ------------------------------------------------------------------ writers of foreign layouts (test-only)


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


def prefixed(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A mix of DataParallel / torch.compile prefixes, different per key."""
    prefixes = ["module.", "_orig_mod.", "module._orig_mod.", "_orig_mod.module.", ""]
    return {prefixes[i % len(prefixes)] + k: v for i, k, v in ((i, k, v) for i, (k, v) in enumerate(sd.items()))}


def _rrdb_layouts() -> dict[str, Callable[[nn.Module, Path], tuple[Path, str]]]:
    def sd(net: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in net.state_dict().items()}

    def old(net: Any, d: Path) -> tuple[Path, str]:
        num_up = net.num_upsample
        torch.save(to_old_esrgan(sd(net), net.num_block, num_up), d / "old.pth", _use_new_zipfile_serialization=False)
        return d / "old.pth", "pth:esrgan-old"

    def new(net: Any, d: Path) -> tuple[Path, str]:
        torch.save(to_new_esrgan(sd(net)), d / "new.pth")
        return d / "new.pth", "pth:esrgan-new"

    def bare(net: nn.Module, d: Path) -> tuple[Path, str]:
        torch.save(sd(net), d / "bare.pt")
        return d / "bare.pt", "pth:basicsr"

    def params(net: nn.Module, d: Path) -> tuple[Path, str]:
        torch.save({"params": sd(net)}, d / "p.pth")
        return d / "p.pth", "pth:basicsr[params]"

    def params_ema(net: nn.Module, d: Path) -> tuple[Path, str]:
        # params holds other weights: params_ema must win.
        other = {k: torch.randn_like(v) for k, v in net.state_dict().items()}
        torch.save({"params": other, "params_ema": sd(net)}, d / "ema.pth")
        return d / "ema.pth", "pth:basicsr[params_ema]"

    def with_prefixes(net: nn.Module, d: Path) -> tuple[Path, str]:
        torch.save({"params_ema": prefixed(sd(net))}, d / "pre.ckpt")
        return d / "pre.ckpt", "pth:basicsr[params_ema]"

    def safetensors(net: nn.Module, d: Path) -> tuple[Path, str]:
        save_file(sd(net), str(d / "m.safetensors"))
        return d / "m.safetensors", "safetensors:basicsr"

    def ours(net: nn.Module, d: Path) -> tuple[Path, str]:
        save_model(net, d / "ours.pth", extra={"iteration": 5})
        return d / "ours.pth", "pth:esrgan[params_ema]"

    def ours_safetensors(net: nn.Module, d: Path) -> tuple[Path, str]:
        save_model(net, d / "ours.safetensors")
        return d / "ours.safetensors", "safetensors:esrgan"

    def training(net: nn.Module, d: Path) -> tuple[Path, str]:
        state = {
            "esrgan": {"arch": net.arch_name, "hparams": net.hparams(), "version": "0"},  # type: ignore[operator]
            "params": {k: torch.zeros_like(v) for k, v in net.state_dict().items()},
            "params_ema": sd(net),
            "net_d": {"conv0_0.weight": torch.zeros(4, 3, 3, 3), "linear1.weight": torch.zeros(2, 2)},
            "optimizers": [{"state": {}, "param_groups": [{"lr": 1e-4}]}],
            "iter": 10,
        }
        torch.save(state, d / "train.pth")
        return d / "train.pth", "pth:esrgan[params_ema]"

    return {
        f.__name__: f
        for f in (old, new, bare, params, params_ema, with_prefixes, safetensors, ours, ours_safetensors, training)
    }


RRDB_LAYOUTS = _rrdb_layouts()
SRVGG_LAYOUTS = {
    k: RRDB_LAYOUTS[k]
    for k in ("bare", "params", "params_ema", "with_prefixes", "safetensors", "ours", "ours_safetensors", "training")
}


@pytest.mark.parametrize("layout", list(RRDB_LAYOUTS))
@pytest.mark.parametrize(
    "case",
    RRDB_CASES,
    ids=[f"c{c[0]}x{c[1]}nf{c[2]}nb{c[3]}gc{c[4]}{'' if len(c) == 5 else 'plain'}" for c in RRDB_CASES],
)
def test_rrdbnet_every_layout_loads_to_the_same_network(case: Any, layout: str, tmp_path: Path) -> None:
    net = make_rrdb(case)
    path, fmt = RRDB_LAYOUTS[layout](net, tmp_path)
    loaded, info = load_model(path)
    assert info.arch == "RRDBNet"
    assert info.hparams == net.hparams()
    assert (info.scale, info.in_channels, info.out_channels) == (case[1], case[0], case[0])
    assert info.source_format == fmt
    assert info.num_params == sum(p.numel() for p in net.parameters())
    same_output(net, loaded, case[0])


@pytest.mark.parametrize("layout", list(SRVGG_LAYOUTS))
@pytest.mark.parametrize("case", SRVGG_CASES, ids=[f"c{c}nf{f}nc{n}x{u}{a}" for c, f, n, u, a in SRVGG_CASES])
def test_srvgg_every_layout_loads_to_the_same_network(case: Any, layout: str, tmp_path: Path) -> None:
    net = make_srvgg(case)
    path, _ = SRVGG_LAYOUTS[layout](net, tmp_path)
    loaded, info = load_model(path)
    assert info.arch == "SRVGGNetCompact"
    assert info.hparams == net.hparams()
    assert info.scale == case[3]
    same_output(net, loaded, case[0])


def test_srvgg_without_prelu_is_assumed_lrelu_unless_metadata_says_relu(tmp_path: Path) -> None:
    net = make_srvgg((3, 6, 2, 2, "relu"))
    torch.save(net.state_dict(), tmp_path / "bare.pth")
    _, info = load_model(tmp_path / "bare.pth")
    assert info.hparams["act_type"] == "lrelu"
    assert any("assumed LeakyReLU" in n for n in info.notes)
    # Our own file carries act_type: it fits the tensors, so it is used and the output is exact.
    save_model(net, tmp_path / "ours.pth")
    loaded, info = load_model(tmp_path / "ours.pth")
    assert info.hparams["act_type"] == "relu" and not info.notes
    same_output(net, loaded, 3)


def test_metadata_that_does_not_fit_the_tensors_is_ignored(tmp_path: Path) -> None:
    net = make_rrdb((3, 4, 8, 2, 4))
    meta = {"arch": "RRDBNet", "hparams": {**net.hparams(), "num_block": 5}, "version": "0"}
    torch.save({"params_ema": net.state_dict(), "esrgan": meta}, tmp_path / "m.pth")
    loaded, info = load_model(tmp_path / "m.pth")
    assert info.hparams["num_block"] == 2
    assert any("do not fit" in n for n in info.notes)
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


# ---------------------------------------------------------------------------------------------------- errors


def one_line_error(exc_type: type[Exception], path: Any, match: str) -> str:
    with pytest.raises(exc_type) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert re.search(match, message), message
    return message


class Payload:
    """Unpickling this calls open(marker, "w"): it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("legacy", [False, True])
def test_pickle_that_runs_code_is_refused_and_not_executed(tmp_path: Path, legacy: bool) -> None:
    # The payload is live: plain pickle.loads does create its marker.
    pickle.loads(pickle.dumps(Payload(tmp_path / "proof")))
    assert (tmp_path / "proof").exists()

    marker = tmp_path / "marker"
    net = make_rrdb((3, 4, 4, 1, 4))
    path = tmp_path / "evil.pth"
    torch.save({"params_ema": net.state_dict(), "x": Payload(marker)}, path, _use_new_zipfile_serialization=not legacy)
    message = one_line_error(ValueError, path, "not a plain weights file")
    assert str(path) in message
    assert not marker.exists()


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


@pytest.mark.parametrize("kind", ["zip", "legacy", "safetensors"])
def test_truncated_files(tmp_path: Path, kind: str) -> None:
    net = make_rrdb((3, 4, 8, 1, 4))
    path = tmp_path / ("m.safetensors" if kind == "safetensors" else "m.pth")
    if kind == "safetensors":
        save_file(net.state_dict(), str(path))
    else:
        torch.save(net.state_dict(), path, _use_new_zipfile_serialization=kind == "zip")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    one_line_error(ValueError, path, r"corrupt or truncated")


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


def test_unsupported_variants_explain_why(tmp_path: Path) -> None:
    # Four upsampling convs (x16) is no RRDBNet esrgan builds.
    sd = make_rrdb((3, 8, 4, 1, 4)).state_dict()
    sd["conv_up4.weight"], sd["conv_up4.bias"] = sd["conv_up3.weight"].clone(), sd["conv_up3.bias"].clone()
    torch.save(sd, tmp_path / "x16.pth")
    one_line_error(
        ValueError, tmp_path / "x16.pth", r"4 upsampling conv\(s\) and pixel-unshuffle 1 \(x16\) cannot be built"
    )
    # A layer missing from an otherwise recognised file.
    sd = make_rrdb((3, 4, 4, 1, 4)).state_dict()
    del sd["conv_hr.weight"]
    torch.save(sd, tmp_path / "hole.pth")
    one_line_error(ValueError, tmp_path / "hole.pth", r"weights do not fit RRDBNet\(.*\): missing conv_hr\.weight")
    # ESRGAN+ adds conv1x1 branches: not ours; spandrel's ESRGAN loader takes such files, and says why this
    # made-up one (one zero conv1x1, none of the others) does not fit; without spandrel, the hint names it.
    sd = to_old_esrgan(make_rrdb((3, 4, 4, 1, 4)).state_dict(), 1, 2)
    sd["model.1.sub.0.RDB1.conv1x1.weight"] = torch.zeros(4, 4, 1, 1)
    torch.save(sd, tmp_path / "plus.pth")
    one_line_error(ValueError, tmp_path / "plus.pth", "spandrel detected ESRGAN but could not build it")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("esrgan.models.spandrel_bridge.spandrel_version", lambda: None)
        one_line_error(ValueError, tmp_path / "plus.pth", r"its keys look like ESRGAN\+, which loads through")


def test_names_and_paths(tmp_path: Path) -> None:
    one_line_error(ValueError, "realesrgan-x4plu", "unknown model 'realesrgan-x4plu'.*did you mean 'realesrgan-x4plus'")
    one_line_error(FileNotFoundError, "weights/model.pth", "model file not found")
    one_line_error(FileNotFoundError, tmp_path / "a.param", "model file not found")
