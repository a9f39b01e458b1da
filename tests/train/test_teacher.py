"""Knowledge distillation: teacher targets, feature taps, the distill stage through fit() and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.cli import main
from esrgan.errors import InputError
from esrgan.image import imresize
from esrgan.inference import Upscaler
from esrgan.losses import FeatureMatchingLoss
from esrgan.models import load_model, save_model
from esrgan.options import from_dict
from esrgan.train.loop import fit
from esrgan.train.options import TrainOptions
from esrgan.train.teacher import (
    FeatureTap,
    default_feature_layer,
    make_lr,
    prepare_targets,
    targets_key,
    usable_pairs,
)

MakeOptions = Callable[..., dict[str, Any]]


@pytest.fixture
def teacher_file(tmp_path: Path) -> Path:
    """A tiny random RRDBNet x4 teacher saved as a weights file."""
    torch.manual_seed(1)
    path = tmp_path / "teacher.pth"
    save_model(RRDBNet(num_feat=8, num_block=1, num_grow_ch=4), path)
    return path


def distill_options(make_options: MakeOptions, teacher_path: Path, **changes: Any) -> dict[str, Any]:
    """A tiny distillation run: SRVGGNetCompact nf 8 student of the tiny RRDBNet teacher, scored against it."""
    base = _merge(
        make_options("psnr"),
        {
            "name": "distill",
            "stage": "distill",
            "teacher": {"model": str(teacher_path), "lr_downscales": [2, 4], "tile": 0, "precision": "fp32"},
        },
    )
    base["network_g"] = {"arch": "SRVGGNetCompact", "hparams": {"num_feat": 8, "num_conv": 2}}
    base["data"]["val"] = {"lr": base["data"]["val"]["hr"], "every": 2, "save_samples": 1}
    return _merge(base, changes)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# ------------------------------------------------------------------------------------------------ targets


def test_make_lr_is_matlab_bicubic_of_the_mod_cropped_image() -> None:
    img = (np.random.default_rng(0).random((30, 23, 3)) * 255).astype(np.uint8)
    assert make_lr(img, 1) is img
    lr = make_lr(img, 4)
    assert lr.dtype == np.uint8 and lr.shape == (7, 5, 3)
    np.testing.assert_array_equal(lr, imresize(img[:28, :20], 1 / 4))


def test_prepare_targets_makes_pairs_once_and_reuses_them(
    image_dirs: dict[str, Path], teacher_file: Path, tmp_path: Path
) -> None:
    net, _ = load_model(teacher_file)
    engine = Upscaler(net, tile=0, precision="fp32", device="cpu")
    calls = {"n": 0}

    def teacher(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return engine(x)

    out = tmp_path / "targets"
    lr_dir, sr_dir, stems = prepare_targets(teacher, image_dirs["train"], out, [2, 4])
    # 6 images of 96x96, each at 1/2 (48 px) and 1/4 (24 px)
    assert calls["n"] == 12 and stems[:2] == ["img0_d2", "img0_d4"] and len(stems) == 12
    names = sorted(p.name for p in lr_dir.iterdir())
    assert names == sorted(p.name for p in sr_dir.iterdir()) and "img0_d4.png" in names and len(names) == 12
    lr = cv2.imread(str(lr_dir / "img3_d4.png"))[:, :, ::-1]
    sr = cv2.imread(str(sr_dir / "img3_d4.png"))[:, :, ::-1]
    src = cv2.imread(str(image_dirs["train"] / "img3.png"))[:, :, ::-1]
    np.testing.assert_array_equal(lr, make_lr(np.ascontiguousarray(src), 4))
    # The SR file is the teacher's output on exactly that LR file, rounded to 8 bits.
    expected = engine(torch.from_numpy(lr.copy()).permute(2, 0, 1)[None].float() / 255)[0]
    got = torch.from_numpy(sr.copy()).permute(2, 0, 1).float() / 255
    assert sr.shape == (96, 96, 3) and (got - expected).abs().max() <= 0.5 / 255 + 1e-6
    assert json.loads((out / "targets.json").read_text())["lr_downscales"] == [2, 4]

    mtime = (sr_dir / "img0_d2.png").stat().st_mtime_ns
    (sr_dir / "img5_d2.png").unlink()  # an interrupted run: one pair missing
    prepare_targets(teacher, image_dirs["train"], out, [2, 4])
    assert calls["n"] == 13 and (sr_dir / "img5_d2.png").is_file()
    assert (sr_dir / "img0_d2.png").stat().st_mtime_ns == mtime

    # The cache does not depend on the training patch: the pairs too small for it are listed apart.
    kept, small = usable_pairs(lr_dir, stems, 25)
    assert kept == [s for s in stems if s.endswith("_d2")] and small == [s for s in stems if s.endswith("_d4")]
    assert usable_pairs(lr_dir, stems, 24) == (stems, [])
    (lr_dir / "img1_d2.png").write_bytes((lr_dir / "img1_d2.png").read_bytes()[:20])  # a truncated file
    with pytest.raises(
        InputError, match=r"img1_d2\.png: truncated or corrupt png header; delete img1_d2\.png and rerun"
    ):
        usable_pairs(lr_dir, stems, 24)


def test_targets_key_changes_with_everything_that_changes_the_targets() -> None:
    base = targets_key("abc", [2, 4], 4, "fp32", ["/data/a"])
    changed = [
        targets_key("abd", [2, 4], 4, "fp32", ["/data/a"]),
        targets_key("abc", [2], 4, "fp32", ["/data/a"]),
        targets_key("abc", [2, 4], 2, "fp32", ["/data/a"]),
        targets_key("abc", [2, 4], 4, "bf16", ["/data/a"]),
        targets_key("abc", [2, 4], 4, "fp32", ["/data/b"]),  # another folder: same stems, other pictures
        targets_key("abc", [2, 4], 4, "fp32", ["/data/a", "/data/meta.txt"]),
        targets_key("abc", [2, 4], 4, "fp32", ["/data/a"], {"ensemble": True}),
        targets_key("abc", [2, 4], 4, "fp32", ["/data/a"], {"backend": "openvino"}),
    ]
    assert len({base, *changed}) == 9 and base == targets_key("abc", [2, 4], 4, "fp32", ["/data/a"])
    # No engine settings named: the key of targets made before they could be set (09e1...: the key before them).
    assert base == targets_key("abc", [2, 4], 4, "fp32", ["/data/a"], {}) == "09e1aa9b7d91"


def test_targets_folder_names_engine_settings_only_when_changed(make_options: MakeOptions, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from esrgan.train.build import teacher_targets_dir

    def folder(**teacher: object) -> str:
        opts = from_dict(TrainOptions, distill_options(make_options, tmp_path / "t.pth", teacher=teacher))
        info: Any = SimpleNamespace(sha256="abc")  # the key reads only the teacher's digest
        return teacher_targets_dir(opts, info, "train", tmp_path, [4])

    default = folder()
    assert default.endswith(targets_key("abc", [4], 4, "fp32", [str(tmp_path.resolve())]))
    assert folder(tile=64, tile_pad=8) == default  # tiling changes the blend at tile seams, not the targets' key
    assert len({default, folder(ensemble=True), folder(backend="openvino"), folder(precision="bf16")}) == 4


def test_prepare_targets_shards_the_work_between_processes(
    image_dirs: dict[str, Path], teacher_file: Path, tmp_path: Path
) -> None:
    net, _ = load_model(teacher_file)
    engine = Upscaler(net, tile=0, precision="fp32", device="cpu")
    for rank in (0, 1):
        _, _, stems = prepare_targets(engine, image_dirs["train"], tmp_path / "t", [4], rank=rank, world_size=2)
        assert len(stems) == 6  # every process knows all pairs
        made = sorted(p.name for p in (tmp_path / "t" / "sr").iterdir())
        assert len(made) == (3 if rank == 0 else 6)


# ------------------------------------------------------------------------------------------------ features


def test_feature_tap_and_default_layers() -> None:
    rrdb, vgg = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4), SRVGGNetCompact(num_feat=6, num_conv=2)
    assert default_feature_layer(rrdb) == "conv_body"
    assert default_feature_layer(vgg) == "body.5"  # conv, act, conv, act, conv, act(5), last conv
    x = torch.rand(2, 3, 10, 12)
    expected = x
    for layer in list(vgg.body)[:6]:  # before the tap exists: these calls must not feed it
        expected = layer(expected)
    tap = FeatureTap(vgg, default_feature_layer(vgg))
    vgg(x)
    feat = tap.take()
    torch.testing.assert_close(feat, expected)
    assert feat.shape == (2, 6, 10, 12)
    with pytest.raises(RuntimeError, match="no forward pass"):
        tap.take()
    tap.remove()
    vgg(x)
    assert tap.output is None
    with pytest.raises(ValueError, match="did you mean 'conv_body'"):
        FeatureTap(rrdb, "conv_bdy")


def test_feature_matching_loss_projects_and_compares() -> None:
    loss = FeatureMatchingLoss(4, 6)
    s, t = torch.rand(2, 4, 5, 5), torch.rand(2, 6, 5, 5)
    expected = F.l1_loss(loss.adapter(s), t)
    torch.testing.assert_close(loss(s, t), expected)
    loss(s, t).backward()
    assert loss.adapter.weight.grad is not None and loss.adapter.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="differ in size"):
        loss(s, torch.rand(2, 6, 4, 5))


# ------------------------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"teacher": None}, "needs a teacher"),
        ({"teacher": {"targets": "online"}}, r"lr_downscales to \[4\]"),
        ({"losses": {"feature": {"weight": 1.0}}}, "set teacher.targets to online"),
        ({"stage": "psnr"}, "belong to stage distill"),
        ({"teacher": {"lr_downscales": []}}, "non-empty list"),
    ],
)
def test_distill_options_are_checked(
    make_options: MakeOptions, teacher_file: Path, change: dict[str, Any], message: str
) -> None:
    opts = distill_options(make_options, teacher_file, **change)
    with pytest.raises(ValueError, match=message):
        from_dict(TrainOptions, opts)


def test_val_hr_is_required_outside_distillation(make_options: MakeOptions, image_dirs: dict[str, Path]) -> None:
    opts = make_options("psnr", data={"val": {"hr": None, "lr": str(image_dirs["val"])}})
    with pytest.raises(ValueError, match=r"data\.val\.hr is required"):
        from_dict(TrainOptions, opts)


def test_teacher_scale_must_match(make_options: MakeOptions, tmp_path: Path) -> None:
    path = tmp_path / "x2.pth"
    save_model(SRVGGNetCompact(num_feat=4, num_conv=1, upscale=2), path)
    opts = from_dict(TrainOptions, distill_options(make_options, path))
    with pytest.raises(ValueError, match=r"upscales x2 but scale is 4"):
        fit(opts)


# ------------------------------------------------------------------------------------------------ training


def test_distill_precomputed_learns_the_teacher_and_scores_against_it(
    make_options: MakeOptions, teacher_file: Path, tmp_path: Path
) -> None:
    """The student's loss falls; validation's reference is the teacher's output (not the HR image)."""
    opts = from_dict(
        TrainOptions,
        distill_options(
            make_options,
            teacher_file,
            train={"total_iter": 12, "optim_g": {"lr": 3e-3}, "ema_decay": 0.0},
            data={"val": {"every": 12}},
            logging={"every": 4},
        ),
    )
    result = fit(opts)
    run = tmp_path / "exp" / "distill"
    records = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert train[-1]["l_pix"] < train[0]["l_pix"]
    teacher_dirs = list((tmp_path / "exp" / "teacher_targets").iterdir())
    assert sorted(d.name.split("-")[0] for d in teacher_dirs) == ["train", "val"]

    # Recompute the validation score by hand against the teacher's output on the validation LR images.
    from esrgan.metrics import calculate_psnr

    teacher, _ = load_model(teacher_file)
    student, info = load_model(run / "models" / "net_g_latest.pth")
    assert info.arch == "SRVGGNetCompact"
    t_engine = Upscaler(teacher, tile=0, precision="fp32", device="cpu")
    s_engine = Upscaler(student, tile=0, precision="fp32", device="cpu")
    psnrs = []
    assert opts.data.val is not None and opts.data.val.lr is not None
    for f in sorted(opts.data.val.lr.iterdir()):
        lr = torch.from_numpy(cv2.imread(str(f))[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255
        to8 = lambda t: (t[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()  # noqa: E731
        psnrs.append(calculate_psnr(to8(s_engine(lr)), to8(t_engine(lr)), crop_border=4))
    assert result.val_scores["psnr_y"] == pytest.approx(float(np.mean(psnrs)), abs=1e-6)


def test_distill_trains_on_the_pairs_large_enough_for_its_patch(
    make_options: MakeOptions, teacher_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """96-pixel images at 1/2 and 1/4 give 48- and 24-pixel LR images: a 32-pixel LR patch uses only the first,
    from the same cached targets a smaller patch uses; a patch no image can give is an error that says so."""
    small_patch = distill_options(make_options, teacher_file, train={"total_iter": 1}, data={"val": None})
    fit(from_dict(TrainOptions, small_patch))
    (targets,) = (tmp_path / "exp" / "teacher_targets").glob("train-*")
    assert (targets / "pairs_lr8.txt").read_text().split() == [f"img{i}_d{f}.png" for i in range(6) for f in (2, 4)]

    caplog.set_level("WARNING")
    big_patch = _merge(small_patch, {"name": "distill_big", "data": {"train": {"patch_size": 128}}})
    mtime = (targets / "sr" / "img0_d4.png").stat().st_mtime_ns
    fit(from_dict(TrainOptions, big_patch))
    assert (targets / "pairs_lr32.txt").read_text().split() == [f"img{i}_d2.png" for i in range(6)]
    # Another run, the same teacher and photos: the cached targets are shared, not remade.
    assert (targets / "sr" / "img0_d4.png").stat().st_mtime_ns == mtime
    assert list((tmp_path / "exp" / "teacher_targets").glob("train-*")) == [targets]
    assert "6 of 12 teacher-target pairs are smaller than the 32-pixel LR patch" in caplog.text

    too_big = _merge(small_patch, {"name": "distill_too_big", "data": {"train": {"patch_size": 256}}})
    with pytest.raises(ValueError, match=r"no source image is large enough for data\.train\.patch_size 256"):
        fit(from_dict(TrainOptions, too_big))


def test_student_equal_to_teacher_scores_perfectly(make_options: MakeOptions, tmp_path: Path) -> None:
    """A student that starts as the teacher (and barely moves) scores ~inf dB: the reference is the teacher."""
    torch.manual_seed(0)
    teacher = tmp_path / "srvgg.pth"
    save_model(SRVGGNetCompact(num_feat=8, num_conv=2), teacher)
    opts = distill_options(
        make_options,
        teacher,
        network_g={"pretrained": str(teacher)},
        train={"total_iter": 1, "optim_g": {"lr": 1e-12}, "ema_decay": 0.0},
        data={"val": {"every": 1}},
    )
    result = fit(from_dict(TrainOptions, opts))
    assert result.val_scores["psnr_y"] > 60


def test_distill_online_with_feature_matching_resumes_exactly(
    make_options: MakeOptions, teacher_file: Path, tmp_path: Path
) -> None:
    """Online targets + feature matching: the adapter trains, is saved, and a resumed run equals a straight one."""
    changes: dict[str, Any] = {
        "teacher": {"targets": "online", "lr_downscales": [4]},
        "losses": {"feature": {"weight": 0.5}},
        "train": {"total_iter": 4},
        "checkpoint": {"every": 2},
        "data": {"val": None},
    }
    fit(from_dict(TrainOptions, distill_options(make_options, teacher_file, name="straight", **changes)))
    first = {**changes, "train": {"total_iter": 2}}
    fit(from_dict(TrainOptions, distill_options(make_options, teacher_file, name="resumed", **first)))
    fit(from_dict(TrainOptions, distill_options(make_options, teacher_file, name="resumed", **changes)), resume="auto")
    a = torch.load(tmp_path / "exp" / "straight" / "checkpoints" / "state_00000004.pth", weights_only=True)
    b = torch.load(tmp_path / "exp" / "resumed" / "checkpoints" / "state_00000004.pth", weights_only=True)
    init = torch.load(tmp_path / "exp" / "resumed" / "checkpoints" / "state_00000002.pth", weights_only=True)
    assert a["feature"] is not None and not torch.equal(
        a["feature"]["adapter.weight"], init["feature"]["adapter.weight"]
    )
    assert tuple(a["feature"]["adapter.weight"].shape) == (8, 8, 1, 1)  # student body.5 (8 ch) -> teacher conv_body
    for part in ("params", "params_ema", "feature"):
        for k, v in a[part].items():
            torch.testing.assert_close(b[part][k], v, rtol=1e-5, atol=1e-6, msg=f"{part}.{k}")
    assert len(a["optimizers"]["g"]["state"]) == len(list(SRVGGNetCompact(num_feat=8, num_conv=2).parameters())) + 2
    records = [json.loads(x) for x in (tmp_path / "exp" / "straight" / "train_log.jsonl").read_text().splitlines()]
    assert all("l_feat" in r for r in records if r["kind"] == "train")


def test_distill_through_the_cli_and_options_file(
    make_options: MakeOptions, teacher_file: Path, tmp_path: Path
) -> None:
    opts = distill_options(make_options, teacher_file, train={"total_iter": 2}, data={"val": {"every": 2}})
    path = tmp_path / "distill.yml"
    path.write_text(yaml.safe_dump(opts))
    assert main(["train", "-opt", str(path)]) == 0
    assert (tmp_path / "exp" / "distill" / "models" / "net_g_latest.pth").is_file()


def test_shipped_distill_options_load() -> None:
    from esrgan.options import load_options
    from esrgan.shipped_options import FOLDER

    files = sorted(FOLDER.glob("distill_*.yml"))
    assert files
    for f in files:
        opts = load_options(TrainOptions, f)
        assert opts.stage == "distill" and opts.teacher is not None


def test_span_student_distils_with_feature_matching_and_resumes_exactly(
    make_options: MakeOptions, teacher_file: Path, tmp_path: Path
) -> None:
    """SPAN as the student: online targets, feature matching at its default tap (conv_cat), the EMA copy in eval
    mode running the fold of its averaged branches, an exact resume, and a file that spandrel reads too."""
    import spandrel

    changes: dict[str, Any] = {
        "teacher": {"targets": "online", "lr_downscales": [4]},
        "losses": {"feature": {"weight": 0.5}},
        "train": {"total_iter": 4, "ema_decay": 0.5},
        "checkpoint": {"every": 2},
        "data": {"val": {"every": 4}},
    }

    def span(name: str, **change: Any) -> TrainOptions:
        opts = distill_options(make_options, teacher_file, name=name, **change)
        opts["network_g"] = {"arch": "SPAN", "hparams": {"feature_channels": 8}}
        return from_dict(TrainOptions, opts)

    result = fit(span("straight", **changes))
    fit(span("resumed", **{**changes, "train": {"total_iter": 2, "ema_decay": 0.5}}))
    fit(span("resumed", **changes), resume="auto")
    a = torch.load(tmp_path / "exp" / "straight" / "checkpoints" / "state_00000004.pth", weights_only=True)
    b = torch.load(tmp_path / "exp" / "resumed" / "checkpoints" / "state_00000004.pth", weights_only=True)
    assert tuple(a["feature"]["adapter.weight"].shape) == (8, 8, 1, 1)  # student conv_cat (8 ch) -> teacher
    for part in ("params", "params_ema", "feature"):
        for k, v in a[part].items():
            torch.testing.assert_close(b[part][k], v, rtol=1e-5, atol=1e-6, msg=f"{part}.{k}")

    student, info = load_model(tmp_path / "exp" / "straight" / "models" / "net_g_latest.pth")
    assert (info.arch, info.loader, info.hparams["feature_channels"]) == ("SPAN", "native", 8)
    state = torch.load(tmp_path / "exp" / "straight" / "models" / "net_g_latest.pth", weights_only=True)
    descriptor = spandrel.ModelLoader().load_from_state_dict(state["params_ema"])
    lr = torch.rand(1, 3, 12, 12)
    with torch.inference_mode():
        torch.testing.assert_close(student(lr), descriptor.model.eval()(lr), rtol=0, atol=1e-5)
    # Validation ran the EMA network (eval mode) and scored it; its score is the saved file's.
    assert np.isfinite(result.val_scores["psnr_y"])


def test_online_teacher_with_a_minimum_side_needs_big_enough_patches(make_options: MakeOptions, tmp_path: Path) -> None:
    """A window-attention teacher loaded through spandrel (HAT: sides of at least 16) and LR patches of 8."""
    from spandrel.architectures.HAT import HAT

    from esrgan.train.build import build_teacher
    from tests.spandrel_models import SWIN, save

    torch.manual_seed(0)
    hat = HAT(**{**SWIN, "upscale": 4}, mlp_ratio=2, num_feat=16, squeeze_factor=4)
    path = save({k: v.clone() for k, v in hat.state_dict().items()}, tmp_path / "hat_x4.safetensors")
    opts = distill_options(make_options, path, teacher={"targets": "online", "lr_downscales": [4]})
    with pytest.raises(ValueError, match=r"needs input sides of at least 16; the LR patch is 8 \(set data\.train\."):
        build_teacher(from_dict(TrainOptions, opts), torch.device("cpu"))
