"""The exception hierarchy and the command line's user/bug boundary: one line and exit 2 for the package's kinds,
a traceback and exit 3 for anything else, 130 for Ctrl-C, a quiet 141 when stdout is closed early."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import esrgan.commands.info
from esrgan import errors
from esrgan.cli import EXIT_BROKEN_PIPE, EXIT_BUG, EXIT_INTERRUPTED, EXIT_USER, main
from esrgan.errors import (
    EsrganError,
    InputError,
    LimitError,
    MissingPackageError,
    ModelFileError,
    NonFiniteLossError,
    NotFoundError,
    OptionsError,
    OutOfMemoryError,
    OutputError,
    OutputExistsError,
    VideoError,
    is_expected,
    quote,
)

# Each kind and the built-in the package raised before the hierarchy existed (callers catching it keep working).
KINDS = [
    (InputError, ValueError),
    (ModelFileError, ValueError),
    (OptionsError, ValueError),
    (NotFoundError, FileNotFoundError),
    (OutputError, OSError),
    (OutputExistsError, FileExistsError),
    (LimitError, ValueError),
    (OutOfMemoryError, RuntimeError),
    (MissingPackageError, ImportError),
    (VideoError, ValueError),
    (NonFiniteLossError, RuntimeError),
]


@pytest.mark.parametrize(("kind", "builtin"), KINDS)
def test_every_kind_is_an_esrgan_error_and_its_old_builtin(kind: type[Exception], builtin: type[Exception]) -> None:
    exc = kind("x.png: what went wrong; how to fix it")
    assert isinstance(exc, EsrganError) and isinstance(exc, builtin)
    assert str(exc) == "x.png: what went wrong; how to fix it"  # OSError kinds keep a plain message too
    assert is_expected(exc)


def test_old_names_are_the_same_classes() -> None:
    from esrgan.backends import MissingPackageError as FromBackends
    from esrgan.options import OptionsError as FromOptions
    from esrgan.train import NonFiniteLossError as FromTrain
    from esrgan.video import VideoError as FromVideo

    assert (FromBackends, FromOptions, FromTrain, FromVideo) == (
        MissingPackageError,
        OptionsError,
        NonFiniteLossError,
        VideoError,
    )


def test_is_expected_draws_the_user_bug_line() -> None:
    assert is_expected(OSError(errno.EROFS, "Read-only file system", "out"))  # the system refusing
    assert is_expected(MemoryError("Unable to allocate 11.9 GiB for an array with shape (20000, 20000, 8)"))
    assert not is_expected(ValueError("a shape mismatch deep inside"))  # a plain ValueError is a bug
    assert not is_expected(RuntimeError("boom"))
    assert not is_expected(KeyError("params"))
    assert not hasattr(errors, "_NOT_YET_CONVERTED")  # every module raises the package's kinds (phase 2)


def test_library_raise_sites_use_the_kinds() -> None:
    """No ``raise ValueError(...)`` / ``FileNotFoundError`` / ``FileExistsError`` in the model, format, video and
    architecture code that reads files: what a file or an option can cause is one of the package's kinds."""
    import ast

    package = Path(__file__).resolve().parents[1] / "esrgan"
    builtins = {"ValueError", "FileNotFoundError", "FileExistsError", "NotADirectoryError"}
    # Programming errors of callers (a wrong shape passed in by code): these stay built-ins on purpose.
    allowed = {
        ("archs/spec.py", "as_sr_network"),
        ("video/frames.py", "frames_to_tensor"),
        ("video/frames.py", "tensor_to_frames"),
        ("video/remux.py", "_plan_passthrough"),  # control flow: caught a few lines below
        ("video/split.py", "add"),
        ("models/interpolate.py", "interpolate_models"),
    }
    found = []
    for folder in ("archs", "formats", "models", "video"):
        for path in sorted((package / folder).rglob("*.py")):
            rel = path.relative_to(package).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
                for node in ast.walk(func):
                    if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                        continue
                    name = getattr(node.exc.func, "id", None)
                    if name in builtins and (rel, func.name) not in allowed:
                        found.append(f"esrgan/{rel}:{node.lineno} ({func.name}): raise {name}")
    assert not found, "\n".join(found)


def test_quote_is_short_and_bounded_for_hostile_values() -> None:
    assert quote("abc") == "'abc'"
    assert len(quote("x" * 10_000_000)) <= 60
    assert "\n" not in quote("line one\nline two")
    bomb: list[object] = ["lol"] * 10
    for _ in range(9):  # a billion leaves, as YAML aliases build them: shared lists
        bomb = [bomb] * 10
    start = time.perf_counter()
    assert len(quote(bomb)) <= 60
    loop: list[object] = []
    loop.append(loop)
    assert len(quote(loop)) <= 60
    assert len(quote(10**5000)) <= 60  # int -> str refuses above 4300 digits
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------------------------------------- the command line
def _run_info_raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> int:
    def run(args: object) -> int:
        raise exc

    monkeypatch.setattr(esrgan.commands.info, "run", run)  # build_parser binds it when main() starts
    return main(["info", "anything"])


def test_user_errors_are_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    status = _run_info_raising(monkeypatch, InputError("a.png: cannot decode this PNG file (truncated)"))
    assert status == EXIT_USER == 2
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in records] == ["a.png: cannot decode this PNG file (truncated)"]
    assert not records[0].exc_info  # no traceback


def test_os_errors_are_one_line_with_the_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    status = _run_info_raising(monkeypatch, OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out"))
    assert status == 2
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "/mnt/ro/out: Read-only file system"
    ]


def test_anything_else_is_a_bug_with_traceback_exit_3(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before the hierarchy, any ValueError was printed as a user error: a bug looked like bad input.
    status = _run_info_raising(monkeypatch, ValueError("operands could not be broadcast together"))
    assert status == EXIT_BUG == 3
    assert any(r.exc_info and "broadcast" in str(r.exc_info[1]) for r in caplog.records)  # the traceback
    assert "this is a bug in esrgan" in caplog.text and "report it" in caplog.text


def test_interrupt_is_130(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run_info_raising(monkeypatch, KeyboardInterrupt()) == EXIT_INTERRUPTED == 130


def test_broken_pipe_ends_quietly(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    assert _run_info_raising(monkeypatch, BrokenPipeError(errno.EPIPE, "Broken pipe")) == EXIT_BROKEN_PIPE
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_models_into_a_closed_pipe_has_no_traceback() -> None:
    """``esrgan models | head`` when head has gone: no 'BrokenPipeError' noise, status 141 (as SIGPIPE)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "esrgan", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_error_kinds_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, esrgan.errors, esrgan.exits, esrgan.options\n"
        "print(sorted({'torch', 'numpy', 'cv2'} & set(sys.modules)))\n"
        "import esrgan.image\n"  # the header probe and the decoder: numpy and OpenCV, never torch
        "print(sorted({'torch', 'numpy', 'cv2'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "['cv2', 'numpy']"]
    assert errors.__all__  # and everything it lists exists
    assert all(hasattr(errors, name) for name in errors.__all__)


def test_one_line_is_the_first_line_with_the_class_name() -> None:
    assert errors.one_line(ValueError("bad value\nsecond line")) == "ValueError: bad value"
    assert errors.one_line(RuntimeError("\n\n  spread   over\tspaces \n")) == "RuntimeError: spread over spaces"
    assert errors.one_line(KeyError()) == "KeyError"  # no text: just the class


def test_one_line_cuts_long_text() -> None:
    assert errors.one_line(OSError("x" * 500)) == "OSError: " + "x" * 120
    assert errors.one_line(OSError("abcdef"), limit=3) == "OSError: abc"


def test_every_reliability_promise_names_tests_that_exist() -> None:
    """The README's "Reliability" table lists each promise with its tests: every test file and test it names
    exists (``file::name``, ``::name`` for the file named before it, ``name_*`` for a family)."""
    import re

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Reliability") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "tests/" in line]
    assert len(rows) >= 15
    for row in rows:
        current: Path | None = None
        for ref in re.findall(r"`((?:tests/[\w/]+\.py)?(?:::[\w*]+)?)`", row.split("|")[2]):
            path, _, name = ref.partition("::")
            if path:
                current = root / path
                assert current.is_file(), ref
            if name:
                assert current is not None, row
                pattern = re.escape(name).replace(r"\*", r"\w*")
                assert re.search(rf"^def {pattern}\(", current.read_text(encoding="utf-8"), re.M), ref


def test_an_error_of_a_dataloader_worker_is_its_own_one_line() -> None:
    """torch re-raises a worker's exception with the worker's traceback as its message; the user sees the original
    line only (it used to be the whole traceback flattened into one 2 KB line)."""
    import torch.utils.data

    from esrgan.exits import user_message

    class Bad(torch.utils.data.Dataset[int]):
        def __len__(self) -> int:
            return 1

        def __getitem__(self, index: int) -> int:
            raise errors.InputError("hr/bad.png: not a PNG, JPEG, WebP, BMP, TIFF or GIF file")

    with pytest.raises(errors.InputError) as info:
        next(iter(torch.utils.data.DataLoader(Bad(), num_workers=1)))
    assert "Original Traceback" in str(info.value)
    assert user_message(info.value) == "hr/bad.png: not a PNG, JPEG, WebP, BMP, TIFF or GIF file"
    assert user_message(errors.InputError("a:  b\n c")) == "a: b c"
