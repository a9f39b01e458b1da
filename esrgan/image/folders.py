"""Folders of image files: listing them, keying them by file stem, pairing LR files with HR files by stem.

Used by the training datasets (:mod:`esrgan.data`), the evaluation protocol (:mod:`esrgan.evaluation`) and the data
preparation scripts (:mod:`esrgan.datasets`). Only files directly in a folder count (not recursive), and only those
with one of :data:`esrgan.image.IMAGE_EXTENSIONS` (any letter case).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from esrgan.errors import InputError, NotFoundError
from esrgan.image.probe import IMAGE_EXTENSIONS

__all__ = ["images_by_stem", "list_images", "pair_by_stem"]


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name.

    Raises:
        NotFoundError: the folder does not exist.
        InputError: it holds no images.
    """
    if not folder.is_dir():
        raise NotFoundError(f"input folder not found: {folder}")
    files = _image_files(folder)
    if not files:
        raise InputError(f"no images in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def images_by_stem(folder: Path) -> dict[str, Path]:
    """Image files directly in ``folder`` keyed by file stem, sorted by name; empty if there are none.

    Raises:
        InputError: two images share a stem (``a.png`` and ``a.jpg``), so a stem would not name one image.
    """
    found: dict[str, Path] = {}
    for p in _image_files(folder):
        if p.stem in found:
            raise InputError(f"{folder}: two images share the stem {p.stem!r} ({found[p.stem].name}, {p.name})")
        found[p.stem] = p
    return found


def pair_by_stem(hr_keys: Sequence[str], lr_keys: Sequence[str], scale: int, lr_root: str = "LR") -> list[str]:
    """LR key for each HR key: the same stem, or the stem + ``x{scale}`` (DIV2K naming).

    Raises:
        InputError: an HR image without an LR partner (one line, naming the first one).
    """
    available = set(lr_keys)
    paired = []
    for key in hr_keys:
        for candidate in (key, f"{key}x{scale}"):
            if candidate in available:
                paired.append(candidate)
                break
        else:
            raise InputError(f"no LR image for HR {key!r} in {lr_root} (expected stem {key!r} or '{key}x{scale}')")
    return paired
