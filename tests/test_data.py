"""Training datasets: aligned crops, identical augmentation, LMDB == folder, determinism, on-the-fly LR."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from esrgan.data import (
    DegradedDataset,
    HROnlyDataset,
    ImageSource,
    PairedImageDataset,
    ValidationDataset,
    read_meta_info,
    seed_worker,
)
from esrgan.datasets.make_lmdb import write_lmdb
from esrgan.degradations import DegradationOptions
from esrgan.image import bicubic_degrade, imresize, mod_crop


def _write(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB (or gray) array with OpenCV (which wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1] if rgb.ndim == 3 else rgb)
    return path


def _coded_pair(root: Path, stem: str, h: int, w: int, s: int) -> None:
    """LR pixel (y, x) = (y, x, 7); HR pixel (Y, X) = (Y // s, X // s, sub-pixel index): alignment is readable."""
    yy, xx = np.mgrid[0:h, 0:w]
    _write(root / "LR" / f"{stem}.png", np.stack([yy, xx, np.full_like(yy, 7)], -1).astype(np.uint8))
    yy, xx = np.mgrid[0 : h * s, 0 : w * s]
    hr = np.stack([yy // s, xx // s, (yy % s) * s + xx % s], -1).astype(np.uint8)
    _write(root / "HR" / f"{stem}.png", hr)


def _u8(t: torch.Tensor) -> np.ndarray:
    return (t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.int64)


def _transform_of(lr: np.ndarray) -> tuple[int, int, int, int]:
    """Which dihedral transform a coded LR patch went through: the coordinate steps along rows and columns."""
    return (
        int(lr[1, 0, 0] - lr[0, 0, 0]),
        int(lr[1, 0, 1] - lr[0, 0, 1]),
        int(lr[0, 1, 0] - lr[0, 0, 0]),
        int(lr[0, 1, 1] - lr[0, 0, 1]),
    )


@pytest.mark.parametrize("augment", [False, True])
def test_paired_crops_are_aligned_and_augmented_alike(tmp_path: Path, augment: bool) -> None:
    s, p = 4, 32
    _coded_pair(tmp_path, "a", 30, 40, s)
    _coded_pair(tmp_path, "b", 25, 20, s)
    ds = PairedImageDataset(tmp_path / "HR", tmp_path / "LR", s, p, hflip=augment, rot90=augment, seed=3)
    assert len(ds) == 2
    seen = set()
    for i in range(48):
        item = ds[i % 2]
        lr, hr = _u8(item["lr"]), _u8(item["hr"])
        assert lr.shape == (p // s, p // s, 3) and hr.shape == (p, p, 3)
        assert item["path"].endswith(("a.png", "b.png"))
        # HR block (i, j) must come from LR pixel (i, j): same coordinates in R and G, after any transform.
        blocks = hr[:, :, :2].reshape(p // s, s, p // s, s, 2)
        assert (blocks == lr[:, None, :, None, :2]).all()
        seen.add(_transform_of(lr))
    assert len(seen) == (8 if augment else 1)
    if not augment:
        assert seen == {(1, 0, 0, 1)}


def test_paired_hr_larger_than_lr_times_scale_is_mod_cropped(tmp_path: Path) -> None:
    s = 3
    _coded_pair(tmp_path, "a", 10, 12, s)
    hr = cv2.imread(str(tmp_path / "HR" / "a.png"))
    cv2.imwrite(str(tmp_path / "HR" / "a.png"), np.pad(hr, ((0, 2), (0, 1), (0, 0))))  # not mod-cropped
    item = PairedImageDataset(tmp_path / "HR", tmp_path / "LR", s, None, hflip=False, rot90=False)[0]
    assert tuple(item["hr"].shape) == (3, 30, 36) and tuple(item["lr"].shape) == (3, 10, 12)
    cv2.imwrite(str(tmp_path / "HR" / "a.png"), np.pad(hr, ((0, 3), (0, 0), (0, 0))))  # one LR row too many
    with pytest.raises(ValueError, match="must equal the HR size mod-cropped"):
        PairedImageDataset(tmp_path / "HR", tmp_path / "LR", s, None)[0]


def _find(patch: np.ndarray, image: np.ndarray) -> tuple[int, int]:
    p = patch.shape[0]
    cand = np.argwhere((image[: 1 - p or None, : 1 - p or None] == patch[0, 0]).all(-1))
    hits = [(y, x) for y, x in cand if np.array_equal(image[y : y + p, x : x + p], patch)]
    assert len(hits) == 1
    return hits[0]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_hr_only_lr_equals_crop_of_offline_lr(tmp_path: Path, photo_rgb: np.ndarray, scale: int) -> None:
    hr = photo_rgb[150:250, 180:270]  # 100 x 90: not a multiple of 3 or 4
    _write(tmp_path / "HR" / "photo.png", hr)
    p = 8 * scale
    ds = HROnlyDataset(tmp_path / "HR", scale, p, hflip=False, rot90=False, seed=1)
    offline = bicubic_degrade(hr, scale)  # the whole image, as make_lr would store it
    corners = set()
    for _ in range(30):
        item = ds[0]
        hr_patch, lr_patch = _u8(item["hr"]), _u8(item["lr"])
        y, x = _find(hr_patch, hr.astype(np.int64))
        assert y % scale == 0 and x % scale == 0  # on the LR grid
        ly, lx = y // scale, x // scale
        np.testing.assert_array_equal(lr_patch, offline[ly : ly + 8, lx : lx + 8])
        corners.add((ly == 0 or ly + 8 == offline.shape[0], lx == 0 or lx + 8 == offline.shape[1]))
    assert len(corners) > 1  # both interior and border crops were checked


def test_hr_only_augmentation_matches_between_lr_and_hr(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    _write(tmp_path / "HR" / "photo.png", photo_rgb[:64, :64])
    ds = HROnlyDataset(tmp_path / "HR", 4, 32, seed=2)
    for _ in range(12):
        item = ds[0]
        # Downscaling the HR patch gives (up to the patch-border context) the LR patch: same orientation.
        lr_of_hr = imresize(item["hr"][None].double(), 0.25)[0]
        err = (lr_of_hr - item["lr"].double()).abs()[:, 2:-2, 2:-2].max().item()
        assert err < 3 / 255


def _mild_degradation(crop: int) -> DegradationOptions:
    """Every step at its mildest: what is left is the final area resize (block means) and 8-bit rounding."""
    return DegradationOptions(
        kernel_list=("iso",), kernel_prob=(1.0,), sinc_prob=0.0, blur_sigma=(0.05, 0.05), resize_prob=(0, 0, 1),
        gaussian_noise_prob=1.0, noise_range=(0, 0), jpeg_prob=0.0, second_order_prob=0.0, final_sinc_prob=0.0,
        jpeg_prob2=0.0, resize_modes=("area",), gt_usm=False, crop_pad_size=crop,
    )  # fmt: skip


def test_degraded_patches_are_aligned_crops(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    _write(tmp_path / "HR" / "photo.png", photo_rgb[:120, :100])
    ds = DegradedDataset(tmp_path / "HR", 4, 32, _mild_degradation(64), seed=3)
    for seed in range(6):
        ds.reseed(seed)
        item = ds[0]
        assert item["lr"].shape == (3, 8, 8) and item["hr"].shape == (3, 32, 32)
        block_means = torch.nn.functional.avg_pool2d(item["hr"][None], 4)[0]
        torch.testing.assert_close(item["lr"], (block_means * 255).round() / 255, atol=1.01 / 255, rtol=0)
    # The same (index, seed) gives the same sample and record; the default model degrades visibly.
    full = DegradedDataset(tmp_path / "HR", 4, 32, DegradationOptions(crop_pad_size=64))
    full.reseed(5)
    a, rec_a = full.item_with_record(0)
    full.reseed(5)
    b, rec_b = full.item_with_record(0)
    assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"]) and rec_a == rec_b
    assert "blur1" in rec_a and "final_order" in rec_a


def test_degraded_small_images_are_mirrored_and_sizes_checked(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    _write(tmp_path / "HR" / "small.png", photo_rgb[:40, :50])
    ds = DegradedDataset(tmp_path / "HR", 4, 48, _mild_degradation(64), hflip=False, rot90=False)
    item = ds[0]
    assert item["hr"].shape == (3, 48, 48)
    with pytest.raises(ValueError, match=r"crop_pad_size \(62\) must be a multiple of the scale 4"):
        DegradedDataset(tmp_path / "HR", 4, 48, _mild_degradation(62))
    with pytest.raises(ValueError, match=r"and >= the patch size 80"):
        DegradedDataset(tmp_path / "HR", 4, 80, _mild_degradation(64))


def test_validation_dataset(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    hr = photo_rgb[:50, :43]
    _write(tmp_path / "HR" / "a.png", hr)
    item = ValidationDataset(tmp_path / "HR", 4)[0]
    np.testing.assert_array_equal(_u8(item["hr"]), mod_crop(hr, 4))
    np.testing.assert_array_equal(_u8(item["lr"]), bicubic_degrade(hr, 4))
    _write(tmp_path / "LR" / "ax4.png", bicubic_degrade(hr, 4))  # DIV2K-style LR name
    paired = ValidationDataset(tmp_path / "HR", 4, tmp_path / "LR")[0]
    assert torch.equal(paired["lr"], item["lr"]) and torch.equal(paired["hr"], item["hr"])


def test_16bit_files_come_out_in_unit_range_like_8bit(tmp_path: Path) -> None:
    gray = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000).astype(np.uint16)
    # 16-bit files come out in [0, 1] like 8-bit ones
    _write(tmp_path / "HR" / "g.png", np.tile(gray, (8, 8)))
    item = ValidationDataset(tmp_path / "HR", 2)[0]
    assert item["hr"].max().item() == pytest.approx(19 * 3000 / 65535)
    assert torch.equal(item["hr"][0], item["hr"][2])


def test_lmdb_reads_like_the_folder(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    for i in range(3):
        _coded_pair(tmp_path, f"img{i}", 12 + i, 14, 4)
    _write(tmp_path / "HR" / "gray.png", photo_rgb[:48, :56, 0])
    _write(tmp_path / "LR" / "gray.png", bicubic_degrade(photo_rgb[:48, :56, 0], 4))
    for side in ("HR", "LR"):
        files = sorted((tmp_path / side).iterdir())
        assert write_lmdb(files, tmp_path / f"{side}.lmdb", workers=1) == 4
    folder, db = ImageSource(tmp_path / "HR"), ImageSource(tmp_path / "HR.lmdb")
    assert folder.keys == db.keys and db.lmdb
    for key in folder.keys:
        np.testing.assert_array_equal(folder.read(key), db.read(key))
    a = PairedImageDataset(tmp_path / "HR", tmp_path / "LR", 4, 16, seed=5)
    b = PairedImageDataset(tmp_path / "HR.lmdb", tmp_path / "LR.lmdb", 4, 16, seed=5)
    for i in range(8):
        x, y = a[i % 4], b[i % 4]
        assert torch.equal(x["lr"], y["lr"]) and torch.equal(x["hr"], y["hr"])
    assert b[0]["path"] == str(tmp_path / "HR.lmdb" / "gray")


def test_same_seed_same_samples_cache_and_reseed(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    for i in range(3):
        _write(tmp_path / "HR" / f"{i}.png", photo_rgb[i * 100 : i * 100 + 80, :96])
    a = HROnlyDataset(tmp_path / "HR", 2, 24, seed=7)
    b = HROnlyDataset(tmp_path / "HR", 2, 24, seed=7, cache=True)
    for f in (tmp_path / "HR").iterdir():
        f.unlink()  # the cached dataset no longer needs the files
    first = [b[i % 3]["hr"] for i in range(6)]
    with pytest.raises(FileNotFoundError):
        a[0]
    b.reseed(7)
    assert all(torch.equal(t, b[i % 3]["hr"]) for i, t in enumerate(first))
    b.reseed(8)
    assert not all(torch.equal(t, b[i % 3]["hr"]) for i, t in enumerate(first))


def test_dataloader_workers_are_deterministic(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    for i in range(4):
        _write(tmp_path / "HR" / f"{i}.png", photo_rgb[i * 100 : i * 100 + 64, :64])
    ds = HROnlyDataset(tmp_path / "HR", 4, 16, seed=0)

    def epoch(seed: int) -> list[torch.Tensor]:
        loader = torch.utils.data.DataLoader(
            ds, batch_size=2, num_workers=2, worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(seed)
        )
        return [batch["hr"] for batch in loader]

    run1, run2, other = epoch(1), epoch(1), epoch(2)
    assert all(torch.equal(x, y) for x, y in zip(run1, run2, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(run1, other, strict=True))


def test_meta_info_pairing_and_argument_errors(tmp_path: Path) -> None:
    for stem in ("a", "b", "c"):
        _coded_pair(tmp_path, stem, 8, 8, 2)
    meta = tmp_path / "meta.txt"
    meta.write_text("c.png (16,16,3)\na.png (16,16,3)\n")
    assert read_meta_info(meta) == ["c.png", "a.png"]
    ds = PairedImageDataset(tmp_path / "HR", tmp_path / "LR", 2, 8, meta_info=meta)
    assert len(ds) == 2 and ds[0]["path"].endswith("c.png")
    meta.write_text("zzz.png (16,16,3)\n")
    with pytest.raises(FileNotFoundError, match="zzz"):
        PairedImageDataset(tmp_path / "HR", tmp_path / "LR", 2, 8, meta_info=meta)
    with pytest.raises(ValueError, match="multiple of the scale"):
        PairedImageDataset(tmp_path / "HR", tmp_path / "LR", 2, 7)
    with pytest.raises(ValueError, match="smaller than the LR patch"):
        PairedImageDataset(tmp_path / "HR", tmp_path / "LR", 2, 32)[0]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        HROnlyDataset(tmp_path / "nowhere", 2)
