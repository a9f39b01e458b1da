"""``esrgan options list|show|copy`` and ``-opt NAME`` in the verbs that read options files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from esrgan import shipped_options
from esrgan.cli import main


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["options", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1] for line in lines if line and not line.startswith("In ")}
    assert rows["train_ESRGAN_x4_cpu"] == "train" and rows["test_bicubic_x4"] == "test"
    assert main(["options", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["name"] for d in data} == {e.name for e in shipped_options.shipped()}
    assert all(Path(d["path"]).is_file() for d in data)


def test_show_prints_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["options", "show", "test_bicubic_x4"]) == 0
    assert capsys.readouterr().out == (shipped_options.FOLDER / "test_bicubic_x4.yml").read_text()
    assert main(["options", "show", "test_bicubic_x5"]) == 2  # one line naming the closest


def test_copy_to_a_folder_or_a_file_and_never_over_one(tmp_path: Path) -> None:
    assert main(["options", "copy", "train_ESRGAN_x4_cpu", str(tmp_path / "mine")]) == 0
    copied = tmp_path / "mine" / "train_ESRGAN_x4_cpu.yml"
    assert copied.read_bytes() == (shipped_options.FOLDER / "train_ESRGAN_x4_cpu.yml").read_bytes()
    copied.write_text("edited\n")
    assert main(["options", "copy", "train_ESRGAN_x4_cpu", str(tmp_path / "mine")]) == 2
    assert copied.read_text() == "edited\n"
    assert main(["options", "copy", "train_ESRGAN_x4_cpu", str(tmp_path / "mine"), "--force"]) == 0
    assert copied.read_text() != "edited\n"
    assert main(["options", "copy", "test_bicubic_x4", str(tmp_path / "b.yml")]) == 0
    assert yaml.safe_load((tmp_path / "b.yml").read_text())["model"] == "bicubic"


class _StopError(Exception):
    pass


def test_train_and_test_take_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`-opt NAME` gives the same validated options as the file's path, from any working folder."""
    import esrgan.train.loop as loop
    from esrgan.cli import build_parser
    from esrgan.commands.test import options_from_args

    seen: list[str] = []

    def fit(opts: object, **kwargs: object) -> None:
        seen.append(opts.name)  # type: ignore[attr-defined]
        raise _StopError

    monkeypatch.setattr(loop, "fit", fit)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "-opt", "train_RRDBNet_PSNR_x4_cpu"]) == 3  # the stand-in's error: not an expected kind
    assert seen == ["RRDBNet_PSNR_x4_cpu"]

    by_name = options_from_args(build_parser().parse_args(["test", "-opt", "test_bicubic_x4"]))
    path = str(shipped_options.FOLDER / "test_bicubic_x4.yml")
    assert by_name == options_from_args(build_parser().parse_args(["test", "-opt", path]))
    assert main(["train", "-opt", "train_ESRGAN_x3"]) == 2
