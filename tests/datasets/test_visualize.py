"""The training-pair grid: a PNG of the expected size, LR (nearest-upscaled) beside HR, degradation captions."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import yaml

from esrgan.datasets.visualize import GAP, MARGIN, caption_height, grid_size, main


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


def _options_file(tmp_path: Path, photo_rgb: np.ndarray, degradation: dict[str, object] | None) -> Path:
    hr = tmp_path / "photos"
    hr.mkdir(exist_ok=True)
    cv2.imwrite(str(hr / "a.png"), photo_rgb[:120, :100, ::-1])
    cv2.imwrite(str(hr / "b.png"), photo_rgb[200:300, 300:380, ::-1])
    opts = {
        "name": "vis",
        "stage": "psnr",
        "scale": 4,
        "data": {"train": {"hr": str(hr), "patch_size": 32, "degradation": degradation}},
        "train": {"total_iter": 1},
    }
    path = tmp_path / "train.yml"
    path.write_text(yaml.safe_dump(opts))
    return path


def test_degraded_grid_with_captions_and_records(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    options = _options_file(tmp_path, photo_rgb, {"crop_pad_size": 48, "second_blur_prob": 1.0})
    out = tmp_path / "deg.png"
    args = ["--options", str(options), "-n", "3", "--cols", "2", "-o", str(out), "-q"]
    assert main(args) == 0
    grid = cv2.imread(str(out))[:, :, ::-1]
    zoom = 6  # ceil(192 / 32): captioned cells are zoomed so the text fits
    assert grid.shape[:2] == grid_size(3, 2, 32 * zoom, caption_lines=5)
    records = json.loads(out.with_suffix(".json").read_text())
    assert len(records) == 3 and all("blur2" in r["degradation"] and r["path"].endswith(".png") for r in records)
    # Each caption says what was drawn: the text area under the first cell is not blank.
    caption = grid[32 * zoom : 32 * zoom + caption_height(5), : 64 * zoom]
    assert (caption < 128).any() and (caption == 255).mean() > 0.5
    # The LR cell is a blocky (nearest) upscale of an 8x8 patch: 6 * 4 = 24-pixel blocks.
    lr_cell = grid[: 32 * zoom, : 32 * zoom].astype(int)
    assert (lr_cell[::24, ::24].repeat(24, 0).repeat(24, 1) == lr_cell).all()
    # The same seed draws the same samples; the records' file exists, so --overwrite is needed.
    assert main(args) == 2
    assert main([*args, "--overwrite"]) == 0
    assert json.loads(out.with_suffix(".json").read_text()) == records
    # A training set without degradations: plain pairs, no captions, no records; bad overrides are one error.
    plain = _options_file(tmp_path, photo_rgb, None)
    out2 = tmp_path / "plain.png"
    assert main(["--options", str(plain), "-n", "2", "-o", str(out2), "-q"]) == 0
    assert cv2.imread(str(out2)).shape[:2] == grid_size(2, 4, 32) and not out2.with_suffix(".json").exists()
    bad = ["--options", str(plain), "--set", "data.train.degradation.jpeg_rang=[1, 2]", "-o", str(out2), "-q"]
    assert main(bad) == 2


def test_clean_samples_in_the_grid_are_named(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    """With ``clean_prob`` the grid mixes clean and degraded samples; each says which it is (caption and JSON)."""
    options = _options_file(tmp_path, photo_rgb, {"crop_pad_size": 48, "clean_prob": 0.5})
    out = tmp_path / "mix.png"
    assert main(["--options", str(options), "-n", "8", "-o", str(out), "-q", "--seed", "3"]) == 0
    kinds = ["clean" in r["degradation"] for r in json.loads(out.with_suffix(".json").read_text())]
    assert any(kinds) and not all(kinds)
    grid = cv2.imread(str(out))
    assert grid.shape[:2] == grid_size(8, 4, 32 * 6, caption_lines=5)  # the degraded cells' captions set the height


def test_a_shipped_options_name_works_as_for_esrgan_train(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    hr = tmp_path / "hr"
    hr.mkdir()
    cv2.imwrite(str(hr / "a.png"), photo_rgb[:120, :100, ::-1])
    out = tmp_path / "shipped.png"
    args = ["--options", "train_RealESRNet_x4_cpu", "--set", f"data.train.hr={hr}", "--set", "data.train.cache=false"]
    assert main([*args, "-n", "2", "-o", str(out), "-q"]) == 0
    assert len(json.loads(out.with_suffix(".json").read_text())) == 2
