"""Write a BasicSR meta-info file: one ``name (h,w,c)`` line per image of a folder, sorted by name.

    python -m esrgan.datasets.meta_info datasets/DF2K/HR_sub datasets/DF2K/meta_info_HR_sub.txt

Training options can point ``meta_info`` at the file to train on a listed subset (and to skip listing a folder of
hundreds of thousands of files at every start).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from esrgan.datasets.common import (
    add_common_args,
    check_no_conflicts,
    exit_status_of,
    parallel_map,
    run_script,
    write_bytes_atomic,
)
from esrgan.image import list_images, read_unchanged

log = logging.getLogger(__name__)

__all__ = ["main", "meta_line"]


def meta_line(path: Path) -> str:
    """``name (h,w,c)`` of one image (c = 1 for gray)."""
    img = read_unchanged(path)
    channels = 1 if img.ndim == 2 else img.shape[2]
    return f"{path.name} ({img.shape[0]},{img.shape[1]},{channels})"


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.meta_info", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("input", type=Path, help="folder of images")
    parser.add_argument("output", type=Path, help="meta-info text file to write")
    add_common_args(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    try:
        files = list_images(args.input)
        check_no_conflicts([args.output], args.overwrite)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        lines = list(tqdm(parallel_map(meta_line, files, args.workers), total=len(files), disable=args.quiet))
        write_bytes_atomic(args.output, ("\n".join(lines) + "\n").encode("utf-8"), overwrite=args.overwrite)
    except Exception as exc:  # expected: one line, exit 2; anything else is a bug: traceback, exit 3
        return exit_status_of(exc)
    log.info("%d images listed in %s", len(lines), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
