"""Knowledge distillation: the teacher's targets, made once and cached, and taps on inner feature maps.

The student of ``stage: distill`` learns ``teacher(LR)``. LR inputs come from any folder of images, downscaled by
each factor of ``teacher.lr_downscales`` with the MATLAB-compatible bicubic (rounded to the image's sample type,
like offline-made LR files). With precomputed targets the teacher upscales every whole LR image once, through the
tiled inference engine, and the pairs are written as PNG files::

    <experiments_root>/teacher_targets/<part>-<key>/lr/<stem>_d<factor>.png     the student's input
    <experiments_root>/teacher_targets/<part>-<key>/sr/<stem>_d<factor>.png     the teacher's output (x scale)

``<key>`` hashes the teacher's weights, the source images (folder and meta-info file), the factors, the scale,
the precision and the engine settings that differ from the defaults (self-ensemble, backend), so changing any of
them makes new targets while a rerun, a resumed run or another run with the same teacher and photos reuses
finished files (each is written atomically: a file that exists is complete). Every pair is made whatever the
training patch size, so the cache does not depend on it; :func:`usable_pairs` lists the pairs large enough for a
given LR patch. Training then reads the folders as an ordinary paired dataset: aligned crops, flips and rotations.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from esrgan.archs import as_sr_network, get
from esrgan.data import ImageSource
from esrgan.errors import InputError, OptionsError
from esrgan.fileio import write_text_atomic
from esrgan.image import ImageData, check_image_file, from_tensor, imresize, mod_crop, to_tensor, write_image

log = logging.getLogger(__name__)

__all__ = ["FeatureTap", "default_feature_layer", "make_lr", "prepare_targets", "targets_key", "usable_pairs"]

ProgressFn = Callable[[int, int], None]


def targets_key(
    teacher_sha256: str,
    lr_downscales: Sequence[int],
    scale: int,
    precision: str,
    source: Sequence[str] = (),
    engine: Mapping[str, object] | None = None,
) -> str:
    """Folder name of a set of teacher targets: 12 hex digits of a hash of everything that changes them.

    ``source`` identifies the source images (their folder and meta-info file, as absolute paths): a run pointed at
    another folder must not reuse pairs of the same stems made from different pictures. ``engine``: other engine
    settings that change the outputs, by name (empty or None: the key of targets made without them).
    """
    extra = [dict(sorted(engine.items()))] if engine else []
    text = json.dumps([teacher_sha256, list(lr_downscales), scale, precision, *source, *extra])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_lr(image: np.ndarray, factor: int) -> np.ndarray:
    """The student's LR input made from ``image``: MATLAB bicubic downscaling by ``factor`` (1: unchanged).

    Args:
        image: (H, W, 3) RGB, uint8 / uint16 (rounded back to that type, like offline LR files) or float.
        factor: integer downscaling factor >= 1; the image is first mod-cropped to a multiple of it.

    Returns:
        (H // factor, W // factor, 3) in the input's sample type.
    """
    if factor == 1:
        return image
    return imresize(mod_crop(image, factor), 1 / factor)


def prepare_targets(
    teacher: Callable[[torch.Tensor], torch.Tensor],
    images: str | Path,
    out_dir: Path,
    lr_downscales: Sequence[int],
    *,
    meta_info: str | Path | None = None,
    rank: int = 0,
    world_size: int = 1,
    progress: ProgressFn | None = None,
) -> tuple[Path, Path, list[str]]:
    """Make (LR, teacher output) pairs for every image and factor, skipping pairs already on disk.

    Args:
        teacher: the inference engine of the teacher (e.g. :class:`esrgan.inference.Upscaler`): (1, 3, h, w) RGB
            float in [0, 1] -> (1, 3, h * scale, w * scale) RGB float in [0, 1] on the CPU.
        images: folder (or LMDB) of source images, any size.
        out_dir: ``<experiments_root>/teacher_targets/<part>-<key>``; ``lr/`` and ``sr/`` are made inside.
        lr_downscales: downscaling factors (see :func:`make_lr`).
        meta_info: optional meta-info file restricting the source images.
        rank, world_size: this process makes every ``world_size``-th pair starting at ``rank`` (torchrun: the
            processes share the work; wait at a barrier before reading the folders).
        progress: ``callback(done, total)`` after each pair of this process.

    Returns:
        (lr folder, sr folder, stems of all pairs: those of every process, in source order).
    """
    source = ImageSource(images, meta_info)
    lr_dir, sr_dir = out_dir / "lr", out_dir / "sr"
    lr_dir.mkdir(parents=True, exist_ok=True)
    sr_dir.mkdir(parents=True, exist_ok=True)
    all_jobs = [(key, factor) for key in source.keys for factor in lr_downscales]
    jobs = all_jobs[rank::world_size]
    made = 0
    for done, (key, factor) in enumerate(jobs, 1):
        stem = _stem(key, factor)
        lr_path, sr_path = lr_dir / f"{stem}.png", sr_dir / f"{stem}.png"
        if not (lr_path.is_file() and sr_path.is_file()):
            image = source.read(key)
            lr = make_lr(image, factor)
            depth = 16 if lr.dtype == np.uint16 else 8
            lr_float = lr.astype(np.float32) / (65535.0 if depth == 16 else 255.0)
            sr = teacher(to_tensor(lr_float))
            # The LR file first: a pair counts as done only when the SR file exists, and it is written last.
            write_image(lr_path, ImageData(lr_float, bit_depth=depth))
            write_image(sr_path, ImageData(from_tensor(sr), bit_depth=depth))
            made += 1
        if progress is not None:
            progress(done, len(jobs))
    if rank == 0:
        info = {"images": str(images), "lr_downscales": list(lr_downscales), "pairs": len(source.keys)}
        write_text_atomic(out_dir / "targets.json", json.dumps(info))
    log.info("teacher targets in %s: %d made, %d reused", out_dir, made, len(jobs) - made)
    return lr_dir, sr_dir, [_stem(key, factor) for key, factor in all_jobs]


def _stem(key: str, factor: int) -> str:
    return f"{key}_d{factor}"


def usable_pairs(lr_dir: Path, stems: Sequence[str], min_lr_side: int) -> tuple[list[str], list[str]]:
    """Split ``stems`` into the pairs whose LR image in ``lr_dir`` has both sides >= ``min_lr_side`` (the training
    LR patch) and those too small to cut a patch from (the caller reports them). Reads only the PNG headers: the
    dataset decodes the images later, once."""
    kept: list[str] = []
    small: list[str] = []
    for stem in stems:
        height, width = _png_size(lr_dir / f"{stem}.png")
        (kept if min(height, width) >= min_lr_side else small).append(stem)
    return kept, small


def _png_size(path: Path) -> tuple[int, int]:
    """(height, width) of a teacher-target PNG from its header (:mod:`esrgan.image.probe`: nothing is decoded)."""
    try:
        header = check_image_file(path)
    except InputError as exc:
        raise InputError(f"{exc}; delete {path.name} and rerun to remake the pair") from None
    return header.height, header.width


def default_feature_layer(net: nn.Module) -> str:
    """Name of the last feature map before a network's upsampler: where feature matching taps by default.

    Each architecture's spec names it (``ArchSpec.feature_layer``): e.g. RRDBNet's ``conv_body`` (the trunk's last
    convolution, ``num_feat`` channels at the input size), SRVGGNetCompact's activation after its last hidden
    convolution.
    """
    arch = as_sr_network(net).arch_name
    spec = get(arch)
    if spec is None:
        raise OptionsError(f"no default feature layer for {arch}; name one in losses.feature.student/teacher")
    return spec.feature_layer(net)


class FeatureTap:
    """Keeps the output of one named submodule from the last forward pass (a forward hook).

    Args:
        net: the network (not a DDP wrapper: hooks go on the inner module).
        name: a name from ``net.named_modules()``.

    Attributes:
        output: (B, C, h, w) of the last forward, or None before the first.
    """

    def __init__(self, net: nn.Module, name: str) -> None:
        modules = dict(net.named_modules())
        if name not in modules or not name:
            import difflib

            close = difflib.get_close_matches(name, list(modules), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise OptionsError(f"{type(net).__name__} has no module named {name!r}{hint}")
        self.name = name
        self.output: torch.Tensor | None = None
        self._handle = modules[name].register_forward_hook(self._hook)

    def _hook(self, _module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self.output = output

    def take(self) -> torch.Tensor:
        """The stored output, cleared so a stale map is never used twice."""
        if self.output is None:
            raise RuntimeError(f"feature tap {self.name!r}: no forward pass has run since the last take()")
        out, self.output = self.output, None
        return out

    def remove(self) -> None:
        self._handle.remove()
