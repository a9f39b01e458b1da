"""esrgan: ESRGAN-family super-resolution for images and videos, and two-stage ESRGAN training.

``esrgan.upscale(image_or_path, model=..., **engine_options)`` upscales one image from Python
(:mod:`esrgan.api`); it is imported on first use, so that ``import esrgan`` (and the command line) stays light.
"""

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name == "upscale":
        value = importlib.import_module("esrgan.api").upscale  # the top floor, reached only when asked for
        globals()[name] = value
        return value
    raise AttributeError(f"module 'esrgan' has no attribute {name!r}")
