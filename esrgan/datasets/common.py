"""Plumbing shared by the data-preparation scripts: common flags, overwrite and name-collision checks, PNG writes,
a parallel map.

Listing and reading images is :mod:`esrgan.image` (``list_images``, ``read_unchanged``: the one decoder, which
checks each file's header first). Each script's ``main`` ends its work with ``except Exception as exc: return
exit_status_of(exc)`` (:mod:`esrgan.exits`): a user error is one line and exit status 2, anything else a bug with
its traceback and exit status 3, as on the ``esrgan`` command line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from esrgan.errors import InputError, OutputExistsError
from esrgan.exits import exit_status_of
from esrgan.fileio import write_bytes_atomic
from esrgan.options import Range, arg_type

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "add_common_args",
    "check_no_conflicts",
    "check_unique_stems",
    "exit_status_of",
    "parallel_map",
    "write_bytes_atomic",
    "write_png",
]


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """``--workers``, ``--overwrite`` and ``-q/--quiet``."""
    parser.add_argument(
        "--workers",
        type=arg_type(int, Range(1, 1024)),
        default=os.cpu_count() or 1,
        help="worker processes (default: all cores)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def check_no_conflicts(targets: Iterable[Path], overwrite: bool) -> None:
    """Raise OutputExistsError naming the first existing target (and how many exist) unless ``overwrite``."""
    if overwrite:
        return
    existing = [p for p in targets if p.exists()]
    if existing:
        raise OutputExistsError(
            f"{existing[0]} already exists ({len(existing)} existing output(s)); pass --overwrite to replace them"
        )


def check_unique_stems(files: Iterable[Path], what: str) -> None:
    """Raise InputError naming two of ``files`` that share a stem (``a.png``, ``a.jpg``): outputs named after the
    stem (``what``: "LR images", "sub-images") would be written over each other."""
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise InputError(f"{seen[p.stem]} and {p} share the stem {p.stem!r}: their {what} would have the same "
                             "names; rename one or move it to another folder")  # fmt: skip
        seen[p.stem] = p


def write_png(path: Path, img: np.ndarray, compression: int, overwrite: bool) -> None:
    """Encode ``img`` (OpenCV channel order) as PNG with zlib level ``compression`` (0-9) and write atomically."""
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise InputError(f"{path}: OpenCV could not encode a {img.shape} {img.dtype} image as PNG")
    write_bytes_atomic(path, buf.tobytes(), overwrite=overwrite)


def parallel_map(fn: Callable[[T], R], items: list[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items`` on ``workers`` processes, results in order (in-process when ``workers <= 1``).

    ``fn`` must be a picklable module-level function (``functools.partial`` of one is fine).
    """
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    # Ordered map with small chunks: progress stays smooth, memory holds few decoded images, and many tiny
    # files (sub-images) do not pay one inter-process round trip each.
    with ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
        yield from pool.map(fn, items, chunksize=max(1, min(16, len(items) // (8 * workers))))
