"""Meta-info files: BasicSR's ``name (h,w,c)`` lines, readable by esrgan.data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from esrgan.data import read_meta_info
from esrgan.datasets.meta_info import main


def test_meta_info_format(tmp_path: Path) -> None:
    src = tmp_path / "sub"
    src.mkdir()
    cv2.imwrite(str(src / "b_s002.png"), np.zeros((30, 20, 3), np.uint8))
    cv2.imwrite(str(src / "a_s001.png"), np.zeros((10, 12), np.uint8))
    (src / "notes.txt").write_text("not an image")
    meta = tmp_path / "meta_info_sub.txt"
    assert main([str(src), str(meta), "-q", "--workers", "2"]) == 0
    assert meta.read_text() == "a_s001.png (10,12,1)\nb_s002.png (30,20,3)\n"
    assert read_meta_info(meta) == ["a_s001.png", "b_s002.png"]
    assert main([str(src), str(meta), "-q"]) == 2
    assert main([str(src), str(meta), "-q", "--overwrite"]) == 0
