"""Training validation (esrgan/train/validate.py): scored like ``esrgan test``, samples written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from esrgan.train import validate as validate_module


def test_validate_scores_y_psnr_with_crop_border(tmp_path: Path, image_dirs: dict[str, Path]) -> None:
    """validate() scores the engine's 8-bit output on Y with crop = scale, like esrgan.metrics does."""
    import torch.nn.functional as F

    from esrgan.data import ValidationDataset
    from esrgan.metrics import calculate_psnr, calculate_ssim
    from esrgan.train.options import ValDataOptions

    class Nearest(torch.nn.Module):  # carries the SRNetwork contract
        arch_name = "Nearest"
        scale = 4
        size_multiple = min_size = 1
        num_in_ch = num_out_ch = 3
        supports_fp16 = supports_bf16 = True

        def hparams(self) -> dict[str, int]:
            return {}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, scale_factor=4, mode="nearest")

    val_set = ValidationDataset(image_dirs["val"], 4)
    scores = validate_module.validate(
        Nearest(), val_set, ValDataOptions(hr=image_dirs["val"], save_samples=2), 4, torch.device("cpu"), tmp_path, 7
    )
    psnrs, ssims = [], []
    for i in range(len(val_set)):
        item = val_set[i]
        sr = F.interpolate(item["lr"][None], scale_factor=4, mode="nearest")[0]
        sr8 = (sr.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        hr8 = (item["hr"] * 255).round().byte().permute(1, 2, 0).numpy()
        psnrs.append(calculate_psnr(sr8, hr8, crop_border=4))
        ssims.append(calculate_ssim(sr8, hr8, crop_border=4))
    assert scores["psnr_y"] == pytest.approx(sum(psnrs) / 2)
    assert scores["ssim_y"] == pytest.approx(sum(ssims) / 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val0_00000007.png", "val1_00000007.png"]
