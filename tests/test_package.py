"""The package is whole: every imported package is declared, and a built wheel holds and finds its data files."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from esrgan.models.zoo import BUILTIN_MODELS

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "esrgan"
# Names imported from strings rather than import statements: importlib.import_module("x"). (find_spec("x") only
# asks whether an optional package is there.)
_DYNAMIC_IMPORT = re.compile(r"""import_module\(\s*["']([A-Za-z_][\w.]*)["']""")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str, set[str]]:
    """{'install_requires' | extra name: normalised distribution names} from setup.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")

    def names(text: str) -> set[str]:
        lines = [line.split("#")[0].strip() for line in text.splitlines()]
        return {_normalise(re.split(r"[<>=!~;\[ ]", line)[0]) for line in lines if line}

    out = {"install_requires": names(cfg["options"]["install_requires"])}
    out.update({extra: names(text) for extra, text in cfg["options.extras_require"].items()})
    return out


def _imported_top_level_names() -> dict[str, list[str]]:
    """{top-level module: files importing it} over the package, static imports and import_module."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        names = [m.split(".")[0] for m in _DYNAMIC_IMPORT.findall(text)]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names += [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module.split(".")[0])
        for name in names:
            if name != "esrgan" and name not in sys.stdlib_module_names:
                found.setdefault(name, []).append(str(path.relative_to(REPO)))
    return found


def test_every_imported_package_is_declared() -> None:
    """Each third-party module the package imports belongs to a distribution in install_requires or in an extra
    that users install for that feature (the dev extra does not count: users never install it)."""
    requirements = _requirements()
    declared = set().union(*(names for extra, names in requirements.items() if extra != "dev"))
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, files in sorted(_imported_top_level_names().items()):
        # A package not installed here (an extra the dev set leaves out, like ray) is known by its import name.
        dists = {_normalise(d) for d in providers.get(module, [])} or ({_normalise(module)} & declared)
        if not dists:
            problems.append(f"{module} (imported by {files[0]}) is not installed here: cannot tell its distribution")
        elif not dists & declared:
            problems.append(f"{module} (imported by {files[0]}) comes from {sorted(dists)}: declared nowhere")
    assert not problems, "\n".join(problems)


def test_the_scan_sees_imports_and_the_declarations() -> None:
    """The check above would catch an undeclared import: its inputs hold what they must."""
    imported = _imported_top_level_names()
    assert {"torch", "numpy", "cv2", "PIL", "yaml", "av"} <= set(imported)
    requirements = _requirements()
    assert "pillow" in requirements["install_requires"] and "onnxruntime" in requirements["onnx"]


def _copy_source(dest: Path) -> None:
    """What an sdist holds: the package, the build files, the licence files (links kept, as git keeps them)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, dest / "esrgan", symlinks=True, ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        src = REPO / name
        if src.is_symlink():
            os.symlink(os.readlink(src), dest / name)
        else:
            shutil.copy2(src, dest / name)


def test_wheel_holds_and_finds_its_data_files(tmp_path: Path) -> None:
    """Build a wheel (no network: the venv's setuptools), check its files, and run it from its unpacked files in a
    folder that is not the repository."""
    pytest.importorskip("setuptools")
    src, dist, unpacked, work = (tmp_path / d for d in ("src", "dist", "unpacked", "work"))
    for d in (src, work):
        d.mkdir()
    _copy_source(src)
    build = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", dist]
    out = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = dist.glob("esrgan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"esrgan/options_files/{p.name}" for p in (PACKAGE / "options_files").glob("*.yml")}
    assert shipped and shipped <= names
    assert {"esrgan/NOTICE", "esrgan/py.typed", "esrgan/cli.py"} <= names
    weights = {f"esrgan/weights/{p.name}" for p in (PACKAGE / "weights").glob("*.safetensors")}
    assert weights and weights <= names
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert {f"{info}/licenses/LICENSE", f"{info}/licenses/NOTICE"} <= names
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "Requires-Dist: Pillow" in metadata or "Requires-Dist: pillow" in metadata

    zipfile.ZipFile(wheel).extractall(unpacked)
    env = {**os.environ, "PYTHONPATH": str(unpacked)}

    def esrgan(*argv: str) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "esrgan", *argv], capture_output=True, text=True, cwd=work, env=env, timeout=120
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    assert str(unpacked) in esrgan("options", "list")  # the unpacked wheel's files, not the repository's
    shown = esrgan("options", "show", "train_ESRGAN_x4")
    assert shown == (PACKAGE / "options_files" / "train_ESRGAN_x4.yml").read_text()
    assert "BSD 3-Clause License" in esrgan("models", "--notice")
    packaged = [m.name for m in BUILTIN_MODELS if m.packaged]
    assert packaged and str(unpacked / "esrgan" / "weights") in esrgan("info", packaged[0])  # found in the wheel
    code = "from esrgan.shipped_options import resolve; print(resolve('options/train_ESRGAN_x4_cpu.yml'))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=work, env=env)
    assert run.stdout.strip() == str(unpacked / "esrgan" / "options_files" / "train_ESRGAN_x4_cpu.yml")
