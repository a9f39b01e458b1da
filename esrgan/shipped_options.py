"""The options files shipped inside the package (``esrgan/options_files/*.yml``): list them, find them by name.

``esrgan train -opt train_ESRGAN_x4``, ``esrgan test -opt test_bicubic_x4`` and ``python -m
esrgan.datasets.make_degraded_lr --options degrade_test_x4`` name a shipped file; a path names any other file.
The repository's ``options/`` folder is a link to the shipped folder, so the README's ``-opt
options/train_ESRGAN_x4.yml`` works from a clone, and (through :func:`resolve`) from anywhere after a plain
``pip install``. ``esrgan options copy NAME DIR`` copies one out to edit. Torch-free.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from esrgan.errors import NotFoundError

log = logging.getLogger(__name__)

FOLDER = Path(__file__).resolve().parent / "options_files"
SUFFIXES = (".yml", ".yaml")
# The repository's link to FOLDER, as the README's commands spell it.
REPO_FOLDER_NAME = "options"

__all__ = ["FOLDER", "ShippedOptions", "find", "get", "resolve", "shipped"]


@dataclass(frozen=True)
class ShippedOptions:
    """One shipped options file.

    Attributes:
        name: the file's stem, what ``-opt NAME`` takes.
        path: the file inside the installed package.
        verb: what reads it: "train" (``esrgan train -opt``), "test" (``esrgan test -opt``) or "degrade" (a
            degradation block: ``python -m esrgan.datasets.make_degraded_lr --options``).
        summary: the first sentence of the file's opening comment.
    """

    name: str
    path: Path
    verb: str
    summary: str


def shipped() -> list[ShippedOptions]:
    """Every shipped options file, sorted by name."""
    return [_describe(p) for p in sorted(FOLDER.iterdir()) if p.suffix in SUFFIXES and p.is_file()]


def find(name: str) -> ShippedOptions | None:
    """The shipped file called ``name`` (with or without ``.yml``), else None."""
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix in SUFFIXES else name
    for entry in shipped():
        if entry.name == stem:
            return entry
    return None


def resolve(spec: str | os.PathLike[str]) -> Path:
    """The options file meant by ``spec``: an existing file, else a shipped file's name.

    ``options/NAME.yml`` (the README's spelling) that does not exist where the command runs (an installed
    package, another working folder) is the shipped ``NAME``: the folder of that name in the repository is a link
    to the shipped files.

    Raises:
        FileNotFoundError: neither a file nor a shipped name; the message names the closest shipped file.
    """
    path = Path(spec)
    if path.is_file():
        return path
    text = str(spec)
    is_readme_path = path.parent.name == REPO_FOLDER_NAME and len(path.parts) == 2
    is_bare_name = "/" not in text and os.sep not in text
    if is_bare_name or is_readme_path:
        entry = find(path.name)
        if entry is not None:
            if is_readme_path:
                log.info("%s is not here: using the shipped %s (%s)", text, entry.name, entry.path)
            return entry.path
    raise NotFoundError(f"options file not found: {text}; {_hint(path.stem)}")


def get(name: str) -> ShippedOptions:
    """The shipped file called ``name``.

    Raises:
        FileNotFoundError: no such shipped file; the message names the closest one.
    """
    entry = find(name)
    if entry is None:
        raise NotFoundError(f"no shipped options file called {name!r}; {_hint(Path(name).stem)}")
    return entry


def _hint(stem: str) -> str:
    names = [e.name for e in shipped()]
    close = difflib.get_close_matches(stem, names, n=1, cutoff=0.5)
    guess = f"did you mean '{close[0]}'? " if close else ""
    return f"{guess}shipped: {', '.join(names)} (`esrgan options list`)"


def _describe(path: Path) -> ShippedOptions:
    """Name, verb and summary of one file, read from its text (no YAML parsing: listing stays instant)."""
    text = path.read_text(encoding="utf-8")
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#") or stripped == "#":
            break
        comment.append(stripped.lstrip("#").strip())
    paragraph = " ".join(comment)
    end = paragraph.find(". ")
    summary = paragraph if end < 0 else paragraph[: end + 1]
    if len(summary) > 100:
        summary = summary[:99].rstrip() + "…"
    keys = {line.split(":", 1)[0] for line in text.splitlines() if line[:1].isalpha() and ":" in line}
    verb = "train" if "stage" in keys else "test" if "datasets" in keys else "degrade"
    return ShippedOptions(name=path.stem, path=path, verb=verb, summary=summary)
