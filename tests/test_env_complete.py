"""tools/env_complete.py: what `make test` checks before running the tests, so a venv that lost packages heals."""

from __future__ import annotations

from importlib import metadata
from types import SimpleNamespace

import pytest

from tools.env_complete import main, missing, normalise, wanted

REQUIRES = [
    "torch>=2.1",
    'numpy>=1.24; python_version >= "3.10"',
    'tomli>=2; python_version < "3.0"',  # never for this interpreter: not asked for
    'pytest>=7; extra == "dev"',
    "hypothesis>=6.100 ; extra == 'dev'",
    'ray>=2.40; extra == "ray"',
    'spandrel<0.5,>=0.4.2; extra == "spandrel"',
    'lmdb>=1.4; extra == "lmdb" or extra == "dev"',
    "not a requirement ???",
]


def test_wanted_takes_the_base_and_the_named_extras() -> None:
    assert wanted(REQUIRES, []) == ["torch", "numpy"]
    assert wanted(REQUIRES, ["dev"]) == ["torch", "numpy", "pytest", "hypothesis", "lmdb"]
    assert wanted(REQUIRES, ["DEV", "spandrel"]) == ["torch", "numpy", "pytest", "hypothesis", "spandrel", "lmdb"]
    assert wanted(REQUIRES, ["lmdb"]) == ["torch", "numpy", "lmdb"]


def test_names_compare_as_pip_compares_them() -> None:
    assert normalise("types_PyYAML") == normalise("types-pyyaml") == "types-pyyaml"
    assert normalise("opencv.python__headless") == "opencv-python-headless"
    assert missing(["pytest", "numpy", "PyYAML", "opencv_python_headless"]) == []
    assert missing(["pytest", "no-such-distribution-esrgan-test"]) == ["no-such-distribution-esrgan-test"]


def test_main_on_this_venv(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["dev"]) == 0  # the tests run, so the dev extra is installed
    assert main(["Dev"]) == 0  # extra names normalised (PEP 685)
    assert main(["devv"]) == 2  # an extra the package does not have is an error, not "nothing to check"
    assert "has no extra devv" in capsys.readouterr().err
    real, lookup = metadata.distribution("esrgan"), metadata.distribution
    # esrgan's metadata with one more dev requirement, which is not installed
    gone = SimpleNamespace(metadata=real.metadata, requires=[*(real.requires or []), 'gone-pkg-xyz>=1; extra == "dev"'])
    monkeypatch.setattr("tools.env_complete.metadata.distribution", lambda n: gone if n == "esrgan" else lookup(n))
    assert main(["dev"]) == 1
    err = capsys.readouterr().err
    assert "missing from" in err and "gone-pkg-xyz" in err
    assert main(["spandrel"]) == 0  # not asked for: not checked
