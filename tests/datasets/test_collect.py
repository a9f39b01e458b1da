"""esrgan.datasets.collect: one training folder from linked folders and scikit-image's photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from esrgan.datasets.collect import SKIMAGE_PHOTOS, main, skimage_photos


def _folder(root: Path, *names: str) -> Path:
    root.mkdir(parents=True)
    for i, name in enumerate(names):
        cv2.imwrite(str(root / name), np.full((8, 8, 3), i * 10, np.uint8))
    return root


def test_links_folders_and_writes_the_skimage_photos(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", "x.png", "y.jpg")
    b = _folder(tmp_path / "b", "z.png")
    out = tmp_path / "out"
    assert main([str(out), str(a), str(b), "--skimage", "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["x.png", "y.jpg", "z.png", *(f"skimage_{n}.png" for n in SKIMAGE_PHOTOS)])
    assert (out / "y.jpg").is_symlink() and (out / "y.jpg").resolve() == (a / "y.jpg").resolve()
    # Colour photos keep their pixels (written RGB -> BGR file -> read back as RGB) ...
    coffee = cv2.imread(str(out / "skimage_coffee.png"))[:, :, ::-1]
    np.testing.assert_array_equal(coffee, skimage.data.coffee())
    # ... the stereo pair gives its left view, and grayscale photos get three equal channels.
    motorcycle = cv2.imread(str(out / "skimage_motorcycle.png"))[:, :, ::-1]
    np.testing.assert_array_equal(motorcycle, skimage.data.stereo_motorcycle()[0])
    camera = cv2.imread(str(out / "skimage_camera.png"), cv2.IMREAD_UNCHANGED)
    assert camera.shape == (512, 512, 3)
    np.testing.assert_array_equal(camera[:, :, 0], skimage.data.camera())
    np.testing.assert_array_equal(camera[:, :, 0], camera[:, :, 2])


def test_every_listed_photo_loads_as_rgb_uint8() -> None:
    for name, load in skimage_photos().items():
        image = load()
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 300, name


def test_refuses_clashes_and_existing_outputs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a = _folder(tmp_path / "a", "x.png")
    b = _folder(tmp_path / "b", "x.jpg")
    out = tmp_path / "out"
    assert main([str(out), str(a), str(b)]) == 2
    assert "share the stem 'x'" in caplog.text and not out.exists()
    assert main([str(out)]) == 2 and "nothing to collect" in caplog.text

    assert main([str(out), str(a)]) == 0
    assert main([str(out), str(a)]) == 2 and "exist" in caplog.text  # no silent replacement
    c = _folder(tmp_path / "c", "x.png")
    assert main([str(out), str(c), "--overwrite"]) == 0
    assert (out / "x.png").resolve() == (c / "x.png").resolve()
