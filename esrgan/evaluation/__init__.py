"""Evaluation as SR papers report it: pairing, LR images, 8-bit rounding, PSNR/SSIM on Y, tables, CSV and JSON.

- :mod:`~esrgan.evaluation.options`: :class:`TestOptions` (the schema of ``options/test_*.yml`` and ``esrgan test``).
- :mod:`~esrgan.evaluation.protocol`: the protocol image by image (:func:`list_pairs`, :func:`load_pair`,
  :func:`score_image`) and the score types; training validation scores through it too.
- :mod:`~esrgan.evaluation.run`: :class:`Evaluation`, a whole run over the datasets of a :class:`TestOptions`.
- :mod:`~esrgan.evaluation.report`: tables, CSV and JSON.

The measures themselves (PSNR, SSIM, BT.601 Y) are :mod:`esrgan.metrics`; the MATLAB bicubic resize that makes the
LR images is :mod:`esrgan.image.resize`.
"""

from esrgan.evaluation.options import BICUBIC, TestDatasetOptions, TestOptions
from esrgan.evaluation.protocol import (
    DatasetScore,
    Degradation,
    ImageFailure,
    ImageScore,
    Pair,
    SRFunction,
    bicubic_sr,
    engine_sr,
    list_pairs,
    load_degradation,
    load_pair,
    load_uint8,
    luma_u8,
    score_image,
)
from esrgan.evaluation.report import (
    format_summary,
    format_table,
    lr_source,
    results_csv,
    results_json,
    write_results,
)
from esrgan.evaluation.run import Evaluation, check_outputs, make_sr

__all__ = [
    "BICUBIC",
    "DatasetScore",
    "Degradation",
    "Evaluation",
    "ImageFailure",
    "ImageScore",
    "Pair",
    "SRFunction",
    "TestDatasetOptions",
    "TestOptions",
    "bicubic_sr",
    "check_outputs",
    "engine_sr",
    "format_summary",
    "format_table",
    "list_pairs",
    "load_degradation",
    "load_pair",
    "load_uint8",
    "lr_source",
    "luma_u8",
    "make_sr",
    "results_csv",
    "results_json",
    "score_image",
    "write_results",
]
