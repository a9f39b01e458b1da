"""Make LR images from HR images with MATLAB-compatible bicubic downscaling (the benchmark degradation).

    python -m esrgan.datasets.make_lr datasets/DF2K/HR_sub datasets/DF2K/LR_bicubic --scale 4 [--scale 2 ...]

For every scale ``s`` each HR image is mod-cropped to a multiple of ``s`` and downscaled by ``1/s`` (antialiased
bicubic, rounded after each 1-D pass: bit-identical to MATLAB's ``imresize``); the result goes to
``OUTPUT/X{s}/<stem>.png`` (PNG whatever the input format: LR images must not gain JPEG artefacts), keeping the
source's channels and bit depth.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from esrgan.datasets.common import (
    Failed,
    add_common_args,
    check_no_conflicts,
    check_not_inputs,
    check_unique_stems,
    each_file,
    exit_status_of,
    failures_status,
    run_script,
    write_png,
)
from esrgan.image import bicubic_degrade, list_images, read_unchanged
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

__all__ = ["lr_path", "main", "make_lr_image"]


def lr_path(output: Path, hr: Path, scale: int) -> Path:
    """Where the x``scale`` LR image of ``hr`` goes."""
    return output / f"X{scale}" / f"{hr.stem}.png"


def make_lr_image(hr: Path, output: Path, scales: tuple[int, ...], compression: int, overwrite: bool) -> None:
    """Write the LR images of one HR image for every scale."""
    img = read_unchanged(hr)
    for s in scales:
        write_png(lr_path(output, hr, s), bicubic_degrade(img, s), compression, overwrite)


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.make_lr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("input", type=Path, help="folder of HR images")
    parser.add_argument("output", type=Path, help="root folder; LR images go to OUTPUT/X<scale>/")
    parser.add_argument(
        "--scale",
        type=arg_type(int, Range(1, 16)),
        action="append",
        required=True,
        help="downscaling factor (repeatable)",
    )
    parser.add_argument("--compression", type=int, default=3, choices=range(10), help="PNG level 0-9 (default 3)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    scales = tuple(dict.fromkeys(args.scale))
    try:
        files = list_images(args.input)
        check_unique_stems(files, "LR images")
        check_not_inputs([lr_path(args.output, p, s) for p in files for s in scales], files)
        check_no_conflicts((lr_path(args.output, p, s) for p in files for s in scales), args.overwrite)
        for s in scales:
            (args.output / f"X{s}").mkdir(parents=True, exist_ok=True)
        job = functools.partial(
            make_lr_image, output=args.output, scales=scales, compression=args.compression, overwrite=args.overwrite
        )
        results = list(tqdm(each_file(job, files, args.workers), total=len(files), unit="img", disable=args.quiet))
    except Exception as exc:  # expected: one line, exit 2; anything else is a bug: traceback, exit 3
        return exit_status_of(exc)
    done = sum(not isinstance(r, Failed) for r in results)
    log.info("%d LR images per scale (x%s) in %s", done, ", x".join(map(str, scales)), args.output)
    return failures_status(results)


if __name__ == "__main__":
    sys.exit(run_script(main))
