"""Sample strips: crops of the LR image (nearest-upscaled), of each model's SR image and of the HR image, side by side.

One row per crop: ``LR xS (nearest) | model 1 | model 2 | ... | HR``, column names on top, and under each row the
image's stem and the crop's position (HR pixels, x,y) below the LR crop and each model's PSNR-Y on the crop below
its panel. The LR images are those ``esrgan test`` scores (:mod:`esrgan.evaluation.protocol`): a folder, a
degradation block with a fixed seed (the LR ``make_degraded_lr`` writes) or MATLAB bicubic; every model upscales
the whole LR image, then the crops are cut. The crops of an image are the non-overlapping tiles of its HR image
with the most detail (variance of the Laplacian of BT.601 luma), so they show texture and edges rather than sky.
The script is ``python -m esrgan.datasets.strips``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from esrgan.errors import OptionsError
from esrgan.evaluation.options import BICUBIC, TestDatasetOptions, TestOptions
from esrgan.evaluation.protocol import SRFunction, load_pair, luma_u8
from esrgan.evaluation.run import Evaluation, make_sr
from esrgan.inference.options import EngineOptions
from esrgan.metrics import calculate_psnr

log = logging.getLogger(__name__)

HEADER = 18  # pixels above the first row, for the column names
CAPTION = 16  # pixels below each row, for its captions
GAP = 4  # pixels between panels and between rows
BACKGROUND = 255

__all__ = ["StripRow", "draw_strip", "panel_origin", "pick_crops", "sample_strip", "strip_rows", "strip_size"]


@dataclass
class StripRow:
    """One crop: the panels (each (P, P, 3) uint8 RGB, LR first and HR last) and one caption per panel."""

    panels: list[np.ndarray]
    captions: list[str]


# ------------------------------------------------------------------------------------------------------- layout
def strip_size(rows: int, cols: int, panel: int) -> tuple[int, int]:
    """(height, width) of a strip of ``rows`` x ``cols`` square panels of side ``panel`` (pixels, as drawn)."""
    return HEADER + rows * (panel + CAPTION) + (rows - 1) * GAP, cols * panel + (cols - 1) * GAP


def panel_origin(row: int, col: int, panel: int) -> tuple[int, int]:
    """(y, x) of the top-left pixel of the panel in ``row``, ``col``."""
    return HEADER + row * (panel + CAPTION + GAP), col * (panel + GAP)


def _put_text(img: np.ndarray, text: str, y: int, x: int, width: int) -> None:
    """Black text with its baseline at ``y``, scaled down to fit ``width`` pixels."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    w = cv2.getTextSize(text, font, scale, 1)[0][0]
    if w > width - 2:
        scale *= (width - 2) / w
    cv2.putText(img, text, (x + 1, y), font, scale, (0, 0, 0), 1, cv2.LINE_AA)


def draw_strip(rows: Sequence[StripRow], headers: Sequence[str], zoom: int = 1) -> np.ndarray:
    """(H, W, 3) uint8 RGB strip of ``rows`` (see :func:`strip_size`), panels zoomed ``zoom`` times (nearest).

    Raises:
        ValueError: no rows, or rows whose panel counts or sizes differ from each other or from ``headers``.
    """
    if not rows:
        raise OptionsError("no crops to draw")
    side = rows[0].panels[0].shape[0]
    cols = len(headers)
    for row in rows:
        if len(row.panels) != cols or any(p.shape != (side, side, 3) for p in row.panels):
            raise OptionsError(f"every row needs {cols} panels of {side}x{side}x3")
    panel = side * zoom
    strip = np.full((*strip_size(len(rows), cols, panel), 3), BACKGROUND, np.uint8)
    for c, name in enumerate(headers):
        _put_text(strip, name, HEADER - 5, panel_origin(0, c, panel)[1], panel)
    for r, row in enumerate(rows):
        for c, (pixels, caption) in enumerate(zip(row.panels, row.captions, strict=True)):
            y, x = panel_origin(r, c, panel)
            strip[y : y + panel, x : x + panel] = np.repeat(np.repeat(pixels, zoom, axis=0), zoom, axis=1)
            _put_text(strip, caption, y + panel + CAPTION - 4, x, panel)
    return strip


# -------------------------------------------------------------------------------------------------------- crops
def pick_crops(hr: np.ndarray, size: int, count: int) -> list[tuple[int, int]]:
    """(y, x) of the ``count`` non-overlapping ``size`` x ``size`` tiles of ``hr`` (uint8, (H, W) or (H, W, 3)) with
    the most detail (variance of the Laplacian of luma), most detailed first; tiles lie on a ``size`` grid from the
    top-left corner, so positions are multiples of ``size``. Fewer when the image holds fewer tiles."""
    y8 = hr if hr.ndim == 2 else luma_u8(hr)
    laplacian = cv2.Laplacian(y8.astype(np.float32), cv2.CV_32F)
    tiles = [
        (float(laplacian[y : y + size, x : x + size].var()), y, x)
        for y in range(0, hr.shape[0] - size + 1, size)
        for x in range(0, hr.shape[1] - size + 1, size)
    ]
    tiles.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [(y, x) for _, y, x in tiles[:count]]


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def _crop_row(
    stem: str, lr: np.ndarray, srs: Sequence[np.ndarray], hr: np.ndarray, at: tuple[int, int], size: int, scale: int
) -> StripRow:
    y, x = at
    lr_crop = lr[y // scale : (y + size) // scale, x // scale : (x + size) // scale]
    panels = [_rgb(np.repeat(np.repeat(lr_crop, scale, axis=0), scale, axis=1))]
    captions = [f"{stem} {x},{y}"]
    hr_crop = hr[y : y + size, x : x + size]
    for sr in srs:
        sr_crop = sr[y : y + size, x : x + size]
        panels.append(_rgb(sr_crop))
        captions.append(f"{calculate_psnr(sr_crop, hr_crop, 0):.2f} dB")
    return StripRow([*panels, _rgb(hr_crop)], [*captions, ""])


def strip_rows(
    images: Sequence[tuple[str, np.ndarray, np.ndarray]],
    upscales: Sequence[SRFunction],
    scale: int,
    size: int,
    crops: int,
) -> list[StripRow]:
    """The rows of a strip: for each (stem, uint8 LR, uint8 HR) image, ``crops`` crops of ``size`` HR pixels (a
    multiple of ``scale``) picked by :func:`pick_crops`, each ``[LR nearest-upscaled, SR of each of upscales, HR]``.
    An image smaller than a crop is skipped with a warning."""
    if size % scale:
        raise OptionsError(f"the crop size {size} is not a multiple of the scale {scale}")
    rows = []
    for stem, lr, hr in images:
        if min(hr.shape[:2]) < size:
            log.warning("%s: %dx%d is smaller than a %d-pixel crop; skipped", stem, hr.shape[1], hr.shape[0], size)
            continue
        srs = [upscale(lr) for upscale in upscales]
        rows += [_crop_row(stem, lr, srs, hr, at, size, scale) for at in pick_crops(hr, size, crops)]
    return rows


# ----------------------------------------------------------------------------------------------- a whole strip
def _label(model: str) -> str:
    return Path(model).stem if Path(model).suffix else model  # a weights file by its stem, a built-in by its name


def sample_strip(
    dataset: TestDatasetOptions,
    models: Sequence[str],
    *,
    scale: int | None = None,
    engine: EngineOptions | None = None,
    labels: Sequence[str] | None = None,
    images: Sequence[str] | None = None,
    size: int = 64,
    crops: int = 2,
    zoom: int = 2,
) -> np.ndarray:
    """The strip of ``dataset``'s images: (H, W, 3) uint8 RGB, laid out by :func:`strip_size`.

    Args:
        dataset: the HR images and where their LR images come from (its ``lr`` folder, its ``degradation`` and
            ``seed``, or MATLAB bicubic), as ``esrgan test`` reads them.
        models: one column each, in order: built-in names, weights files or ``"bicubic"``.
        scale: the factor (default: the models'; required when every model is ``"bicubic"``).
        engine: how the models run (default: :class:`TestOptions`'s, fp32).
        labels: the models' column names (default: built-in names and file stems).
        images: only these stems (default: every image).
        size, crops, zoom: crop side in HR pixels, crops per image, nearest zoom of every panel.

    Raises:
        ValueError: bad sizes or labels, an unknown stem, a model of another scale, no image as large as a crop.
        FileNotFoundError: a missing folder, model or degradation block.
    """
    if not models:
        raise OptionsError("'models' is empty: a strip compares one model or more")
    if labels is not None and len(labels) != len(models):
        raise OptionsError(f"'labels' names {len(labels)} columns for {len(models)} models")
    if min(size, crops, zoom) < 1:
        raise OptionsError(f"'size', 'crops' and 'zoom' must be positive, got {size}, {crops}, {zoom}")
    order = sorted(range(len(models)), key=lambda i: models[i] == BICUBIC)  # bicubic takes the others' scale
    base = TestOptions(model=models[order[0]], datasets=[dataset], scale=scale)
    base = base if engine is None else dataclasses.replace(base, engine=engine)
    evaluation = Evaluation.prepare(base)
    upscales = {order[0]: evaluation.upscale}
    for i in order[1:]:
        upscales[i] = make_sr(dataclasses.replace(base, model=models[i], scale=evaluation.scale))[0]
    ((_, pairs),) = evaluation.plans
    chosen = [p for p in pairs if images is None or p[0] in images]
    missing = sorted(set(images or ()) - {p[0] for p in chosen})
    if missing:
        raise OptionsError(f"no HR image called {missing[0]} in {dataset.hr}")
    degradation = evaluation.degradations.get(dataset.name)
    if degradation is not None:
        log.info("LR degraded by %s", degradation.describe())
    loaded = []
    for stem, hr_path, lr_path in chosen:
        lr, hr = load_pair(hr_path, lr_path, evaluation.scale, degradation)
        loaded.append((stem, lr, hr))
    rows = strip_rows(loaded, [upscales[i] for i in range(len(models))], evaluation.scale, size, crops)
    if not rows:
        raise OptionsError(f"no image in {dataset.hr} holds a {size}x{size} crop")
    headers = [f"LR x{evaluation.scale} (nearest)", *(labels or [_label(m) for m in models]), "HR"]
    return draw_strip(rows, headers, zoom)
