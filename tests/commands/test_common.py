"""The shared engine flags: every verb that runs a network accepts --backend and --compile."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from esrgan.cli import build_parser, main
from esrgan.commands.common import engine_options
from esrgan.inference import EngineOptions


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

    (tmp_path / "hr").mkdir()
    argv = ["test", "-m", "realesrgan-x4plus", "--hr", str(tmp_path / "hr"), "--backend", "onnxruntime"]
    opts = options_from_args(build_parser().parse_args(argv))
    assert opts.engine.backend == "onnxruntime" and opts.engine.compile is False
    argv += ["--precision", "int8", "--int8-calibration", str(tmp_path)]
    opts = options_from_args(build_parser().parse_args([a for a in argv if a not in ("--backend", "onnxruntime")]))
    assert (opts.engine.precision, opts.engine.int8_calibration) == ("int8", str(tmp_path))
    opts = options_from_args(build_parser().parse_args(["test", "-m", "x", "--hr", str(tmp_path), "--compile"]))
    assert opts.engine == EngineOptions(precision="fp32", compile=True)  # the test verb's own precision default


def test_engine_options_from_flags() -> None:
    args = build_parser().parse_args(["upscale", "a.png", "--backend", "onnxruntime", "--tile", "64"])
    assert engine_options(args) == EngineOptions(tile=64, backend="onnxruntime")
    args = build_parser().parse_args(["upscale", "a.png", "--precision", "int8", "--int8-calibration", "mine"])
    assert engine_options(args) == EngineOptions(precision="int8", int8_calibration="mine")
    # No flags: exactly the library's defaults.
    assert engine_options(build_parser().parse_args(["upscale", "a.png"])) == EngineOptions()
    assert engine_options(build_parser().parse_args(["video", "a.mp4", "-o", "b.mp4"])) == EngineOptions()


def test_flag_combinations_no_backend_runs_are_one_line_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = build_parser().parse_args(["upscale", "a.png", "--backend", "openvino", "--compile"])
    with pytest.raises(ValueError, match="compile applies to the torch backend only, not openvino"):
        engine_options(args)
    args = build_parser().parse_args(["upscale", "a.png", "--backend", "onnxruntime", "--device", "cuda"])
    with pytest.raises(ValueError, match="onnxruntime backend runs on the CPU only, not cuda"):
        engine_options(args)
    # Through the command: exit status 2, one line, before any model is loaded (this one does not even exist).
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    argv = ["upscale", str(image), "-o", str(tmp_path / "o"), "-m", str(tmp_path / "missing.pth")]
    assert main([*argv, "--backend", "openvino", "--compile", "-q"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["compile applies to the torch backend only, not openvino"]
