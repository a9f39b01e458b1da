"""``esrgan info``: a model file or built-in described as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from esrgan.cli import main


def test_info_command(
    model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(model_pair[0]), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["arch"] == "RRDBNet" and d["scale"] == 2 and d["kind"] == "file"
    assert d["hparams"]["num_block"] == 1 and d["parameters"] == sum(p.numel() for p in model_pair[2].parameters())
    assert len(d["sha256"]) == 64 and d["gflop_per_input_megapixel"] > 0
    assert main(["info", "realesr-animevideov3"]) == 0
    out = capsys.readouterr().out
    assert "built-in" in out and "SRVGGNetCompact x4" in out and "1,238.4 GFLOP per input megapixel" in out
    assert main(["info", "no-such-model"]) == 1
