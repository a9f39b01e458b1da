"""Draw sample strips: crops of the LR (nearest-upscaled) | each model's SR | HR, for a report or a proof.

    python -m esrgan.datasets.strips --hr Set14/HR --degradation degrade_test_x4 --seed 0 \\
        -m bicubic_trained.pth -m degraded_trained.pth --labels bicubic-trained degradation-trained \\
        --image baboon --image comic --crop 64 --crops 2 -o strip.png

The LR images are what ``esrgan test`` scores with the same flags: ``--lr`` files, a degradation block and seed
(``--degradation``, ``--seed``: the LR ``make_degraded_lr`` writes), or MATLAB bicubic. Each image gives
``--crops`` rows, its most detailed ``--crop``-pixel tiles; each model's column shows its PSNR-Y on the crop.
The strip is :func:`esrgan.evaluation.strips.sample_strip`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from esrgan.datasets.common import run_script
from esrgan.errors import OutputError
from esrgan.evaluation import TestDatasetOptions
from esrgan.evaluation.strips import sample_strip
from esrgan.exits import exit_status_of
from esrgan.image import ImageData, write_image
from esrgan.inference import EngineOptions
from esrgan.options import Range, arg_type, from_dict

log = logging.getLogger(__name__)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.strips", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--hr", type=Path, required=True, help="folder of HR images")
    lr = parser.add_mutually_exclusive_group()
    lr.add_argument("--lr", type=Path, help="folder of LR images paired by stem (default: MATLAB bicubic of HR)")
    lr.add_argument("--degradation", metavar="NAME|FILE", help="make the LR with this degradation block")
    parser.add_argument("--seed", type=arg_type(int, Range(0, 2**32 - 1)), help="seed of the degraded LR (default 0)")
    parser.add_argument("-m", "--model", action="append", required=True, dest="models",
                        help="built-in name, weights file or 'bicubic'; repeat for each column, in order")  # fmt: skip
    parser.add_argument("--labels", nargs="+", help="column names of the models (default: names / file stems)")
    parser.add_argument("--image", action="append", dest="images", metavar="STEM", help="only these images")
    parser.add_argument("-s", "--scale", type=arg_type(int, Range(1, 16)), help="scale factor (default: the models')")
    parser.add_argument("--crop", type=arg_type(int, Range(1, 4096)), default=64,
                        help="crop side in HR pixels (default 64)")  # fmt: skip
    parser.add_argument("--crops", type=arg_type(int, Range(1, 100)), default=2, help="crops per image (default 2)")
    parser.add_argument("--zoom", type=arg_type(int, Range(1, 64)), default=2,
                        help="nearest-neighbour zoom of every panel (default 2)")  # fmt: skip
    parser.add_argument("--device", help="device for the models (default: the engine's choice)")
    parser.add_argument("--tile", type=arg_type(int, Range(0, 65536)),
                        help="the engine's tile size (default: its choice; 0: whole images)")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return parser


def _strip(args: argparse.Namespace) -> np.ndarray:
    folders = {p.resolve() for p in (args.hr, args.lr) if p is not None}
    if args.output.resolve().parent in folders:
        raise OutputError(f"{args.output}: the strip would join the images it shows; write it elsewhere")
    ds = {"name": args.hr.name, "hr": args.hr, "lr": args.lr, "degradation": args.degradation, "seed": args.seed}
    dataset = from_dict(TestDatasetOptions, {k: v for k, v in ds.items() if v is not None}, source="command line")
    engine = {"precision": "fp32", "device": args.device, "tile": args.tile}
    return sample_strip(
        dataset,
        args.models,
        scale=args.scale,
        engine=from_dict(EngineOptions, {k: v for k, v in engine.items() if v is not None}, source="command line"),
        labels=args.labels,
        images=args.images,
        size=args.crop,
        crops=args.crops,
        zoom=args.zoom,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    try:
        strip = _strip(args)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_image(args.output, ImageData(strip.astype(np.float32) / 255.0), overwrite=args.overwrite)
    except Exception as exc:  # expected: one line, exit 2; anything else is a bug: traceback, exit 3
        return exit_status_of(exc)
    log.info("strip of %d columns (%dx%d): %s", len(args.models) + 2, strip.shape[1], strip.shape[0], args.output)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
