"""The shared engine flags: every verb that runs a network accepts --backend and --compile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import esrgan.inference
from esrgan.cli import build_parser
from esrgan.commands.common import upscaler_from


@pytest.mark.parametrize(
    "argv",
    [
        ["upscale", "a.png"],
        ["video", "a.mp4", "-o", "b.mp4"],
        ["test", "-m", "bicubic", "--hr", "hr", "-s", "4"],
    ],
)
def test_engine_verbs_accept_backend_and_compile(argv: list[str]) -> None:
    parser = build_parser()
    args = parser.parse_args([*argv, "--backend", "openvino", "--compile"])
    assert args.backend == "openvino" and args.compile is True
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--backend", "tensorrt"])


def test_upscale_defaults_are_the_auto_backend_eager() -> None:
    args = build_parser().parse_args(["upscale", "a.png"])
    assert args.backend == "auto" and args.compile is False


def test_test_verb_carries_the_flags_into_its_options(tmp_path: Path) -> None:
    from esrgan.commands.test import options_from_args
    from esrgan.evaluation import TestOptions

    (tmp_path / "hr").mkdir()
    argv = ["test", "-m", "realesrgan-x4plus", "--hr", str(tmp_path / "hr"), "--backend", "onnxruntime"]
    opts = options_from_args(build_parser().parse_args(argv))
    assert opts.backend == "onnxruntime" and opts.compile is False
    opts = options_from_args(build_parser().parse_args(["test", "-m", "x", "--hr", str(tmp_path), "--compile"]))
    assert opts.backend == "auto" and opts.compile is True
    assert TestOptions.__dataclass_fields__["backend"].default == "auto"


def test_upscaler_from_passes_backend_and_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_upscaler(net: object, **kwargs: Any) -> dict[str, Any]:
        seen.update(kwargs)
        return seen

    monkeypatch.setattr(esrgan.inference, "Upscaler", fake_upscaler)
    args = build_parser().parse_args(["upscale", "a.png", "--backend", "onnxruntime", "--tile", "64"])
    upscaler_from(object(), args, on_tile=None)
    assert seen["backend"] == "onnxruntime" and seen["compile"] is False and seen["tile"] == 64

    class Options:  # an options object from before the flags existed: the defaults, auto and eager
        tile, tile_pad, ensemble, precision, device = 0, 16, False, "fp32", "cpu"

    upscaler_from(object(), Options())
    assert seen["backend"] == "auto" and seen["compile"] is False
