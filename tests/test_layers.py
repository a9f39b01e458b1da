"""The layering contract: every import between rooms of the package points down (README, "Architecture").

A room is a top-level module or subpackage of ``esrgan``. Every import statement, function-local ones included,
is read from the source (nothing is imported), so a lazy import that breaks the layering is caught too. A new
room must be given a floor here; that is the moment to decide where it sits.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "esrgan"

# Floor of each room: a room may import rooms on lower floors only (and itself). The package root (``esrgan``:
# ``__version__``) is the ground.
FLOORS: dict[str, int] = {
    "esrgan": 0,
    "errors": 0,  # the exception kinds (issue 12): anything may raise them
    "options_files": 0,  # data: the shipped YAML files, no code
    "weights": 0,  # data: the packaged built-in weights (realesrgan-x4plus-fast), no code
    "defaults": 1,
    "fileio": 1,
    "device": 1,
    "allocator": 1,  # glibc malloc tuning, torch-free: the command calls it first
    "exits": 1,  # exit statuses and the user/bug boundary of every command line
    "safe_yaml": 1,
    "shipped_options": 1,  # the shipped options files by name (torch-free)
    "options": 2,  # typed options; reads YAML through safe_yaml
    "formats": 3,  # file containers without architecture names
    "image": 3,
    "metrics": 3,
    "archs": 4,  # one room per architecture
    "degradations": 4,
    "models": 5,  # loading and saving: containers -> the architecture's room -> a network
    "backends": 5,
    "losses": 5,
    "data": 5,
    "inference": 6,  # the engine
    "video": 7,
    "api": 7,  # esrgan.upscale: arrays and files through the engine
    "evaluation": 7,
    "train": 8,
    "bench": 8,
    "cluster": 8,
    "datasets": 9,  # data-preparation scripts
    "commands": 10,
    "cli": 11,  # dispatches to the commands; its log handler is the progress bars' (commands/progress.py)
    "__main__": 12,
}


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "esrgan":
        return None
    return parts[1] if len(parts) > 1 else "esrgan"


@functools.cache
def _imports() -> list[tuple[str, str, str]]:
    """(source file, importing room, imported room) for every import of another room of the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        room = _room(module)
        assert room is not None
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                other = _room(target)
                if other is not None and other != room:
                    found.append((f"{rel}.py:{node.lineno}", room, other))
    return found


def test_every_room_has_a_floor() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    rooms = {r for r in rooms if not r.startswith("__pycache__")} - {"__init__"}
    missing = sorted(rooms - set(FLOORS))
    assert not missing, f"give these rooms a floor in tests/test_layers.py: {missing}"


def test_imports_point_down() -> None:
    upward = [
        f"{where}: {room} (floor {FLOORS[room]}) imports {other} (floor {FLOORS.get(other, '?')})"
        for where, room, other in _imports()
        if other not in FLOORS or FLOORS[other] >= FLOORS[room]
    ]
    assert not upward, "imports that point up or sideways:\n" + "\n".join(upward)
