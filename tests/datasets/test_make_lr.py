"""LR generation: MATLAB bicubic of the mod-cropped HR per scale, channels and depth kept, no silent overwrite."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from esrgan.datasets.make_lr import main
from esrgan.image import bicubic_degrade


def test_make_lr_scales_gray_16bit_and_overwrite(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    src, out = tmp_path / "HR", tmp_path / "LR"
    src.mkdir()
    bgr = photo_rgb[:61, :50, ::-1]
    cv2.imwrite(str(src / "a.png"), bgr)
    cv2.imwrite(str(src / "b.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    g16 = photo_rgb[:40, :44, 1].astype(np.uint16) * 257
    cv2.imwrite(str(src / "g.png"), g16)

    assert main([str(src), str(out), "--scale", "4", "--scale", "3", "--workers", "2", "-q"]) == 0
    for s in (3, 4):
        assert sorted(p.name for p in (out / f"X{s}").iterdir()) == ["a.png", "b.png", "g.png"]
        np.testing.assert_array_equal(cv2.imread(str(out / f"X{s}" / "a.png")), bicubic_degrade(bgr, s))
        jpg = cv2.imread(str(src / "b.jpg"))
        np.testing.assert_array_equal(cv2.imread(str(out / f"X{s}" / "b.png")), bicubic_degrade(jpg, s))
        lr16 = cv2.imread(str(out / f"X{s}" / "g.png"), cv2.IMREAD_UNCHANGED)
        assert lr16.dtype == np.uint16 and lr16.shape == (40 // s, 44 // s)
        np.testing.assert_array_equal(lr16, bicubic_degrade(g16, s))

    assert main([str(src), str(out), "--scale", "4", "-q", "--workers", "1"]) == 2  # outputs exist
    assert main([str(src), str(out), "--scale", "2", "-q", "--workers", "1"]) == 0  # a new scale is fine
    assert main([str(src), str(out), "--scale", "4", "-q", "--workers", "1", "--overwrite"]) == 0
    with pytest.raises(SystemExit) as refused:  # the flag's declared range: 1..16
        main([str(src), str(out), "--scale", "0", "-q"])
    assert refused.value.code == 2
