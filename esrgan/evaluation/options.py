"""Evaluation options: the schema of ``options/test_*.yml`` and of the ``esrgan test`` flags, which fill the same
fields (validated by :func:`esrgan.options.from_dict`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from esrgan.errors import OptionsError
from esrgan.inference.options import EngineOptions
from esrgan.options import Range, check_ranges, flat

BICUBIC = "bicubic"

__all__ = ["BICUBIC", "TestDatasetOptions", "TestOptions"]


@dataclass(frozen=True)
class TestDatasetOptions:
    """One benchmark set."""

    name: str  # label in tables and output files, e.g. Set5
    hr: Path  # folder of HR (ground-truth) images
    lr: Path | None = None  # folder of LR images paired by stem; null: MATLAB bicubic of the mod-cropped HR
    # LR made in memory from each HR image by a degradation block (a YAML file, or a shipped block's name such as
    # degrade_test_x4), each image drawing from (seed, its file stem): the LR files make_degraded_lr writes.
    degradation: str | None = None
    seed: Annotated[int, Range(0, 2**32 - 1)] | None = None  # the degraded set's seed; default 0 (make_degraded_lr's)

    def __post_init__(self) -> None:
        try:
            check_ranges(self)
        except OptionsError as exc:
            raise OptionsError(f"dataset {self.name}: {exc}") from None
        if self.lr is not None and self.degradation is not None:
            raise OptionsError(
                f"dataset {self.name}: 'lr' and 'degradation' exclude each other (LR from files or made)"
            )
        if self.seed is not None and self.degradation is None:
            raise OptionsError(f"dataset {self.name}: 'seed' applies to a 'degradation' only")
        if self.degradation is not None and not self.degradation.strip():
            raise OptionsError(f"dataset {self.name}: 'degradation' is empty")


@dataclass(frozen=True, kw_only=True)
class TestOptions:
    """Schema of ``options/test_*.yml`` (and of the command-line flags, which fill the same fields)."""

    model: str  # built-in name, weights file, or "bicubic" for the bicubic baseline
    datasets: list[TestDatasetOptions]
    scale: Annotated[int, Range(1, 16)] | None = None  # default: the model's scale (required for bicubic)
    test_y_channel: bool = True  # score BT.601 Y (papers); false: all RGB channels
    crop_border: Annotated[int, Range(0, 1024)] | None = None  # pixels ignored at each edge; default: the scale
    save: Path | None = None  # save SR images as <save>/<dataset>/<stem>.png
    csv: Path | None = None  # per-image and mean scores as CSV
    json: Path | None = None  # the same as JSON (with the protocol and model description)
    overwrite: bool = False  # replace existing CSV / JSON / SR files
    # The engine's keys (tile, tile_pad, ensemble, precision, device, backend, compile, tile_batch) at the top
    # level; precision fp32 by default: scores comparable across machines.
    engine: EngineOptions = flat(EngineOptions(precision="fp32"))

    def __post_init__(self) -> None:
        check_ranges(self)
        if not self.datasets:
            raise OptionsError("'datasets' lists no dataset")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise OptionsError(f"dataset names must be unique, got {names}")
        for name in names:  # each names a folder of the saved SR images: one folder each, inside ``save``
            if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0"):
                raise OptionsError(f"dataset name {name!r} must be a plain folder name (no '/', '\\', '.' or '..')")
        if self.model == BICUBIC and self.scale is None:
            raise OptionsError("'scale' is required for the bicubic baseline (e.g. scale 4)")
