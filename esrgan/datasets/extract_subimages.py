"""Cut large HR images into overlapping sub-images, as BasicSR prepares DIV2K / Flickr2K / OST for training.

    python -m esrgan.datasets.extract_subimages datasets/DF2K/HR datasets/DF2K/HR_sub \\
        [--crop-size 480] [--step 240] [--thresh-size 0] [--compression 3] [--workers N] [--overwrite]

Crops start every ``step`` pixels; if the remainder after the last full step is larger than ``thresh_size``, one
more crop is taken flush with the bottom / right edge (BasicSR's ``extract_subimages.py``; with the default
threshold 0 every pixel is covered). Sub-image ``k`` (row-major, from 1) of ``0001.png`` is ``0001_s{k:03d}.png``.
Images smaller than the crop size are skipped with a warning. Sub-images are stored as PNG, in the source's
channels and bit depth.
"""

from __future__ import annotations

import argparse
import functools
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from esrgan.datasets.common import (
    Failed,
    add_common_args,
    check_not_inputs,
    check_unique_stems,
    each_file,
    exit_status_of,
    failures_status,
    run_script,
    write_png,
)
from esrgan.errors import OptionsError, OutputExistsError
from esrgan.image import list_images, read_unchanged
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

__all__ = ["extract_image", "main", "subimage_name", "subimage_positions"]


def subimage_positions(length: int, crop_size: int, step: int, thresh_size: int = 0) -> list[int]:
    """Start offsets of the crops along one axis (BasicSR's ``h_space`` / ``w_space``).

    ``range(0, length - crop_size + 1, step)``, plus ``length - crop_size`` if the uncovered remainder after the
    last crop is larger than ``thresh_size``. Empty when ``length < crop_size``.
    """
    if crop_size <= 0 or step <= 0 or thresh_size < 0:
        raise OptionsError(f"need crop_size > 0, step > 0, thresh_size >= 0; got {crop_size}, {step}, {thresh_size}")
    if length < crop_size:
        return []
    positions = list(range(0, length - crop_size + 1, step))
    if length - (positions[-1] + crop_size) > thresh_size:
        positions.append(length - crop_size)
    return positions


def subimage_name(stem: str, index: int) -> str:
    """File name of the ``index``-th (from 1) sub-image of ``stem``."""
    return f"{stem}_s{index:03d}.png"


def extract_image(
    path: Path, output: Path, crop_size: int, step: int, thresh_size: int, compression: int, overwrite: bool
) -> int:
    """Write the sub-images of one image; return how many (0 if it is smaller than the crop size)."""
    img = read_unchanged(path)
    ys = subimage_positions(img.shape[0], crop_size, step, thresh_size)
    xs = subimage_positions(img.shape[1], crop_size, step, thresh_size)
    if not ys or not xs:
        log.warning("%s: %dx%d is smaller than the crop size %d; skipped", path, img.shape[1], img.shape[0], crop_size)
        return 0
    index = 0
    for y in ys:
        for x in xs:
            index += 1
            crop = img[y : y + crop_size, x : x + crop_size]
            write_png(output / subimage_name(path.stem, index), crop, compression, overwrite)
    return index


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.extract_subimages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("input", type=Path, help="folder of large HR images")
    parser.add_argument("output", type=Path, help="folder for the sub-images (created)")
    parser.add_argument(
        "--crop-size", type=arg_type(int, Range(1, 65536)), default=480, help="sub-image side in pixels (default 480)"
    )
    parser.add_argument(
        "--step", type=arg_type(int, Range(1, 65536)), default=240, help="distance between crops (default 240)"
    )
    parser.add_argument(
        "--thresh-size",
        type=arg_type(int, Range(0, 65536)),
        default=0,
        help="ignore remainders up to this size (default 0)",
    )
    parser.add_argument("--compression", type=int, default=3, choices=range(10), help="PNG level 0-9 (default 3)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    try:
        subimage_positions(args.crop_size, args.crop_size, args.step, args.thresh_size)  # validates the numbers
        files = list_images(args.input)
        check_unique_stems(files, "sub-images")
        args.output.mkdir(parents=True, exist_ok=True)
        # Names depend on each image's size, known only after decoding: any sub-image name of a stem may be written.
        pattern = re.compile(r"^(.*)_s\d{3,}\.png$")
        stems = {p.stem for p in files}
        ours = [p for p in args.output.iterdir() if (m := pattern.match(p.name)) and m.group(1) in stems]
        check_not_inputs(ours, files)  # an input named like a sub-image of another input, in the output folder
        if not args.overwrite:
            clash = sorted(ours)
            if clash:
                raise OutputExistsError(
                    f"{clash[0]} already exists ({len(clash)} sub-images of these inputs); pass --overwrite"
                )
        job = functools.partial(
            extract_image,
            output=args.output,
            crop_size=args.crop_size,
            step=args.step,
            thresh_size=args.thresh_size,
            compression=args.compression,
            overwrite=args.overwrite,
        )
        results = list(tqdm(each_file(job, files, args.workers), total=len(files), unit="img", disable=args.quiet))
    except Exception as exc:  # expected: one line, exit 2; anything else is a bug: traceback, exit 3
        return exit_status_of(exc)
    counts = [r for r in results if not isinstance(r, Failed)]
    skipped = sum(c == 0 for c in counts)
    log.info("%d sub-images from %d images in %s (%d skipped)", sum(counts), len(counts), args.output, skipped)
    return failures_status(results)


if __name__ == "__main__":
    sys.exit(run_script(main))
