"""Fixtures of the architecture tests: the containers a network's weights may come in (every room's layouts are
tested in each of them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from esrgan.models import save_model

SaveAs = Callable[[nn.Module, Path], tuple[Path, str]]


def _sd(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def prefixed(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A mix of DataParallel / torch.compile prefixes, different per key."""
    prefixes = ["module.", "_orig_mod.", "module._orig_mod.", "_orig_mod.module.", ""]
    return {prefixes[i % len(prefixes)] + k: v for i, (k, v) in enumerate(sd.items())}


def _bare(net: nn.Module, d: Path) -> tuple[Path, str]:
    torch.save(_sd(net), d / "bare.pt")
    return d / "bare.pt", "pth:basicsr"


def _params(net: nn.Module, d: Path) -> tuple[Path, str]:
    torch.save({"params": _sd(net)}, d / "p.pth")
    return d / "p.pth", "pth:basicsr[params]"


def _params_ema(net: nn.Module, d: Path) -> tuple[Path, str]:
    # params holds other weights: params_ema must win.
    other = {k: torch.randn_like(v) for k, v in net.state_dict().items()}
    torch.save({"params": other, "params_ema": _sd(net)}, d / "ema.pth")
    return d / "ema.pth", "pth:basicsr[params_ema]"


def _with_prefixes(net: nn.Module, d: Path) -> tuple[Path, str]:
    torch.save({"params_ema": prefixed(_sd(net))}, d / "pre.ckpt")
    return d / "pre.ckpt", "pth:basicsr[params_ema]"


def _safetensors(net: nn.Module, d: Path) -> tuple[Path, str]:
    save_file(_sd(net), str(d / "m.safetensors"))
    return d / "m.safetensors", "safetensors:basicsr"


def _ours(net: nn.Module, d: Path) -> tuple[Path, str]:
    save_model(net, d / "ours.pth", extra={"iteration": 5})
    return d / "ours.pth", "pth:esrgan[params_ema]"


def _ours_safetensors(net: nn.Module, d: Path) -> tuple[Path, str]:
    save_model(net, d / "ours.safetensors")
    return d / "ours.safetensors", "safetensors:esrgan"


def _training(net: nn.Module, d: Path) -> tuple[Path, str]:
    state = {
        "esrgan": {"arch": net.arch_name, "hparams": net.hparams(), "version": "0"},  # type: ignore[operator]
        "params": {k: torch.zeros_like(v) for k, v in net.state_dict().items()},
        "params_ema": _sd(net),
        "net_d": {"conv0_0.weight": torch.zeros(4, 3, 3, 3), "linear1.weight": torch.zeros(2, 2)},
        "optimizers": [{"state": {}, "param_groups": [{"lr": 1e-4}]}],
        "iter": 10,
    }
    torch.save(state, d / "train.pth")
    return d / "train.pth", "pth:esrgan[params_ema]"


CONTAINERS: dict[str, SaveAs] = {
    "bare": _bare,
    "params": _params,
    "params_ema": _params_ema,
    "with_prefixes": _with_prefixes,
    "safetensors": _safetensors,
    "ours": _ours,
    "ours_safetensors": _ours_safetensors,
    "training": _training,
}


@pytest.fixture(params=list(CONTAINERS))
def save_as(request: pytest.FixtureRequest) -> SaveAs:
    """Writes a network's canonical state dict in one container (every one, in turn): (net, folder) ->
    (file, the ``source_format`` load_model must report)."""
    return CONTAINERS[request.param]
