"""Inference engine: tiling, self-ensemble, the :class:`Upscaler` that combines them with a network, and
:func:`upscale_file` that runs it from one image file to another.

:class:`EngineOptions` (torch-free) is imported at once; the torch-based names load on first use, so that the
command line can declare options that embed :class:`EngineOptions` without waiting for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from esrgan.inference.options import EngineOptions

if TYPE_CHECKING:
    from esrgan.inference.ensemble import dihedral, dihedral_inverse, self_ensemble
    from esrgan.inference.files import UpscaledFile, upscale_file
    from esrgan.inference.tiling import plan_tiles, split_axis, tiled
    from esrgan.inference.upscaler import Upscaler, pad_to_multiple

# Name -> the module that defines it (imported on first access, PEP 562).
_LAZY = {
    "Upscaler": "esrgan.inference.upscaler",
    "pad_to_multiple": "esrgan.inference.upscaler",
    "dihedral": "esrgan.inference.ensemble",
    "dihedral_inverse": "esrgan.inference.ensemble",
    "self_ensemble": "esrgan.inference.ensemble",
    "plan_tiles": "esrgan.inference.tiling",
    "split_axis": "esrgan.inference.tiling",
    "tiled": "esrgan.inference.tiling",
    "UpscaledFile": "esrgan.inference.files",
    "upscale_file": "esrgan.inference.files",
}

__all__ = [
    "EngineOptions",
    "UpscaledFile",
    "Upscaler",
    "dihedral",
    "dihedral_inverse",
    "pad_to_multiple",
    "plan_tiles",
    "self_ensemble",
    "split_axis",
    "tiled",
    "upscale_file",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
