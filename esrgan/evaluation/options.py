"""Evaluation options: the schema of ``options/test_*.yml`` and of the ``esrgan test`` flags, which fill the same
fields (validated by :func:`esrgan.options.from_dict`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from esrgan.inference.options import EngineOptions
from esrgan.options import flat

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
    seed: int | None = None  # the degraded set's seed; default 0 (make_degraded_lr's)

    def __post_init__(self) -> None:
        if self.lr is not None and self.degradation is not None:
            raise ValueError(f"dataset {self.name}: 'lr' and 'degradation' exclude each other (LR from files or made)")
        if self.seed is not None and self.degradation is None:
            raise ValueError(f"dataset {self.name}: 'seed' applies to a 'degradation' only")
        if self.seed is not None and self.seed < 0:
            raise ValueError(f"dataset {self.name}: 'seed' must be >= 0, got {self.seed}")
        if self.degradation is not None and not self.degradation.strip():
            raise ValueError(f"dataset {self.name}: 'degradation' is empty")


@dataclass(frozen=True, kw_only=True)
class TestOptions:
    """Schema of ``options/test_*.yml`` (and of the command-line flags, which fill the same fields)."""

    model: str  # built-in name, weights file, or "bicubic" for the bicubic baseline
    datasets: list[TestDatasetOptions]
    scale: int | None = None  # default: the model's scale (required for bicubic)
    test_y_channel: bool = True  # score BT.601 Y (papers); false: all RGB channels
    crop_border: int | None = None  # pixels ignored at each edge; default: the scale
    save: Path | None = None  # save SR images as <save>/<dataset>/<stem>.png
    csv: Path | None = None  # per-image and mean scores as CSV
    json: Path | None = None  # the same as JSON (with the protocol and model description)
    overwrite: bool = False  # replace existing CSV / JSON / SR files
    # The engine's keys (tile, tile_pad, ensemble, precision, device, backend, compile, tile_batch) at the top
    # level; precision fp32 by default: scores comparable across machines.
    engine: EngineOptions = flat(EngineOptions(precision="fp32"))

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ValueError("'datasets' lists no dataset")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names must be unique, got {names}")
        if self.scale is not None and self.scale < 1:
            raise ValueError(f"'scale' must be a positive integer, got {self.scale}")
        if self.model == BICUBIC and self.scale is None:
            raise ValueError("'scale' is required for the bicubic baseline (e.g. scale 4)")
        if self.crop_border is not None and self.crop_border < 0:
            raise ValueError(f"'crop_border' must be >= 0, got {self.crop_border}")
