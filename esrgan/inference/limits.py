"""The size limits of an upscale, checked from an input's header before anything is decoded, loaded or computed.

Torch-free, so that the command line refuses an input that is too large, or whose output would be, before the
model loads (and before a compiled backend is prepared for it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from esrgan.errors import LimitError, OutputError

if TYPE_CHECKING:
    from esrgan.image.probe import ImageHeader

__all__ = ["InputTooLargeError", "OutputTooLargeError", "OverwritesInputError", "check_sizes", "output_size"]


class InputTooLargeError(LimitError):
    """An input has more pixels than ``max_pixels`` allows (read from its header, before anything is decoded)."""

    def __init__(self, path: Path, pixels: int, limit: int) -> None:
        self.path, self.pixels, self.limit = path, pixels, limit
        super().__init__(f"{path}: {pixels / 1e6:.1f} MP is above max_pixels {limit} (0 allows any size)")


class OutputTooLargeError(LimitError):
    """The output of an input would have more pixels than ``max_output_pixels`` allows (the input's size from its
    header times the network's scale or the output scale, whichever is larger; checked before the engine runs)."""

    def __init__(self, path: Path, width: int, height: int, limit: int) -> None:
        self.path, self.width, self.height, self.limit = path, width, height, limit
        self.pixels = width * height
        super().__init__(
            f"{path}: the output would be {width}x{height} ({self.pixels / 1e6:.1f} MP), above max_output_pixels "
            f"{limit} (0 allows any size)"
        )


class OverwritesInputError(OutputError):
    """The output would replace an input file."""

    def __init__(self, source: Path, target: Path) -> None:
        self.source, self.target = source, target
        super().__init__(f"{source}: output {target} would overwrite an input")


def output_size(header: ImageHeader, factor: float) -> tuple[int, int]:
    """(width, height) of the largest image an upscale by ``factor`` makes of the input ``header`` describes."""
    return round(header.width * factor), round(header.height * factor)


def check_sizes(
    header: ImageHeader, name: Path, *, max_pixels: int = 0, max_output_pixels: int = 0, factor: float = 0.0
) -> None:
    """Refuse an input from its header (nothing decoded): more than ``max_pixels`` pixels, or an output of more
    than ``max_output_pixels`` at ``factor`` (the larger of the network's scale and the output scale; 0 or
    either limit 0: not checked).

    Raises:
        InputTooLargeError, OutputTooLargeError: both :class:`~esrgan.errors.LimitError` kinds.
    """
    if max_pixels and header.pixels > max_pixels:
        raise InputTooLargeError(name, header.pixels, max_pixels)
    out_w, out_h = output_size(header, factor)
    if max_output_pixels and factor and out_w * out_h > max_output_pixels:
        raise OutputTooLargeError(name, out_w, out_h, max_output_pixels)
