"""Exceptions in messages: one short line that says what went wrong, for a message that names the file and the fix.

Torch-free, so any module (and the command line) can use it.
"""

from __future__ import annotations

__all__ = ["one_line"]


def one_line(exc: BaseException, *, limit: int = 120) -> str:
    """``"ClassName: first line of the message"`` of ``exc``, whitespace collapsed and cut at ``limit`` characters;
    just the class name when the exception has no text. For a reason in parentheses inside a longer message:
    ``f"{path}: corrupt file ({one_line(exc)})"``."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    first = " ".join(lines[0].split())[:limit] if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
