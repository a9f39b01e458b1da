"""Plumbing shared by the data-preparation scripts: listing, atomic writes, overwrite checks, a parallel map."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from esrgan.data import IMAGE_EXTENSIONS
from esrgan.errors import InputError, NotFoundError, OutputExistsError
from esrgan.fileio import write_bytes_atomic
from esrgan.options import Range, arg_type

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "add_common_args",
    "check_no_conflicts",
    "list_images",
    "parallel_map",
    "read_unchanged",
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


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no images.
    """
    if not folder.is_dir():
        raise NotFoundError(f"input folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise InputError(f"no images in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def check_no_conflicts(targets: Iterable[Path], overwrite: bool) -> None:
    """Raise FileExistsError naming the first existing target (and how many exist) unless ``overwrite``."""
    if overwrite:
        return
    existing = [p for p in targets if p.exists()]
    if existing:
        raise OutputExistsError(
            f"{existing[0]} already exists ({len(existing)} existing output(s)); pass --overwrite to replace them"
        )


def read_unchanged(path: Path) -> np.ndarray:
    """Decode an image as stored (OpenCV channel order, 8/16-bit or float, gray as (H, W))."""
    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise InputError(f"{path}: cannot decode image (corrupt or unsupported format)")
    return img


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
