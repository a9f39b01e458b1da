"""int8 through OpenVINO + NNCF: calibration crops, the recipe's convolutions really computing in int8, the cache.

Tiny random networks keep these fast; the fidelity bound on real networks and photos is in test_fidelity.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from torch import nn

from esrgan.archs import REGISTRY, SRVGGNetCompact
from esrgan.backends import int8, make_runner
from esrgan.backends.measure import fidelity

TinyNets = dict[str, Callable[[], nn.Module]]


def write_photos(folder: Path, side: int, names: tuple[str, ...] = ("chelsea", "coffee")) -> Path:
    """Crops of skimage photos, ``side`` x ``side``, written as PNG files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        rgb = getattr(skimage.data, name)()[:side, :side]
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def test_default_calibration_is_the_photos_in_fixed_crops() -> None:
    batches = int8.calibration_batches(None, 32, count=5)
    assert len(batches) == 5
    assert all(b.shape == (1, 3, 32, 32) and b.dtype == torch.float32 for b in batches)
    assert all(float(b.min()) >= 0.0 and float(b.max()) <= 1.0 for b in batches)
    again = int8.calibration_batches(None, 32, count=5)
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))  # same images, same crops
    moved = int8.calibration_batches(None, 32, count=5, seed=1)
    assert not all(torch.equal(a, b) for a, b in zip(batches, moved, strict=True))
    assert "astronaut" not in int8.PHOTOS  # kept for measuring fidelity


def test_calibration_from_a_folder(tmp_path: Path) -> None:
    folder = write_photos(tmp_path / "mine", 40)
    cv2.imwrite(str(folder / "tiny.png"), np.zeros((8, 8, 3), np.uint8))  # smaller than a crop: skipped
    batches = int8.calibration_batches(folder, 40, count=4)
    chelsea = skimage.data.chelsea()[:40, :40].astype(np.float32) / 255
    # two 40x40 images, 40x40 crops: each crop is a whole image, in turn (sorted by name: chelsea, coffee)
    assert np.allclose(batches[0][0].permute(1, 2, 0).numpy(), chelsea, atol=1e-6)
    assert torch.equal(batches[0], batches[2]) and not torch.equal(batches[0], batches[1])
    with pytest.raises(ValueError, match="at least 64x64"):
        int8.calibration_batches(folder, 64)
    with pytest.raises(FileNotFoundError):
        int8.calibration_batches(tmp_path / "missing", 16)


def test_vnni_is_read_from_the_cpu_flags() -> None:
    assert int8.has_vnni("flags\t: fpu avx2 avx512f avx512_vnni\n")
    assert int8.has_vnni("flags\t: fpu avx2 avx_vnni\n")
    assert not int8.has_vnni("flags\t: fpu avx2 fma\n")


def test_architectures_without_a_recipe_are_refused() -> None:
    spec = next(s for s in REGISTRY if s.int8 is None)  # SPAN: nothing measured
    net = spec.build(dict(spec.tiny_hparams), "tiny")
    with pytest.raises(ValueError, match="no measured recipe"):
        int8.int8_recipe(net)


@pytest.fixture
def calibration(tmp_path: Path) -> Path:
    pytest.importorskip("nncf")
    pytest.importorskip("openvino")
    return write_photos(tmp_path / "calibration", 128)


@pytest.mark.parametrize(("name", "int8_convs", "fp32_convs"), [("srvgg_x4", 2, 2), ("rrdb_x4", 3, 18)])
def test_the_recipes_convolutions_compute_in_int8(
    tiny_nets: TinyNets, calibration: Path, name: str, int8_convs: int, fp32_convs: int
) -> None:
    # SRVGG: all but the first and the last convolution; RRDBNet: the dense blocks' conv5 (one RRDB: 3 of 21)
    net = tiny_nets[name]()
    runner = make_runner("openvino", net, "int8", int8_calibration=calibration)
    assert (runner.precision, runner.dtype) == ("int8", torch.float32)
    precisions = runner.conv_precisions()  # type: ignore[attr-defined]
    assert sum(n for p, n in precisions.items() if p in ("u8", "i8")) == int8_convs
    assert precisions.get("f32", 0) == fp32_convs
    assert runner.fidelity_db is not None  # type: ignore[attr-defined]
    x = torch.rand(1, 3, 12, 20)
    with torch.no_grad():
        expected = net.eval()(x)
    assert runner(x).shape == expected.shape
    _, db = fidelity(runner(x), expected.clamp(0, 1))
    assert db > 30  # random weights: loose; real networks keep 40 dB (test_fidelity.py)


def test_int8_builds_are_cached_per_calibration_set(tiny_nets: TinyNets, calibration: Path, tmp_path: Path) -> None:
    net = tiny_nets["srvgg_x4"]()
    first = make_runner("openvino", net, "int8", int8_calibration=calibration)
    assert first.cache_file is not None and "-int8-" in first.cache_file.name
    second = make_runner("openvino", net, "int8", int8_calibration=calibration)
    assert second.cache_hit and second.cache_file == first.cache_file
    assert second.fidelity_db is None  # type: ignore[attr-defined]  # measured when built, not when loaded
    x = torch.rand(1, 3, 10, 14)
    assert torch.equal(first(x), second(x))
    other = write_photos(tmp_path / "other", 128, ("rocket", "coffee"))
    third = make_runner("openvino", net, "int8", int8_calibration=other)
    assert not third.cache_hit and third.cache_file != first.cache_file
    fp32 = make_runner("openvino", net, "fp32")
    assert fp32.cache_file != first.cache_file


def test_int8_arguments_are_checked(tiny_nets: TinyNets, calibration: Path) -> None:
    net = tiny_nets["srvgg_x4"]()
    with pytest.raises(ValueError, match="openvino backend only"):
        make_runner("onnxruntime", net, "int8")
    with pytest.raises(ValueError, match="int8 only"):
        make_runner("openvino", net, "fp32", int8_calibration=calibration)
    gray = SRVGGNetCompact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2)
    with pytest.raises(ValueError, match="RGB"):
        make_runner("openvino", gray, "int8", int8_calibration=calibration)
