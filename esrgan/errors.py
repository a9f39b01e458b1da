"""The package's exceptions: what a user can cause and fix, as opposed to a bug.

Every expected failure (a bad input file, a bad model file, invalid options, an output that cannot be written, a
missing optional package, a limit exceeded) raises a subclass of :class:`EsrganError` whose message is one line
that names the file or option and says what to do. The command line prints that line and exits with status 2 (in
a batch: reports it, goes on, and exits 1); any other exception is a bug and is shown with its traceback.

Each kind also subclasses the built-in exception the package raised before it existed (``ValueError``,
``FileNotFoundError``, ``FileExistsError``, ``ImportError``, ``RuntimeError``), so ``except ValueError`` in
existing callers keeps working. :func:`one_line` and :func:`quote` shorten exceptions and values for such
messages. This module imports nothing heavy (no torch, numpy or OpenCV), so any module and the command line can
use it.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "EsrganError",
    "InputError",
    "LimitError",
    "MissingPackageError",
    "ModelFileError",
    "NonFiniteLossError",
    "NotFoundError",
    "OptionsError",
    "OutOfMemoryError",
    "OutputError",
    "OutputExistsError",
    "VideoError",
    "is_expected",
    "one_line",
    "quote",
]


class EsrganError(Exception):
    """Base class: an expected failure with a one-line message (the CLI prints it without a traceback)."""


class InputError(EsrganError, ValueError):
    """An input file (image, video frame source, dataset image, training state) is empty, corrupt, truncated or
    not in a supported format; the message names the file."""


class ModelFileError(EsrganError, ValueError):
    """A weights file cannot be used: unknown layout, inconsistent tensors or metadata, unsafe content."""


class OptionsError(EsrganError, ValueError):
    """Invalid options or arguments: unknown key, wrong type, out of range, conflicting settings. The message
    names the file or source, the dotted key and what is expected."""


class NotFoundError(EsrganError, FileNotFoundError):
    """A file or folder that was named (input, model, options file, output folder) does not exist."""


class OutputError(EsrganError, OSError):
    """An output cannot be written where asked: it would replace an input, its folder is read-only or not a
    folder, or its name leaves the output folder."""


class OutputExistsError(OutputError, FileExistsError):
    """The output already exists and replacing it was not asked for."""


class LimitError(EsrganError, ValueError):
    """A resource limit was exceeded (pixels of an image, size of an output, memory); the message says which
    limit and how to raise it where it can be raised."""


class OutOfMemoryError(LimitError, RuntimeError):
    """The device ran out of memory even with the smallest tile (a RuntimeError as torch's own is)."""


class MissingPackageError(EsrganError, ImportError, ValueError):
    """An optional package is not installed; the message says what to install. An ImportError for library users
    (and a ValueError, as before this hierarchy existed)."""


class VideoError(EsrganError, ValueError):
    """A user-facing problem with a video file or setting; the message is one line and names the path."""


class NonFiniteLossError(EsrganError, RuntimeError):
    """A training loss became NaN or infinite; the message names the iteration and the last good checkpoint
    (``last_state``: its path, None if none was written yet)."""

    def __init__(self, message: str, last_state: Any = None) -> None:
        super().__init__(message)
        self.last_state = last_state


def is_expected(exc: BaseException) -> bool:
    """True if ``exc`` is a failure the user can cause and fix (reported in one line), False for a bug.

    Expected: the package's kinds (:class:`EsrganError`), ``OSError`` (permissions, a full disk, a read-only file
    system: the system refusing, not the program failing) and ``MemoryError`` (numpy's names the allocation).
    Anything else, a plain ``ValueError`` included, is a bug.
    """
    return isinstance(exc, EsrganError | OSError | MemoryError)


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 40
_REPR.maxother = 40
_REPR.maxlong = 40
for _name in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_REPR, _name, 4)


def quote(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for an error message, shortened to at most ``limit`` characters.

    Bounded in time and memory for any value, including huge strings, deeply nested or self-referencing
    containers and YAML alias bombs (``reprlib`` looks at a few items of a few levels only).
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # a hostile __repr__ must not replace the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(exc: BaseException, *, limit: int = 120) -> str:
    """``"ClassName: first line of the message"`` of ``exc``, whitespace collapsed and cut at ``limit`` characters;
    just the class name when the exception has no text. For a reason in parentheses inside a longer message:
    ``f"{path}: corrupt file ({one_line(exc)})"``."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    first = " ".join(lines[0].split())[:limit] if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
