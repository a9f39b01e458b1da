"""The data-preparation scripts' shared rules: the command line's user/bug boundary (exit 2 with one line for a
user error, 3 with a traceback for a bug), a bad input file reported while the others are done (exit 1), and no two
inputs written to the same output name."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

import esrgan.datasets.extract_subimages as extract
import esrgan.datasets.make_degraded_lr as make_degraded_lr
import esrgan.datasets.make_lr as make_lr
from esrgan.exits import EXIT_BUG, EXIT_FAILED, EXIT_USER


def _images(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    for name in names:
        cv2.imwrite(str(folder / name), img)


def _script_args(script: object, src: Path, out: Path, scale: int = 2, workers: int = 1) -> list[str]:
    """The command line of one of the per-file scripts: its own required flags, then the common ones."""
    args = [str(src), str(out), "--workers", str(workers), "-q"]
    if script is extract:
        return [*args, "--crop-size", "16", "--step", "16"]
    if script is make_lr:
        return [*args, "--scale", str(scale)]
    return [*args, "--options", "degrade_test_x4", "--scale", str(scale)]


@pytest.mark.parametrize("script", [extract, make_lr])
def test_inputs_sharing_a_stem_are_refused_before_any_output(
    tmp_path: Path, script: object, caplog: pytest.LogCaptureFixture
) -> None:
    """a.png and a.jpg would write the same sub-image / LR names."""
    _images(tmp_path / "in", "a.png", "a.jpg", "b.png")
    args = _script_args(script, tmp_path / "in", tmp_path / "out")
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


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("script", [extract, make_lr, make_degraded_lr])
def test_a_bad_file_is_reported_and_the_others_are_done(
    tmp_path: Path, script: object, workers: int, caplog: pytest.LogCaptureFixture
) -> None:
    """One unreadable and one too-small image among good ones: each named in one line, the good ones written, exit 1
    (it used to end the whole batch at the first bad file, with exit 2)."""
    _images(tmp_path / "in", "a.png", "c.png")
    (tmp_path / "in" / "b.png").write_bytes(b"not an image")
    cv2.imwrite(str(tmp_path / "in" / "d.png"), np.zeros((3, 3, 3), np.uint8))  # smaller than the scale
    args = _script_args(script, tmp_path / "in", tmp_path / "out", scale=4, workers=workers)
    with caplog.at_level(logging.ERROR):
        assert script.main(args) == EXIT_FAILED  # type: ignore[attr-defined]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any(r.exc_info for r in caplog.records)
    assert sum("b.png: not a PNG, JPEG, WebP, BMP, TIFF or GIF file" in m for m in errors) == 1
    written = sorted(p.name for p in (tmp_path / "out").rglob("*.png"))
    assert any(n.startswith("a") for n in written) and any(n.startswith("c") for n in written)
    assert not any(n.startswith(("b", "d")) for n in written)
    if script is not extract:  # the extractor skips images smaller than its crop (a warning), as before
        assert sum("d.png" in m and "smaller than the scale 4" in m for m in errors) == 1
    if script is make_degraded_lr:
        assert set(json.loads((tmp_path / "out" / "degradations.json").read_text())["images"]) == {"a", "c"}


def test_a_user_error_exits_2_in_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What stops the whole batch (here: no input folder) is one line and exit 2."""
    args = [str(tmp_path / "missing"), str(tmp_path / "out"), "--workers", "1", "-q", "--scale", "2"]
    assert make_lr.main(args) == EXIT_USER
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and not errors[0].exc_info
    assert "missing" in errors[0].getMessage()


@pytest.mark.parametrize("script", [make_lr, make_degraded_lr, extract])
def test_an_input_is_never_an_output_even_with_overwrite(
    tmp_path: Path, script: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Writing into the input folder with --overwrite would replace the HR images with their LR (or sub-)images."""
    folder = tmp_path / "in"
    _images(folder, "a.png", "b.png")
    if script is extract:
        cv2.imwrite(str(folder / "a_s001.png"), np.zeros((40, 48, 3), np.uint8))  # an input named like a's output
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    if script is make_lr:  # it writes OUT/X2/: make the input folder that
        folder = folder.rename(tmp_path / "X2")
        args = _script_args(script, folder, tmp_path)
    else:
        args = _script_args(script, folder, folder, scale=4)
    with caplog.at_level(logging.ERROR):
        assert script.main([*args, "--overwrite"]) == EXIT_USER  # type: ignore[attr-defined]
    assert "is one of the input images: write to another folder" in caplog.text
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_every_script_ends_ctrl_c_in_one_line() -> None:
    """Each data-preparation script runs its main through run_script (Ctrl-C: "interrupted", exit 130)."""
    import esrgan.datasets as package
    from esrgan.datasets.common import run_script

    scripts = [p for p in Path(package.__file__).parent.glob("*.py") if "def main(" in p.read_text()]
    assert len(scripts) >= 8
    for path in scripts:
        assert 'if __name__ == "__main__":\n    sys.exit(run_script(main))' in path.read_text(), path.name

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_script(interrupted) == 130
    assert run_script(lambda: 1) == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_halfway_leaves_whole_files_and_one_line(tmp_path: Path, workers: str) -> None:
    """SIGINT once the first outputs exist: exit 130, one line, every written LR image whole, no temporary files
    (worker processes ignore it: no traceback from each of them)."""
    import signal
    import subprocess
    import sys
    import time

    big = np.random.default_rng(0).integers(0, 256, (480, 480, 3), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    for i in range(150):
        cv2.imwrite(str(tmp_path / "in" / f"{i:03d}.png"), np.roll(big, i, axis=1))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "esrgan.datasets.make_degraded_lr", str(tmp_path / "in"), str(out),
           "--options", "degrade_test_x4", "--workers", workers, "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.glob("*.png"))) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert err == "E interrupted\n"
    written = sorted(out.iterdir())
    assert 0 < len(written) < 150
    assert all(p.suffix == ".png" and cv2.imread(str(p)) is not None for p in written)
