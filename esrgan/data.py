"""Training and validation datasets: HR/LR pairs from folders or LMDB, aligned random crops, dihedral augmentation.

Every dataset returns ``dict(lr=Tensor (3, h, w), hr=Tensor (3, h * scale, w * scale), path=str)``: float32 RGB
in [0, 1], gray images replicated to 3 channels, alpha dropped. ``path`` is the HR file (or ``lmdb/key``).

Image sources are folders (``*.png``, ``*.jpg``, ... not recursive) or LMDB databases in BasicSR's layout (a
folder whose name ends in ``.lmdb`` or that holds ``data.mdb``; keys are file stems; ``meta_info.txt`` lists
``name (h,w,c) compression`` per image), read transparently. HR and LR images pair by file stem; an LR stem may
also carry DIV2K's scale suffix (``0001x4`` pairs with ``0001``).

Decoding is :func:`esrgan.image.decode_rgb` (OpenCV, unchanged depth, BGR -> RGB); images stay in their stored
sample type (uint8 / uint16) until after cropping, which keeps cached sets small and lets on-the-fly LR generation
round like the offline uint8 LR files. EXIF orientation is not applied (training sets are PNG).

Randomness: each dataset draws crops and flips from its own ``numpy.random.Generator``, seeded with ``seed`` in the
main process; in DataLoader workers pass ``worker_init_fn=seed_worker`` (and a seeded ``generator``) so every worker
is reseeded from torch's per-worker seed: the same seed gives the same batches, and epochs differ.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from esrgan.degradations import DegradationOptions, degrade
from esrgan.errors import InputError, NotFoundError, OptionsError
from esrgan.image import IMAGE_EXTENSIONS, decode_rgb, images_by_stem, pair_by_stem, to_float
from esrgan.image.resize import imresize, mod_crop

log = logging.getLogger(__name__)

LMDB_META = "meta_info.txt"
# Margin (in LR pixels) of HR context around an on-the-fly crop: the x4 antialiased kernel reaches 2 LR pixels.
_LR_MARGIN = 3

__all__ = [
    "DegradedDataset",
    "HROnlyDataset",
    "ImageSource",
    "PairedImageDataset",
    "ValidationDataset",
    "augment",
    "read_meta_info",
    "seed_worker",
]


# --------------------------------------------------------------------------------------------------------- reading
def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(to_float(img).transpose(2, 0, 1)))


def read_meta_info(path: str | os.PathLike[str]) -> list[str]:
    """File names listed in a BasicSR meta-info file (``name (h,w,c)[ extra]`` or just ``name`` per line)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"meta-info file not found: {path}")
    names = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        match = re.match(r"^(.+?)(?:\s+\(\d+,\s*\d+,\s*\d+\).*)?$", line)
        if not match:
            raise InputError(f"{path}:{number}: expected 'name (h,w,c)', got {line!r}")
        names.append(match.group(1))
    if not names:
        raise InputError(f"{path}: the meta-info file lists no images")
    return names


def _is_lmdb(root: Path) -> bool:
    return root.suffix == ".lmdb" or (root / "data.mdb").is_file()


# Open LMDB environments of this process by folder: py-lmdb allows one per database and process, and an
# environment must not cross fork(), so each DataLoader worker opens its own on first use.
_LMDB_ENVS: dict[tuple[int, Path], Any] = {}


def _lmdb_env(root: Path) -> Any:
    key = (os.getpid(), root.resolve())
    env = _LMDB_ENVS.get(key)
    if env is None:
        import lmdb

        env = lmdb.open(str(root), readonly=True, lock=False, readahead=False, meminit=False)
        _LMDB_ENVS[key] = env
    return env


class ImageSource:
    """Images of one folder or LMDB database, keyed by file stem.

    Args:
        root: a folder of images, or an LMDB database (see module docstring).
        meta_info: optional meta-info file restricting and ordering the images (names or stems); an LMDB's own
            ``meta_info.txt`` is used when this is None.

    Attributes:
        keys: sorted stems (or the meta-info order).
    """

    def __init__(self, root: str | os.PathLike[str], meta_info: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root)
        self.lmdb = _is_lmdb(self.root)
        if not self.root.is_dir():
            raise NotFoundError(f"image folder not found: {self.root}")
        if self.lmdb:
            names = read_meta_info(meta_info or self.root / LMDB_META)
            self.keys = [Path(n).stem for n in names]
            self._files: dict[str, Path] = {}
        else:
            self._files = images_by_stem(self.root)
            if meta_info is not None:
                self.keys = [Path(n).stem for n in read_meta_info(meta_info)]
                missing = [k for k in self.keys if k not in self._files]
                if missing:
                    raise NotFoundError(
                        f"{meta_info} lists {len(missing)} image(s) missing from {self.root}, e.g. {missing[0]!r}"
                    )
            else:
                self.keys = list(self._files)
        if not self.keys:
            raise InputError(f"no images in {self.root} (looked for {', '.join(IMAGE_EXTENSIONS)})")

    def name(self, key: str) -> str:
        """The file path (or ``db.lmdb/key``) of ``key``, for messages and the ``path`` field."""
        return str(self.root / key) if self.lmdb else str(self._files[key])

    def read(self, key: str) -> np.ndarray:
        """Decode image ``key``: (H, W, 3) RGB in its stored sample type (see :func:`esrgan.image.decode_rgb`)."""
        if not self.lmdb:
            return decode_rgb(np.fromfile(self._files[key], dtype=np.uint8), str(self._files[key]))
        env = _lmdb_env(self.root)
        with env.begin(write=False) as txn:
            data = txn.get(key.encode("utf-8"))
        if data is None:
            raise InputError(f"{self.root}: key {key!r} listed in its meta-info is not in the database")
        return decode_rgb(bytes(data), self.name(key))


# ------------------------------------------------------------------------------------------------- augmentation
def augment(
    images: Sequence[np.ndarray], rng: np.random.Generator, hflip: bool = True, rot90: bool = True
) -> list[np.ndarray]:
    """Apply one random dihedral transform to all ``images`` (H, W, C) alike (BasicSR's ``augment``).

    hflip: flip left-right with p = 0.5. rot90: flip up-down with p = 0.5, then transpose (90° rotation combined
    with the flips) with p = 0.5. Both together draw each of the 8 dihedral transforms with p = 1/8.
    """
    flip_lr = hflip and rng.random() < 0.5
    flip_ud = rot90 and rng.random() < 0.5
    transpose = rot90 and rng.random() < 0.5
    out = []
    for img in images:
        if flip_lr:
            img = img[:, ::-1]
        if flip_ud:
            img = img[::-1]
        if transpose:
            img = img.transpose(1, 0, 2)
        out.append(img)
    return out


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: reseed the worker's copy of the dataset from torch's per-worker seed."""
    info = torch.utils.data.get_worker_info()
    if info is not None and hasattr(info.dataset, "reseed"):
        info.dataset.reseed(info.seed)


# --------------------------------------------------------------------------------------------------------- datasets
class _CropDataset(Dataset[dict[str, Any]]):
    """Shared parts: scale and patch checks, the RNG, the optional in-memory cache of decoded images."""

    def __init__(
        self, scale: int, patch_size: int | None, hflip: bool, rot90: bool, seed: int, sources: Sequence[ImageSource]
    ) -> None:
        if scale < 1:
            raise OptionsError(f"scale must be a positive integer, got {scale}")
        if patch_size is not None and (patch_size <= 0 or patch_size % scale):
            raise OptionsError(f"patch_size must be a positive multiple of the scale {scale}, got {patch_size}")
        self.scale = scale
        self.patch_size = patch_size
        self.hflip = hflip
        self.rot90 = rot90
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._sources = list(sources)
        self._cache: dict[tuple[int, str], np.ndarray] = {}

    def reseed(self, seed: int) -> None:
        """Restart the random crops and flips from ``seed`` (called per DataLoader worker by :func:`seed_worker`)."""
        self.rng = np.random.default_rng(seed)

    def _fill_cache(self, keys: Sequence[tuple[int, str]], progress: Callable[[int, int], None] | None) -> None:
        # Loaded once in the constructor so that forked DataLoader workers share the pages copy-on-write.
        for i, (src, key) in enumerate(keys):
            self._cache[(src, key)] = self._sources[src].read(key)
            if progress is not None:
                progress(i + 1, len(keys))
        nbytes = sum(a.nbytes for a in self._cache.values())
        log.info("cached %d decoded images (%.1f MB)", len(self._cache), nbytes / 2**20)

    def _read(self, src: int, key: str) -> np.ndarray:
        cached = self._cache.get((src, key))
        return cached if cached is not None else self._sources[src].read(key)

    def _random_lr_origin(self, lr_h: int, lr_w: int, lr_patch: int, name: str) -> tuple[int, int]:
        if lr_h < lr_patch or lr_w < lr_patch:
            raise InputError(
                f"{name}: LR size {lr_h}x{lr_w} is smaller than the LR patch {lr_patch} "
                f"(patch_size {self.patch_size} / scale {self.scale}); use a smaller patch_size"
            )
        return int(self.rng.integers(0, lr_h - lr_patch + 1)), int(self.rng.integers(0, lr_w - lr_patch + 1))

    def _sample(self, lr: np.ndarray, hr: np.ndarray, path: str) -> dict[str, Any]:
        lr, hr = augment([lr, hr], self.rng, self.hflip, self.rot90)
        return {"lr": _to_tensor(lr), "hr": _to_tensor(hr), "path": path}


class PairedImageDataset(_CropDataset):
    """Pre-made HR/LR pairs with aligned random crops.

    Args:
        hr: folder or LMDB of HR images (any size; cropped bottom/right to ``LR size * scale`` if larger by less
            than ``scale``, e.g. un-mod-cropped originals).
        lr: folder or LMDB of LR images with the same stems (or ``stem + 'x{scale}'``).
        scale: integer upscaling factor.
        patch_size: HR patch side in HR pixels (a multiple of ``scale``); the LR patch is ``patch_size // scale``
            and is taken at a random LR position ``(y, x)``, the HR patch at ``(y * scale, x * scale)``.
            None: whole images (batch size 1 unless all images share a size).
        meta_info: optional BasicSR meta-info file listing the HR images to use.
        hflip, rot90: random dihedral augmentation, identical on LR and HR (see :func:`augment`).
        cache: decode every image once, in the constructor, and keep it in memory (for small sets like T91).
        seed: seed of the crop / flip generator (see module docstring for workers).
        progress: optional ``callback(done, total)`` while caching.

    Items: ``dict(lr=(3, p/s, p/s), hr=(3, p, p), path=str)``, float32 RGB in [0, 1].
    """

    def __init__(
        self,
        hr: str | os.PathLike[str],
        lr: str | os.PathLike[str],
        scale: int,
        patch_size: int | None = 128,
        *,
        meta_info: str | os.PathLike[str] | None = None,
        hflip: bool = True,
        rot90: bool = True,
        cache: bool = False,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        hr_src, lr_src = ImageSource(hr, meta_info), ImageSource(lr)
        super().__init__(scale, patch_size, hflip, rot90, seed, [hr_src, lr_src])
        self.hr_keys = hr_src.keys
        self.lr_keys = pair_by_stem(hr_src.keys, lr_src.keys, scale, str(lr_src.root))
        if cache:
            self._fill_cache([(0, k) for k in self.hr_keys] + [(1, k) for k in self.lr_keys], progress)

    def __len__(self) -> int:
        return len(self.hr_keys)

    def load_pair(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """Whole (LR, HR) arrays of pair ``index``, HR cropped to exactly ``LR size * scale``, and the HR name."""
        s = self.scale
        name = self._sources[0].name(self.hr_keys[index])
        hr, lr = self._read(0, self.hr_keys[index]), self._read(1, self.lr_keys[index])
        (lh, lw), (hh, hw) = lr.shape[:2], hr.shape[:2]
        if not (lh * s <= hh < (lh + 1) * s and lw * s <= hw < (lw + 1) * s):
            raise InputError(
                f"{name}: HR is {hh}x{hw} but LR {self._sources[1].name(self.lr_keys[index])} is {lh}x{lw}; "
                f"LR x {s} must equal the HR size mod-cropped to a multiple of {s} ({hh - hh % s}x{hw - hw % s})"
            )
        return lr, hr[: lh * s, : lw * s], name

    def __getitem__(self, index: int) -> dict[str, Any]:
        lr, hr, name = self.load_pair(index)
        if self.patch_size is not None:
            s, lp = self.scale, self.patch_size // self.scale
            y, x = self._random_lr_origin(lr.shape[0], lr.shape[1], lp, name)
            lr = lr[y : y + lp, x : x + lp]
            hr = hr[y * s : (y + lp) * s, x * s : (x + lp) * s]
        return self._sample(lr, hr, name)


class HROnlyDataset(_CropDataset):
    """HR images only; each LR patch is made on the fly with MATLAB-compatible bicubic downscaling.

    The HR image is mod-cropped to a multiple of ``scale``; a random LR-grid position is chosen and the HR patch is
    downscaled together with ``_LR_MARGIN`` LR pixels of surrounding context, so the LR patch equals the
    corresponding crop of ``imresize(mod_crop(hr), 1 / scale)`` -- the offline-made LR file -- exactly, without
    artificial edges at the patch border. 8/16-bit images are rounded after each pass like the offline files.

    Args:
        hr: folder or LMDB of HR images.
        scale: integer downscaling factor.
        patch_size: HR patch side (a multiple of ``scale``); None: whole images (mod-cropped).
        meta_info, hflip, rot90, cache, seed, progress: as :class:`PairedImageDataset`.

    Items: ``dict(lr=(3, p/s, p/s), hr=(3, p, p), path=str)``, float32 RGB in [0, 1].
    """

    def __init__(
        self,
        hr: str | os.PathLike[str],
        scale: int,
        patch_size: int | None = 128,
        *,
        meta_info: str | os.PathLike[str] | None = None,
        hflip: bool = True,
        rot90: bool = True,
        cache: bool = False,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        src = ImageSource(hr, meta_info)
        super().__init__(scale, patch_size, hflip, rot90, seed, [src])
        self.hr_keys = src.keys
        if cache:
            self._fill_cache([(0, k) for k in self.hr_keys], progress)

    def __len__(self) -> int:
        return len(self.hr_keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = self.scale
        name = self._sources[0].name(self.hr_keys[index])
        hr = mod_crop(self._read(0, self.hr_keys[index]), s)
        if hr.shape[0] == 0 or hr.shape[1] == 0:
            raise InputError(f"{name}: image is smaller than the scale {s}")
        if self.patch_size is None:
            return self._sample(imresize(hr, 1 / s), hr, name)
        lp = self.patch_size // s
        lh, lw = hr.shape[0] // s, hr.shape[1] // s
        y, x = self._random_lr_origin(lh, lw, lp, name)
        # Context window in LR pixels, clipped to the image (where the full-image resize pads symmetrically too).
        y0, x0 = max(0, y - _LR_MARGIN), max(0, x - _LR_MARGIN)
        y1, x1 = min(lh, y + lp + _LR_MARGIN), min(lw, x + lp + _LR_MARGIN)
        lr = imresize(hr[y0 * s : y1 * s, x0 * s : x1 * s], 1 / s)[y - y0 : y - y0 + lp, x - x0 : x - x0 + lp]
        return self._sample(lr, hr[y * s : (y + lp) * s, x * s : (x + lp) * s], name)


class DegradedDataset(_CropDataset):
    """HR images only; each LR patch is made on the fly by Real-ESRGAN's high-order degradation model.

    Per item (Real-ESRGAN's ``RealESRGANDataset`` + ``feed_data``): a random ``crop_pad_size`` square of the HR
    image (images smaller than that are first mirrored out at the bottom and right, BORDER_REFLECT_101), a random
    dihedral transform, :func:`esrgan.degradations.degrade` of the whole square, then an aligned random crop of
    ``patch_size`` (HR) / ``patch_size / scale`` (LR) from the degraded pair, so no patch sees the borders of the
    blur, resize or JPEG blocks. Every draw comes from the dataset's generator: the item is a function of
    (index, seed) (see :class:`esrgan.train.distributed.SeededDataset`).

    Args:
        hr: folder or LMDB of HR images.
        scale: integer downscaling factor.
        patch_size: HR patch side, a multiple of ``scale`` and at most ``degradation.crop_pad_size``.
        degradation: the degradation model (``crop_pad_size`` must be a multiple of ``scale``).
        meta_info, hflip, rot90, cache, seed, progress: as :class:`PairedImageDataset`.

    Items: ``dict(lr=(3, p/s, p/s), hr=(3, p, p), path=str)``, float32 RGB in [0, 1] (``hr`` not sharpened: the
    losses sharpen their own targets); :meth:`item_with_record` also returns what the degradation drew.
    """

    def __init__(
        self,
        hr: str | os.PathLike[str],
        scale: int,
        patch_size: int,
        degradation: DegradationOptions,
        *,
        meta_info: str | os.PathLike[str] | None = None,
        hflip: bool = True,
        rot90: bool = True,
        cache: bool = False,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        src = ImageSource(hr, meta_info)
        super().__init__(scale, patch_size, hflip, rot90, seed, [src])
        crop = degradation.crop_pad_size
        if crop % scale or crop < patch_size:
            raise OptionsError(f"crop_pad_size ({crop}) must be a multiple of the scale {scale} and >= the patch "
                             f"size {patch_size}")  # fmt: skip
        self.degradation = degradation
        self.hr_keys = src.keys
        if cache:
            self._fill_cache([(0, k) for k in self.hr_keys], progress)

    def __len__(self) -> int:
        return len(self.hr_keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.item_with_record(index)[0]

    def item_with_record(self, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Item ``index`` and the record of its degradation (see :func:`esrgan.degradations.degrade`)."""
        name = self._sources[0].name(self.hr_keys[index])
        img = self._read(0, self.hr_keys[index])
        size = self.degradation.crop_pad_size
        h, w = img.shape[:2]
        if h < size or w < size:
            img = cv2.copyMakeBorder(img, 0, max(0, size - h), 0, max(0, size - w), cv2.BORDER_REFLECT_101)
            h, w = img.shape[:2]
        y, x = int(self.rng.integers(0, h - size + 1)), int(self.rng.integers(0, w - size + 1))
        (region,) = augment([img[y : y + size, x : x + size]], self.rng, self.hflip, self.rot90)
        region = to_float(np.ascontiguousarray(region))
        lr, record = degrade(region, self.degradation, self.scale, self.rng)
        assert self.patch_size is not None  # required by the constructor's signature
        s, lp = self.scale, self.patch_size // self.scale
        y, x = self._random_lr_origin(lr.shape[0], lr.shape[1], lp, name)
        lr = lr[y : y + lp, x : x + lp]
        hr = region[y * s : (y + lp) * s, x * s : (x + lp) * s]
        return {"lr": _to_tensor(lr), "hr": _to_tensor(hr), "path": name}, record


class ValidationDataset(Dataset[dict[str, Any]]):
    """Whole images for validation: HR mod-cropped to a multiple of ``scale``, no augmentation.

    Args:
        hr: folder or LMDB of HR images.
        scale: integer factor.
        lr: optional folder or LMDB of LR images paired by stem (LR x scale must equal the mod-cropped HR);
            None: LR = MATLAB-compatible bicubic of the mod-cropped HR (the benchmark protocol).
        meta_info: optional meta-info file restricting the HR images.

    Items: ``dict(lr=(3, H/s, W/s), hr=(3, H, W), path=str)``, float32 RGB in [0, 1]; sizes vary per image, so
    use batch size 1.
    """

    def __init__(
        self,
        hr: str | os.PathLike[str],
        scale: int,
        lr: str | os.PathLike[str] | None = None,
        *,
        meta_info: str | os.PathLike[str] | None = None,
    ) -> None:
        # Whole images (patch_size None) without flips: the crop datasets then add nothing random.
        self.inner: PairedImageDataset | HROnlyDataset
        if lr is None:
            self.inner = HROnlyDataset(hr, scale, None, meta_info=meta_info, hflip=False, rot90=False)
        else:
            self.inner = PairedImageDataset(hr, lr, scale, None, meta_info=meta_info, hflip=False, rot90=False)

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.inner[index]
