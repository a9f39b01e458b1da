"""Model files in, ready networks out: detection of checkpoint layouts, ncnn graphs and the built-in models.

``load_model(spec, device)`` is the one entry point: a built-in name or a path in, an eval-mode float32 network and
a :class:`ModelInfo` out. ``save_model`` writes the self-describing BasicSR layout that ``load_model`` (and BasicSR,
spandrel) read back.
"""

from esrgan.models.checkpoint import (
    ModelInfo,
    build_network,
    convert_checkpoint,
    convert_state_dict,
    load_model,
    save_model,
)
from esrgan.models.zoo import BUILTIN_MODELS, DEFAULT_MODEL

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
