"""``esrgan interp``: a weighted average of two model files, written as a loadable checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from esrgan.cli import main
from esrgan.models import load_model


def test_interp_command_writes_loadable_checkpoint(
    model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module], tmp_path: Path
) -> None:
    pa, pb, a, b = model_pair
    out = tmp_path / "c.pth"
    assert main(["interp", str(pa), str(pb), "--alpha", "0.7", "-o", str(out)]) == 0
    net, info = load_model(out)
    k = "conv_first.weight"
    torch.testing.assert_close(net.state_dict()[k], 0.3 * a.state_dict()[k] + 0.7 * b.state_dict()[k])
    assert info.arch == "RRDBNet" and info.scale == 2
    assert main(["interp", str(pa), str(pb), "--alpha", "0.5", "-o", str(pa)]) == 2  # never overwrite an input


def test_interp_command_refuses_nan_without_writing(
    model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module], tmp_path: Path
) -> None:
    a, b, _, _ = model_pair
    with pytest.raises(SystemExit) as info:  # the flag's declared range: any finite number
        main(["interp", str(a), str(b), "--weights", "nan", "nan", "-o", str(tmp_path / "c.pth")])
    assert info.value.code == 2 and not (tmp_path / "c.pth").exists()
