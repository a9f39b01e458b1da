"""Is the venv still complete? Exit 0 when every requirement of esrgan and of the named extras is installed.

    python -m tools.env_complete dev spandrel

``make test`` runs it before the tests: a stamp file says only that an install once ran, and packages can vanish
from a venv afterwards (a session found hypothesis and nncf gone and the tests failing at import). When something
is missing it names it and exits 1, and the Makefile reinstalls. Names only, not versions: pip resolved those.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from importlib import metadata

PACKAGE = "esrgan"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def wanted(requirements: Iterable[str], extras: Iterable[str]) -> list[str]:
    """Distribution names of ``requirements`` (``Requires-Dist`` lines) that are unconditional or belong to one of
    ``extras``; requirements under other markers (Python versions, platforms) are kept too (they are rare here,
    and a missing one is better named than ignored)."""
    chosen = set(extras)
    names = []
    for line in requirements:
        match = _NAME.match(line)
        if match is None:
            continue
        marker = line.partition(";")[2]
        extra = _EXTRA.search(marker)
        if extra is None or extra.group(1) in chosen:
            names.append(match.group(1))
    return names


def missing(names: Iterable[str]) -> list[str]:
    """The names in ``names`` with no installed distribution."""
    absent = []
    for name in names:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            absent.append(name)
    return absent


def main(argv: list[str] | None = None) -> int:
    extras = sys.argv[1:] if argv is None else argv
    try:
        requirements = metadata.requires(PACKAGE) or []
    except metadata.PackageNotFoundError:
        print(f"env_complete: {PACKAGE} is not installed in {sys.prefix}", file=sys.stderr)
        return 1
    absent = missing(wanted(requirements, extras))
    if absent:
        print(f"env_complete: missing from {sys.prefix}: {', '.join(absent)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
