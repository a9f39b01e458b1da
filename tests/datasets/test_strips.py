"""The sample-strip script on tiny images and models: degraded LR, the columns in the models' order, errors."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from esrgan.datasets.strips import main
from esrgan.degradations import degraded_lr_file
from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not Test*: pytest would collect them
from esrgan.evaluation import TestOptions as Options
from esrgan.evaluation import load_degradation, luma_u8, make_sr
from esrgan.evaluation.strips import panel_origin, pick_crops, strip_size
from esrgan.image import mod_crop


def _nearest(img: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)


@pytest.fixture()
def tiny_set(tmp_path: Path) -> Path:
    hr = tmp_path / "HR"
    hr.mkdir()
    cv2.imwrite(str(hr / "cat.png"), np.ascontiguousarray(skimage.data.chelsea()[60:101, 100:150, ::-1]))  # 41x50
    cv2.imwrite(str(hr / "gray.png"), skimage.data.camera()[200:235, 180:213])  # 35x33
    return hr


def test_script_writes_the_strip_of_degraded_crops(tiny_set: Path, tmp_path: Path) -> None:
    import torch

    from esrgan.models import build_network, save_model

    weights = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        hparams = {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 1, "upscale": 2}
        weights.append(tmp_path / f"net{seed}.pth")
        save_model(build_network("SRVGGNetCompact", hparams), weights[-1])
    out = tmp_path / "strips" / "strip.png"
    argv = ["--hr", str(tiny_set), "--degradation", "degrade_test_x4", "--seed", "4", "-m", str(weights[1]),
            "-m", "bicubic", "-m", str(weights[0]), "--crop", "16", "--crops", "2", "--zoom", "1", "--device", "cpu",
            "--tile", "0", "-o", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    strip = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert strip.shape == (*strip_size(4, 5, 16), 3)  # 2 images x 2 crops; LR | net1 | bicubic | net0 | HR

    opts = Options(model="bicubic", scale=2, datasets=[DatasetOptions("t", tiny_set)])
    engine = dataclasses.replace(opts.engine, device="cpu", tile=0)
    fns = [make_sr(dataclasses.replace(opts, model=m, engine=engine))[0] for m in (str(weights[1]), "bicubic",
                                                                                    str(weights[0]))]  # fmt: skip
    degradation = load_degradation("degrade_test_x4", 4)
    row = 0
    for stem in ("cat", "gray"):
        hr = cv2.imread(str(tiny_set / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        hr = mod_crop(hr[:, :, ::-1] if hr.ndim == 3 else hr, 2)
        lr, _ = degraded_lr_file(tiny_set / f"{stem}.png", degradation.options, 2, 4)
        lr = lr if hr.ndim == 3 else luma_u8(lr)
        for y, x in pick_crops(hr, 16, 2):
            want = [_nearest(lr), *(fn(lr) for fn in fns), hr]
            for col, img in enumerate(want):
                top, left = panel_origin(row, col, 16)
                crop = img[y : y + 16, x : x + 16]
                crop = crop if crop.ndim == 3 else np.stack([crop] * 3, axis=2)
                np.testing.assert_array_equal(strip[top : top + 16, left : left + 16], crop, err_msg=f"{stem} {col}")
            row += 1
    assert main(argv) == 2  # the strip exists: --overwrite replaces it
    assert main([*argv, "--overwrite", "--image", "gray", "--zoom", "2", "--labels", "one", "two", "three"]) == 0
    assert cv2.imread(str(out)).shape == (*strip_size(2, 5, 32), 3)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-m", "bicubic", "--labels", "a", "b"], "'labels' names 2 columns for 1 models"),
        (["-m", "bicubic", "--image", "dog"], "no HR image called dog"),
        (["-m", "bicubic", "--crop", "15"], "crop size 15 is not a multiple of the scale 2"),
        (["-m", "bicubic", "--seed", "1"], "'seed' applies to a 'degradation' only"),
        (["-m", "bicubic", "--degradation", "degrade_tset_x4"], "did you mean 'degrade_test_x4'"),
        (["-m", "bicubic", "-m", "missing.pth"], "missing.pth"),
    ],
)
def test_script_errors_are_one_line(
    tiny_set: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, flags: list[str], message: str
) -> None:
    with caplog.at_level(logging.ERROR):
        assert main(["--hr", str(tiny_set), "-s", "2", "-o", str(tmp_path / "s.png"), "-q", *flags]) == 2
    (record,) = caplog.records
    assert message in record.getMessage() and "\n" not in record.getMessage()
    assert not (tmp_path / "s.png").exists()


def test_the_strip_never_joins_the_images_it_shows(tiny_set: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert main(["--hr", str(tiny_set), "-s", "2", "-m", "bicubic", "-o", str(tiny_set / "strip.png"), "-q"]) == 2
    assert "the strip would join the images it shows" in caplog.text and not (tiny_set / "strip.png").exists()
