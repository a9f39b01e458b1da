"""The training-pair grid: a PNG of the expected size, LR (nearest-upscaled) beside HR."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from esrgan.datasets.visualize import GAP, MARGIN, grid_size, main


def test_grid_png(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    hr = tmp_path / "HR"
    hr.mkdir()
    cv2.imwrite(str(hr / "a.png"), photo_rgb[:96, :96, ::-1])
    out = tmp_path / "grid.png"
    args = ["--hr", str(hr), "-s", "4", "--patch-size", "32", "-n", "5", "--cols", "2", "-o", str(out), "-q"]
    assert main([*args, "--no-augment"]) == 0
    grid = cv2.imread(str(out))[:, :, ::-1]
    assert grid.shape[:2] == grid_size(5, 2, 32) == (3 * 32 + 2 * MARGIN, 2 * (64 + GAP) + MARGIN)
    lr_up, hr_patch = grid[:32, :32].astype(int), grid[:32, 32 + GAP : 64 + GAP].astype(int)
    assert (lr_up[::4, ::4][:, :, None, None] == lr_up.reshape(8, 4, 8, 4, 3).transpose(0, 2, 1, 3, 4)).all()
    # The HR patch is a crop of the photo and its 4x4 block means are close to the LR pixels.
    assert np.abs(hr_patch.reshape(8, 4, 8, 4, 3).mean((1, 3)) - lr_up[::4, ::4]).mean() < 12
    assert main(args) == 2  # exists
    assert main([*args, "--overwrite"]) == 0
