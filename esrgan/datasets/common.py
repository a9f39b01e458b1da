"""Plumbing shared by the data-preparation scripts: common flags, overwrite and name-collision checks, PNG writes,
a parallel map, and per-file failures.

Listing and reading images is :mod:`esrgan.image` (``list_images``, ``read_unchanged``: the one decoder, which
checks each file's header first). Each script's ``main`` ends its work with ``except Exception as exc: return
exit_status_of(exc)`` (:mod:`esrgan.exits`): a user error is one line and exit status 2, anything else a bug with
its traceback and exit status 3, as on the ``esrgan`` command line. Scripts that write one output per input
(``make_lr``, ``make_degraded_lr``, ``extract_subimages``) map with :func:`each_file`: a file that cannot be done
(unreadable, too small, over a limit) is reported in one line and the others go on, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np

from esrgan.errors import InputError, LimitError, NotFoundError, OutputError, OutputExistsError
from esrgan.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, exit_status_of, user_message
from esrgan.fileio import write_bytes_atomic
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "Failed",
    "add_common_args",
    "check_no_conflicts",
    "check_not_inputs",
    "check_unique_stems",
    "each_file",
    "exit_status_of",
    "failures_status",
    "parallel_map",
    "run_script",
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


def check_not_inputs(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """OutputError if an output path is one of the input files (``--overwrite`` would replace the source image)."""
    sources = {p.resolve() for p in inputs}
    for out in outputs:
        if out.resolve() in sources:
            raise OutputError(f"{out} is one of the input images: write to another folder")


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
    # Ctrl-C reaches the whole process group: the workers ignore it and this process ends the run (run_script).
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), initializer=_ignore_sigint) as pool:
        yield from pool.map(fn, items, chunksize=max(1, min(16, len(items) // (8 * workers))))


@dataclass(frozen=True)
class Failed:
    """An input file a script could not do, and why (one line)."""

    path: Path
    reason: str


class _PerFile(Generic[R]):
    """Picklable wrapper of a per-file function: an input's own failure becomes a :class:`Failed` result."""

    def __init__(self, fn: Callable[[Path], R]) -> None:
        self.fn = fn

    def __call__(self, path: Path) -> R | Failed:
        try:
            return self.fn(path)
        except (InputError, NotFoundError, LimitError) as exc:  # this file's fault; the others can still be done
            return Failed(path, user_message(exc))


def each_file(fn: Callable[[Path], R], files: list[Path], workers: int) -> Iterator[R | Failed]:
    """:func:`parallel_map` of ``fn`` over input files where a file that cannot be done (unreadable, smaller than
    the scale, over a limit) gives a :class:`Failed` result instead of ending the batch. Anything else (an output
    that cannot be written, a bug) still raises."""
    return parallel_map(_PerFile(fn), files, workers)


def failures_status(results: Iterable[object]) -> int:
    """Log each :class:`Failed` result once (its reason names the file) and return the exit status: 1 if any."""
    failed = [r for r in results if isinstance(r, Failed)]
    for f in failed:
        log.error("%s", f.reason if str(f.path) in f.reason else f"{f.path}: {f.reason}")
    if failed:
        log.error("%d of the input files failed (above); the others were done", len(failed))
    return EXIT_FAILED if failed else EXIT_OK


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_script(main: Callable[[], int]) -> int:
    """A script's exit status: ``main()``'s, or after Ctrl-C one line and 130, as for the ``esrgan`` command (outputs
    are written atomically, so nothing half-written is left; finished ones stay)."""
    try:
        return main()
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_INTERRUPTED
