"""The data-preparation scripts' shared rules: the command line's user/bug boundary (exit 2 with one line for a
user error, 3 with a traceback for a bug) and no two inputs written to the same output name."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

import esrgan.datasets.extract_subimages as extract
import esrgan.datasets.make_lr as make_lr
from esrgan.exits import EXIT_BUG, EXIT_USER


def _images(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    for name in names:
        cv2.imwrite(str(folder / name), img)


@pytest.mark.parametrize("script", [extract, make_lr])
def test_inputs_sharing_a_stem_are_refused_before_any_output(
    tmp_path: Path, script: object, caplog: pytest.LogCaptureFixture
) -> None:
    """a.png and a.jpg would write the same sub-image / LR names."""
    _images(tmp_path / "in", "a.png", "a.jpg", "b.png")
    args = [str(tmp_path / "in"), str(tmp_path / "out"), "--workers", "1", "-q"]
    if script is make_lr:
        args += ["--scale", "2"]
    else:
        args += ["--crop-size", "16", "--step", "16"]
    with caplog.at_level(logging.ERROR):
        assert script.main(args) == EXIT_USER  # type: ignore[attr-defined]
    assert "a.jpg and" in caplog.text and "a.png" in caplog.text and "share the stem 'a'" in caplog.text
    out = tmp_path / "out"
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_a_bug_exits_3_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug used to leave the script with Python's own status 1 and no word that it was one."""
    _images(tmp_path / "in", "a.png")

    def broken(*args: object, **kwargs: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(extract, "extract_image", broken)
    args = [str(tmp_path / "in"), str(tmp_path / "out"), "--workers", "1", "-q", "--crop-size", "16", "--step", "16"]
    assert extract.main(args) == EXIT_BUG
    assert any(r.exc_info and isinstance(r.exc_info[1], ZeroDivisionError) for r in caplog.records)
    assert "this is a bug in esrgan" in caplog.text


def test_a_user_error_exits_2_in_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"not an image")
    args = [str(tmp_path / "in"), str(tmp_path / "out"), "--workers", "1", "-q", "--scale", "2"]
    assert make_lr.main(args) == EXIT_USER
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and not errors[0].exc_info
    assert "a.png: not a PNG, JPEG, WebP, BMP, TIFF or GIF file" in errors[0].getMessage()
