"""The benchmark protocol of SR papers, image by image: pairing, loading, making the LR image, scoring.

- Pairing: every HR image of a folder, with the LR image of the same stem (or ``stem + 'x<scale>'``, DIV2K's
  naming) from an LR folder, or none.
- Loading: images are scored at 8 bits (other depths are rounded, with a warning); gray stays gray (H, W), colour is
  (H, W, 3) RGB. The HR image is mod-cropped to a multiple of the scale; the LR image is the given file (which must
  be exactly HR / scale), or a degradation block's LR with a fixed seed (:class:`Degradation`: the bits
  ``make_degraded_lr`` writes), or MATLAB-compatible bicubic downscaling of the mod-cropped HR.
- Scoring: the SR output is rounded to 8 bits (what a saved PNG holds) and compared with the HR image by PSNR and
  SSIM (:mod:`esrgan.metrics`) on the BT.601 Y channel (or RGB) with ``crop_border`` pixels (normally the scale)
  ignored at each edge. A gray image is fed to a model as three equal channels; the output is turned back into
  gray (BT.601 luma) and the gray values are scored directly.

``esrgan test`` (:mod:`esrgan.evaluation.run`) and training validation (:func:`esrgan.train.validate.validate`) both
score through :func:`score_image`.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from esrgan.degradations import DegradationOptions, degraded_lr_file
from esrgan.errors import InputError, NotFoundError
from esrgan.image import (
    IMAGE_EXTENSIONS,
    bicubic_degrade,
    images_by_stem,
    imresize,
    mod_crop,
    pair_by_stem,
    read_image,
    to_uint8,
)
from esrgan.metrics import calculate_psnr, calculate_ssim
from esrgan.options import load_options
from esrgan.shipped_options import FOLDER

if TYPE_CHECKING:
    from esrgan.evaluation.options import TestDatasetOptions

log = logging.getLogger(__name__)

SRFunction = Callable[[np.ndarray], np.ndarray]
"""uint8 LR (h, w) gray or (h, w, 3) RGB -> uint8 SR (h * s, w * s[, 3]) of the same kind."""

Pair = tuple[str, Path, Path | None]
"""(stem, HR file, LR file or None: made by bicubic downscaling)."""

# Where the shipped options files are (inside the package; the repository's options/ links there): a degradation
# given by name is <name>.yml there.
SHIPPED_OPTIONS = FOLDER

__all__ = [
    "SHIPPED_OPTIONS",
    "DatasetScore",
    "Degradation",
    "ImageFailure",
    "ImageScore",
    "Pair",
    "SRFunction",
    "bicubic_sr",
    "engine_sr",
    "list_pairs",
    "load_degradation",
    "load_pair",
    "load_uint8",
    "luma_u8",
    "score_image",
]


# ------------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class Degradation:
    """LR images made in memory from the HR ones by a degradation block with a fixed seed."""

    name: str  # as given: a shipped block's name or a file
    path: Path  # the file read
    options: DegradationOptions
    seed: int

    def describe(self) -> str:
        return f"{self.name}, seed {self.seed}"


@dataclass
class ImageScore:
    image: str  # file stem
    height: int  # of the mod-cropped HR image
    width: int
    psnr: float
    ssim: float
    seconds: float  # time to make the SR image


@dataclass(frozen=True)
class ImageFailure:
    """An image of a dataset that could not be scored.

    Attributes:
        image: file stem.
        error: the one-line reason (naming the file).
        bug: True when the failure was not an expected one (a bug: its traceback was logged).
    """

    image: str
    error: str
    bug: bool = False


@dataclass
class DatasetScore:
    """The scores of one dataset; the means are over the images that were scored (NaN if none was)."""

    name: str
    hr: str
    lr: str | None
    images: list[ImageScore] = field(default_factory=list)
    failed: list[ImageFailure] = field(default_factory=list)
    degradation: Degradation | None = None  # the LR images were made by it (``lr`` is None then)

    @property
    def psnr(self) -> float:
        return sum(s.psnr for s in self.images) / len(self.images) if self.images else float("nan")

    @property
    def ssim(self) -> float:
        return sum(s.ssim for s in self.images) / len(self.images) if self.images else float("nan")


# ------------------------------------------------------------------------------------------------------ pairing
def list_pairs(ds: TestDatasetOptions, scale: int) -> list[Pair]:
    """(stem, HR file, LR file or None) for every HR image of ``ds``, sorted by stem.

    Raises:
        NotFoundError: a folder is missing or not a folder.
        InputError: no images, duplicate stems, an HR image without an LR partner or an LR image without an HR.
    """

    def images(folder: Path, what: str) -> dict[str, Path]:
        if not folder.exists():
            raise NotFoundError(f"{ds.name}: {what} folder not found: {folder}")
        if not folder.is_dir():
            raise NotFoundError(f"{ds.name}: {what} path is not a folder: {folder}")
        found = images_by_stem(folder)
        if not found:
            raise InputError(f"{ds.name}: no images in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)})")
        return found

    hr = images(ds.hr, "HR")
    if ds.lr is None:
        return [(stem, path, None) for stem, path in hr.items()]
    lr = images(ds.lr, "LR")
    lr_keys = pair_by_stem(list(hr), list(lr), scale, str(ds.lr))
    unpaired = sorted(set(lr) - set(lr_keys))
    if unpaired:
        raise InputError(f"LR image {lr[unpaired[0]]} has no HR image in {ds.hr} ({len(unpaired)} unpaired LR files)")
    return [(stem, hr[stem], lr[key]) for stem, key in zip(hr, lr_keys, strict=True)]


# ------------------------------------------------------------------------------------------------------ loading
def load_degradation(spec: str, seed: int = 0) -> Degradation:
    """The degradation block ``spec`` (a YAML file, or the name of one in :data:`SHIPPED_OPTIONS`) with ``seed``.

    Raises:
        FileNotFoundError: neither a file nor a shipped block; the message names the closest shipped block.
        OptionsError: the file is not a valid degradation block.
    """
    path = Path(spec)
    if not path.is_file():
        shipped = sorted(p.stem for p in SHIPPED_OPTIONS.glob("degrade*.yml"))
        name = path.stem if path.suffix in (".yml", ".yaml") else path.name
        if name not in shipped or len(path.parts) > 1:
            close = difflib.get_close_matches(name, shipped, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise NotFoundError(
                f"degradation {spec!r} is neither a file nor a shipped block; {hint}shipped: {', '.join(shipped)}"
            )
        path = SHIPPED_OPTIONS / f"{name}.yml"
    return Degradation(spec, path, load_options(DegradationOptions, path), seed)


def load_uint8(path: Path) -> np.ndarray:
    """An image file as uint8: (H, W) for gray, (H, W, 3) RGB. Other depths are rounded to 8 bits (warned)."""
    img = read_image(path)
    if img.bit_depth != 8:
        log.warning("%s: %d-bit image scored at 8 bits, as the benchmark protocol defines", path, img.bit_depth)
    if img.alpha is not None:
        log.warning("%s: alpha channel ignored", path)
    u8 = to_uint8(img.pixels)
    return u8[:, :, 0] if img.is_gray else u8


def luma_u8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 or float [0, 255] -> (H, W) uint8 BT.601 luma (gray stays gray: weights sum to 1)."""
    y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.floor(np.clip(y, 0, 255) + 0.5).astype(np.uint8)


def _match_channels(lr: np.ndarray, gray: bool, lr_path: Path) -> np.ndarray:
    if gray and lr.ndim == 3:
        log.warning("%s: RGB LR image for a gray HR image: converted to gray (BT.601 luma)", lr_path)
        return luma_u8(lr)
    if not gray and lr.ndim == 2:
        log.warning("%s: gray LR image for an RGB HR image: channels replicated", lr_path)
        return np.repeat(lr[:, :, None], 3, axis=2)
    return lr


def _check_lr_size(lr: np.ndarray, hr: np.ndarray, scale: int, lr_path: Path, hr_path: Path) -> None:
    lh, lw = lr.shape[:2]
    hh, hw = hr.shape[:2]
    if (lh * scale, lw * scale) != (hh, hw):
        raise InputError(
            f"{lr_path}: LR is {lw}x{lh} (WxH); x{scale} gives {lw * scale}x{lh * scale}, but {hr_path} "
            f"mod-cropped to a multiple of {scale} is {hw}x{hh}"
        )


def load_pair(
    hr_path: Path, lr_path: Path | None, scale: int, degradation: Degradation | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) uint8 images of one pair: HR mod-cropped to a multiple of ``scale``, LR exactly HR / ``scale``.

    The LR image is ``lr_path`` (its channels matched to the HR's: gray or RGB), or without one the degraded LR of
    ``degradation`` (:func:`esrgan.degradations.degraded_lr_file`, the image's stem selecting its draws; BT.601
    luma for a gray HR image) or, without either, MATLAB bicubic downscaling of the mod-cropped HR.

    Raises:
        InputError: an image cannot be read, the HR image is smaller than the scale, or the LR image's size does
            not match.
    """
    hr_full = load_uint8(hr_path)
    hr = mod_crop(hr_full, scale)
    if hr.shape[0] == 0 or hr.shape[1] == 0:
        raise InputError(f"{hr_path}: image is smaller than the scale {scale}")
    if lr_path is None and degradation is not None:
        lr, _ = degraded_lr_file(hr_path, degradation.options, scale, degradation.seed)
        return (luma_u8(lr) if hr.ndim == 2 else lr), hr
    if lr_path is None:
        return bicubic_degrade(hr_full, scale), hr
    lr = _match_channels(load_uint8(lr_path), hr.ndim == 2, lr_path)
    _check_lr_size(lr, hr, scale, lr_path, hr_path)
    return lr, hr


# ---------------------------------------------------------------------------------------------- super-resolution
def bicubic_sr(scale: int) -> SRFunction:
    """The papers' baseline: MATLAB bicubic upscaling by ``scale`` (uint8 in, uint8 out: MATLAB's rounding per pass)."""

    def bicubic(lr: np.ndarray) -> np.ndarray:
        return imresize(lr, float(scale))

    return bicubic


def engine_sr(upscale: Callable[[torch.Tensor], torch.Tensor]) -> SRFunction:
    """An :data:`SRFunction` around the engine (e.g. an :class:`esrgan.inference.Upscaler`: (1, 3, h, w) float RGB
    in [0, 1] -> (1, 3, h * s, w * s)). Gray goes in as three equal channels and comes back as BT.601 luma."""

    def model_sr(lr: np.ndarray) -> np.ndarray:
        gray = lr.ndim == 2
        rgb = np.repeat(lr[:, :, None], 3, axis=2) if gray else lr
        x = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        with torch.inference_mode():
            y = upscale(x)[0].permute(1, 2, 0).numpy().astype(np.float64)
        # A gray input gives (nearly) equal channels; luma turns them back into the gray the reference has.
        return luma_u8(y * 255.0) if gray else to_uint8(y)

    return model_sr


# ------------------------------------------------------------------------------------------------------ scoring
def score_image(
    stem: str,
    lr: np.ndarray,
    hr: np.ndarray,
    upscale: SRFunction,
    *,
    crop_border: int,
    test_y_channel: bool = True,
) -> tuple[ImageScore, np.ndarray]:
    """Upscale one uint8 LR image (timed) and score the uint8 SR output against the uint8 HR image.

    Returns:
        The score and the SR image (uint8, HR's shape).

    Raises:
        InputError: the SR image's shape differs from the HR image's.
    """
    start = time.perf_counter()
    sr = upscale(lr)
    seconds = time.perf_counter() - start
    if sr.shape != hr.shape:
        raise InputError(f"{stem}: SR is {sr.shape} but HR is {hr.shape}")
    psnr = calculate_psnr(sr, hr, crop_border, test_y_channel=test_y_channel)
    ssim = calculate_ssim(sr, hr, crop_border, test_y_channel=test_y_channel)
    return ImageScore(stem, hr.shape[0], hr.shape[1], psnr, ssim, seconds), sr
