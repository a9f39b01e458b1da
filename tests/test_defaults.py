"""esrgan.defaults: the one home of names and defaults, torch-free so that `esrgan --help` starts fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from esrgan import defaults

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: this test process has long imported torch.
_HELP_IMPORTS = """
import sys
from esrgan.cli import COMMANDS, build_parser
parser = build_parser()
parser.format_help()
for name in COMMANDS:
    try:
        parser.parse_args([name, "--help"])
    except SystemExit:
        pass
from esrgan.inference import EngineOptions
EngineOptions(tile=64, backend="torch")
heavy = sorted(m for m in ("torch", "numpy", "av", "cv2") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def test_help_and_engine_options_import_nothing_heavy() -> None:
    done = subprocess.run([sys.executable, "-c", _HELP_IMPORTS], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_default_models_are_built_in() -> None:
    from esrgan.models.zoo import find_builtin

    for name in (defaults.DEFAULT_MODEL, defaults.FAST_MODEL):
        model = find_builtin(name)
        assert model is not None and model.name == name


def test_precision_names_are_what_the_device_module_resolves() -> None:
    from esrgan.device import PRECISIONS as DTYPES

    # torch dtypes the device module resolves, then int8 (OpenVINO only: esrgan.backends.int8)
    assert ("auto", *DTYPES, "int8") == defaults.PRECISIONS
    assert defaults.DEFAULT_PRECISION in defaults.PRECISIONS


def test_backend_names_are_the_backends_package_names() -> None:
    import esrgan.backends

    assert esrgan.backends.BACKENDS is defaults.BACKENDS and defaults.BACKENDS[0] == "torch"
    assert ("auto", *defaults.BACKENDS) == defaults.BACKEND_CHOICES
    assert set(esrgan.backends.REQUIREMENTS) == set(defaults.BACKENDS)
