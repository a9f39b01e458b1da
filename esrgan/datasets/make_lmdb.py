"""Pack a folder of images into an LMDB database in BasicSR's layout (needs the ``lmdb`` extra).

    python -m esrgan.datasets.make_lmdb datasets/DF2K/HR_sub datasets/DF2K/HR_sub.lmdb [--compression 1]

Keys are file stems (ASCII), values the image re-encoded as PNG (lossless: decoding gives the same pixels as the
file), and ``meta_info.txt`` in the database folder lists ``name.png (h,w,c) compression`` per image. Point a
training dataset's ``hr`` / ``lr`` at the ``.lmdb`` folder: :mod:`esrgan.data` reads it transparently. LMDB avoids
opening hundreds of thousands of small files per epoch (slow on network and spinning disks).

The database is built in a temporary folder beside the output and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2

from esrgan.data import LMDB_META
from esrgan.datasets.common import add_common_args, exit_status_of, parallel_map, run_script
from esrgan.errors import InputError, OutputExistsError
from esrgan.image import list_images, read_unchanged
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

__all__ = ["encode_entry", "main", "write_lmdb"]


def encode_entry(path: Path, compression: int = 1) -> tuple[str, bytes, str]:
    """(key, PNG bytes, meta-info line) of one image file."""
    img = read_unchanged(path)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise InputError(f"{path}: OpenCV could not encode a {img.shape} {img.dtype} image as PNG")
    channels = 1 if img.ndim == 2 else img.shape[2]
    key = path.stem
    if not key.isascii():
        raise InputError(f"{path}: LMDB keys must be ASCII (BasicSR's layout); rename the file")
    return key, buf.tobytes(), f"{key}.png ({img.shape[0]},{img.shape[1]},{channels}) {compression}"


def write_lmdb(
    files: list[Path],
    output: Path,
    *,
    compression: int = 1,
    batch: int = 1000,
    workers: int = 1,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Build the database ``output`` from ``files``; return the number of images.

    Args:
        files: image files (their stems become keys; must be unique).
        output: database folder to create (conventionally ``*.lmdb``).
        compression: PNG zlib level of the stored images (BasicSR uses 1: fast to decode).
        batch: images per write transaction.
        workers: processes decoding and encoding images.
        overwrite: replace an existing ``output``.
        progress: optional ``callback(done, total)`` after each image.
    """
    import lmdb

    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise InputError(f"two images share the stem {dup!r}: LMDB keys must be unique")
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} already exists; pass overwrite=True to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent))
    # LMDB needs a maximum size up front; start from the inputs' size and double it whenever it runs full.
    map_size = max(64 * 2**20, 4 * sum(p.stat().st_size for p in files))
    lines: list[str] = []
    try:
        env = lmdb.open(str(tmp), map_size=map_size, subdir=True, lock=True)
        pending: list[tuple[str, bytes]] = []

        def flush() -> None:
            nonlocal map_size
            while True:
                try:
                    with env.begin(write=True) as txn:
                        for key, data in pending:
                            txn.put(key.encode("ascii"), data)
                    break
                except lmdb.MapFullError:
                    map_size *= 2
                    env.set_mapsize(map_size)
            pending.clear()

        for key, data, line in parallel_map(_Encoder(compression), files, workers):
            pending.append((key, data))
            lines.append(line)
            if len(pending) >= batch:
                flush()
            if progress is not None:
                progress(len(lines), len(files))
        flush()
        env.close()
        (tmp / LMDB_META).write_text("\n".join(lines) + "\n", encoding="utf-8")
        if output.exists():
            shutil.rmtree(output)
        tmp.rename(output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(lines)


class _Encoder:
    """Picklable ``encode_entry`` with a fixed compression level (for worker processes)."""

    def __init__(self, compression: int) -> None:
        self.compression = compression

    def __call__(self, path: Path) -> tuple[str, bytes, str]:
        return encode_entry(path, self.compression)


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.make_lmdb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("input", type=Path, help="folder of images")
    parser.add_argument("output", type=Path, help="database folder to create, e.g. HR_sub.lmdb")
    parser.add_argument("--compression", type=int, default=1, choices=range(10), help="PNG level (default 1)")
    parser.add_argument(
        "--batch",
        type=arg_type(int, Range(1, 1_000_000)),
        default=1000,
        help="images per write transaction (default 1000)",
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    try:
        import lmdb  # noqa: F401  (fail early with the install hint)
    except ImportError:
        log.error("LMDB support needs the 'lmdb' package: pip install 'esrgan[lmdb]'")
        return 2
    try:
        if args.output.exists() and not args.overwrite:  # said in terms of this script's flag
            raise OutputExistsError(f"{args.output} already exists; pass --overwrite to replace it")
        files = list_images(args.input)
        with tqdm(total=len(files), unit="img", disable=args.quiet) as bar:

            def advance(done: int, _total: int) -> None:
                bar.update(done - bar.n)

            n = write_lmdb(
                files,
                args.output,
                compression=args.compression,
                batch=max(1, args.batch),
                workers=args.workers,
                overwrite=args.overwrite,
                progress=advance,
            )
    except Exception as exc:  # expected: one line, exit 2; anything else is a bug: traceback, exit 3
        return exit_status_of(exc)
    log.info("%d images in %s", n, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
