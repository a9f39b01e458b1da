"""DegradationOptions: Real-ESRGAN's names and defaults, and the checks on every field."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from esrgan.degradations import DegradationOptions
from esrgan.options import OptionsError, from_dict, to_dict

# The degradation keys of Real-ESRGAN's options/train_realesrgan_x4plus.yml (top level and datasets.train), as
# published; train_realesrnet_x4plus.yml has the same values and adds gt_usm: True.
PUBLISHED = """
resize_prob: [0.2, 0.7, 0.1]  # up, down, keep
resize_range: [0.15, 1.5]
gaussian_noise_prob: 0.5
noise_range: [1, 30]
poisson_scale_range: [0.05, 3]
gray_noise_prob: 0.4
jpeg_range: [30, 95]

second_blur_prob: 0.8
resize_prob2: [0.3, 0.4, 0.3]  # up, down, keep
resize_range2: [0.3, 1.2]
gaussian_noise_prob2: 0.5
noise_range2: [1, 25]
poisson_scale_range2: [0.05, 2.5]
gray_noise_prob2: 0.4
jpeg_range2: [30, 95]

blur_kernel_size: 21
kernel_list: ['iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso']
kernel_prob: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
sinc_prob: 0.1
blur_sigma: [0.2, 3]
betag_range: [0.5, 4]
betap_range: [1, 2]

blur_kernel_size2: 21
kernel_list2: ['iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso']
kernel_prob2: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
sinc_prob2: 0.1
blur_sigma2: [0.2, 1.5]
betag_range2: [0.5, 4]
betap_range2: [1, 2]

final_sinc_prob: 0.8
gt_usm: True
"""


def test_defaults_are_the_published_values() -> None:
    published = yaml.safe_load(PUBLISHED)
    assert from_dict(DegradationOptions, published) == DegradationOptions()
    defaults = to_dict(DegradationOptions())
    for key, value in published.items():
        assert defaults[key] == value, key
    # Every field is either published or one of the documented extensions (whose defaults are Real-ESRGAN's code).
    extensions = {"crop_pad_size": 400, "resize_modes": ["area", "bilinear", "bicubic"], "second_order_prob": 1.0,
                  "jpeg_prob": 1.0, "jpeg_prob2": 1.0, "clean_prob": 0.0}  # fmt: skip
    assert set(defaults) == set(published) | set(extensions)
    assert {k: defaults[k] for k in extensions} == extensions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sinc_prob": 1.5}, r"'sinc_prob' must be 0\.\.1, got 1\.5"),
        ({"second_order_prob": -0.1}, r"'second_order_prob' must be 0\.\.1"),
        ({"clean_prob": 1.01}, r"'clean_prob' must be 0\.\.1"),
        ({"resize_range": [0.5, 16]}, r"'resize_range\[1\]' must be 0\.\.4"),
        (
            {"crop_pad_size": 4096, "resize_range": [0.5, 4]},
            r"crop_pad_size 4096 resized up to x4 \(resize_range\) is 16384 pixels a side, above 8192",
        ),
        # Real-ESRGAN's keys that are not degradations say where they go (not "did you mean 'gt_usm'")
        ({"gt_size": 256}, r"unknown key 'gt_size': Real-ESRGAN's gt_size is data\.train\.patch_size in esrgan"),
        ({"l1_gt_usm": True}, r"Real-ESRGAN's l1_gt_usm is losses\.pixel\.gt_usm in esrgan's training options"),
        ({"queue_size": 180}, r"Real-ESRGAN's queue_size is data\.train\.queue_size"),
        ({"name": "x", "stage": "psnr"}, r"unknown key 'name': a training options key: this looks like a training"),
        ({"kernel_prob": [1.0, 0.0]}, "kernel_list and kernel_prob must be non-empty and of equal length"),
        ({"kernel_list2": ["iso"], "kernel_prob2": [-1.0]}, r"'kernel_prob2\[0\]' must be 0\.\.1000"),
        ({"kernel_list": ["isotropic"], "kernel_prob": [1]}, "did you mean 'iso'"),
        ({"blur_kernel_size": 20}, "blur_kernel_size must be odd"),
        ({"blur_kernel_size2": 5}, r"'blur_kernel_size2' must be 7\.\.51"),
        ({"blur_kernel_size": 10001}, r"'blur_kernel_size' must be 7\.\.51"),
        ({"blur_sigma": [0, 3]}, "blur_sigma must be positive"),
        ({"blur_sigma2": [2, 1]}, "blur_sigma2 must be .low, high."),
        ({"betag_range": [1.5, 4]}, "betag_range must be .low, high. with 0 < low <= 1 <= high"),
        ({"resize_prob": [0, 0, 0]}, "resize_prob must be non-negative weights with a positive sum"),
        ({"resize_range2": [1.1, 1.2]}, "resize_range2 must be .down, up."),
        ({"noise_range": [-1, 3]}, r"'noise_range\[0\]' must be 0\.\.255"),
        ({"jpeg_range2": [30, 101]}, r"'jpeg_range2\[1\]' must be 1\.\.100"),
        ({"jpeg_range": [0, 90]}, r"'jpeg_range\[0\]' must be 1\.\.100"),
        ({"jpeg_range": [90, 30]}, "jpeg_range must be .low, high."),
        ({"resize_modes": []}, "resize_modes must name at least one"),
        ({"resize_modes": ["nearest"]}, "resize_modes\\[0\\]' must be one of"),
        ({"crop_pad_size": 0}, r"'crop_pad_size' must be 1\.\.4096"),
        ({"gausian_noise_prob": 0.5}, "did you mean 'gaussian_noise_prob'"),
    ],
)
def test_invalid_values_name_the_key(change: dict[str, object], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        from_dict(DegradationOptions, change, source="deg.yml")


def test_objects_built_in_python_are_held_to_the_declared_ranges() -> None:
    with pytest.raises(OptionsError, match=r"sinc_prob must be 0\.\.1, got 2"):
        DegradationOptions(sinc_prob=2)
    with pytest.raises(OptionsError, match=r"noise_range\[1\] must be 0\.\.255, got 1000"):
        DegradationOptions(noise_range=(1.0, 1000.0))


def test_frozen_and_typed() -> None:
    opts = from_dict(DegradationOptions, {"jpeg_range": [40, 60], "blur_sigma": [1, 2]})
    assert opts.jpeg_range == (40, 60) and opts.blur_sigma == (1.0, 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.sinc_prob = 0.5  # type: ignore[misc]


def test_the_training_keys_named_for_a_misfiled_block_are_training_keys() -> None:
    """MOVED_KEYS lists TrainOptions' top-level keys by hand (degradations cannot import the training options):
    each must be one, or a misfiled training file would get the wrong hint."""
    import dataclasses

    from esrgan.degradations.options import MOVED_KEYS
    from esrgan.train.options import TrainOptions

    training = {k for k, text in MOVED_KEYS.items() if text.startswith("a training options key")}
    assert training and training <= {f.name for f in dataclasses.fields(TrainOptions)}
