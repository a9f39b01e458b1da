"""Validation during training: the EMA generator scored on the validation set as ``esrgan test`` scores.

The network runs through the inference engine on a copy, so the engine's in-place changes (eval mode, memory
format) never touch the training networks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from esrgan.evaluation import DatasetScore, engine_sr, score_image
from esrgan.image import ImageData, from_tensor, imresize, to_float, to_tensor, to_uint8, write_image
from esrgan.inference import Upscaler
from esrgan.train.options import ValDataOptions

__all__ = ["validate"]


def validate(
    net: nn.Module,
    val_set: Any,
    val: ValDataOptions,
    scale: int,
    device: torch.device,
    samples_dir: Path,
    iteration: int,
) -> dict[str, float]:
    """PSNR and SSIM of ``net`` on the validation set, scored as ``esrgan test`` scores (:mod:`esrgan.evaluation`):
    8-bit LR in, SR output rounded to 8 bits, Y channel, crop border = scale.

    The network runs through the inference engine (:class:`esrgan.inference.Upscaler`) on a copy, so the
    engine's in-place changes (eval mode, memory format) never touch the training networks. The first
    ``val.save_samples`` images are saved as ``samples/<stem>_<iter>.png``: LR-bicubic | SR | HR.
    """
    upscaler = Upscaler.from_options(copy.deepcopy(net), val.engine.with_default_device(str(device)))
    upscale = engine_sr(upscaler)
    # hr None (distillation): the references are the teacher's outputs on val.lr.
    reference = str(val.hr) if val.hr is not None else f"teacher outputs on {val.lr}"
    result = DatasetScore("validation", reference, str(val.lr) if val.lr is not None else None)
    for i in range(len(val_set)):
        item = val_set[i]
        stem = Path(item["path"]).stem
        lr8, hr8 = to_uint8(from_tensor(item["lr"])), to_uint8(from_tensor(item["hr"]))
        score, sr8 = score_image(stem, lr8, hr8, upscale, crop_border=scale)
        result.images.append(score)
        if i < val.save_samples:
            bicubic = imresize(item["lr"][None], scale).clamp(0.0, 1.0)[0]
            strip = torch.cat([bicubic, to_tensor(to_float(sr8))[0], item["hr"]], dim=2)
            samples_dir.mkdir(parents=True, exist_ok=True)
            write_image(samples_dir / f"{stem}_{iteration:08d}.png", ImageData(from_tensor(strip)))
    return {"psnr_y": result.psnr, "ssim_y": result.ssim}
