"""A whole evaluation run: preparation order, scores per dataset, saved SR images, a model through the engine."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from esrgan.datasets.make_degraded_lr import main as make_degraded_lr
from esrgan.errors import OutputError
from esrgan.evaluation import (
    Evaluation,
    bicubic_sr,
    check_outputs,
    load_pair,
    make_sr,
    score_image,
)
from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not Test*: pytest would collect them
from esrgan.evaluation import TestOptions as Options
from esrgan.evaluation.protocol import SHIPPED_OPTIONS
from esrgan.inference import EngineOptions

CPU_WHOLE = EngineOptions(tile=0, precision="fp32", device="cpu")  # whole images on the CPU


@pytest.fixture()
def hr_dir(tmp_path: Path) -> Path:
    root = tmp_path / "HR"
    root.mkdir()
    cv2.imwrite(str(root / "cat.png"), skimage.data.chelsea()[60:125, 100:171, ::-1])
    cv2.imwrite(str(root / "gray.png"), skimage.data.camera()[200:261, 180:237])
    return root


def _opts(hr: Path, **changes: object) -> Options:
    args: dict[str, object] = {"model": "bicubic", "scale": 2, "datasets": [DatasetOptions("T", hr)]}
    return Options(**{**args, **changes})  # type: ignore[arg-type]


def test_run_scores_every_pair_like_the_protocol(hr_dir: Path) -> None:
    evaluation = Evaluation.prepare(_opts(hr_dir, crop_border=1))
    assert (evaluation.scale, evaluation.crop_border, evaluation.model) == (2, 1, None)
    seen: list[str] = []

    def progress(pairs: list[tuple[str, Path, Path | None]], name: str) -> list[tuple[str, Path, Path | None]]:
        seen.append(name)
        return pairs

    (result,) = list(evaluation.run(progress))
    assert seen == ["T"] and [s.image for s in result.images] == ["cat", "gray"]
    for s, name in zip(result.images, ("cat", "gray"), strict=True):
        lr, hr = load_pair(hr_dir / f"{name}.png", None, 2)
        expected, _ = score_image(name, lr, hr, bicubic_sr(2), crop_border=1)
        assert (s.psnr, s.ssim, s.height, s.width) == (expected.psnr, expected.ssim, expected.height, expected.width)


def test_saved_images_are_what_was_scored_and_inputs_are_safe(hr_dir: Path, tmp_path: Path) -> None:
    (result,) = Evaluation.prepare(_opts(hr_dir, save=tmp_path / "sr")).run()
    assert [s.image for s in result.images] == ["cat", "gray"]
    gray_sr = cv2.imread(str(tmp_path / "sr" / "T" / "gray.png"), cv2.IMREAD_UNCHANGED)
    lr, hr = load_pair(hr_dir / "gray.png", None, 2)
    assert gray_sr.shape == hr.shape  # saved gray, as scored
    np.testing.assert_array_equal(gray_sr, bicubic_sr(2)(lr))
    with pytest.raises(FileExistsError, match=r"cat\.png already exists"):
        Evaluation.prepare(_opts(hr_dir, save=tmp_path / "sr"))
    # A save folder that is the input folder: refused before anything is written over an input.
    before = (hr_dir / "cat.png").read_bytes()
    with pytest.raises(OutputError, match=r"cat\.png: an output would replace this input image"):
        Evaluation.prepare(_opts(hr_dir, save=hr_dir.parent, overwrite=True, datasets=[DatasetOptions("HR", hr_dir)]))
    assert (hr_dir / "cat.png").read_bytes() == before


def test_check_outputs_names_the_existing_file(hr_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("x")
    opts = _opts(hr_dir, csv=tmp_path / "s.csv")
    with pytest.raises(FileExistsError, match=r"s\.csv already exists"):
        check_outputs(opts, [])
    check_outputs(_opts(hr_dir, csv=tmp_path / "s.csv", overwrite=True), [])


def test_model_through_the_engine(hr_dir: Path, tiny_model: Path) -> None:
    sr, scale, model = make_sr(_opts(hr_dir, model=str(tiny_model), scale=None, engine=CPU_WHOLE))
    assert scale == 4 and model is not None and model["arch"] == "RRDBNet" and len(model["sha256"]) == 64
    out = sr(np.zeros((8, 6, 3), np.uint8))
    assert out.shape == (32, 24, 3) and out.dtype == np.uint8
    evaluation = Evaluation.prepare(_opts(hr_dir, model=str(tiny_model), scale=None, engine=CPU_WHOLE))
    assert evaluation.scale == 4 and evaluation.crop_border == 4  # the model's scale, taken before pairing
    with pytest.raises(ValueError, match="upscales x4 but scale 2 was asked"):
        make_sr(_opts(hr_dir, model=str(tiny_model), scale=2))


def test_make_sr_of_bicubic_is_the_matlab_baseline(hr_dir: Path) -> None:
    sr, scale, model = make_sr(_opts(hr_dir, scale=3))
    lr = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
    assert scale == 3 and model is None
    np.testing.assert_array_equal(sr(lr), bicubic_sr(3)(lr))


def test_a_degraded_set_scores_as_its_lr_folder(hr_dir: Path, tmp_path: Path) -> None:
    """LR made in memory by a block and seed scores exactly as the folder make_degraded_lr writes."""
    options = str(SHIPPED_OPTIONS / "degrade_test_x4.yml")
    folder = tmp_path / "LR"
    assert make_degraded_lr([str(hr_dir), str(folder), "--options", options, "-s", "2", "--seed", "1", "-q"]) == 0
    made = Evaluation.prepare(_opts(hr_dir, datasets=[DatasetOptions("T", hr_dir, degradation=options, seed=1)]))
    assert made.degradations["T"].seed == 1 and made.degradations["T"].path == Path(options)
    (result,) = list(made.run())
    (given,) = list(Evaluation.prepare(_opts(hr_dir, datasets=[DatasetOptions("T", hr_dir, folder)])).run())
    assert result.degradation is made.degradations["T"] and given.degradation is None
    assert [(s.image, s.psnr, s.ssim) for s in result.images] == [(s.image, s.psnr, s.ssim) for s in given.images]
    (bicubic,) = list(Evaluation.prepare(_opts(hr_dir)).run())
    assert all(a.psnr != b.psnr for a, b in zip(result.images, bicubic.images, strict=True))
    # The block is read before any model is loaded: a misspelled name fails at once.
    with pytest.raises(FileNotFoundError, match="did you mean 'degrade_test_x4'"):
        Evaluation.prepare(_opts(hr_dir, model="missing.pth", scale=2,
                                 datasets=[DatasetOptions("T", hr_dir, degradation="degrade_tset_x4")]))  # fmt: skip
