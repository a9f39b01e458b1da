"""LMDB packing: BasicSR layout (stem keys, PNG values, meta_info.txt) and overwrite protection."""

from __future__ import annotations

from pathlib import Path

import cv2
import lmdb
import numpy as np

from esrgan.datasets.make_lmdb import main


def test_make_lmdb_layout(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    src = tmp_path / "HR"
    src.mkdir()
    imgs = {"x1": photo_rgb[:20, :30, ::-1], "x2": photo_rgb[50:60, :8, 0]}
    for key, img in imgs.items():
        cv2.imwrite(str(src / f"{key}.png"), img)
    db = tmp_path / "HR.lmdb"
    assert main([str(src), str(db), "--workers", "2", "--batch", "1", "-q"]) == 0
    assert (db / "meta_info.txt").read_text() == "x1.png (20,30,3) 1\nx2.png (10,8,1) 1\n"
    env = lmdb.open(str(db), readonly=True, lock=False)
    with env.begin() as txn:
        for key, img in imgs.items():
            data = np.frombuffer(txn.get(key.encode("ascii")), np.uint8)
            np.testing.assert_array_equal(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), img)
    env.close()
    assert main([str(src), str(db), "-q"]) == 2  # exists
    assert main([str(src), str(db), "-q", "--overwrite", "--workers", "1"]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no temporary left behind
