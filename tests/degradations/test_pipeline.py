"""The two-order pipeline: shapes, the 8-bit grid, reproducibility, each switch, records and captions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from esrgan.degradations import DegradationOptions, degrade, degraded_lr, degraded_lr_file, describe, usm_sharp
from esrgan.errors import InputError, LimitError
from esrgan.image import read_image, to_uint8
from esrgan.image.resize import bicubic_degrade

# Everything at its mildest: a near-delta blur, no resize, no noise, no JPEG, no second order, no final sinc;
# what is left is the final area resize (4x4 block means) and the rounding.
IDENTITY = DegradationOptions(
    kernel_list=("iso",), kernel_prob=(1.0,), sinc_prob=0.0, blur_sigma=(0.05, 0.05), resize_prob=(0, 0, 1),
    gaussian_noise_prob=1.0, noise_range=(0, 0), jpeg_prob=0.0, second_order_prob=0.0, final_sinc_prob=0.0,
    jpeg_prob2=0.0, resize_modes=("area",), gt_usm=False,
)  # fmt: skip


@pytest.fixture
def hr(photo_rgb: np.ndarray) -> np.ndarray:
    return photo_rgb[100:196, 180:260].astype(np.float32) / 255.0  # 96x80


def _area(img: np.ndarray, scale: int) -> np.ndarray:
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    out = F.interpolate(t, scale_factor=1 / scale, mode="area")[0].permute(1, 2, 0).numpy()
    return np.clip(np.round(out * 255), 0, 255) / 255


def test_shapes_grid_and_reproducibility(hr: np.ndarray) -> None:
    for seed in range(8):
        lr, record = degrade(hr, DegradationOptions(), 4, np.random.default_rng(seed))
        assert lr.shape == (24, 20, 3) and lr.dtype == np.float32
        assert lr.min() >= 0 and lr.max() <= 1
        np.testing.assert_array_equal(lr * 255, np.round(lr * 255))
        again, record2 = degrade(hr, DegradationOptions(), 4, np.random.default_rng(seed))
        np.testing.assert_array_equal(lr, again)
        assert record == record2
    other, _ = degrade(hr, DegradationOptions(), 4, np.random.default_rng(100))
    assert not np.array_equal(lr, other)


def test_plumbing_with_every_step_at_its_mildest(hr: np.ndarray) -> None:
    lr, record = degrade(hr, IDENTITY, 4, np.random.default_rng(0))
    np.testing.assert_allclose(lr, _area(hr, 4), atol=1.01 / 255)
    assert np.mean(lr != _area(hr, 4)) < 0.01
    assert set(record) == {"blur1", "resize1", "noise1", "second_order", "final_order", "final_mode"}
    # gt_usm: the degradation starts from the sharpened HR image.
    lr, _ = degrade(hr, dataclasses.replace(IDENTITY, gt_usm=True), 4, np.random.default_rng(0))
    np.testing.assert_allclose(lr, _area(usm_sharp(hr), 4), atol=1.01 / 255)


def test_each_switch(hr: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    every = dataclasses.replace(DegradationOptions(), second_blur_prob=1.0, final_sinc_prob=1.0)
    _, record = degrade(hr, every, 4, rng)
    assert {"blur1", "resize1", "noise1", "jpeg1", "blur2", "resize2", "noise2", "final_sinc", "jpeg2"} <= set(record)
    assert record["second_order"] is True
    records = [degrade(hr, DegradationOptions(), 4, rng)[1] for _ in range(200)]
    assert sum("blur2" in r for r in records) / 200 == pytest.approx(0.8, abs=0.1)
    assert sum("final_sinc" in r for r in records) / 200 == pytest.approx(0.8, abs=0.1)
    assert sum(r["final_order"] == "resize, jpeg" for r in records) / 200 == pytest.approx(0.5, abs=0.1)
    skipped = dataclasses.replace(DegradationOptions(), second_order_prob=0.0, jpeg_prob=0.0, jpeg_prob2=0.0)
    for r in (degrade(hr, skipped, 4, rng)[1] for _ in range(20)):
        assert r["second_order"] is False and not {"blur2", "resize2", "noise2", "jpeg1", "jpeg2"} & set(r)
    # The second-order resize is a factor of the LR size.
    r = degrade(hr, dataclasses.replace(DegradationOptions(), resize_prob2=(0, 1, 0)), 4, rng)[1]
    assert r["resize2"]["size"] == [int(24 * r["resize2"]["factor"]), int(20 * r["resize2"]["factor"])]


def test_degradation_strength_follows_the_options(hr: np.ndarray) -> None:
    clean = _area(hr, 4)
    mild = dataclasses.replace(IDENTITY, noise_range=(2, 2))
    strong = dataclasses.replace(IDENTITY, noise_range=(25, 25), jpeg_prob2=1.0, jpeg_range2=(20, 20))
    err = [np.abs(degrade(hr, o, 4, np.random.default_rng(1))[0] - clean).mean() for o in (mild, strong)]
    assert 0 < err[0] < err[1]


def test_rejects_sizes_that_are_not_multiples(hr: np.ndarray) -> None:
    with pytest.raises(ValueError, match="multiples of the scale 4"):
        degrade(hr[:95], DegradationOptions(), 4, np.random.default_rng(0))


def test_describe_says_what_was_drawn(hr: np.ndarray) -> None:
    every = dataclasses.replace(DegradationOptions(), second_blur_prob=1.0, final_sinc_prob=1.0)
    _, record = degrade(hr, every, 4, np.random.default_rng(7))
    lines = describe(record)
    assert len(lines) == 5 and all(len(line) <= 60 for line in lines)
    assert lines[0].startswith("blur1: ") and f"q{record['jpeg1']['quality']}" in lines[1]
    assert record["resize1"]["mode"] in lines[1] and f"q{record['jpeg2']['quality']}" in lines[4]
    _, record = degrade(hr, dataclasses.replace(IDENTITY, second_order_prob=0.0), 4, np.random.default_rng(7))
    assert describe(record)[2] == "second order skipped" and "no jpeg" in describe(record)[-1]


def test_degraded_lr_is_fixed_per_seed_and_name(hr: np.ndarray) -> None:
    opts = DegradationOptions()
    a, rec_a = degraded_lr(hr, opts, 4, seed=0, name="baby")
    b, rec_b = degraded_lr(hr, opts, 4, seed=0, name="baby")
    assert a.dtype == np.uint8 and a.shape == (24, 20, 3)
    np.testing.assert_array_equal(a, b)
    assert rec_a == rec_b
    assert not np.array_equal(a, degraded_lr(hr, opts, 4, seed=1, name="baby")[0])
    assert not np.array_equal(a, degraded_lr(hr, opts, 4, seed=0, name="bird")[0])
    # The HR image is mod-cropped first, like the benchmark protocol.
    assert degraded_lr(hr[:95, :79], opts, 4, seed=0, name="x")[0].shape == (23, 19, 3)
    with pytest.raises(InputError, match="smaller than the scale"):  # a bad input, not a bug
        degraded_lr(hr[:3], opts, 4, seed=0, name="tiny")


def test_clean_samples_are_the_benchmark_lr(photo_rgb: np.ndarray) -> None:
    """``clean_prob``: that share of samples gets MATLAB's uint8 bicubic LR (the benchmark LR file, bit for bit),
    the rest are degraded as before; the draw is per sample and reproducible."""
    hr8 = photo_rgb[100:196, 180:260]
    hr = hr8.astype(np.float32) / 255.0
    lr, record = degrade(hr, dataclasses.replace(IDENTITY, clean_prob=1.0), 4, np.random.default_rng(0))
    assert record == {"clean": True, "usm": False} and describe(record) == ["clean: MATLAB bicubic, no degradation"]
    assert lr.dtype == np.float32 and lr.shape == (24, 20, 3)
    np.testing.assert_array_equal(lr * 255, bicubic_degrade(hr8, 4).astype(np.float32))
    # gt_usm: the clean LR is made from the sharpened HR, as the degraded ones are.
    sharp, record = degrade(hr, DegradationOptions(clean_prob=1.0), 4, np.random.default_rng(0))
    np.testing.assert_array_equal(sharp * 255, bicubic_degrade(to_uint8(usm_sharp(hr)), 4).astype(np.float32))
    assert describe(record) == ["clean: MATLAB bicubic of the USM-sharpened HR"]
    # A float HR image (a float TIFF) is rounded to 8 bits as the scorer rounds it (float64, half up), also for
    # samples a hair below a rounding tie, where float32 arithmetic would round the other way.
    ties = np.nextafter(((np.arange(96 * 80 * 3) % 255 + 0.5) / 255).astype(np.float32), np.float32(0))
    hr_float = ties.reshape(96, 80, 3)
    lr, _ = degrade(hr_float, dataclasses.replace(IDENTITY, clean_prob=1.0), 4, np.random.default_rng(0))
    np.testing.assert_array_equal(lr * 255, bicubic_degrade(to_uint8(hr_float), 4).astype(np.float32))

    mixed = DegradationOptions(clean_prob=0.3)
    rng = np.random.default_rng(1)
    records = [degrade(hr, mixed, 4, rng)[1] for _ in range(400)]
    assert sum("clean" in r for r in records) / 400 == pytest.approx(0.3, abs=0.06)
    assert all("blur1" in r for r in records if "clean" not in r)  # the others run the whole model
    rng = np.random.default_rng(1)
    assert records == [degrade(hr, mixed, 4, rng)[1] for _ in range(400)]


def test_clean_prob_zero_draws_nothing(hr: np.ndarray) -> None:
    """At ``clean_prob: 0`` no number is drawn for it, so the samples of blocks without it (and of runs made before
    it existed) are unchanged: the draws equal those of the pipeline run from a generator with no clean draw."""
    for seed in range(5):
        off = degrade(hr, DegradationOptions(), 4, np.random.default_rng(seed))[1]
        # Any positive share draws one number first: with a share too small to hit, the rest of the draws shift.
        on = degrade(hr, DegradationOptions(clean_prob=1e-12), 4, np.random.default_rng(seed))[1]
        assert on != off
        shifted = np.random.default_rng(seed)
        shifted.random()
        assert on == degrade(hr, DegradationOptions(), 4, shifted)[1]


def test_degraded_lr_file_reads_the_hr_as_the_scorer_does(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    """EXIF orientation applied (the LR has the upright HR's shape, as scoring compares them), gray replicated."""
    crop = photo_rgb[100:148, 180:220]  # 48x40
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 48x40, shown turned: 40x48
    Image.fromarray(crop).save(tmp_path / "turned.webp", lossless=True, exif=exif)
    opts = DegradationOptions(clean_prob=1.0, gt_usm=False)
    lr, _ = degraded_lr_file(tmp_path / "turned.webp", opts, 4, seed=0)
    upright = to_uint8(read_image(tmp_path / "turned.webp").pixels)
    assert upright.shape == (40, 48, 3)
    np.testing.assert_array_equal(lr, bicubic_degrade(upright, 4))
    Image.fromarray(crop[:, :, 1]).save(tmp_path / "gray.png")
    lr, _ = degraded_lr_file(tmp_path / "gray.png", opts, 4, seed=0)
    np.testing.assert_array_equal(lr, bicubic_degrade(np.repeat(crop[:, :, 1:2], 3, axis=2), 4))
    with pytest.raises(InputError, match="smaller than the scale"):
        degraded_lr_file(tmp_path / "gray.png", opts, 64, seed=0)


def test_a_whole_image_too_large_to_resize_is_a_limit_error() -> None:
    """Test sets degrade whole images: one that the block's up-resizes would make over MAX_RESIZED_SIDE pixels a
    side is refused before any work (named by the caller, the other images go on), not an allocation failure."""
    from esrgan.degradations.options import MAX_RESIZED_SIDE

    side = int(MAX_RESIZED_SIDE / 1.5) + 4
    side -= side % 4
    big = np.zeros((side, 8, 3), np.float32)  # zeros cost nothing to allocate until touched
    with pytest.raises(LimitError, match=r"resized up to x1\.5 it would be over 8192 pixels a side"):
        degrade(big, DegradationOptions(), 4, np.random.default_rng(0))


def test_a_huge_file_is_refused_from_its_header(tmp_path: Path) -> None:
    """A 57-byte PNG declaring 50000x50000: refused by the resize bound read from the header, before decoding
    (it used to reach OpenCV, whose own limit answered with its assertion text)."""
    import time

    from tests.image.test_probe import png

    (tmp_path / "bomb.png").write_bytes(png(50000, 50000))
    start = time.process_time()
    with pytest.raises(LimitError, match=r"bomb\.png: the HR image is 50000x50000; resized up to x1\.5"):
        degraded_lr_file(tmp_path / "bomb.png", DegradationOptions(), 4, seed=0)
    assert time.process_time() - start < 0.5
