"""int8 on the CPU: OpenVINO with NNCF post-training quantization, calibrated on a handful of real images.

Each architecture that runs in int8 carries a measured recipe (:class:`esrgan.archs.spec.Int8Recipe`): which
convolutions compute in int8 (the others stay fp32), and how activation ranges are evened out across channels
first (an exact rescaling folded into the weights, or NNCF's SmoothQuant). The rest is shared and measured on both
built-in families: asymmetric int8 activations (one scale per tensor, NNCF's ``mixed`` preset) over the whole range
seen in calibration (NNCF's default range estimate clips outliers, which took a flat, saturated picture from 35 to
22 dB), symmetric int8 weights per output channel, no quantizers on the residual adds (NNCF's transformer placement)
and NNCF's fast bias correction. On CPUs without VNNI, NNCF's "overflow fix" halves the first int8 layer's weight
range (their 8-bit multiply-adds saturate); with VNNI the full range is used.

Calibration images: scikit-image's photographs (shipped in its wheel) halved with area averaging, as low-resolution
inputs look, except the astronaut, which the tests and ``esrgan bench`` measure fidelity on; or the images of a
folder the caller names, as they are. :data:`CROPS` crops of the recipe's size are drawn from them with a fixed
seed, so the same images give the same int8 network, and their digest keys the compiled-model cache.

NNCF and OpenVINO's model converter send usage telemetry to Intel unless told otherwise: NNCF is imported here as in
a CI run (which turns it off) and the converter is not used (``read_model`` + the same graph clean-up).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from esrgan.archs import get
from esrgan.archs.spec import Int8Recipe, as_sr_network
from esrgan.backends.onnx_export import export_onnx_bytes, require_module
from esrgan.device import cpu_flags
from esrgan.errors import InputError, OptionsError

log = logging.getLogger(__name__)

__all__ = ["CROPS", "MIN_PSNR_DB", "Int8Plan", "calibration_batches", "has_vnni", "int8_recipe", "quantize"]

CROPS = 12  # calibration crops (the measured recipes used 12; NNCF's statistics take one pass per crop)
SEED = 0
MIN_PSNR_DB = 40.0  # the fidelity bound of int8 against fp32 (README, "Fidelity bounds")
# scikit-image's natural photographs (skimage.data functions), all but the astronaut (kept for measuring)
PHOTOS = ("chelsea", "coffee", "rocket", "stereo_motorcycle", "camera", "brick", "grass", "gravel", "coins", "moon")
_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def int8_recipe(net: nn.Module) -> Int8Recipe:
    """The architecture's int8 recipe; ValueError if it has none (int8 keeps 40 dB only where measured)."""
    arch = as_sr_network(net).arch_name
    spec = get(arch)
    if spec is None or spec.int8 is None:
        raise OptionsError(f"precision int8 has no measured recipe for {arch}: use fp32 or bf16")
    return spec.int8


def _photos() -> list[np.ndarray]:
    """scikit-image's photographs (:data:`PHOTOS`) as (H, W, 3) uint8 RGB, halved with area averaging."""
    import cv2
    import skimage.data

    found = []
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        image = np.asarray(image[0] if isinstance(image, tuple) else image, dtype=np.uint8)  # stereo: left view
        image = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]
        found.append(cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA))
    return found


def _folder_images(folder: Path) -> list[np.ndarray]:
    """The images directly in ``folder`` as (H, W, 3) float32 RGB in [0, 1] (gray repeated, alpha dropped)."""
    from esrgan.image import list_images, read_image

    images = []
    for path in list_images(folder):
        pixels = read_image(path).pixels
        images.append(np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels[:, :, :3])
    return images


def calibration_batches(
    folder: str | os.PathLike[str] | None, crop: int, count: int = CROPS, seed: int = SEED
) -> list[torch.Tensor]:
    """``count`` crops of ``crop`` x ``crop`` pixels, drawn in turn from each image at seeded positions.

    Args:
        folder: images to calibrate on; None: scikit-image's photographs (see the module docstring).
        crop: side of the crops (images smaller than that on either side are skipped).
        count: how many crops.
        seed: where the crops are drawn.

    Returns:
        (1, 3, crop, crop) float32 RGB tensors in [0, 1].

    Raises:
        NotFoundError: ``folder`` does not exist. InputError: it has no image of at least ``crop`` pixels per side.
    """
    images: list[np.ndarray] = _photos() if folder is None else _folder_images(Path(folder))
    usable = [im for im in images if min(im.shape[:2]) >= crop]
    if not usable:
        raise InputError(f"int8 calibration needs images of at least {crop}x{crop} pixels; {folder} has none")
    rng = np.random.default_rng(seed)
    batches = []
    for i in range(count):
        image = usable[i % len(usable)]
        top = int(rng.integers(0, image.shape[0] - crop + 1))
        left = int(rng.integers(0, image.shape[1] - crop + 1))
        part = image[top : top + crop, left : left + crop]
        pixels = part.astype(np.float32) / 255 if part.dtype == np.uint8 else part.astype(np.float32)
        batches.append(torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])))
    return batches


def _digest(batches: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for b in batches:
        h.update(b.contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has VNNI (8-bit multiply-adds into 32 bits, no saturation): AVX512-VNNI, AVX-VNNI or AMX."""
    return bool(cpu_flags(cpuinfo) & _VNNI_FLAGS)


@functools.cache
def _nncf_version() -> str:
    return str(_nncf().__version__)


def _nncf() -> Any:
    """The nncf module, imported as in a CI run (no usage telemetry; it honours nothing else)."""
    require_module("nncf", "int8")
    before = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        import nncf
    finally:
        if before is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = before
    return nncf


@dataclass(frozen=True)
class Int8Plan:
    """What an int8 build of ``net`` needs: its recipe, the calibration batches and one more crop held out to check
    the result against fp32.

    Attributes:
        net: the network (not modified). recipe: its architecture's :class:`Int8Recipe`. batches: calibration
        inputs, (1, 3, crop, crop) float32 RGB in [0, 1]. held_out: one more such crop, not calibrated on.
    """

    net: nn.Module
    recipe: Int8Recipe
    batches: list[torch.Tensor]
    held_out: torch.Tensor

    @classmethod
    def for_network(cls, net: nn.Module, calibration: str | os.PathLike[str] | None = None) -> Int8Plan:
        """The plan for ``net`` calibrated on the images of ``calibration`` (None: scikit-image's photographs).

        Raises:
            OptionsError: no recipe for this architecture, or a network that does not take RGB. InputError,
            NotFoundError: no usable image.
            MissingPackageError: nncf is not installed.
        """
        recipe = int8_recipe(net)
        channels = as_sr_network(net).num_in_ch
        if channels != 3:
            raise OptionsError(f"precision int8 is calibrated on RGB images; this network takes {channels} channels")
        require_module("nncf", "int8")
        batches = calibration_batches(calibration, recipe.crop, CROPS + 1)
        return cls(net, recipe, batches[:-1], batches[-1])

    def fields(self) -> dict[str, object]:
        """What the int8 network depends on besides the fp32 one: cache-key fields."""
        return {
            "int8": {
                "recipe": self.recipe.version,
                "smooth_quant": self.recipe.smooth_quant,
                "equalize": self.recipe.equalize is not None,
                "calibration": _digest([*self.batches, self.held_out]),
                "vnni": has_vnni(),
                "nncf": _nncf_version(),
            }
        }

    def export(self, static_shape: tuple[int, int, int, int] | None) -> bytes:
        """The ONNX export to quantize: of the equalised copy if the recipe equalises (exact, same function)."""
        net = self.net if self.recipe.equalize is None else self.recipe.equalize(self.net, self.batches)
        return export_onnx_bytes(net, dynamic=static_shape is None, example_shape=static_shape)

    def quantize(self, core: Any, onnx_model: bytes) -> Any:
        """:func:`quantize` with this plan's batches and recipe."""
        return quantize(core, onnx_model, self.batches, self.recipe, as_sr_network(self.net).hparams())

    def fidelity(self, run: Callable[[np.ndarray], np.ndarray]) -> float:
        """PSNR (dB) of ``run`` (the int8 network: float32 array in, out) against the fp32 network on the held-out
        crop, both clamped to [0, 1]; logged, with a warning below :data:`MIN_PSNR_DB`."""
        x = self.held_out
        with torch.no_grad():
            reference = self.net(x).float().clamp(0, 1)
        y = torch.from_numpy(np.asarray(run(x.numpy()), dtype=np.float32)).clamp(0, 1)
        mse = float((y.double() - reference.double()).pow(2).mean())
        db = float("inf") if mse == 0 else 10 * float(np.log10(1 / mse))
        if db < MIN_PSNR_DB:
            log.warning(
                "int8 keeps %.1f dB against fp32 on a held-out calibration crop, under the %.0f dB bound: "
                "prefer fp32 or bf16 for these images",
                db,
                MIN_PSNR_DB,
            )
        else:
            log.info("int8: %.1f dB against fp32 on a held-out calibration crop", db)
        return db


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """NNCF's progress bars (rich, on stdout) and INFO lines off: library code does not print."""
    nncf_log = logging.getLogger("nncf")
    level = nncf_log.level
    nncf_log.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        nncf_log.setLevel(level)


def quantize(
    core: Any, onnx_model: bytes, batches: list[torch.Tensor], recipe: Int8Recipe, hparams: Mapping[str, Any]
) -> Any:
    """The int8 OpenVINO model of an exported network (``onnx_model``), calibrated on ``batches``.

    Args:
        core: the process's ``openvino.Core``.
        onnx_model: the network's ONNX export (already equalised if the recipe says so).
        batches: calibration inputs, (1, C, h, w) float32 RGB in [0, 1].
        recipe: the architecture's recipe; hparams: the network's constructor arguments.

    Returns:
        An ``openvino.Model`` with FakeQuantize on the inputs of the recipe's int8 convolutions and int8 weights.
    """
    from openvino._offline_transformations import apply_moc_transformations

    nncf = _nncf()
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
        OverflowFix,
    )
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    model = core.read_model(onnx_model)
    # The ONNX frontend computes each convolution's bias shape at run time; this pass folds that away (what
    # openvino.convert_model does, without its telemetry), so NNCF sees Convolution + Add(constant) and can
    # correct biases.
    apply_moc_transformations(model, cf=True)
    convs = [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    fp32 = [
        op.get_friendly_name()
        for i, op in enumerate(convs)
        if not recipe.quantize_conv(hparams, i, len(convs), int(op.input_value(1).get_partial_shape()[1].get_length()))
    ]
    if len(fp32) == len(convs):
        raise RuntimeError("the int8 recipe keeps every convolution of this network in fp32")
    smooth = -1.0 if recipe.smooth_quant is None else recipe.smooth_quant
    advanced = AdvancedQuantizationParameters(
        overflow_fix=OverflowFix.DISABLE if has_vnni() else OverflowFix.FIRST_LAYER,
        activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX,
        smooth_quant_alphas=AdvancedSmoothQuantParameters(convolution=smooth, matmul=-1),
    )
    with _quiet():
        return nncf.quantize(
            model,
            nncf.Dataset([b.numpy() for b in batches]),
            preset=nncf.QuantizationPreset.MIXED,
            target_device=nncf.TargetDevice.CPU,
            subset_size=len(batches),
            model_type=nncf.ModelType.TRANSFORMER,  # placement without quantizers on the residual adds
            ignored_scope=nncf.IgnoredScope(names=fp32) if fp32 else None,
            advanced_parameters=advanced,
        )
