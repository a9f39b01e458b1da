"""The degraded test-set maker: fixed per (seed, stem) whatever the workers, records, options and overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from esrgan.datasets.make_degraded_lr import RECORDS, main
from esrgan.degradations import DegradationOptions, degraded_lr
from esrgan.options import load_options
from esrgan.shipped_options import FOLDER

OPTIONS = FOLDER / "degrade_test_x4.yml"


def test_degraded_set_is_reproducible(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    src = tmp_path / "HR"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), photo_rgb[:98, :81, ::-1])
    cv2.imwrite(str(src / "b.png"), photo_rgb[200:264, 100:164, 0])  # gray: degraded as RGB
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([str(src), str(one), "--options", str(OPTIONS), "--workers", "1", "-q"]) == 0
    # the shipped file by name: the same block
    assert main([str(src), str(two), "--options", "degrade_test_x4", "--workers", "2", "-q", "--seed", "0"]) == 0
    for name in ("a.png", "b.png"):
        a, b = cv2.imread(str(one / name)), cv2.imread(str(two / name))
        np.testing.assert_array_equal(a, b)
    lr = cv2.imread(str(one / "a.png"))[:, :, ::-1]
    assert lr.shape == (24, 20, 3)
    opts = load_options(DegradationOptions, OPTIONS)
    expected, record = degraded_lr(photo_rgb[:96, :80].astype(np.float32) / 255, opts, 4, 0, "a")
    np.testing.assert_array_equal(lr, expected)
    summary = json.loads((one / RECORDS).read_text())
    assert summary["seed"] == 0 and summary["scale"] == 4 and summary["options"]["jpeg_range2"] == [30, 70]
    assert summary["images"]["a"] == json.loads(json.dumps(record))
    # The test-set block: blur, exact bicubic x4, noise 2-15, one JPEG 30-70; nothing else.
    r = summary["images"]["b"]
    assert r["blur1"]["kind"] == "iso" and 0.5 <= r["blur1"]["sigma_x"] <= 2.5
    assert r["resize2"]["factor"] == 1.0 and r["resize2"]["mode"] == "bicubic" and r["resize2"]["size"] == [16, 16]
    assert 2 <= r["noise2"]["sigma"] <= 15 and 30 <= r["jpeg2"]["quality"] <= 70
    assert "jpeg1" not in r and "blur2" not in r and "final_sinc" not in r and r["noise1"]["sigma"] == 0
    # Another seed gives other LR; existing outputs need --overwrite; bad options are one error line.
    assert main([str(src), str(one), "--options", str(OPTIONS), "-q"]) == 2
    assert main([str(src), str(one), "--options", str(OPTIONS), "-q", "--seed", "1", "--overwrite"]) == 0
    assert not np.array_equal(cv2.imread(str(one / "a.png")), cv2.imread(str(two / "a.png")))
    bad = ["--options", str(OPTIONS), "--set", "jpeg_range2=[30, 170]", "-q"]
    assert main([str(src), str(tmp_path / "three"), *bad]) == 2
