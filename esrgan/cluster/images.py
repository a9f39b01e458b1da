"""A batch of image files on several workers: :func:`upscale_files_on`, each file ending as it would locally.

Each file goes through :func:`esrgan.inference.upscale_file` in two halves (:func:`~esrgan.inference.files.
prepare_file` and :func:`~esrgan.inference.files.finish_file`) with the engine between them on a worker:

- the driver reads and checks the file exactly as a local run does (decoding, the pixel limit, the output name
  and format, never writing over an input, skipping existing outputs): the same checks in the same order give the
  same messages, and a skipped file costs no worker time;
- a worker gets the decoded image (8- and 16-bit samples as stored, 4x smaller than floats; restored exactly),
  upscales it and encodes the output (PNG compression and the like are done there, in parallel);
- the driver writes the encoded bytes atomically. Workers never touch the output folder, so a retried file cannot
  be written twice, and inputs and outputs only need to be where the driver runs.

Outcomes come out in input order, whatever order workers finish in, so the report reads as a local run's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from esrgan.cluster.engine import EngineSpec
from esrgan.cluster.scheduler import InOrder, Scheduler
from esrgan.cluster.worker import EXPECTED_ERRORS
from esrgan.image import ImageData, ImageMetadata, encode_image, to_unit
from esrgan.inference.files import Existing, PreparedFile, UpscaledFile, finish_file, prepare_file
from esrgan.inference.pipeline import AlphaMode

__all__ = ["FileOutcome", "FileTask", "ImageJob", "PackedImage", "upscale_files_on"]


@dataclass(frozen=True)
class PackedImage:
    """An :class:`~esrgan.image.ImageData` for the trip to a worker: 8- and 16-bit images as their stored samples
    (uint8 / uint16, what :func:`esrgan.image.to_unit` turned into the floats), others as float32."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    path: Path | None
    metadata: ImageMetadata | None = None

    @staticmethod
    def pack(image: ImageData) -> PackedImage:
        """Packed so that :meth:`unpack` gives back exactly ``image``'s floats (checked; floats otherwise)."""
        pixels, alpha = _samples(image.pixels, image.bit_depth), _samples(image.alpha, image.bit_depth)
        return PackedImage(pixels, alpha, image.bit_depth, image.path, image.metadata)

    def unpack(self) -> ImageData:
        alpha = _floats(self.alpha) if self.alpha is not None else None
        pixels = _floats(self.pixels)
        return ImageData(pixels=pixels, alpha=alpha, bit_depth=self.bit_depth, path=self.path, metadata=self.metadata)


def _samples(arr: np.ndarray | None, bit_depth: int) -> Any:
    if arr is None or bit_depth not in (8, 16):
        return arr
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    samples = np.rint(arr * float(np.iinfo(dtype).max)).astype(dtype)
    return samples if np.array_equal(to_unit(samples)[0], arr) else arr


def _floats(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype == np.float32 else to_unit(arr)[0]


@dataclass(frozen=True)
class EncodedImage:
    """A worker's result: the encoded output file and its size in pixels."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class ImageJob:
    """The worker's side: the engine built once, then per item ``(PackedImage, output path)``: upscale (as
    :func:`esrgan.inference.files.upscale_image_data`) and encode in the output path's format."""

    engine: EngineSpec
    outscale: float | None = None
    alpha_mode: AlphaMode = "model"
    quality: int = 95
    keep_metadata: bool = True  # the input's ICC profile and EXIF into the output (esrgan.image.metadata)

    def start(self, device: str) -> _ImageRunner:
        return _ImageRunner(self, self.engine.build(device))


class _ImageRunner:
    def __init__(self, job: ImageJob, upscaler: Any) -> None:
        self.job = job
        self.upscaler = upscaler
        self.settings: dict[str, Any] = upscaler.resolved_settings()

    def __call__(self, payload: tuple[PackedImage, str], progress: Callable[[int], None]) -> EncodedImage:
        from esrgan.inference.files import upscale_image_data

        packed, target = payload
        job = self.job
        result = upscale_image_data(self.upscaler, packed.unpack(), outscale=job.outscale, alpha_mode=job.alpha_mode)
        if not job.keep_metadata:
            result.metadata = None
        return EncodedImage(encode_image(target, result, quality=job.quality), result.width, result.height)


@dataclass(frozen=True)
class FileTask:
    """One file of the batch, as :func:`esrgan.inference.upscale_file` takes it: ``target`` is the output file,
    or with ``ext`` ("auto", "png", ...) the output file without its extension."""

    source: Path
    target: Path
    ext: str | None = None


@dataclass
class FileOutcome:
    """How a file ended: ``result`` (written or skipped) or ``error`` (its own failure, as a local run raises
    it), with ``records``: what the worker logged while doing it (replay before reporting the file)."""

    task: FileTask
    result: UpscaledFile | None = None
    error: BaseException | None = None
    records: list[tuple[str, int, str]] = field(default_factory=list)


def upscale_files_on(
    scheduler: Scheduler,
    tasks: Iterable[FileTask],
    *,
    max_pixels: int = 0,
    max_output_pixels: int = 0,
    factor: float = 0.0,
    existing: Existing = "overwrite",
    inputs: Collection[Path] = (),
    on_done: Callable[[], None] | None = None,
) -> Iterator[FileOutcome]:
    """Upscale every file of ``tasks`` on ``scheduler``'s workers (started, each with an :class:`ImageJob`),
    yielding one :class:`FileOutcome` per task in task order.

    Args:
        max_pixels, max_output_pixels, existing, inputs: as for :func:`esrgan.inference.upscale_file`.
        factor: the larger of the network's scale and the output scale (for ``max_output_pixels``).
        on_done: called as each file ends (in the order they end), for a progress bar.

    Raises:
        esrgan.cluster.AllWorkersLostError: every worker is gone while files remain.
    """
    order: InOrder[FileOutcome] = InOrder()
    due: list[FileOutcome] = []
    waiting: dict[int, tuple[FileTask, Path]] = {}  # submitted files: task, output file

    def settle(index: int, outcome: FileOutcome) -> None:
        due.extend(order.put(index, outcome))
        if on_done is not None:
            on_done()

    def items() -> Iterator[tuple[int, tuple[PackedImage, str]]]:
        for index, task in enumerate(tasks):
            try:
                prepared = prepare_file(task.source, task.target, ext=task.ext, max_pixels=max_pixels,
                                        max_output_pixels=max_output_pixels, factor=factor, existing=existing,
                                        inputs=inputs)  # fmt: skip
            except EXPECTED_ERRORS as exc:
                settle(index, FileOutcome(task, error=exc))
                continue
            if isinstance(prepared, UpscaledFile):
                settle(index, FileOutcome(task, result=prepared))
                continue
            waiting[index] = (task, prepared.target)
            yield index, _payload(prepared)

    for done in scheduler.run(items()):
        task, target = waiting.pop(done.index)
        outcome = FileOutcome(task, error=done.error, records=done.records)
        if done.error is None:
            made: EncodedImage = done.value
            try:
                outcome.result = finish_file(task.source, target, made.data, made.width, made.height, existing=existing)
            except EXPECTED_ERRORS as exc:
                outcome.error = exc
        settle(done.index, outcome)
        ready, due[:] = list(due), []
        yield from ready
    yield from due


def _payload(prepared: PreparedFile) -> tuple[PackedImage, str]:
    return PackedImage.pack(prepared.image), os.fspath(prepared.target)
