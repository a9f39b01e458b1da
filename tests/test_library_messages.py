"""Library code names its own arguments in errors and logs, never the command line's flags: a library caller of
``Upscaler(net, compile=True, backend="openvino")`` must not be told to "drop --compile". The command line adds
its flags where they help (``esrgan/commands/``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "esrgan"
# Command-line code: the verbs, the entry point, and the data-preparation scripts (each a command of its own).
COMMAND_LINE = ("commands/", "cli.py", "datasets/")
FLAG = re.compile(r"(?:^|[\s(`'\"])--[a-z][a-z-]*")


def _strings_outside_docstrings(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_library_strings_name_no_command_line_flags() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(COMMAND_LINE):
            continue
        for line, text in _strings_outside_docstrings(ast.parse(path.read_text(encoding="utf-8"))):
            # "pip install --force-reinstall": another program's flag, said as a command to run.
            if FLAG.search(text) and "pip install" not in text:
                found.append(f"esrgan/{rel}:{line}: {text!r}")
    assert not found, "\n".join(found)
