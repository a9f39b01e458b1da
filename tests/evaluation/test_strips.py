"""Sample strips: crop choice, the layout (sizes, order of the columns), and the script on tiny images and models."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from esrgan.degradations import degraded_lr_file
from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not Test*: pytest would collect them
from esrgan.evaluation import TestOptions as Options
from esrgan.evaluation import load_degradation, luma_u8, make_sr
from esrgan.evaluation.strips import (
    BACKGROUND,
    CAPTION,
    HEADER,
    StripRow,
    draw_strip,
    main,
    panel_origin,
    pick_crops,
    strip_rows,
    strip_size,
)
from esrgan.image import mod_crop


def _nearest(scale: int):  # type: ignore[no-untyped-def]
    return lambda lr: np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)


def _images() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(stem, LR, HR) of two tiny x2 images, one gray."""
    rgb = np.ascontiguousarray(skimage.data.astronaut()[100:132, 150:198])  # 32x48: 2 x 3 tiles of 16
    gray = np.ascontiguousarray(skimage.data.camera()[200:220, 180:216])  # 20x36: 1 x 2 tiles of 16
    return [(stem, img[::2, ::2], img) for stem, img in (("a", rgb), ("g", gray))]


def test_pick_crops_takes_the_most_detailed_tiles() -> None:
    hr = np.full((28, 44, 3), 128, np.uint8)  # 3 x 5 whole tiles of 8, and a margin
    checker = np.indices((8, 8)).sum(axis=0)[:, :, None] % 2
    hr[16:24, 32:40] = 128 + 60 * checker  # a faint checkerboard
    hr[0:8, 8:16] = 255 * checker  # a strong one
    assert pick_crops(hr, 8, 2) == [(0, 8), (16, 32)]
    assert pick_crops(luma_u8(hr), 8, 1) == [(0, 8)]  # gray too
    everything = pick_crops(hr, 8, 100)
    assert len(everything) == 3 * 5 and len(set(everything)) == 15  # fewer when there are fewer tiles
    assert all(y % 8 == 0 and x % 8 == 0 for y, x in everything)
    assert pick_crops(hr, 16, 9) == [(0, 0), (0, 16)]  # the strong checkerboard's tile first
    assert pick_crops(hr, 32, 2) == []


def test_rows_keep_the_column_order_lr_models_hr(caplog: pytest.LogCaptureFixture) -> None:
    images = _images()
    brighter = lambda lr: np.clip(_nearest(2)(lr).astype(int) + 40, 0, 255).astype(np.uint8)  # noqa: E731
    with caplog.at_level(logging.WARNING):
        rows = strip_rows([*images, ("tiny", images[0][1][:6, :6], images[0][2][:12, :12])],
                          [_nearest(2), brighter], 2, 16, 2)  # fmt: skip
    assert "tiny: 12x12 is smaller than a 16-pixel crop; skipped" in caplog.text
    assert len(rows) == 2 + 2  # two crops of each image that holds a crop
    for row, (stem, lr, hr) in zip(rows, [images[0]] * 2 + [images[1]] * 2, strict=True):
        x, y = (int(v) for v in row.captions[0].split()[1].split(","))
        assert row.captions[0].startswith(f"{stem} ") and (y, x) in pick_crops(hr, 16, 2)
        assert [p.shape for p in row.panels] == [(16, 16, 3)] * 4 and row.captions[3] == ""
        hr_crop = hr[y : y + 16, x : x + 16]
        expected = [_nearest(2)(lr)[y : y + 16, x : x + 16], _nearest(2)(lr)[y : y + 16, x : x + 16],
                    brighter(lr)[y : y + 16, x : x + 16], hr_crop]  # fmt: skip
        for panel, want in zip(row.panels, expected, strict=True):
            np.testing.assert_array_equal(panel, want if want.ndim == 3 else np.stack([want] * 3, axis=2))
        assert row.captions[1].endswith(" dB") and row.captions[1] != row.captions[2]  # PSNR of each model's crop
    with pytest.raises(ValueError, match="crop size 15 is not a multiple of the scale 2"):
        strip_rows(images, [_nearest(2)], 2, 15, 1)


def test_draw_strip_places_every_panel_and_label() -> None:
    rng = np.random.default_rng(0)
    rows = [StripRow([rng.integers(0, 256, (6, 6, 3), dtype=np.uint8) for _ in range(4)], ["a 0,0", "1", "2", ""])
            for _ in range(3)]  # fmt: skip
    strip = draw_strip(rows, ["LR", "A", "B", "HR"], zoom=3)
    assert strip.shape == (*strip_size(3, 4, 18), 3) == (HEADER + 3 * (18 + CAPTION) + 2 * 4, 4 * 18 + 3 * 4, 3)
    assert strip.dtype == np.uint8
    for r, row in enumerate(rows):
        for c, panel in enumerate(row.panels):
            y, x = panel_origin(r, c, 18)
            np.testing.assert_array_equal(strip[y : y + 18, x : x + 18], np.kron(panel, np.ones((3, 3, 1), np.uint8)))
            below = strip[y + 18 : y + 18 + CAPTION, x : x + 18]
            assert (below != BACKGROUND).any() == (c < 3)  # captions under LR and models, none under HR
    assert (strip[:HEADER] != BACKGROUND).any() and (strip[HEADER:, 18:22] == BACKGROUND).all()  # a gap
    with pytest.raises(ValueError, match="every row needs 3 panels"):
        draw_strip(rows, ["LR", "A", "HR"])
    with pytest.raises(ValueError, match="no crops"):
        draw_strip([], ["LR", "HR"])


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
            want = [_nearest(2)(lr), *(fn(lr) for fn in fns), hr]
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
        (["-m", "bicubic", "--labels", "a", "b"], "2 labels for 1 models"),
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
