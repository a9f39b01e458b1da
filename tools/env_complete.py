"""Is the venv still complete? Exit 0 when every requirement of esrgan and of the named extras is installed.

    python -m tools.env_complete dev spandrel

``make test`` runs it before the tests: a stamp file says only that an install once ran, and packages can vanish
from a venv afterwards (a session found hypothesis and nncf gone and the tests failing at import). When something
is missing it names it and exits 1, and the Makefile reinstalls. Names only, not versions: pip resolved those.
Markers are evaluated as pip does (``packaging``, which pip and pytest need too), so a requirement for another
Python version or platform is not asked for here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement

PACKAGE = "esrgan"

__all__ = ["main", "missing", "normalise", "wanted"]


def normalise(name: str) -> str:
    """A distribution or extra name as PEP 503 / PEP 685 compare them: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wanted(requirements: Iterable[str], extras: Iterable[str]) -> list[str]:
    """Distribution names of ``requirements`` (``Requires-Dist`` lines) that apply here with ``extras`` asked for:
    unconditional ones, and those whose marker holds for this interpreter and platform with one of the extras."""
    chosen = [normalise(e) for e in extras] or [""]
    names = []
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in chosen):
            names.append(req.name)
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
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        print(f"env_complete: {PACKAGE} is not installed in {sys.prefix}", file=sys.stderr)
        return 1
    known = {normalise(e) for e in dist.metadata.get_all("Provides-Extra") or []}
    unknown = [e for e in extras if normalise(e) not in known]
    if unknown:
        print(f"env_complete: {PACKAGE} has no extra {', '.join(unknown)} (it has {', '.join(sorted(known))})",
              file=sys.stderr)  # fmt: skip
        return 2
    absent = missing(wanted(dist.requires or [], extras))
    if absent:
        print(f"env_complete: missing from {sys.prefix}: {', '.join(absent)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
