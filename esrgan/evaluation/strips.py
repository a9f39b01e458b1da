"""Sample strips: crops of the LR image (nearest-upscaled), of each model's SR image and of the HR image, side by side.

    python -m esrgan.evaluation.strips --hr Set5/HR --degradation degrade_test_x4 --seed 0 \\
        -m bicubic_trained.pth -m degraded_trained.pth --labels bicubic-trained degradation-trained \\
        --crop 64 --crops 2 -o strip.png

One row per crop: ``LR xS (nearest) | model 1 | model 2 | ... | HR``, column names on top, and under each row the
image's stem and the crop's position (HR pixels, x,y) below the LR crop and each model's PSNR-Y on the crop below
its panel. The LR images are those ``esrgan test`` scores (:mod:`esrgan.evaluation.protocol`): a folder (``--lr``),
a degradation block with a fixed seed (``--degradation``, ``--seed``: the LR ``make_degraded_lr`` writes) or
MATLAB bicubic; every model upscales the whole LR image, then the crops are cut. The crops of an image are the
non-overlapping tiles of its HR image with the most detail (variance of the Laplacian of BT.601 luma), so they
show texture and edges rather than sky.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from esrgan.evaluation.options import BICUBIC, TestOptions
from esrgan.evaluation.protocol import SRFunction, load_pair, luma_u8
from esrgan.evaluation.run import Evaluation, make_sr
from esrgan.image import ImageData, write_image
from esrgan.metrics import calculate_psnr
from esrgan.options import OptionsError, from_dict

log = logging.getLogger(__name__)

HEADER = 18  # pixels above the first row, for the column names
CAPTION = 16  # pixels below each row, for its captions
GAP = 4  # pixels between panels and between rows
BACKGROUND = 255

__all__ = ["StripRow", "draw_strip", "main", "panel_origin", "pick_crops", "strip_rows", "strip_size"]


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
        raise ValueError("no crops to draw")
    side = rows[0].panels[0].shape[0]
    cols = len(headers)
    for row in rows:
        if len(row.panels) != cols or any(p.shape != (side, side, 3) for p in row.panels):
            raise ValueError(f"every row needs {cols} panels of {side}x{side}x3")
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
        raise ValueError(f"the crop size {size} is not a multiple of the scale {scale}")
    rows = []
    for stem, lr, hr in images:
        if min(hr.shape[:2]) < size:
            log.warning("%s: %dx%d is smaller than a %d-pixel crop; skipped", stem, hr.shape[1], hr.shape[0], size)
            continue
        srs = [upscale(lr) for upscale in upscales]
        rows += [_crop_row(stem, lr, srs, hr, at, size, scale) for at in pick_crops(hr, size, crops)]
    return rows


# ---------------------------------------------------------------------------------------------------- the script
def _label(model: str) -> str:
    return (
        model if model == BICUBIC or not model.endswith((".pth", ".pt", ".safetensors", ".bin")) else Path(model).stem
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m esrgan.evaluation.strips", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--hr", type=Path, required=True, help="folder of HR images")
    lr = parser.add_mutually_exclusive_group()
    lr.add_argument("--lr", type=Path, help="folder of LR images paired by stem (default: MATLAB bicubic of HR)")
    lr.add_argument("--degradation", metavar="NAME|FILE", help="make the LR with this degradation block")
    parser.add_argument("--seed", type=int, help="seed of the degraded LR (default 0)")
    parser.add_argument("-m", "--model", action="append", required=True, dest="models",
                        help="built-in name, weights file or 'bicubic'; repeat for each column, in order")  # fmt: skip
    parser.add_argument("--labels", nargs="+", help="column names of the models (default: names / file stems)")
    parser.add_argument("--image", action="append", dest="images", metavar="STEM", help="only these images")
    parser.add_argument("-s", "--scale", type=int, help="scale factor (default: the models')")
    parser.add_argument("--crop", type=int, default=64, help="crop side in HR pixels (default 64)")
    parser.add_argument("--crops", type=int, default=2, help="crops per image (default 2)")
    parser.add_argument("--zoom", type=int, default=2, help="nearest-neighbour zoom of every panel (default 2)")
    parser.add_argument("--device", help="device for the models (default: the engine's choice)")
    parser.add_argument("--tile", type=int, help="the engine's tile size (default: its choice; 0: whole images)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return parser


def _make(args: argparse.Namespace) -> tuple[np.ndarray, int]:
    """The strip of the arguments and its number of rows."""
    if args.labels is not None and len(args.labels) != len(args.models):
        raise ValueError(f"{len(args.labels)} labels for {len(args.models)} models")
    if args.crops < 1 or args.zoom < 1 or args.crop < 1:
        raise ValueError(f"--crop, --crops and --zoom must be positive, got {args.crop}, {args.crops}, {args.zoom}")
    ds = {"name": args.hr.name, "hr": args.hr, "lr": args.lr, "degradation": args.degradation, "seed": args.seed}
    # Models that know their scale first: bicubic takes theirs.
    order = sorted(range(len(args.models)), key=lambda i: args.models[i] == BICUBIC)
    data = {"model": args.models[order[0]], "scale": args.scale, "datasets": [ds], "device": args.device,
            "tile": args.tile}  # fmt: skip
    base = from_dict(TestOptions, {k: v for k, v in data.items() if v is not None}, source="command line")
    evaluation = Evaluation.prepare(base)
    upscales = {order[0]: evaluation.upscale}
    for i in order[1:]:
        upscales[i] = make_sr(dataclasses.replace(base, model=args.models[i], scale=evaluation.scale))[0]
    ((dataset, pairs),) = evaluation.plans
    chosen = [p for p in pairs if args.images is None or p[0] in args.images]
    missing = sorted(set(args.images or ()) - {p[0] for p in chosen})
    if missing:
        raise ValueError(f"no HR image called {missing[0]} in {args.hr}")
    if args.output.resolve() in evaluation.inputs:
        raise ValueError(f"{args.output}: refusing to overwrite an input image")
    degradation = evaluation.degradations.get(dataset.name)
    images = []
    for stem, hr_path, lr_path in chosen:
        lr, hr = load_pair(hr_path, lr_path, evaluation.scale, degradation)
        images.append((stem, lr, hr))
    fns = [upscales[i] for i in range(len(args.models))]
    rows = strip_rows(images, fns, evaluation.scale, args.crop, args.crops)
    labels = args.labels or [_label(m) for m in args.models]
    if degradation is not None:
        log.info("LR degraded by %s", degradation.describe())
    return draw_strip(rows, [f"LR x{evaluation.scale} (nearest)", *labels, "HR"], args.zoom), len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    try:
        strip, rows = _make(args)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_image(args.output, ImageData(strip.astype(np.float32) / 255.0), overwrite=args.overwrite)
    except (OptionsError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as exc:
        log.error("%s", exc)
        return 2
    log.info(
        "%d crops, %d columns (%dx%d): %s", rows, len(args.models) + 2, strip.shape[1], strip.shape[0], args.output
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
