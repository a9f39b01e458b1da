"""One evaluation run (what ``esrgan test`` does): options in, the scores of every dataset out, one at a time.

An image that cannot be scored (unreadable, wrong size, ...) is reported in one line, recorded in its dataset's
``failed`` list, and the run goes on; so does it after an unexpected error on one image (logged with its
traceback and recorded as a bug), as ``esrgan upscale`` does.

evaluation = Evaluation.prepare(opts)          # pairs listed, outputs checked, the model loaded
for result in evaluation.run():                # DatasetScore per dataset, in the options' order
    print(format_table(result))
write_results(results, opts, evaluation.scale, evaluation.model)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from esrgan.errors import OptionsError, OutputError, OutputExistsError, is_expected
from esrgan.evaluation.options import BICUBIC, TestDatasetOptions, TestOptions
from esrgan.evaluation.protocol import (
    DatasetScore,
    Degradation,
    ImageFailure,
    Pair,
    SRFunction,
    bicubic_sr,
    engine_sr,
    list_pairs,
    load_degradation,
    load_pair,
    score_image,
)
from esrgan.image import ImageData, write_image

log = logging.getLogger(__name__)

Progress = Callable[[list[Pair], str], Iterable[Pair]]
"""Wraps a dataset's pairs for progress display (``(pairs, dataset name) -> iterable of pairs``), e.g. tqdm."""
TileProgress = Callable[[float, int], None]
"""The engine's progress within an image: network calls done (fractions while one runs) and their total."""

__all__ = ["Evaluation", "Progress", "check_outputs", "make_sr"]


def make_sr(opts: TestOptions, on_tile: TileProgress | None = None) -> tuple[SRFunction, int, dict[str, Any] | None]:
    """The SR function (uint8 LR (h, w[, 3]) -> uint8 SR (h*s, w*s[, 3])), its scale and a model description
    (None for the bicubic baseline). ``on_tile`` is the engine's progress callback (:class:`esrgan.inference.Upscaler`).

    Raises:
        OptionsError: the model's scale differs from ``opts.scale``, or it does not map RGB to RGB.
    """
    if opts.model == BICUBIC:
        if opts.scale is None:
            raise OptionsError("the bicubic baseline needs a scale")  # TestOptions checks it too
        return bicubic_sr(opts.scale), opts.scale, None

    from esrgan.inference import Upscaler
    from esrgan.models import load_model

    net, info = load_model(opts.model)
    if opts.scale is not None and opts.scale != info.scale:
        raise OptionsError(f"model {opts.model} upscales x{info.scale} but scale {opts.scale} was asked")
    if info.in_channels != 3 or info.out_channels != 3:
        raise OptionsError(f"model {opts.model} has {info.in_channels}->{info.out_channels} channels; need RGB (3->3)")
    upscaler = Upscaler.from_options(net, opts.engine, on_tile=on_tile)
    log.info(
        "model %s: %s x%d, %.2fM parameters; device %s, %s",
        info.name or info.path,
        info.arch,
        info.scale,
        info.num_params / 1e6,
        upscaler.device,
        str(upscaler.dtype).replace("torch.", ""),
    )
    description = {
        "name": info.name,
        "path": info.path,
        "arch": info.arch,
        "hparams": info.hparams,
        "num_params": info.num_params,
        "sha256": info.sha256,
    }
    return engine_sr(upscaler), info.scale, description


def check_outputs(opts: TestOptions, plans: list[tuple[TestDatasetOptions, list[Pair]]]) -> None:
    """Refuse, before any work, an output that is one of the inputs (whatever ``opts.overwrite`` says), and an
    existing CSV, JSON or saved SR file unless ``opts.overwrite``.

    Every output has its own name: the SR images are ``save/<dataset>/<stem>.png``, dataset names are unique
    folder names (:class:`TestOptions`) and stems are unique within a dataset (:func:`list_pairs`).

    Raises:
        OutputError: an output would replace an input image, naming both.
        OutputExistsError: naming the first existing file.
    """
    targets = [p for p in (opts.csv, opts.json) if p is not None]
    if opts.save is not None:
        targets += [opts.save / ds.name / f"{stem}.png" for ds, pairs in plans for stem, _, _ in pairs]
    inputs = {p.resolve() for _, pairs in plans for _, hr, lr in pairs for p in (hr, lr) if p}
    for p in targets:
        if p.resolve() in inputs:
            raise OutputError(f"{p}: an output would replace this input image; choose another save folder")
    if opts.overwrite:
        return
    for p in targets:
        if p.exists():
            raise OutputExistsError(f"{p} already exists; the overwrite option replaces it")


@dataclass
class Evaluation:
    """A prepared evaluation: every dataset's pairs, the SR function, the scale and the crop border."""

    opts: TestOptions
    plans: list[tuple[TestDatasetOptions, list[Pair]]]
    upscale: SRFunction
    scale: int
    crop_border: int
    model: dict[str, Any] | None  # the model's description for reports (None: bicubic)
    inputs: frozenset[Path]  # every HR and LR file, resolved: saved SR images never replace one
    degradations: dict[str, Degradation] = field(default_factory=dict)  # by dataset name: LR made in memory

    @classmethod
    def prepare(cls, opts: TestOptions, on_tile: TileProgress | None = None) -> Evaluation:
        """Pair the images, read the degradation blocks and check the outputs before loading a model (a typo fails
        in a second), unless the pairing needs the model's scale (DIV2K's ``0801x4`` names) because ``opts.scale``
        is not set. ``on_tile``: the engine's progress within each image (:class:`esrgan.inference.Upscaler`)."""
        degradations = {
            ds.name: load_degradation(ds.degradation, ds.seed or 0) for ds in opts.datasets if ds.degradation
        }
        made = make_sr(opts, on_tile) if opts.scale is None else None
        scale = made[1] if made is not None else opts.scale
        assert scale is not None
        plans = [(ds, list_pairs(ds, scale)) for ds in opts.datasets]
        check_outputs(opts, plans)
        upscale, scale, model = made if made is not None else make_sr(opts, on_tile)
        crop = opts.crop_border if opts.crop_border is not None else scale
        inputs = frozenset(p.resolve() for _, pairs in plans for _, hr, lr in pairs for p in (hr, lr) if p)
        return cls(opts, plans, upscale, scale, crop, model, inputs, degradations)

    def run(self, progress: Progress | None = None) -> Iterator[DatasetScore]:
        """Score every dataset in turn (SR images saved when ``opts.save`` is set)."""
        for ds, pairs in self.plans:
            yield self.score_dataset(ds, pairs if progress is None else progress(pairs, ds.name))

    def score_dataset(self, ds: TestDatasetOptions, pairs: Iterable[Pair]) -> DatasetScore:
        opts = self.opts
        degradation = self.degradations.get(ds.name)
        result = DatasetScore(ds.name, str(ds.hr), str(ds.lr) if ds.lr is not None else None, degradation=degradation)
        if opts.save is not None:
            (opts.save / ds.name).mkdir(parents=True, exist_ok=True)
        for stem, hr_path, lr_path in pairs:
            try:
                self._score_pair(result, stem, hr_path, lr_path, degradation)
            except Exception as exc:  # one bad image must not stop the run: reported with its path, and on we go
                result.failed.append(_failure(stem, hr_path, exc))
        return result

    def _score_pair(
        self, result: DatasetScore, stem: str, hr_path: Path, lr_path: Path | None, degradation: Degradation | None
    ) -> None:
        opts = self.opts
        lr, hr = load_pair(hr_path, lr_path, self.scale, degradation)
        score, sr = score_image(stem, lr, hr, self.upscale, crop_border=self.crop_border,
                                test_y_channel=opts.test_y_channel)  # fmt: skip
        if opts.save is not None:
            self._save(opts.save / result.name / f"{stem}.png", sr)
        result.images.append(score)
        log.debug("%s/%s: %.4f dB, SSIM %.4f", result.name, stem, score.psnr, score.ssim)

    def _save(self, out: Path, sr: np.ndarray) -> None:
        if out.resolve() in self.inputs:
            raise OutputError(f"{out}: refusing to overwrite an input image; choose another save folder")
        pixels = (sr if sr.ndim == 3 else sr[:, :, None]).astype(np.float32) / 255.0
        write_image(out, ImageData(pixels=pixels), overwrite=self.opts.overwrite)


def _failure(stem: str, hr_path: Path, exc: Exception) -> ImageFailure:
    """Log an image's failure (one line, or its traceback for an unexpected error) and describe it."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if not is_expected(exc):
        log.critical("%s: unexpected error", hr_path, exc_info=True)
        return ImageFailure(stem, f"{hr_path}: unexpected error ({type(exc).__name__}: {message})", bug=True)
    if str(hr_path) not in message and stem not in message:
        message = f"{hr_path}: {message}"
    log.error("%s", message)
    return ImageFailure(stem, message)
