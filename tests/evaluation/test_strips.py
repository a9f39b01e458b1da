"""Sample strips: crop choice, the layout (sizes, order of the columns), a whole strip and its argument checks."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not Test*: pytest would collect them
from esrgan.evaluation import bicubic_sr, luma_u8
from esrgan.evaluation.strips import (
    BACKGROUND,
    CAPTION,
    HEADER,
    StripRow,
    draw_strip,
    panel_origin,
    pick_crops,
    sample_strip,
    strip_rows,
    strip_size,
)
from esrgan.image import bicubic_degrade


def _nearest(scale: int):  # type: ignore[no-untyped-def]
    return lambda lr: np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)


def _as_rgb(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 3 else np.stack([img] * 3, axis=2)


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


def test_sample_strip_of_a_folder_with_bicubic(tmp_path: Path) -> None:
    hr_dir = tmp_path / "HR"
    hr_dir.mkdir()
    images = _images()
    for stem, _, hr in images:
        cv2.imwrite(str(hr_dir / f"{stem}.png"), hr[:, :, ::-1] if hr.ndim == 3 else hr)
    dataset = DatasetOptions("t", hr_dir)
    strip = sample_strip(dataset, ["bicubic", "bicubic"], scale=2, size=16, crops=1, zoom=1, labels=["x", "y"])
    assert strip.shape == (*strip_size(2, 4, 16), 3)
    for row, (_, _, hr) in enumerate(images):
        lr = bicubic_degrade(hr, 2)
        (y, x), sr = pick_crops(hr, 16, 1)[0], bicubic_sr(2)(lr)
        for col, img in enumerate([_nearest(2)(lr), sr, sr, hr]):
            top, left = panel_origin(row, col, 16)
            want = img[y : y + 16, x : x + 16]
            np.testing.assert_array_equal(strip[top : top + 16, left : left + 16], _as_rgb(want))
    only = sample_strip(dataset, ["bicubic"], scale=2, size=16, crops=5, zoom=1, images=["g"])
    assert only.shape == (*strip_size(2, 3, 16), 3)  # the gray image holds two tiles


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"models": []}, ValueError, "'models' is empty"),
        ({"labels": ["a", "b"]}, ValueError, "'labels' names 2 columns for 1 models"),
        ({"zoom": 0}, ValueError, "'size', 'crops' and 'zoom' must be positive"),
        ({"images": ["dog"]}, ValueError, "no HR image called dog"),
        ({"size": 64}, ValueError, "no image in .* holds a 64x64 crop"),
        ({"scale": None}, ValueError, "'scale' is required for the bicubic baseline"),
        ({"models": ["bicubic", "missing.pth"]}, FileNotFoundError, "missing.pth"),
    ],
)
def test_sample_strip_errors_name_its_arguments(
    tmp_path: Path, changes: dict[str, object], error: type[Exception], message: str
) -> None:
    hr_dir = tmp_path / "HR"
    hr_dir.mkdir()
    cv2.imwrite(str(hr_dir / "a.png"), _images()[0][2])
    args: dict[str, object] = {"models": ["bicubic"], "scale": 2, "size": 16, **changes}
    with pytest.raises(error, match=message):
        sample_strip(DatasetOptions("t", hr_dir), **args)  # type: ignore[arg-type]
