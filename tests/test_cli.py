"""Command-line flags: every numeric flag of every verb and dataset script checks a declared range."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

import pytest

from esrgan.cli import build_parser

DATASET_SCRIPTS = (
    "collect",
    "extract_subimages",
    "make_degraded_lr",
    "make_lmdb",
    "make_lr",
    "meta_info",
    "strips",
    "visualize",
)


class _CapturedError(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _dataset_parser(name: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser a dataset script builds in its main(), caught when it starts parsing."""

    def capture(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        raise _CapturedError(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_CapturedError) as info:
        importlib.import_module(f"esrgan.datasets.{name}").main([])
    return info.value.parser


def _bare_numeric_flags(parser: argparse.ArgumentParser, where: str) -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _bare_numeric_flags(sub, f"{where} {name}")
        elif action.type in (int, float) and action.choices is None:
            found.append(f"{where} {'/'.join(action.option_strings) or action.dest}")
    return found


def test_no_numeric_flag_is_a_bare_int_or_float(monkeypatch: pytest.MonkeyPatch) -> None:
    """`type=int` accepts -1 and 10**100; every numeric flag goes through a declared Range instead."""
    bare = _bare_numeric_flags(build_parser(), "esrgan")
    for name in DATASET_SCRIPTS:
        bare += _bare_numeric_flags(_dataset_parser(name, monkeypatch), name)
    assert bare == []


@pytest.mark.parametrize(
    "argv",
    [
        ["upscale", "a.png", "--quality", "0"],
        ["upscale", "a.png", "--quality", "1000"],
        ["upscale", "a.png", "--max-pixels", "-1"],
        ["upscale", "a.png", "--tile", "5"],
        ["upscale", "a.png", "--tile-pad", "-1"],
        ["upscale", "a.png", "-s", "0"],
        ["upscale", "a.png", "-s", "inf"],
        ["video", "a.mp4", "-o", "b.mp4", "--crf", "1000"],
        ["video", "a.mp4", "-o", "b.mp4", "--crf", "nan"],
        ["video", "a.mp4", "-o", "b.mp4", "--batch", "0"],
        ["test", "-m", "bicubic", "--hr", "hr", "-s", "0"],
        ["test", "-m", "bicubic", "--hr", "hr", "-s", "4", "--crop-border", "-1"],
        ["test", "-m", "bicubic", "--hr", "hr", "-s", "4", "--degradation", "degrade_test_x4", "--seed", "-1"],
        ["interp", "a", "b", "--alpha", "nan", "-o", "c.pth"],
        ["interp", "a", "b", "--weights", "nan", "nan", "-o", "c.pth"],
        ["interp", "a", "b", "--weights", "inf", "-inf", "-o", "c.pth"],
        ["bench", "--repeats", "0"],
        ["export", "-o", "m.onnx", "--static", "0", "64"],
    ],
)
def test_out_of_range_flags_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "must be" in capsys.readouterr().err


def test_in_range_flags_parse() -> None:
    args = build_parser().parse_args(["upscale", "a.png", "--quality", "100", "--max-pixels", "0", "--tile", "0"])
    assert (args.quality, args.max_pixels, args.tile) == (100, 0, 0)
    args = build_parser().parse_args(["video", "a.mp4", "-o", "b.mp4", "--crf", "23.5"])
    assert args.crf == 23.5
