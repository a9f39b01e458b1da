from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from esrgan import shipped_options
from esrgan.options import from_dict
from esrgan.train import build
from esrgan.train.options import GeneratorOptions, SchedulerOptions, TrainOptions


def test_multistep_schedule_halves_after_each_milestone() -> None:
    s = SchedulerOptions(kind="multistep", milestones=[50000, 100000, 200000, 300000], gamma=0.5)
    lr = [build.scheduled_lr(1e-4, it, s) for it in (1, 50000, 50001, 100000, 100001, 200001, 300001, 400000)]
    assert lr == pytest.approx([1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 1.25e-5, 6.25e-6, 6.25e-6])


def test_cosine_restarts_match_basicsr_formula() -> None:
    s = SchedulerOptions(kind="cosine_restart", periods=[10, 20], restart_weights=[1.0, 0.5], eta_min=1e-7)

    def expected(it: int) -> float:
        done = it - 1
        start, period, w = (0, 10, 1.0) if done < 10 else (10, 20, 0.5)
        return 1e-7 + w * (2e-4 - 1e-7) * 0.5 * (1 + math.cos(math.pi * (done - start) / period))

    for it in (1, 2, 6, 10, 11, 12, 25, 30):
        assert build.scheduled_lr(2e-4, it, s) == pytest.approx(expected(it), rel=1e-12)
    assert build.scheduled_lr(2e-4, 1, s) == pytest.approx(2e-4)
    assert build.scheduled_lr(2e-4, 11, s) == pytest.approx(1e-7 + 0.5 * (2e-4 - 1e-7))  # the restart
    assert build.scheduled_lr(2e-4, 31, s) == 1e-7  # after the last period


def test_warmup_is_linear_then_hands_over() -> None:
    s = SchedulerOptions(kind="constant", warmup_iter=4)
    assert [build.scheduled_lr(1.0, it, s) for it in (1, 2, 3, 4, 5)] == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_generator_hparams_fill_defaults_and_the_scale() -> None:
    hp = build.generator_hparams(GeneratorOptions(arch="RRDBNet", hparams={"num_block": 3}), 2)
    assert hp == {"num_in_ch": 3, "num_out_ch": 3, "scale": 2, "num_feat": 64, "num_block": 3, "num_grow_ch": 32,
                  "pixel_unshuffle": True}  # fmt: skip
    hp = build.generator_hparams(GeneratorOptions(arch="SRVGGNetCompact", hparams={"num_conv": 4}), 3)
    assert hp["upscale"] == 3 and hp["num_conv"] == 4
    with pytest.raises(ValueError, match=r"network_g\.hparams\.scale is 2 but scale is 4"):
        build.generator_hparams(GeneratorOptions(hparams={"scale": 2}), 4)


def test_pretrained_weights_are_loaded_and_checked(make_options: Callable[..., dict[str, Any]], tmp_path: Any) -> None:
    from esrgan.archs import RRDBNet
    from esrgan.models import save_model

    src = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    save_model(src, tmp_path / "w.pth")
    opts = from_dict(TrainOptions, make_options("psnr", network_g={"pretrained": str(tmp_path / "w.pth")}))
    net = build.build_generator(opts, torch.device("cpu"))
    for k, v in src.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k
    assert net.training
    other = make_options("psnr", network_g={"pretrained": str(tmp_path / "w.pth"), "hparams": {"num_block": 2}})
    with pytest.raises(ValueError, match=r"w\.pth is RRDBNet .* but the options describe RRDBNet"):
        build.build_generator(from_dict(TrainOptions, other), torch.device("cpu"))


def test_precision_choices(make_options: Callable[..., dict[str, Any]]) -> None:
    cpu = torch.device("cpu")
    assert build.build_amp(from_dict(TrainOptions, make_options("psnr")), cpu).dtype is None
    bf16 = build.build_amp(from_dict(TrainOptions, make_options("psnr", precision="bf16")), cpu)
    assert bf16.dtype == torch.bfloat16 and bf16.scaler is None
    with pytest.raises(ValueError, match="fp16"):
        build.build_amp(from_dict(TrainOptions, make_options("psnr", precision="fp16")), cpu)


def test_train_loader_batches(make_options: Callable[..., dict[str, Any]]) -> None:
    from esrgan.train.distributed import DistInfo

    opts = from_dict(TrainOptions, make_options("psnr", data={"train": {"batch_size": 3}}))
    ds = build.build_train_set(opts)
    loader = build.build_train_loader(ds, opts, DistInfo(), 1, torch.device("cpu"))
    batches = list(loader)
    assert len(batches) == opts.train.total_iter - 1
    assert batches[0]["lr"].shape == (3, 3, 8, 8) and batches[0]["hr"].shape == (3, 3, 32, 32)
    assert batches[0]["lr"].dtype == torch.float32 and 0.0 <= float(batches[0]["hr"].min()) <= 1.0


def test_real_world_objects(make_options: Callable[..., dict[str, Any]]) -> None:
    from esrgan.archs.discriminator import VGGStyleDiscriminator
    from esrgan.archs.unet_discriminator import UNetDiscriminatorSN
    from esrgan.data import DegradedDataset, HROnlyDataset

    cpu = torch.device("cpu")
    vgg = from_dict(TrainOptions, make_options("gan"))
    assert isinstance(build.build_discriminator(vgg, cpu, 3), VGGStyleDiscriminator)
    assert build.gan_kind(vgg) == "ragan" and build.build_losses(vgg, cpu).usm is None
    unet = from_dict(TrainOptions, make_options("gan", network_d={"arch": "UNetDiscriminatorSN", "num_feat": 4}))
    d = build.build_discriminator(unet, cpu, 3)
    assert isinstance(d, UNetDiscriminatorSN) and d.training and d.num_feat == 4
    assert build.gan_kind(unet) == "vanilla"  # Real-ESRGAN's loss for its discriminator
    ragan_unet = make_options("gan", network_d={"arch": "UNetDiscriminatorSN"}, losses={"gan": {"kind": "ragan"}})
    assert build.gan_kind(from_dict(TrainOptions, ragan_unet)) == "ragan"
    sharp = make_options("gan", losses={"pixel": {"gt_usm": True}, "gan": {"gt_usm": True}})
    losses = build.build_losses(from_dict(TrainOptions, sharp), cpu)
    assert losses.usm is not None and losses.usm_targets == {"pixel", "gan"}
    assert isinstance(build.build_train_set(from_dict(TrainOptions, make_options("psnr"))), HROnlyDataset)
    deg = from_dict(TrainOptions, make_options("psnr", data={"train": {"degradation": {"crop_pad_size": 48}}}))
    train_set = build.build_train_set(deg)
    assert isinstance(train_set, DegradedDataset) and train_set.degradation.crop_pad_size == 48


def test_generator_from_a_builtin_name() -> None:
    """train_RealESRGAN_x4plus.yml fine-tunes the built-in realesrgan-x4plus: its weights load (strictly, after the
    architecture check) and upscale like a trained model, not a random one."""

    from esrgan.image import imresize
    from esrgan.metrics import calculate_psnr
    from esrgan.options import load_options

    path = shipped_options.FOLDER / "train_RealESRGAN_x4plus.yml"
    opts = load_options(TrainOptions, path)
    net = build.build_generator(opts, torch.device("cpu"))
    assert net.training
    lr = torch.linspace(0, 1, 12 * 12).view(1, 1, 12, 12).repeat(1, 3, 1, 1)  # a smooth ramp
    with torch.no_grad():
        sr = net(lr).clamp(0, 1)
    bicubic = imresize(lr, 4).clamp(0, 1)
    to8 = lambda t: (t[0].permute(1, 2, 0) * 255).round().byte().numpy()  # noqa: E731
    assert calculate_psnr(to8(sr), to8(bicubic), crop_border=4) > 30


def test_the_lr_patch_must_meet_the_generators_input_rule(make_options: Callable[..., dict[str, Any]]) -> None:
    """RRDBNet x2 pixel-unshuffles its input by 2 (x1: by 4): an odd LR patch is an options error before training,
    not a torch error at the first iteration."""
    from esrgan.errors import OptionsError

    odd = from_dict(TrainOptions, make_options("psnr", scale=2, data={"train": {"patch_size": 10}}))
    with pytest.raises(OptionsError, match=r"network_g \(RRDBNet x2\) needs input sides that are multiples of 2; "
                       r"the LR patch is 5 \(set data.train.patch_size to a multiple of 4\)"):  # fmt: skip
        build.build_generator(odd, torch.device("cpu"))
    even = from_dict(TrainOptions, make_options("psnr", scale=2, data={"train": {"patch_size": 12}}))
    assert build.build_generator(even, torch.device("cpu")) is not None


def test_discriminator_starts_from_a_pretrained_file(
    make_options: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    """network_d.pretrained: Real-ESRGAN's net_d layout ({"params": ...} in a .pth), .safetensors, or a training
    state's net_d; checked against the options' D before loading; a pickle that would run code is refused."""
    from safetensors.torch import save_file

    from esrgan.errors import ModelFileError, OptionsError

    cpu = torch.device("cpu")
    unet = {"arch": "UNetDiscriminatorSN", "num_feat": 4}
    source = build.build_discriminator(from_dict(TrainOptions, make_options("gan", network_d=unet)), cpu, 3)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))  # not what a fresh D starts from
    weights = {k: v.clone() for k, v in source.state_dict().items()}
    torch.save({"params": weights}, tmp_path / "net_d.pth")
    save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp_path / "net_d.safetensors"))
    torch.save({"net_d": {f"module.{k}": v for k, v in weights.items()}, "iter": 3}, tmp_path / "state.pth")
    for name in ("net_d.pth", "net_d.safetensors", "state.pth"):
        opts = make_options("gan", network_d={**unet, "pretrained": str(tmp_path / name)})
        d = build.build_discriminator(from_dict(TrainOptions, opts), cpu, 3)
        for k, v in d.state_dict().items():
            assert torch.equal(v, weights[k]), (name, k)
    wider = make_options("gan", network_d={**unet, "num_feat": 8, "pretrained": str(tmp_path / "net_d.pth")})
    with pytest.raises(OptionsError, match=r"does not fit the UNetDiscriminatorSN the options describe \(conv0"):
        build.build_discriminator(from_dict(TrainOptions, wider), cpu, 3)
    vgg = make_options("gan", network_d={"pretrained": str(tmp_path / "net_d.pth")})
    with pytest.raises(OptionsError, match=r"missing .* set network_d's arch, num_feat and skip_connection"):
        build.build_discriminator(from_dict(TrainOptions, vgg), cpu, 3)
    nan = {k: v.clone() for k, v in weights.items()}
    nan["conv0.weight"][0, 0, 0, 0] = float("nan")
    torch.save({"params": nan}, tmp_path / "nan.pth")
    with_nan = from_dict(TrainOptions, make_options("gan", network_d={**unet, "pretrained": str(tmp_path / "nan.pth")}))
    with pytest.raises(ModelFileError, match=r"network_d\.pretrained: .*conv0\.weight holds NaN or infinite values"):
        build.build_discriminator(with_nan, cpu, 3)
    torch.save({"params": weights, "evil": _Evil()}, tmp_path / "evil.pth")
    evil = make_options("gan", network_d={**unet, "pretrained": str(tmp_path / "evil.pth")})
    with pytest.raises(ModelFileError):
        build.build_discriminator(from_dict(TrainOptions, evil), cpu, 3)
    missing = from_dict(TrainOptions, make_options("gan", network_d={**unet, "pretrained": str(tmp_path / "no.pth")}))
    with pytest.raises(FileNotFoundError, match=r"network_d\.pretrained: .*no\.pth: no such file"):
        build.build_discriminator(missing, cpu, 3)
    assert build.build_discriminator(missing, cpu, 3, load_pretrained=False) is not None  # a resume: not read


class _Evil:
    """Unpickling it would call os.system: weights_only loading must refuse the file."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))
