"""``esrgan info``: a model file or built-in described as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from esrgan.cli import main
from esrgan.models.zoo import BUILTIN_MODELS


def test_info_command(
    model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert main(["info", str(model_pair[0]), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["arch"] == "RRDBNet" and d["scale"] == 2 and d["kind"] == "file"
    assert d["hparams"]["num_block"] == 1 and d["parameters"] == sum(p.numel() for p in model_pair[2].parameters())
    assert len(d["sha256"]) == 64 and d["gflop_per_input_megapixel"] > 0
    assert main(["info", "realesr-animevideov3"]) == 0
    out = capsys.readouterr().out
    assert "built-in" in out and "SRVGGNetCompact x4" in out and "1,238.4 GFLOP per input megapixel" in out
    assert main(["info", "no-such-model"]) == 2  # a user error, as everywhere: one line, nothing described
    caplog.clear()
    assert main(["info", "realesr-animevideov3", "missing/model.pth"]) == 2
    assert "model file not found: missing/model.pth" in caplog.text and not capsys.readouterr().out


@pytest.mark.parametrize("name", [m.name for m in BUILTIN_MODELS])
def test_builtin_answer_from_static_facts_equals_the_loaded_one(name: str) -> None:
    from esrgan.commands.info import describe_builtin, describe_loaded
    from esrgan.models import zoo

    model = zoo.find_builtin(name)
    assert model is not None
    assert describe_builtin(name, model) == describe_loaded(name)


def test_builtin_with_other_files_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from esrgan.commands import info
    from esrgan.models import zoo

    calls: list[str] = []
    monkeypatch.setattr(info, "describe_loaded", lambda spec: calls.append(spec) or {"model": spec})
    assert info.describe("realesr-animevideov3") != {"model": "realesr-animevideov3"} and not calls
    monkeypatch.setattr(zoo, "files_match", lambda model: False)
    assert info.describe("realesr-animevideov3") == {"model": "realesr-animevideov3"} and calls
