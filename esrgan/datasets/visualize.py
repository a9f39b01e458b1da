"""Save a grid of training pairs as the training loop will see them, to check data before a long run.

    python -m esrgan.datasets.visualize --hr datasets/DF2K/HR_sub [--lr datasets/DF2K/LR_bicubic/X4] \\
        --scale 4 --patch-size 128 -n 16 -o outputs/pairs.png

Each cell is the LR patch upscaled nearest-neighbour to the HR patch size, then the HR patch; misaligned pairs,
wrong scales, colour swaps or broken augmentation show at a glance. Without ``--lr`` the LR patches are made on
the fly (MATLAB bicubic, :class:`esrgan.data.HROnlyDataset`).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from esrgan.data import HROnlyDataset, PairedImageDataset
from esrgan.datasets.common import check_no_conflicts, write_png
from esrgan.errors import EsrganError, OptionsError
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

GAP = 2  # pixels between LR and HR of one pair
MARGIN = 8  # pixels between pairs
BACKGROUND = 255

__all__ = ["grid_size", "main", "pair_grid"]


def grid_size(n: int, cols: int, patch: int) -> tuple[int, int]:
    """(height, width) of the grid of ``n`` pairs in ``cols`` columns with ``patch``-pixel HR patches."""
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    return rows * patch + (rows - 1) * MARGIN, cols * (2 * patch + GAP) + (cols - 1) * MARGIN


def pair_grid(samples: Sequence[dict[str, torch.Tensor]], cols: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB grid of [LR upscaled nearest | HR] cells from dataset items (same patch size)."""
    p = samples[0]["hr"].shape[-1]
    height, width = grid_size(len(samples), cols, p)
    grid = np.full((height, width, 3), BACKGROUND, np.uint8)
    cols = min(cols, len(samples))
    for i, sample in enumerate(samples):
        hr, lr = sample["hr"], sample["lr"]
        factor = hr.shape[-1] // lr.shape[-1]
        lr_up = lr.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
        y = (i // cols) * (p + MARGIN)
        x = (i % cols) * (2 * p + GAP + MARGIN)
        for offset, img in ((0, lr_up), (p + GAP, hr)):
            arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            grid[y : y + p, x + offset : x + offset + p] = arr
    return grid


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.visualize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--hr", type=Path, required=True, help="HR folder or LMDB")
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
    parser.add_argument("--no-augment", action="store_true", help="no flips / rotations")
    parser.add_argument(
        "--seed",
        type=arg_type(int, Range(0, 2**32 - 1)),
        default=0,
        help="seed for images, crops and flips (default 0)",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("outputs/training_pairs.png"), help="PNG file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    try:
        if args.num < 1 or args.cols < 1:
            raise OptionsError("-n and --cols must be positive")
        check_no_conflicts([args.output], args.overwrite)
        aug = {"hflip": not args.no_augment, "rot90": not args.no_augment, "seed": args.seed}
        dataset: PairedImageDataset | HROnlyDataset
        if args.lr is not None:
            dataset = PairedImageDataset(args.hr, args.lr, args.scale, args.patch_size, meta_info=args.meta_info, **aug)
        else:
            dataset = HROnlyDataset(args.hr, args.scale, args.patch_size, meta_info=args.meta_info, **aug)
        rng = np.random.default_rng(args.seed)
        indices = rng.choice(len(dataset), size=args.num, replace=len(dataset) < args.num)
        samples = [dataset[int(i)] for i in tqdm(indices, unit="pair", disable=args.quiet)]
        grid = pair_grid(samples, args.cols)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_png(args.output, grid[:, :, ::-1], 3, args.overwrite)  # OpenCV writes BGR
    except (EsrganError, OSError) as exc:  # expected: one line; anything else is a bug (traceback)
        log.error("%s", exc)
        return 2
    log.info("%d pairs (LR nearest-upscaled | HR) from %s: %s", len(samples), args.hr, args.output)
    for s in samples[: min(4, len(samples))]:
        log.debug("  %s", s["path"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
