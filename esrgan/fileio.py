"""Atomic file writes: an output appears complete under its final name, or not at all; and file hashes.

Every writer in the package (images, videos, checkpoints, logs, data-preparation outputs) goes through here, so
an interrupted run never leaves a half-written file behind a valid-looking name. Torch-free.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from esrgan.errors import NotFoundError, OutputError, OutputExistsError

__all__ = [
    "atomic_path",
    "ensure_writable_folder",
    "file_sha256",
    "remove_partial_files",
    "write_bytes_atomic",
    "write_text_atomic",
]

# The temporary names atomic_path makes: ".<final name>.<8 hex digits>.part<suffix>".
PARTIAL_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.part(\.[A-Za-z0-9]{1,8})?$")


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True, suffix: str = "") -> Iterator[Path]:
    """Yield a new empty temporary file beside ``path``; rename it over ``path`` if the block succeeds,
    delete it if the block raises.

    The temporary file is created with the umask's permissions (``tempfile.mkstemp`` would make it 0600) and
    lives in the same folder, so the final rename is atomic on POSIX and Windows.

    Args:
        path: the final file; its folder must exist.
        overwrite: if False, an existing ``path`` is an OutputExistsError (checked before and at the rename).
        suffix: appended to the temporary name (some encoders pick the format from the extension, e.g. ".png").
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise NotFoundError(f"{path.parent}: output folder does not exist")
    if not overwrite and path.exists():
        raise OutputExistsError(f"{path} already exists; pass overwrite=True to replace it")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part{suffix}")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:  # read-only file system, no permission, name too long
        raise OutputError(f"{path}: cannot write in {path.parent} ({exc.strerror or exc})") from exc
    try:
        yield tmp
        if not overwrite and path.exists():
            raise OutputExistsError(f"{path}: appeared while writing; not replaced")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


def ensure_writable_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and its parents) if needed and check that files can be created in it, so that a batch
    fails once, before any work, rather than once per file.

    Raises:
        OutputError: the folder cannot be created or written (read-only file system, permission, a file in the
            way); one line naming the folder and the reason.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".esrgan-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"{folder}: cannot write output files there ({reason})") from exc
    return folder


def remove_partial_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left in ``folder`` when its process was killed (SIGKILL,
    power loss: no ``finally`` ran). Only names of that exact pattern are touched; call it where no other process
    is writing into ``folder``.

    Returns:
        The files removed (none if the folder does not exist).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = [p for p in folder.iterdir() if PARTIAL_NAME.match(p.name) and p.is_file()]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
