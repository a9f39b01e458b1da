from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from esrgan.options import OptionsError, Range, from_dict, load_options
from esrgan.train.options import HPARAM_RANGES, PerceptualLossOptions, TrainOptions

OPTIONS_DIR = Path(__file__).resolve().parents[2] / "options"
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
    assert "t.yml: missing required key 'train.total_iter'" in _errors({**good, "train": {}})
    missing = dict(good)
    missing.pop("stage")
    assert "missing required key 'stage'" in _errors(missing)
    assert "'scale' must be an integer" in _errors({**good, "scale": "4x"})
    assert "'stage' must be one of 'psnr', 'gan'" in _errors({**good, "stage": "ganx"})
    data = {**good, "network_g": {"arch": "RRDBNet", "hparams": {"num_feats": 8}}}
    assert "unknown RRDBNet hparam 'hparams.num_feats'; did you mean 'num_feat'?" in _errors(data)


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
    with pytest.raises(OptionsError, match=r"with --set overrides\): 'train.total_iter' must be an integer"):
        load_options(TrainOptions, path, ["train.total_iter=__import__('os')"])


def test_misspelled_key_inside_an_optional_section(make_options: Callable[..., dict[str, Any]]) -> None:
    data = make_options("gan", losses={"gan": {"wieght": 1.0}})
    assert "unknown key 'losses.gan.wieght'; did you mean 'weight'?" in _errors(data)


# ------------------------------------------------------------------------------ declared numeric ranges
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"network_g": {"hparams": {"num_block": -1}}}, r"'network_g.hparams.num_block' must be 1\.\.256, got -1"),
        ({"network_g": {"hparams": {"num_block": 100000000}}}, r"num_block' must be 1\.\.256, got 100000000"),
        ({"network_g": {"hparams": {"num_feat": "wide"}}}, r"num_feat' must be 1\.\.1024, got 'wide'"),
        ({"data": {"train": {"batch_size": 0}}}, r"'data.train.batch_size' must be 1\.\.4096, got 0"),
        ({"train": {"optim_g": {"lr": 0}}}, r"'train.optim_g.lr' must be > 0 and <= 1, got 0"),
        ({"train": {"optim_g": {"betas": [0.9, 1.0]}}}, r"'train.optim_g.betas\[1\]' must be >= 0 and < 1"),
        ({"train": {"ema_decay": 1.0}}, r"'train.ema_decay' must be >= 0 and < 1, got 1.0"),
        ({"train": {"total_iter": 10**10}}, r"'train.total_iter' must be 1\.\.1000000000"),
        ({"losses": {"pixel": {"weight": -1}}}, r"'losses.pixel.weight' must be 0\.\.1000"),
        ({"data": {"val": {"tile": 8}}}, r"'data.val.tile' must be 0 or 16\.\.65536, got 8"),
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
    # scale is a set (1, 2, 3, 4, 8), checked in __post_init__; hparams values are checked by name against
    # HPARAM_RANGES; every other number has a declared range.
    assert _numeric_fields_without_range(TrainOptions) == ["scale", "network_g.hparams"]
    assert set(HPARAM_RANGES) >= {"num_feat", "num_block", "num_grow_ch", "num_conv", "num_in_ch", "num_out_ch"}
