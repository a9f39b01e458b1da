"""Output file names of upscaled images: which format an output gets when the input's is kept.

Torch-free, so that the command line plans a batch's output names (and refuses collisions) before the model loads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from esrgan.defaults import OUTPUT_FORMATS
from esrgan.errors import OptionsError

if TYPE_CHECKING:
    from esrgan.image.io import ImageData

__all__ = ["extension_for", "output_extension", "same_format_extension"]

# Formats an output is written in (the extension of each, with the dot).
_WRITTEN = (".png", ".jpg", ".webp", ".bmp", ".tif")


def output_extension(source: str | os.PathLike[str], image: ImageData, requested: str = "auto") -> str:
    """The output file's extension (with the dot) for ``image`` read from ``source``.

    ``requested`` "png", "jpg", "webp" or "tif" is used as is. "auto" keeps the input's format (``.jpeg`` written
    as ``.jpg``, ``.tiff`` as ``.tif``) unless it cannot store what the image has: transparency needs PNG, WebP
    or TIFF, and samples deeper than 8 bits PNG or TIFF; PNG is chosen then.
    """
    return extension_for(source, image.alpha is not None, image.bit_depth > 8, requested)


def extension_for(source: str | os.PathLike[str], alpha: bool, deep: bool, requested: str = "auto") -> str:
    """:func:`output_extension` from what the image has (transparency, samples deeper than 8 bits), so that a
    batch's output names can be planned from the inputs' headers before anything is decoded."""
    if requested not in OUTPUT_FORMATS:
        raise OptionsError(f"unknown output format {requested!r}: use one of {', '.join(OUTPUT_FORMATS)}")
    if requested != "auto":
        return "." + requested
    ext = same_format_extension(source)
    if alpha and ext not in (".png", ".webp", ".tif"):
        return ".png"
    if deep and ext not in (".png", ".tif"):
        return ".png"
    return ext


def same_format_extension(source: str | os.PathLike[str]) -> str:
    """The extension an output in the input's own format gets: ``.jpeg`` is written as ``.jpg``, ``.tiff`` as
    ``.tif``, and formats that are read but not written (GIF, or a name that is not an image's) as ``.png``."""
    ext = Path(source).suffix.lower()
    ext = {".jpeg": ".jpg", ".tiff": ".tif"}.get(ext, ext)
    return ext if ext in _WRITTEN else ".png"
