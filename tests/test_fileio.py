from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from esrgan.errors import OutputError
from esrgan.fileio import (
    PARTIAL_NAME,
    atomic_path,
    ensure_writable_folder,
    remove_partial_files,
    write_bytes_atomic,
    write_text_atomic,
)


def test_success_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failure_keeps_old_file_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_overwrite_flag_and_missing_folder(tmp_path: Path) -> None:
    write_bytes_atomic(tmp_path / "a", b"1")
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        write_bytes_atomic(tmp_path / "a", b"2", overwrite=False)
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        write_bytes_atomic(tmp_path / "nope" / "a", b"1")


def test_permissions_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "a", b"1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o644  # mkstemp would give 0600


def test_unwritable_folder_is_an_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import esrgan.fileio

    real_open = os.open

    def read_only(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(esrgan.fileio.os, "open", read_only)
    with pytest.raises(OutputError, match=r"a\.png: cannot write in .*ro \(Read-only file system\)"):
        write_bytes_atomic(tmp_path / "ro" / "a.png", b"x")
    with pytest.raises(OutputError, match=r"ro: cannot write output files there \(Read-only file system\)"):
        ensure_writable_folder(tmp_path / "ro")
    assert ensure_writable_folder(tmp_path / "new" / "sub").is_dir()  # made, and writable
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write output files there"):
        ensure_writable_folder(tmp_path / "file" / "sub")  # a file in the way


def test_partial_files_of_killed_writers_are_removed_and_nothing_else(tmp_path: Path) -> None:
    keep = ["state_00000004.pth", ".hidden", "notes.part", ".a.png.1234567.part", ".a.png.xyzxyzxy.part"]
    leftovers = [".state_00000006.pth.0badc0de.part", ".net_g_latest.pth.12345678.part", ".s.png.abcdef01.part.png"]
    for name in keep + leftovers:
        (tmp_path / name).write_bytes(b"x")
    assert sorted(p.name for p in remove_partial_files(tmp_path)) == sorted(leftovers)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
    assert remove_partial_files(tmp_path / "missing") == []
    with atomic_path(tmp_path / "b.png", suffix=".png") as tmp:
        assert PARTIAL_NAME.match(tmp.name)  # the pattern is the one atomic_path makes
