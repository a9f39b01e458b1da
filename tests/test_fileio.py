from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from esrgan.fileio import atomic_path, write_bytes_atomic, write_text_atomic


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
