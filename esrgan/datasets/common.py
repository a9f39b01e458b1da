"""Plumbing shared by the data-preparation scripts: common flags, overwrite checks, PNG writes, a parallel map.

Listing and reading images is :mod:`esrgan.image` (``list_images``, ``read_unchanged``).
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

from esrgan.fileio import write_bytes_atomic

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "add_common_args",
    "check_no_conflicts",
    "parallel_map",
    "write_bytes_atomic",
    "write_png",
]


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """``--workers``, ``--overwrite`` and ``-q/--quiet``."""
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def check_no_conflicts(targets: Iterable[Path], overwrite: bool) -> None:
    """Raise FileExistsError naming the first existing target (and how many exist) unless ``overwrite``."""
    if overwrite:
        return
    existing = [p for p in targets if p.exists()]
    if existing:
        raise FileExistsError(
            f"{existing[0]} already exists ({len(existing)} existing output(s)); pass --overwrite to replace them"
        )


def write_png(path: Path, img: np.ndarray, compression: int, overwrite: bool) -> None:
    """Encode ``img`` (OpenCV channel order) as PNG with zlib level ``compression`` (0-9) and write atomically."""
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode a {img.shape} {img.dtype} image as PNG")
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
