"""Gather one folder of training images from several folders and from the photos scikit-image ships.

    python -m esrgan.datasets.collect datasets/photos ../shared/data/train/T91/HR --skimage

Training options take one image folder (``data.train.hr``); this makes it. Images of each input FOLDER are linked
(symbolic links with absolute targets: nothing is copied); ``--skimage`` writes the natural photographs that the
``scikit-image`` package carries in its wheel (no download) as PNG files named ``skimage_<name>.png``. The
grayscale ones are written with three equal channels, since the networks here take RGB. Two inputs with the same
file stem are an error, because paired data and teacher targets are matched by stem.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from esrgan.datasets.common import check_no_conflicts, exit_status_of, run_script, write_png
from esrgan.errors import InputError, OptionsError
from esrgan.image import list_images

log = logging.getLogger(__name__)

__all__ = ["SKIMAGE_PHOTOS", "main", "skimage_photos"]

# Natural photographs only: microscopy, astronomy, retina scans and synthetic images (colour wheel, logo) teach a
# photo super-resolution network little. Sizes are (height, width).
SKIMAGE_PHOTOS: dict[str, str] = {
    "astronaut": "astronaut",  # 512x512 colour portrait
    "chelsea": "chelsea",  # 300x451 colour, a cat
    "coffee": "coffee",  # 400x600 colour, a cup on a table
    "rocket": "rocket",  # 427x640 colour, a launch pad
    "motorcycle": "stereo_motorcycle",  # 500x741 colour (the left view of the stereo pair)
    "camera": "camera",  # 512x512 gray, the cameraman
    "brick": "brick",  # 512x512 gray texture
    "grass": "grass",  # 512x512 gray texture
    "gravel": "gravel",  # 512x512 gray texture
    "coins": "coins",  # 303x384 gray
    "moon": "moon",  # 512x512 gray
}


def skimage_photos() -> dict[str, Callable[[], np.ndarray]]:
    """Name -> loader of an (H, W, 3) uint8 RGB photo, for every entry of :data:`SKIMAGE_PHOTOS`."""
    import skimage.data

    def loader(function: str) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            image = getattr(skimage.data, function)()
            if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
                image = image[0]
            image = np.asarray(image, dtype=np.uint8)
            return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]

        return load

    return {name: loader(function) for name, function in SKIMAGE_PHOTOS.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m esrgan.datasets.collect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("output", type=Path, help="folder to fill (made if missing)")
    parser.add_argument("folders", type=Path, nargs="*", help="folders whose images are linked into OUTPUT")
    parser.add_argument("--skimage", action="store_true", help="also write the photos scikit-image ships")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname).1s %(message)s")
    try:
        if not args.folders and not args.skimage:
            raise OptionsError("nothing to collect: name input folders, --skimage, or both")
        links: dict[str, Path] = {}  # stem -> source file
        for folder in args.folders:
            for path in list_images(folder):
                if path.stem in links:
                    raise InputError(f"{path} and {links[path.stem]} share the stem {path.stem!r}; rename one")
                links[path.stem] = path
        photos = skimage_photos() if args.skimage else {}
        for name in photos:
            if f"skimage_{name}" in links:
                raise InputError(f"{links[f'skimage_{name}']} clashes with scikit-image's photo {name!r}")
        out: Path = args.output
        targets = [out / p.name for p in links.values()] + [out / f"skimage_{n}.png" for n in photos]
        check_no_conflicts(targets, args.overwrite)
        out.mkdir(parents=True, exist_ok=True)
        for path in links.values():
            link = out / path.name
            tmp = out / f".{path.name}.tmp-link"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(path.resolve())
            os.replace(tmp, link)  # atomic, also over an existing file with --overwrite
        for name, load in photos.items():
            bgr = np.ascontiguousarray(load()[:, :, ::-1])  # write_png takes OpenCV (BGR) order
            write_png(out / f"skimage_{name}.png", bgr, 3, args.overwrite)
    except Exception as exc:  # expected: one line, exit 2; anything else is a bug: traceback, exit 3
        return exit_status_of(exc)
    log.info("%d images linked and %d photos written in %s", len(links), len(photos), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
