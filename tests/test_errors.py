"""One-line exception text for messages."""

from __future__ import annotations

from esrgan.errors import one_line


def test_first_line_with_the_class_name() -> None:
    assert one_line(ValueError("bad value\nsecond line")) == "ValueError: bad value"
    assert one_line(RuntimeError("\n\n  spread   over\tspaces \n")) == "RuntimeError: spread over spaces"
    assert one_line(KeyError()) == "KeyError"  # no text: just the class


def test_long_text_is_cut() -> None:
    assert one_line(OSError("x" * 500)) == "OSError: " + "x" * 120
    assert one_line(OSError("abcdef"), limit=3) == "OSError: abc"
