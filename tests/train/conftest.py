"""Fixtures of the training tests: small image folders made from skimage.data, tiny option sets."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def image_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Six 96x96 training images and two 64x48 validation images (crops of skimage.data photos), as PNG."""
    import skimage.data

    root = tmp_path_factory.mktemp("images")
    photos = [
        skimage.data.astronaut(),
        skimage.data.chelsea(),
        skimage.data.coffee(),
        skimage.data.rocket(),
        skimage.data.immunohistochemistry(),
        skimage.data.retina(),
    ]
    train, val = root / "train", root / "val"
    train.mkdir()
    val.mkdir()
    for i, img in enumerate(photos):
        h, w = img.shape[:2]
        y, x = (h - 96) // 2, (w - 96) // 2
        cv2.imwrite(str(train / f"img{i}.png"), np.ascontiguousarray(img[y : y + 96, x : x + 96, ::-1]))
    for i, img in enumerate(photos[:2]):
        cv2.imwrite(str(val / f"val{i}.png"), np.ascontiguousarray(img[100:164, 120:168, ::-1]))
    return {"train": train, "val": val}


@pytest.fixture
def no_vgg_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub folder: VGG19 weights are not found (tests use allow_random_weights)."""
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


@pytest.fixture
def make_options(image_dirs: dict[str, Path], tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``make_options(stage, **changes)``: a tiny option dict (experiments in tmp_path/exp), changes merged in."""

    def make(stage: str = "psnr", **changes: Any) -> dict[str, Any]:
        base = (
            psnr_options(image_dirs, tmp_path / "exp") if stage == "psnr" else gan_options(image_dirs, tmp_path / "exp")
        )
        return _merge(base, changes)

    return make


def psnr_options(image_dirs: dict[str, Path], root: Path, **changes: Any) -> dict[str, Any]:
    """A tiny PSNR-stage run: RRDBNet nf 8, one block, HR patch 32, batch 2."""
    opts: dict[str, Any] = {
        "name": "psnr",
        "stage": "psnr",
        "scale": 4,
        "experiments_root": str(root),
        "data": {
            "train": {"hr": str(image_dirs["train"]), "patch_size": 32, "batch_size": 2, "num_workers": 0},
            "val": {"hr": str(image_dirs["val"]), "every": 2, "save_samples": 1},
        },
        "network_g": {"arch": "RRDBNet", "hparams": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}},
        "train": {"total_iter": 3, "optim_g": {"lr": 1e-3}, "ema_decay": 0.5},
        "logging": {"every": 1},
        "checkpoint": {"every": 2},
        "threads": 1,  # tiny networks: one thread is faster, and immune to a busy machine's oversubscription
    }
    return _merge(opts, changes)


def gan_options(image_dirs: dict[str, Path], root: Path, **changes: Any) -> dict[str, Any]:
    """A tiny GAN-stage run on top of :func:`psnr_options`: D nf 4, perceptual on conv2_2 (random VGG)."""
    opts = psnr_options(image_dirs, root, name="gan", stage="gan")
    opts["network_d"] = {"num_feat": 4}
    opts["losses"] = {
        "pixel": {"weight": 0.01},
        "perceptual": {"layers": {"conv2_2": 1.0}, "allow_random_weights": True},
        "gan": {"weight": 0.005},
    }
    return _merge(opts, changes)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out
