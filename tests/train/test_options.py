from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from esrgan import shipped_options
from esrgan.archs import names
from esrgan.options import OptionsError, Range, from_dict, load_options
from esrgan.train.options import PerceptualLossOptions, TrainOptions

OPTIONS_DIR = shipped_options.FOLDER
TRAINING_FILES = sorted([*OPTIONS_DIR.glob("train_*.yml"), *OPTIONS_DIR.glob("finetune_*.yml")])


def test_the_shipped_option_files_exist() -> None:
    names = {p.name for p in TRAINING_FILES}
    assert {
        "train_RRDBNet_PSNR_x4.yml",
        "train_ESRGAN_x4.yml",
        "finetune_realesrgan_x4plus.yml",
        "train_RRDBNet_PSNR_x4_cpu.yml",
        "train_ESRGAN_x4_cpu.yml",
    } <= names


@pytest.mark.parametrize("path", TRAINING_FILES, ids=lambda p: p.name)
def test_shipped_option_files_are_valid(path: Path) -> None:
    opts = load_options(TrainOptions, path)
    assert opts.name and opts.train.total_iter > 0


def test_paper_settings() -> None:
    s1 = load_options(TrainOptions, OPTIONS_DIR / "train_RRDBNet_PSNR_x4.yml")
    assert (s1.stage, s1.losses.pixel.kind, s1.train.optim_g.lr, s1.data.train.batch_size) == ("psnr", "l1", 2e-4, 16)
    assert s1.data.train.patch_size == 128 and s1.data.train.hflip and s1.data.train.rot90
    assert s1.train.ema_decay == 0.999 and s1.train.optim_g.betas == (0.9, 0.99)
    assert s1.network_g.hparams == {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23, "num_grow_ch": 32}
    s2 = load_options(TrainOptions, OPTIONS_DIR / "train_ESRGAN_x4.yml")
    assert s2.stage == "gan" and s2.train.total_iter == 400_000
    assert s2.losses.pixel.weight == 1e-2 and s2.losses.gan is not None and s2.losses.gan.weight == 5e-3
    assert s2.losses.perceptual is not None and s2.losses.perceptual.layers == {"conv5_4": 1.0}
    assert s2.losses.perceptual.weight == 1.0 and not s2.losses.perceptual.allow_random_weights
    assert s2.train.optim_g.lr == s2.train.optim_d.lr == 1e-4
    assert s2.train.scheduler.kind == "multistep" and s2.train.scheduler.milestones == [50000, 100000, 200000, 300000]
    assert s2.train.scheduler.gamma == 0.5
    assert s2.network_g.pretrained == "experiments/RRDBNet_PSNR_x4/models/net_g_latest.pth"
    ft = load_options(TrainOptions, OPTIONS_DIR / "finetune_realesrgan_x4plus.yml")
    assert ft.network_g.pretrained == "realesrgan-x4plus"


def _errors(data: dict[str, Any]) -> str:
    with pytest.raises(OptionsError) as info:
        from_dict(TrainOptions, data, source="t.yml")
    return str(info.value)


def test_misspelled_missing_and_mistyped_keys(make_options: Callable[..., dict[str, Any]]) -> None:
    good = make_options("psnr")
    assert "unknown key 'train.totl_iter'; did you mean 'total_iter'?" in _errors({**good, "train": {"totl_iter": 3}})
    # a degradation block given as a training file says what it is (not "did you mean 'name'")
    assert "unknown key 'gt_usm': a degradation key: this looks like a degradation block, which goes under " \
        "data.train.degradation" in _errors({"gt_usm": False, "jpeg_range2": [30, 70]})  # fmt: skip
    assert "t.yml: missing required key 'train.total_iter'" in _errors({**good, "train": {}})
    missing = dict(good)
    missing.pop("stage")
    assert "missing required key 'stage'" in _errors(missing)
    assert "'scale' must be an integer" in _errors({**good, "scale": "4x"})
    assert "'stage' must be one of 'psnr', 'gan'" in _errors({**good, "stage": "ganx"})
    data = {**good, "network_g": {"arch": "RRDBNet", "hparams": {"num_feats": 8}}}
    assert "unknown RRDBNet hparam 'hparams.num_feats'; did you mean 'num_feat'?" in _errors(data)
    data = {**good, "network_g": {"arch": "SRVGGNetCompakt"}}
    known = ", ".join(map(repr, names()))  # every registered architecture
    assert (
        f"t.yml: 'network_g': arch: unknown architecture 'SRVGGNetCompakt': use one of {known}; "
        "did you mean 'SRVGGNetCompact'?"
    ) in _errors(data)
    data = {**good, "network_g": {"arch": "SRVGGNetCompact", "hparams": {"num_conv": 30_000_000}}}
    assert "'network_g': hparams: num_conv must be an integer from 0 to 256, got 30000000" in _errors(data)


def test_stage_consistency(make_options: Callable[..., dict[str, Any]]) -> None:
    gan = make_options("gan")
    from_dict(TrainOptions, gan)
    assert "stage gan needs losses.gan and network_d" in _errors({**gan, "network_d": None})
    assert "stage psnr has no discriminator" in _errors({**gan, "stage": "psnr"})
    percep_only = {**gan, "stage": "psnr", "network_d": None, "losses": {"perceptual": gan["losses"]["perceptual"]}}
    assert "stage psnr uses the pixel loss only" in _errors(percep_only)
    bad_patch = make_options("gan", data={"train": {"patch_size": 48}})
    assert "must be a multiple of 32" in _errors(bad_patch)
    with pytest.raises(ValueError, match=r"unknown VGG19 layer 'perceptual.layers.conv5_5'; did you mean 'conv5_4'"):
        PerceptualLossOptions(layers={"conv5_5": 1.0})
    assert "must be a multiple of scale" in _errors(make_options("psnr", data={"train": {"patch_size": 30}}))


def test_overrides_are_parsed_as_yaml(make_options: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "o.yml"
    path.write_text(yaml.safe_dump(make_options("psnr")))
    opts = load_options(
        TrainOptions, path, ["train.total_iter=7", "train.optim_g.betas=[0.5, 0.9]", "network_g.pretrained=null"]
    )
    assert opts.train.total_iter == 7 and opts.train.optim_g.betas == (0.5, 0.9)
    with pytest.raises(OptionsError, match=r"with overrides\): 'train.total_iter' must be an integer"):
        load_options(TrainOptions, path, ["train.total_iter=__import__('os')"])


def test_misspelled_key_inside_an_optional_section(make_options: Callable[..., dict[str, Any]]) -> None:
    data = make_options("gan", losses={"gan": {"wieght": 1.0}})
    assert "unknown key 'losses.gan.wieght'; did you mean 'weight'?" in _errors(data)


def test_real_world_options(make_options: Callable[..., dict[str, Any]]) -> None:
    unet = make_options("gan", network_d={"arch": "UNetDiscriminatorSN"}, data={"train": {"patch_size": 44}})
    opts = from_dict(TrainOptions, unet)  # any patch size for the U-Net
    assert opts.network_d is not None and opts.network_d.skip_connection
    assert "did you mean 'UNetDiscriminatorSN'" in _errors(make_options("gan", network_d={"arch": "UNetDiscriminator"}))
    deg = {"train": {"degradation": {"crop_pad_size": 64}, "queue_size": 4}}
    opts = from_dict(TrainOptions, make_options("psnr", data=deg))
    assert opts.data.train.degradation is not None and opts.data.train.degradation.jpeg_range == (30, 95)
    assert "unknown key 'data.train.degradation.jpeg_rang'; did you mean 'jpeg_range'" in _errors(
        make_options("psnr", data={"train": {"degradation": {"jpeg_rang": [1, 2]}}})
    )
    lr_too = make_options("psnr", data={"train": {"lr": "somewhere", "degradation": {}}})
    assert "degradation makes the LR images from HR: set data.train.lr to null" in _errors(lr_too)
    small = make_options("psnr", data={"train": {"degradation": {"crop_pad_size": 16}}})
    assert "crop_pad_size (16) must be >= patch_size (32)" in _errors(small)
    odd = make_options("psnr", data={"train": {"degradation": {"crop_pad_size": 66}}})
    assert "crop_pad_size (66) must be a multiple of scale (4)" in _errors(odd)
    assert "queue_size (3) must be a multiple of batch_size (2)" in _errors(
        make_options("psnr", data={"train": {"queue_size": 3}})
    )
    distill = {**make_options("psnr", teacher={"model": "x.pth"}, data=deg), "stage": "distill"}
    assert "stage distill trains on its teacher's outputs" in _errors(distill)
    sharp = {**make_options("psnr", teacher={"model": "x.pth"}, losses={"pixel": {"gt_usm": True}}), "stage": "distill"}
    assert "stage distill trains on its teacher's outputs" in _errors(sharp)
    assert "'losses.gan.kind' must be one of 'ragan', 'vanilla'" in _errors(
        make_options("gan", losses={"gan": {"kind": "hinge"}})
    )


def test_real_esrgan_settings() -> None:
    from esrgan.degradations import DegradationOptions

    net = load_options(TrainOptions, OPTIONS_DIR / "train_RealESRNet_x4plus.yml")
    gan = load_options(TrainOptions, OPTIONS_DIR / "train_RealESRGAN_x4plus.yml")
    for o in (net, gan):
        d = o.data.train
        assert d.degradation == DegradationOptions()  # the published block, every key
        assert (d.patch_size, d.batch_size, d.queue_size, d.hflip, d.rot90) == (256, 12, 180, True, False)
        assert o.losses.pixel.gt_usm and o.train.ema_decay == 0.999
    assert net.stage == "psnr" and net.train.optim_g.lr == 2e-4 and net.train.total_iter == 1_000_000
    assert (
        gan.stage == "gan" and gan.train.total_iter == 400_000 and gan.train.optim_g.lr == gan.train.optim_d.lr == 1e-4
    )
    assert gan.network_g.pretrained == "realesrgan-x4plus"
    assert gan.network_d is not None and gan.network_d.arch == "UNetDiscriminatorSN" and gan.network_d.num_feat == 64
    assert gan.losses.gan is not None and (gan.losses.gan.kind, gan.losses.gan.weight, gan.losses.gan.gt_usm) == (
        "vanilla",
        0.1,
        False,
    )
    assert gan.losses.perceptual is not None and gan.losses.perceptual.gt_usm
    assert gan.losses.perceptual.layers == {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1}
    # The CPU proof pair differs only in the LR, the pool and the iteration count.
    deg = load_options(TrainOptions, OPTIONS_DIR / "train_RealESRNet_x4_cpu.yml")
    bic = load_options(TrainOptions, OPTIONS_DIR / "train_RealESRNet_x4_cpu_bicubic.yml")
    assert deg.data.train.degradation is not None and bic.data.train.degradation is None
    same = ("patch_size", "batch_size", "hr", "cache", "num_workers")
    assert all(getattr(deg.data.train, k) == getattr(bic.data.train, k) for k in same)
    assert deg.network_g == bic.network_g and deg.losses == bic.losses and deg.data.val == bic.data.val
    assert deg.train.max_minutes == bic.train.max_minutes == 60


# ------------------------------------------------------------------------------ declared numeric ranges
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"network_g": {"hparams": {"num_block": -1}}},
            r"'network_g': hparams: num_block must be an integer from 1 to 256, got -1",
        ),
        (
            {"network_g": {"hparams": {"num_block": 100000000}}},
            r"num_block must be an integer from 1 to 256, got 100000000",
        ),
        ({"network_g": {"hparams": {"num_feat": "wide"}}}, r"num_feat must be an integer from 1 to 1024, got 'wide'"),
        ({"data": {"train": {"batch_size": 0}}}, r"'data.train.batch_size' must be 1\.\.4096, got 0"),
        ({"train": {"optim_g": {"lr": 0}}}, r"'train.optim_g.lr' must be > 0 and <= 1, got 0"),
        ({"train": {"optim_g": {"betas": [0.9, 1.0]}}}, r"'train.optim_g.betas\[1\]' must be >= 0 and < 1"),
        ({"train": {"ema_decay": 1.0}}, r"'train.ema_decay' must be >= 0 and < 1, got 1.0"),
        ({"train": {"total_iter": 10**10}}, r"'train.total_iter' must be 1\.\.1000000000"),
        ({"losses": {"pixel": {"weight": -1}}}, r"'losses.pixel.weight' must be 0\.\.1000"),
        ({"data": {"val": {"tile": 100000}}}, r"'data.val.tile' must be 0\.\.65536, got 100000"),
        ({"seed": -1}, r"'seed' must be 0\.\.4294967295, got -1"),
        ({"checkpoint": {"every": 0}}, r"'checkpoint.every' must be 1\.\.1000000000, got 0"),
        ({"train": {"scheduler": {"kind": "multistep", "milestones": [10, -5]}}}, r"milestones\[1\]' must be"),
    ],
)
def test_numbers_out_of_their_declared_range_are_refused(
    make_options: Callable[..., dict[str, Any]], changes: dict[str, Any], message: str
) -> None:
    text = _errors(make_options("psnr", **changes))
    assert text.startswith("t.yml")
    assert re.search(message, text), text


def _numeric_fields_without_range(cls: type, prefix: str = "") -> list[str]:
    """Dotted names of int/float option fields (also inside lists, tuples, dicts and unions) with no Range."""
    missing: list[str] = []

    def visit(tp: Any, name: str) -> None:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            if args[0] in (int, float) and not any(isinstance(m, Range) for m in args[1:]):
                missing.append(name)
            return
        if tp in (int, float):
            missing.append(name)
        elif dataclasses.is_dataclass(tp):
            missing.extend(_numeric_fields_without_range(tp, name + "."))
        else:
            for arg in args:
                visit(arg, name)

    for f in dataclasses.fields(cls):
        visit(typing.get_type_hints(cls, include_extras=True)[f.name], prefix + f.name)
    return missing


def test_every_numeric_training_option_declares_its_range() -> None:
    # scale is a set (1, 2, 3, 4, 8), checked in __post_init__; hparams values are checked by the architecture's
    # own declaration (ArchSpec.validate_hparams, tests/archs); every other number has a declared range.
    assert sorted(set(_numeric_fields_without_range(TrainOptions))) == ["network_g.hparams", "scale"]
