"""Make a degraded LR test set: each HR image degraded by a degradation block with a fixed seed.

    python -m esrgan.datasets.make_degraded_lr ../shared/data/benchmarks/Set5/HR datasets/degraded_x4/Set5 \\
        --options options/degrade_test_x4.yml --scale 4 --seed 0

The options file is a degradation block (the keys of ``data.train.degradation``, :class:`DegradationOptions`;
``--set key=value`` overrides them). Each HR image is mod-cropped to a multiple of the scale and degraded as a
whole by :func:`esrgan.degradations.degraded_lr`, drawing from a generator seeded with (``--seed``, the image's
file stem): everyone with the same block, seed and images gets the same LR files, whatever the order, the
number of workers or the machine. ``OUTPUT/<stem>.png`` are 8-bit RGB PNGs, ``OUTPUT/degradations.json`` records
the block, the seed and every image's random draws. Score a model on them with
``esrgan test -m MODEL --hr HR --lr OUTPUT``.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
from esrgan.degradations import DegradationOptions, degraded_lr_file
from esrgan.fileio import write_text_atomic
from esrgan.image import list_images
from esrgan.options import Range, arg_type, load_options, to_dict
from esrgan.shipped_options import resolve

log = logging.getLogger(__name__)

RECORDS = "degradations.json"

__all__ = ["RECORDS", "degrade_file", "main"]


def degrade_file(
    hr: Path, output: Path, opts: DegradationOptions, scale: int, seed: int, overwrite: bool
) -> tuple[str, dict[str, Any]]:
    """Write the degraded LR image of one HR file; returns (its stem, the record of its draws)."""
    lr, record = degraded_lr_file(hr, opts, scale, seed)
    write_png(output / f"{hr.stem}.png", np.ascontiguousarray(lr[:, :, ::-1]), 3, overwrite)  # OpenCV writes BGR
    return hr.stem, record


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.make_degraded_lr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("input", type=Path, help="folder of HR images")
    parser.add_argument("output", type=Path, help="folder for the LR images (<stem>.png) and degradations.json")
    parser.add_argument(
        "--options",
        type=Path,
        required=True,
        help="YAML degradation block (DegradationOptions), or a shipped one's name (degrade_test_x4)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a key of the block, value read as YAML (repeatable)")  # fmt: skip
    parser.add_argument(
        "-s", "--scale", type=arg_type(int, Range(1, 16)), default=4, help="downscaling factor (default 4)"
    )
    parser.add_argument(
        "--seed", type=arg_type(int, Range(0, 2**32 - 1)), default=0, help="the test set's seed (default 0)"
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    try:
        opts = load_options(DegradationOptions, resolve(args.options), args.overrides)
        files = list_images(args.input)
        check_unique_stems(files, "LR images")
        stems = [p.stem for p in files]
        check_not_inputs([args.output / f"{s}.png" for s in stems], files)
        check_no_conflicts([args.output / f"{s}.png" for s in stems] + [args.output / RECORDS], args.overwrite)
        args.output.mkdir(parents=True, exist_ok=True)
        job = functools.partial(
            degrade_file, output=args.output, opts=opts, scale=args.scale, seed=args.seed, overwrite=args.overwrite
        )
        results = list(tqdm(each_file(job, files, args.workers), total=len(files), unit="img", disable=args.quiet))
        records = dict(r for r in results if not isinstance(r, Failed))
        summary = {"scale": args.scale, "seed": args.seed, "options": to_dict(opts), "images": records}
        write_text_atomic(args.output / RECORDS, json.dumps(summary, indent=1) + "\n", overwrite=True)
    except Exception as exc:  # expected: one line, exit 2; anything else is a bug: traceback, exit 3
        return exit_status_of(exc)
    log.info("%d degraded LR images (x%d, seed %d) in %s", len(records), args.scale, args.seed, args.output)
    return failures_status(results)


if __name__ == "__main__":
    sys.exit(run_script(main))
