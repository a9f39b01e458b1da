"""Sub-image extraction: BasicSR's positions (incl. the flush last crop), names, contents, overwrite protection."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from esrgan.datasets.extract_subimages import main, subimage_name, subimage_positions


def test_positions_follow_basicsr() -> None:
    # range(0, 1000 - 480 + 1, 240) = 0, 240, 480; the 40 px remainder > thresh 0 adds a crop flush at 520.
    assert subimage_positions(1000, 480, 240) == [0, 240, 480, 520]
    assert subimage_positions(1000, 480, 240, thresh_size=40) == [0, 240, 480]  # remainder 40 is not > 40
    assert subimage_positions(960, 480, 240) == [0, 240, 480]  # exact fit: nothing added
    assert subimage_positions(480, 480, 240) == [0]
    assert subimage_positions(479, 480, 240) == []
    assert subimage_positions(2040, 480, 240) == [0, 240, 480, 720, 960, 1200, 1440, 1560]  # a DIV2K width
    with pytest.raises(ValueError):
        subimage_positions(100, 0, 10)


def test_extract_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, out = tmp_path / "HR", tmp_path / "sub"
    src.mkdir()
    yy, xx = np.mgrid[0:70, 0:50]
    img = np.stack([yy, xx, yy + xx], -1).astype(np.uint8)
    cv2.imwrite(str(src / "0001.png"), img)
    cv2.imwrite(str(src / "small.png"), img[:20, :20])
    gray16 = (yy * 900).astype(np.uint16)
    cv2.imwrite(str(src / "g.png"), gray16)

    assert main([str(src), str(out), "--crop-size", "32", "--step", "16", "--workers", "2", "-q"]) == 0
    # rows: range(0, 39, 16) = 0, 16, 32 and flush 38; columns: 0, 16 and flush 18 -> 12 crops, row-major.
    ys, xs = [0, 16, 32, 38], [0, 16, 18]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [subimage_name("0001", k) for k in range(1, 13)] + [subimage_name("g", k) for k in range(1, 13)]
    )
    for k, (y, x) in enumerate([(y, x) for y in ys for x in xs], 1):
        np.testing.assert_array_equal(cv2.imread(str(out / f"0001_s{k:03d}.png")), img[y : y + 32, x : x + 32])
        sub16 = cv2.imread(str(out / f"g_s{k:03d}.png"), cv2.IMREAD_UNCHANGED)
        assert sub16.dtype == np.uint16 and sub16.ndim == 2
        np.testing.assert_array_equal(sub16, gray16[y : y + 32, x : x + 32])

    before = (out / "0001_s001.png").stat().st_mtime_ns
    with caplog.at_level(logging.ERROR):
        assert main([str(src), str(out), "--crop-size", "32", "--step", "16", "--workers", "1", "-q"]) == 2
    assert "already exists" in caplog.text and "--overwrite" in caplog.text
    assert (out / "0001_s001.png").stat().st_mtime_ns == before
    args = [str(src), str(out), "--crop-size", "32", "--step", "20", "--workers", "1", "-q", "--overwrite"]
    assert main(args) == 0
