"""Degraded LR images for evaluation: the same LR for everyone, from a degradation block and a fixed seed.

Each image draws from its own generator seeded with (seed, a hash of the image's name), so its LR does not
depend on the order of the images, on which other images are in the folder, or on the process that makes it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from esrgan.degradations.options import DegradationOptions
from esrgan.degradations.pipeline import check_resizable, degrade
from esrgan.errors import InputError, LimitError
from esrgan.image import check_image_file, read_image
from esrgan.image.resize import mod_crop

__all__ = ["degraded_lr", "degraded_lr_file", "image_rng"]


def image_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of image ``name`` (e.g. its file stem) under ``seed``."""
    digest = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, digest]))


def degraded_lr(
    hr: np.ndarray, opts: DegradationOptions, scale: int, seed: int, name: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """The degraded LR image of one HR image.

    Args:
        hr: (H, W, 3) float32 RGB in [0, 1] (:func:`esrgan.data.to_float` of a decoded image).
        opts: the degradation block (``crop_pad_size`` does not apply: the whole image is degraded).
        scale: the integer factor; the HR image is mod-cropped to a multiple of it first (the benchmark protocol).
        seed: the test set's seed.
        name: the image's name (its file stem), which selects its random draws.

    Returns:
        ((H // scale, W // scale, 3) uint8 RGB, the record of the draws; see :func:`esrgan.degradations.degrade`).
    """
    img = mod_crop(hr, scale).astype(np.float32)
    if img.shape[0] < scale or img.shape[1] < scale:
        raise InputError(f"{name}: the image ({hr.shape[0]}x{hr.shape[1]}) is smaller than the scale {scale}")
    lr, record = degrade(img, opts, scale, image_rng(seed, name))
    return np.round(lr * 255.0).astype(np.uint8), record


def degraded_lr_file(hr: Path, opts: DegradationOptions, scale: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The degraded LR image of one HR file, named by its stem: what ``python -m esrgan.datasets.make_degraded_lr``
    writes and what ``esrgan test`` scores with a degradation (one function, so both are the same bits).

    The file is read as every scored HR image is (:func:`esrgan.image.read_image`: EXIF orientation applied, so
    the LR has the HR's shape; its stored depth; straight colour), gray replicated to RGB, alpha dropped, and
    degraded by :func:`degraded_lr`. Returns ((H // scale, W // scale, 3) uint8 RGB, the record of the draws).

    Raises:
        InputError: the file is unreadable or smaller than the scale.
        LimitError: the block's resizes could make it too large (read from the header, before decoding).
        NotFoundError: no such file.
    """
    header = check_image_file(hr)  # sizes from the header: a 50000x50000 PNG is refused before decoding
    try:
        check_resizable(header.height, header.width, opts)
    except LimitError as exc:
        raise LimitError(f"{hr}: {exc}") from None
    pixels = read_image(hr).pixels
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return degraded_lr(pixels, opts, scale, seed, hr.stem)
