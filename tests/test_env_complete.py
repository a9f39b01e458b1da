"""tools/env_complete.py: what `make test` checks before running the tests, so a venv that lost packages heals."""

from __future__ import annotations

from importlib import metadata

import pytest

from tools.env_complete import main, missing, wanted

REQUIRES = [
    "torch>=2.1",
    'numpy>=1.24; python_version >= "3.10"',
    'pytest>=7; extra == "dev"',
    "hypothesis>=6.100 ; extra == 'dev'",
    'ray>=2.40; extra == "ray"',
    'spandrel<0.5,>=0.4.2; extra == "spandrel"',
]


def test_wanted_takes_the_base_and_the_named_extras() -> None:
    assert wanted(REQUIRES, []) == ["torch", "numpy"]
    assert wanted(REQUIRES, ["dev"]) == ["torch", "numpy", "pytest", "hypothesis"]
    assert wanted(REQUIRES, ["dev", "spandrel"]) == ["torch", "numpy", "pytest", "hypothesis", "spandrel"]


def test_missing_names_what_is_not_installed() -> None:
    assert missing(["pytest", "numpy"]) == []
    assert missing(["pytest", "no-such-distribution-esrgan-test"]) == ["no-such-distribution-esrgan-test"]


def test_main_on_this_venv(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["dev"]) == 0  # the tests run, so the dev extra is installed
    real = metadata.requires
    monkeypatch.setattr("tools.env_complete.metadata.requires", lambda name: [*real(name), "gone-pkg-xyz>=1"])
    assert main(["dev"]) == 1
    err = capsys.readouterr().err
    assert "missing from" in err and "gone-pkg-xyz" in err
