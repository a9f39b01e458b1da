"""Save a grid of training pairs as the training loop will see them, to check data before a long run.

    python -m esrgan.datasets.visualize --options options/train_RealESRNet_x4plus.yml -n 12 -o outputs/pairs.png
    python -m esrgan.datasets.visualize --hr datasets/DF2K/HR_sub [--lr datasets/DF2K/LR_bicubic/X4] \\
        --scale 4 --patch-size 128 -n 16 -o outputs/pairs.png

Each cell is the LR patch upscaled nearest-neighbour to the HR patch size, then the HR patch; misaligned pairs,
wrong scales, colour swaps or broken augmentation show at a glance. ``--options`` builds the training set of a
training options file exactly as ``esrgan train`` does (``--set`` overrides apply); with
``data.train.degradation`` each cell is captioned with what the degradation model drew for it (blur kernels,
resizes, noise, JPEG qualities, the final steps), and ``<output>.json`` holds the full records. Without
``--lr`` the LR patches are made on the fly (MATLAB bicubic, :class:`esrgan.data.HROnlyDataset`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from esrgan.data import DegradedDataset, HROnlyDataset, PairedImageDataset
from esrgan.datasets.common import check_no_conflicts, exit_status_of, run_script, write_png
from esrgan.degradations import describe
from esrgan.fileio import write_text_atomic
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

GAP = 2  # pixels between LR and HR of one pair
MARGIN = 8  # pixels between pairs
BACKGROUND = 255
LINE = 14  # caption line height in pixels
CAPTIONED_MIN_SIDE = 192  # captioned cells are zoomed (nearest) to at least this side, so the text fits

__all__ = ["caption_height", "grid_size", "main", "pair_grid"]


def caption_height(lines: int) -> int:
    """Pixels below a cell for ``lines`` lines of caption (0 for none)."""
    return lines * LINE + 4 if lines else 0


def grid_size(n: int, cols: int, patch: int, caption_lines: int = 0) -> tuple[int, int]:
    """(height, width) of the grid of ``n`` pairs in ``cols`` columns with ``patch``-pixel HR patches (as drawn)."""
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    cell_h = patch + caption_height(caption_lines)
    return rows * cell_h + (rows - 1) * MARGIN, cols * (2 * patch + GAP) + (cols - 1) * MARGIN


def _to_uint8(img: torch.Tensor, zoom: int) -> np.ndarray:
    arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    return np.repeat(np.repeat(arr, zoom, axis=0), zoom, axis=1) if zoom > 1 else arr


def _draw_caption(grid: np.ndarray, lines: Sequence[str], y: int, x: int, width: int) -> None:
    """Black text lines at (y, x), scaled down to fit ``width`` pixels."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    widest = max((cv2.getTextSize(line, font, scale, 1)[0][0] for line in lines), default=0)
    if widest > width:
        scale *= width / widest
    for i, line in enumerate(lines):
        cv2.putText(grid, line, (x, y + (i + 1) * LINE - 3), font, scale, (0, 0, 0), 1, cv2.LINE_AA)


def pair_grid(
    samples: Sequence[dict[str, torch.Tensor]],
    cols: int,
    captions: Sequence[Sequence[str]] | None = None,
    zoom: int = 1,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB grid of [LR upscaled nearest | HR] cells from dataset items (same patch size), each
    zoomed ``zoom`` times (nearest) and captioned with its ``captions`` lines (if given)."""
    p = samples[0]["hr"].shape[-1] * zoom
    lines = max((len(c) for c in captions), default=0) if captions else 0
    height, width = grid_size(len(samples), cols, p, lines)
    grid = np.full((height, width, 3), BACKGROUND, np.uint8)
    cols = min(cols, len(samples))
    for i, sample in enumerate(samples):
        hr, lr = sample["hr"], sample["lr"]
        factor = hr.shape[-1] // lr.shape[-1]
        lr_up = lr.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
        y = (i // cols) * (p + caption_height(lines) + MARGIN)
        x = (i % cols) * (2 * p + GAP + MARGIN)
        for offset, img in ((0, lr_up), (p + GAP, hr)):
            grid[y : y + p, x + offset : x + offset + p] = _to_uint8(img, zoom)
        if captions:
            _draw_caption(grid, captions[i], y + p, x, 2 * p + GAP)
    return grid


def _folder_dataset(args: argparse.Namespace) -> Dataset[dict[str, Any]]:
    aug = {"hflip": not args.no_augment, "rot90": not args.no_augment, "seed": args.seed}
    if args.lr is not None:
        return PairedImageDataset(args.hr, args.lr, args.scale, args.patch_size, meta_info=args.meta_info, **aug)
    return HROnlyDataset(args.hr, args.scale, args.patch_size, meta_info=args.meta_info, **aug)


def _options_dataset(args: argparse.Namespace) -> Dataset[dict[str, Any]]:
    from esrgan.options import load_options
    from esrgan.shipped_options import resolve
    from esrgan.train.build import build_train_set
    from esrgan.train.options import TrainOptions

    overrides = list(args.overrides) + (["data.train.hflip=false", "data.train.rot90=false"] if args.no_augment else [])
    return build_train_set(load_options(TrainOptions, resolve(args.options), overrides))


def _samples(
    dataset: Dataset[dict[str, Any]], n: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """``n`` items of random images, each drawn after reseeding with its own seed; degradation records if any."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    size = len(dataset)  # type: ignore[arg-type]
    indices = rng.choice(size, size=n, replace=size < n)
    samples, records = [], []
    for i, index in enumerate(tqdm(indices, unit="pair", disable=not log.isEnabledFor(logging.INFO))):
        if hasattr(dataset, "reseed"):
            dataset.reseed(int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
        if isinstance(dataset, DegradedDataset):
            item, record = dataset.item_with_record(int(index))
            records.append({"path": item["path"], "degradation": record})
        else:
            item = dataset[int(index)]
        samples.append(item)
    return samples, records if isinstance(dataset, DegradedDataset) else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.visualize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--options", type=Path, help="training options file or a shipped one's name: its training set, as esrgan train"
    )
    source.add_argument("--hr", type=Path, help="HR folder or LMDB")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="with --options: override an option (repeatable)")  # fmt: skip
    parser.add_argument("--lr", type=Path, help="LR folder or LMDB (default: LR made on the fly from HR)")
    parser.add_argument("--meta-info", type=Path, help="meta-info file listing the HR images to use")
    parser.add_argument("-s", "--scale", type=arg_type(int, Range(1, 16)), default=4, help="scale factor (default 4)")
    parser.add_argument(
        "--patch-size", type=arg_type(int, Range(1, 4096)), default=128, help="HR patch side (default 128)"
    )
    parser.add_argument(
        "-n", "--num", type=arg_type(int, Range(1, 1000)), default=16, help="pairs to show (default 16)"
    )
    parser.add_argument("--cols", type=arg_type(int, Range(1, 100)), default=4, help="pairs per row (default 4)")
    parser.add_argument("--zoom", type=arg_type(int, Range(0, 64)), default=0,
                        help=f"nearest-neighbour zoom of every cell (default: 1, or enough for a {CAPTIONED_MIN_SIDE}-"
                        "pixel side when cells carry degradation captions)")  # fmt: skip
    parser.add_argument("--no-augment", action="store_true", help="no flips / rotations")
    parser.add_argument("--seed", type=arg_type(int, Range(0, 2**32 - 1)), default=0,
                        help="seed for images, crops, flips, degradations (default 0)")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, default=Path("outputs/training_pairs.png"), help="PNG file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    records_path = args.output.with_suffix(".json")
    try:
        dataset = _options_dataset(args) if args.options is not None else _folder_dataset(args)
        check_no_conflicts([args.output, records_path] if isinstance(dataset, DegradedDataset) else [args.output],
                           args.overwrite)  # fmt: skip
        samples, records = _samples(dataset, args.num, args.seed)
        captions = [describe(r["degradation"]) for r in records] if records else None
        patch = samples[0]["hr"].shape[-1]
        zoom = args.zoom or (math.ceil(CAPTIONED_MIN_SIDE / patch) if captions else 1)
        grid = pair_grid(samples, args.cols, captions, zoom)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_png(args.output, grid[:, :, ::-1], 3, args.overwrite)  # OpenCV writes BGR
        if records:
            write_text_atomic(records_path, json.dumps(records, indent=1) + "\n")
    except Exception as exc:  # expected: one line, exit 2; anything else is a bug: traceback, exit 3
        return exit_status_of(exc)
    what = "degraded LR nearest-upscaled | HR, captioned" if records else "LR nearest-upscaled | HR"
    log.info("%d pairs (%s): %s%s", len(samples), what, args.output, f" and {records_path}" if records else "")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
