"""Model files in, ready networks out: detection of checkpoint layouts, ncnn graphs and the built-in models.

``load_model(spec, device)`` is the one entry point: a built-in name or a path in, an eval-mode float32 network and
a :class:`ModelInfo` out. ``save_model`` writes the self-describing BasicSR layout that ``load_model`` (and BasicSR,
spandrel) read back.

The names below are imported on first use: ``esrgan.models.zoo`` (the built-in models' static facts, which
``esrgan models`` and ``esrgan info NAME`` print) must not wait for torch (seconds) through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esrgan.models.checkpoint import (
        ModelInfo,
        build_network,
        convert_checkpoint,
        convert_state_dict,
        load_model,
        save_model,
    )
    from esrgan.models.zoo import BUILTIN_MODELS, DEFAULT_MODEL

_HOMES = {
    "BUILTIN_MODELS": "esrgan.models.zoo",
    "DEFAULT_MODEL": "esrgan.models.zoo",
    "ModelInfo": "esrgan.models.checkpoint",
    "build_network": "esrgan.models.checkpoint",
    "convert_checkpoint": "esrgan.models.checkpoint",
    "convert_state_dict": "esrgan.models.checkpoint",
    "load_model": "esrgan.models.checkpoint",
    "save_model": "esrgan.models.checkpoint",
}

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "ModelInfo",
    "build_network",
    "convert_checkpoint",
    "convert_state_dict",
    "load_model",
    "save_model",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'esrgan.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
