"""A stand-in for the two torchvision functions spandrel imports, for test runs on a torch build without
torchvision (this project's CPU build: torchvision from PyPI does not import beside it, see the README).

spandrel 0.4.2 imports ``torchvision.transforms.functional`` at import time for two architectures only: LaMa
(``rotate``, ``InterpolationMode``; an inpainting network, which esrgan refuses anyway) and RestoreFormer
(``normalize``). :func:`install_if_missing` registers this module under torchvision's names only when torchvision
itself cannot be found, so a machine with a real torchvision tests against it. Never used by the package.
"""

from __future__ import annotations

import enum
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence

import torch


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def normalize(tensor: torch.Tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> torch.Tensor:
    """torchvision's per-channel ``(x - mean) / std`` on (..., C, H, W)."""
    m = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    return tensor.sub_(m).div_(s) if inplace else (tensor - m) / s


def rotate(*_args: object, **_kwargs: object) -> torch.Tensor:
    raise NotImplementedError("torchvision stand-in: rotate (LaMa inpainting) needs the real torchvision")


def install_if_missing() -> bool:
    """Register the stand-in as ``torchvision.transforms.functional`` when torchvision is not installed.

    Returns:
        True if the stand-in was installed, False if a real torchvision is present (nothing changed).
    """
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return False
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.__dict__.update(InterpolationMode=InterpolationMode, normalize=normalize, rotate=rotate)
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional  # type: ignore[attr-defined]
    root = types.ModuleType("torchvision")
    root.transforms = transforms  # type: ignore[attr-defined]
    root.__dict__["__esrgan_test_standin__"] = True
    modules = {
        "torchvision": root,
        "torchvision.transforms": transforms,
        "torchvision.transforms.functional": functional,
    }
    for name, module in modules.items():  # a spec, so importlib.util.find_spec answers as for an installed module
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules.update(modules)
    return True
