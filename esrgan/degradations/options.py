"""``DegradationOptions``: the typed schema of a degradation block (``data.train.degradation`` in a training file).

Field names and defaults are Real-ESRGAN's (``options/train_realesrgan_x4plus.yml``: the top-level synthesis
keys and the dataset's kernel keys, flattened into one block), so a published block translates one to one:
copy its keys, drop the ones that are not degradations (``gt_size`` is ``data.train.patch_size``,
``queue_size`` is ``data.train.queue_size``, ``use_hflip`` is ``data.train.hflip``, the ``*_gt_usm`` flags are
``losses.<kind>.gt_usm``). A few fields are extensions for what Real-ESRGAN hard-codes; their defaults
reproduce its code:

- ``crop_pad_size`` (Real-ESRGAN: 400): the HR region that is degraded; the training patch is cut from it
  afterwards, so the patch sees no borders of the blur, resize and JPEG blocks.
- ``resize_modes`` (Real-ESRGAN: area, bilinear, bicubic): interpolation modes the resizes draw from.
- ``second_order_prob`` (Real-ESRGAN: 1, its second order always runs and only its blur is skipped with
  ``1 - second_blur_prob``): the probability of the whole second order (blur, resize, noise).
- ``jpeg_prob``, ``jpeg_prob2`` (Real-ESRGAN: 1): the probability of each JPEG step.
- ``clean_prob`` (Real-ESRGAN: 0, every sample is degraded): the share of samples whose LR is the clean benchmark
  LR instead, MATLAB's uint8 bicubic of the HR region (USM-sharpened first when ``gt_usm``), so a model for
  degraded photos still sees clean ones and learns to tell texture from noise. At 0 nothing is drawn for it and
  every sample is bit for bit what it was without the field.

Torch-free: the options are checked before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from esrgan.errors import OptionsError
from esrgan.options import Range, check_ranges

KernelType = Literal["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"]
ResizeMode = Literal["area", "bilinear", "bicubic"]

KERNEL_TYPES: tuple[KernelType, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
KERNEL_PROB = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
MIN_KERNEL_SIZE = 7  # Real-ESRGAN draws kernel sides from 7, 9, ..., blur_kernel_size

# Declared ranges (checked by esrgan.options when a file is read, and by __post_init__ for objects built in Python).
# The upper bounds are far above Real-ESRGAN's values. What one degradation costs also depends on the region it
# degrades: MAX_RESIZED_SIDE bounds the largest image a resize may make (checked here for crop_pad_size, and by
# degrade() for whole images).
Prob = Annotated[float, Range(0, 1)]
Weight = Annotated[float, Range(0, 1000)]  # relative weights of a choice
Sigma = Annotated[float, Range(0, 100)]  # blur sigma in pixels
Shape = Annotated[float, Range(0, 100)]  # generalised-Gaussian / plateau shape
Factor = Annotated[float, Range(0, 4)]  # resize factor (Real-ESRGAN's largest: 1.5)
MAX_RESIZED_SIDE = 8192  # ~0.8 GB per float32 RGB image: a sample's working set stays within a few GB
Noise = Annotated[float, Range(0, 255)]  # Gaussian noise sigma, 0-255 scale
PoissonScale = Annotated[float, Range(0, 100)]
Quality = Annotated[int, Range(1, 100)]  # JPEG quality
KernelSize = Annotated[int, Range(MIN_KERNEL_SIZE, 51)]  # odd; Real-ESRGAN's is 21

__all__ = ["KERNEL_TYPES", "MAX_RESIZED_SIDE", "DegradationOptions", "KernelType", "ResizeMode"]


# Keys of Real-ESRGAN's options files that are not degradations, and where each goes in esrgan's training options.
MOVED_KEYS: dict[str, str] = {
    key: f"Real-ESRGAN's {key} is {where} in esrgan's training options, not a degradation key"
    for key, where in {
        "gt_size": "data.train.patch_size",
        "queue_size": "data.train.queue_size",
        "use_hflip": "data.train.hflip",
        "use_rot": "data.train.rot90",
        "l1_gt_usm": "losses.pixel.gt_usm",
        "percep_gt_usm": "losses.perceptual.gt_usm",
        "gan_gt_usm": "losses.gan.gt_usm",
        "scale": "the top-level scale",
        "batch_size_per_gpu": "data.train.batch_size",
    }.items()
}
# A training options file given as a degradation block (esrgan test --degradation, make_degraded_lr --options).
MOVED_KEYS.update(
    {
        key: "a training options key: this looks like a training options file; a degradation block is what its "
        "data.train.degradation holds (like the shipped degrade_test_x4)"
        for key in ("name", "stage", "data", "network_g", "network_d", "train", "losses", "teacher", "experiments_root")
    }
)


@dataclass(frozen=True)
class DegradationOptions:
    """Real-ESRGAN's high-order degradation model (see :func:`esrgan.degradations.degrade`).

    Sigmas and noise levels are in pixels of the image they apply to; noise sigmas are on the 0-255 scale.
    Ranges are ``[low, high]``, drawn uniformly; probabilities are in [0, 1].
    """

    MOVED_KEYS: ClassVar[dict[str, str]] = MOVED_KEYS  # see esrgan.options.from_dict

    # ---- first order: blur kernel (sides 7, 9, ..., blur_kernel_size), resize, noise, JPEG
    blur_kernel_size: KernelSize = 21
    kernel_list: tuple[KernelType, ...] = KERNEL_TYPES
    kernel_prob: tuple[Weight, ...] = KERNEL_PROB
    sinc_prob: Prob = 0.1  # a sinc (ringing) kernel instead of one of kernel_list
    blur_sigma: tuple[Sigma, Sigma] = (0.2, 3.0)
    betag_range: tuple[Shape, Shape] = (0.5, 4.0)  # generalised Gaussian shape
    betap_range: tuple[Shape, Shape] = (1.0, 2.0)  # plateau shape
    resize_prob: tuple[Weight, Weight, Weight] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[Factor, Factor] = (0.15, 1.5)
    gaussian_noise_prob: Prob = 0.5  # otherwise Poisson noise
    noise_range: tuple[Noise, Noise] = (1.0, 30.0)
    poisson_scale_range: tuple[PoissonScale, PoissonScale] = (0.05, 3.0)
    gray_noise_prob: Prob = 0.4
    jpeg_range: tuple[Quality, Quality] = (30, 95)

    # ---- second order
    second_blur_prob: Prob = 0.8
    blur_kernel_size2: KernelSize = 21
    kernel_list2: tuple[KernelType, ...] = KERNEL_TYPES
    kernel_prob2: tuple[Weight, ...] = KERNEL_PROB
    sinc_prob2: Prob = 0.1
    blur_sigma2: tuple[Sigma, Sigma] = (0.2, 1.5)
    betag_range2: tuple[Shape, Shape] = (0.5, 4.0)
    betap_range2: tuple[Shape, Shape] = (1.0, 2.0)
    resize_prob2: tuple[Weight, Weight, Weight] = (0.3, 0.4, 0.3)
    resize_range2: tuple[Factor, Factor] = (0.3, 1.2)
    gaussian_noise_prob2: Prob = 0.5
    noise_range2: tuple[Noise, Noise] = (1.0, 25.0)
    poisson_scale_range2: tuple[PoissonScale, PoissonScale] = (0.05, 2.5)
    gray_noise_prob2: Prob = 0.4
    jpeg_range2: tuple[Quality, Quality] = (30, 95)  # the final JPEG

    # ---- final: resize to the LR size with a sinc filter, before or after the last JPEG (each with p = 0.5)
    final_sinc_prob: Prob = 0.8

    # ---- the ground truth the degradation starts from: USM-sharpened (Real-ESRGAN; RealESRNet's gt_usm) or as is
    gt_usm: bool = True

    # ---- extensions (defaults: what Real-ESRGAN's code does; see the module docstring)
    crop_pad_size: Annotated[int, Range(1, 4096)] = 400
    resize_modes: tuple[ResizeMode, ...] = ("area", "bilinear", "bicubic")
    second_order_prob: Prob = 1.0
    jpeg_prob: Prob = 1.0
    jpeg_prob2: Prob = 1.0
    clean_prob: Prob = 0.0

    def __post_init__(self) -> None:
        check_ranges(self)  # the declared ranges, also for an object built in Python
        for suffix in ("", "2"):
            self._check_blur(suffix)
            self._check_weights(f"resize_prob{suffix}", getattr(self, f"resize_prob{suffix}"))
            low, high = getattr(self, f"resize_range{suffix}")
            if not 0 < low <= 1 <= high:
                raise OptionsError(f"resize_range{suffix} must be [down, up] with 0 < down <= 1 <= up, got {low, high}")
            for name in (f"noise_range{suffix}", f"poisson_scale_range{suffix}"):
                self._check_range(name, 0.0)
            self._check_range(f"jpeg_range{suffix}", 1.0)
        for name in ("resize_range", "resize_range2"):  # the second order resizes the LR size (<= the region)
            side = self.crop_pad_size * getattr(self, name)[1]
            if side > MAX_RESIZED_SIDE:
                raise OptionsError(
                    f"crop_pad_size {self.crop_pad_size} resized up to x{getattr(self, name)[1]:g} ({name}) is "
                    f"{side:.0f} pixels a side, above {MAX_RESIZED_SIDE}: lower one of them"
                )
        if not self.resize_modes:
            raise OptionsError("resize_modes must name at least one of area, bilinear, bicubic")

    def _check_blur(self, suffix: str) -> None:
        size = getattr(self, f"blur_kernel_size{suffix}")
        if size % 2 == 0:
            raise OptionsError(f"blur_kernel_size{suffix} must be odd, got {size}")
        kinds, weights = getattr(self, f"kernel_list{suffix}"), getattr(self, f"kernel_prob{suffix}")
        if not kinds or len(kinds) != len(weights):
            raise OptionsError(
                f"kernel_list{suffix} and kernel_prob{suffix} must be non-empty and of equal length, "
                f"got {len(kinds)} and {len(weights)}"
            )
        self._check_weights(f"kernel_prob{suffix}", weights)
        low, _ = self._check_range(f"blur_sigma{suffix}", 0.0)
        if low <= 0:
            raise OptionsError(f"blur_sigma{suffix} must be positive, got {getattr(self, f'blur_sigma{suffix}')}")
        for name in (f"betag_range{suffix}", f"betap_range{suffix}"):
            low, high = self._check_range(name, 0.0)
            # A shape below 1 or above 1 is drawn with p = 0.5 each, from [low, 1] and [1, high] (BasicSR).
            if not 0 < low <= 1 <= high:
                raise OptionsError(f"{name} must be [low, high] with 0 < low <= 1 <= high, got {low, high}")

    @staticmethod
    def _check_weights(name: str, weights: tuple[float, ...]) -> None:
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise OptionsError(f"{name} must be non-negative weights with a positive sum, got {list(weights)}")

    def _check_range(self, name: str, minimum: float) -> tuple[float, float]:
        low, high = getattr(self, name)
        if not minimum <= low <= high:
            raise OptionsError(f"{name} must be [low, high] with {minimum:g} <= low <= high, got {[low, high]}")
        return low, high
