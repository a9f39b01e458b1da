from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import pytest
import torch
import yaml

from esrgan.cli import main
from esrgan.options import from_dict
from esrgan.train import loop as loop_module
from esrgan.train.loop import NonFiniteLossError, fit
from esrgan.train.options import TrainOptions

MakeOptions = Callable[..., dict[str, Any]]


def _write(path: Path, opts: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(opts))
    return path


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_smoke_two_stages_through_the_cli(make_options: MakeOptions, tmp_path: Path, no_vgg_weights: Path) -> None:
    """Stage 1 (3 iterations, DataLoader workers), then stage 2 from its exported weights, with validation,
    samples, checkpoints and both output formats loadable by esrgan.models.load_model."""
    from esrgan.models import load_model

    psnr = make_options("psnr", data={"train": {"num_workers": 2}})
    assert main(["train", "-opt", str(_write(tmp_path / "psnr.yml", psnr))]) == 0
    run = tmp_path / "exp" / "psnr"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["state_00000002.pth", "state_00000003.pth"]
    records = _records(run)
    assert [r["iter"] for r in records if r["kind"] == "train"] == [1, 2, 3]
    assert [r["iter"] for r in records if r["kind"] == "val"] == [2, 3]
    assert all(0.0 <= r["data_wait"] <= 1.0 and r["time_per_iter"] > 0 for r in records if r["kind"] == "train")
    strip = cv2.imread(str(run / "samples" / "val0_00000003.png"))
    assert strip is not None and strip.shape == (64, 3 * 48, 3)  # LR-bicubic | SR | HR
    assert cv2.imread(str(run / "curves.png")) is not None
    assert yaml.safe_load((run / "options.yml").read_text())["name"] == "psnr"

    state = torch.load(run / "checkpoints" / "state_00000003.pth", weights_only=True)
    assert state["iteration"] == 3 and state["esrgan"]["kind"] == "training_state"
    for path in (run / "checkpoints" / "state_00000003.pth", run / "models" / "net_g_latest.pth"):
        net, info = load_model(path)
        assert info.arch == "RRDBNet" and info.hparams["num_feat"] == 8
        for k, v in net.state_dict().items():
            torch.testing.assert_close(v, state["params_ema"][k].float(), msg=k)

    gan = make_options("gan", network_g={"pretrained": str(run / "models" / "net_g_latest.pth")})
    assert main(["train", "-opt", str(_write(tmp_path / "gan.yml", gan))]) == 0
    run2 = tmp_path / "exp" / "gan"
    last = [r for r in _records(run2) if r["kind"] == "train"][-1]
    for key in ("l_pix", "l_percep", "l_g_gan", "l_d", "d_real", "d_fake", "p_real", "lr_g", "lr_d"):
        assert key in last
    state2 = torch.load(run2 / "checkpoints" / "state_00000003.pth", weights_only=True)
    assert state2["net_d"] is not None and state2["optimizers"]["d"] is not None
    assert state2["net_d_meta"]["hparams"]["input_size"] == 32


def _tensors(state: dict[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested state, by dotted path (the RNG states excluded: the runs draw no random numbers
    in the main process, but the two runs' histories of DataLoader set-up differ)."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if k == "rng":
            continue
        if isinstance(v, torch.Tensor):
            out[prefix + str(k)] = v
        elif isinstance(v, dict):
            out.update(_tensors(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            out.update(_tensors({str(i): x for i, x in enumerate(v)}, f"{prefix}{k}."))
    return out


@pytest.mark.parametrize("stage", ["psnr", "gan"])
def test_resume_continues_the_same_curve(
    stage: str, make_options: MakeOptions, tmp_path: Path, no_vgg_weights: Path
) -> None:
    """N iterations straight == k iterations, then N - k resumed: same weights, EMA, D, optimiser states."""
    changes = {"train": {"total_iter": 4}, "checkpoint": {"every": 2}, "data": {"val": None}}
    straight = from_dict(TrainOptions, make_options(stage, name="straight", **changes))
    fit(straight)
    first = from_dict(TrainOptions, make_options(stage, name="resumed", **{**changes, "train": {"total_iter": 2}}))
    fit(first)
    second = from_dict(TrainOptions, make_options(stage, name="resumed", **changes))
    result = fit(second, resume="auto")
    assert result.iteration == 4
    a = torch.load(tmp_path / "exp" / "straight" / "checkpoints" / "state_00000004.pth", weights_only=True)
    b = torch.load(tmp_path / "exp" / "resumed" / "checkpoints" / "state_00000004.pth", weights_only=True)
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys() and any(k.startswith("optimizers.g.state") for k in ta)
    for k in ta:
        torch.testing.assert_close(tb[k], ta[k], rtol=1e-5, atol=1e-6, msg=k)
    # The training changed the weights (the comparison is not between two untouched networks).
    init = torch.load(tmp_path / "exp" / "resumed" / "checkpoints" / "state_00000002.pth", weights_only=True)
    assert not torch.equal(init["params"]["conv_first.weight"], a["params"]["conv_first.weight"])
    # The log of the resumed run tells one story: iterations 1..4 once each.
    assert [r["iter"] for r in _records(tmp_path / "exp" / "resumed")] == [1, 2, 3, 4]


# A small degradation (every step of the model, at 48-pixel regions) for the real-world training tests.
SMALL_DEGRADATION = {"crop_pad_size": 48, "blur_kernel_size": 9, "blur_kernel_size2": 9}


def test_real_world_resume_is_bit_exact(make_options: MakeOptions, tmp_path: Path, no_vgg_weights: Path) -> None:
    """Real-ESRGAN's stage 2 in small: degraded HR-only data, a pool of 4 pairs (full after 2 iterations), the U-Net
    discriminator, USM-sharpened targets, a share of clean samples. 6 iterations straight == 3, then 3 resumed, bit
    for bit: the resumed run makes the pool's samples again from the keys in the checkpoint."""
    changes: dict[str, Any] = {
        "train": {"total_iter": 6},
        "checkpoint": {"every": 3},
        # A share of clean samples too: the clean draw is part of each sample's reproducible draws.
        "data": {
            "val": None,
            "train": {"degradation": {**SMALL_DEGRADATION, "clean_prob": 0.3}, "queue_size": 4, "num_workers": 1},
        },
        "network_d": {"arch": "UNetDiscriminatorSN", "num_feat": 4},
        "losses": {"pixel": {"gt_usm": True}, "perceptual": {"gt_usm": True}, "gan": {"weight": 0.1}},
    }
    fit(from_dict(TrainOptions, make_options("gan", name="straight", **changes)))
    first = make_options("gan", name="resumed", **changes)
    first["train"]["total_iter"] = 3
    fit(from_dict(TrainOptions, first))
    fit(from_dict(TrainOptions, make_options("gan", name="resumed", **changes)), resume="auto")
    a = torch.load(tmp_path / "exp" / "straight" / "checkpoints" / "state_00000006.pth", weights_only=True)
    b = torch.load(tmp_path / "exp" / "resumed" / "checkpoints" / "state_00000006.pth", weights_only=True)
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys() and "pool.0.keys" in ta and "net_d.conv1.weight_u" in ta
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert ta["pool.0.keys"].shape == (4, 2) and a["pool"][0]["size"] == 4
    mid = torch.load(tmp_path / "exp" / "resumed" / "checkpoints" / "state_00000003.pth", weights_only=True)
    assert not torch.equal(mid["pool"][0]["keys"], a["pool"][0]["keys"])  # the pool changed after the resume
    last = [r for r in _records(tmp_path / "exp" / "resumed") if r["kind"] == "train"][-1]
    assert 0 < last["p_real"] < 1 and 0 < last["p_fake"] < 1


def test_existing_run_is_not_overwritten(
    make_options: MakeOptions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = make_options("psnr", train={"total_iter": 2}, data={"val": None})
    opts = from_dict(TrainOptions, raw)
    fit(opts)
    with pytest.raises(FileExistsError, match=r"already holds a run .*resume='auto'.*another name") as info:
        fit(opts)
    assert "--" not in str(info.value)  # the library names its arguments; the command names its flags:
    assert main(["train", "-opt", str(_write(tmp_path / "o.yml", raw))]) == 2
    assert "continue it with --resume auto, or start a new run with --name NEW_NAME" in caplog.text
    assert fit(opts, resume="auto").iteration == 2  # nothing left to do: resumes at the end
    with pytest.raises(FileNotFoundError, match="no such training state"):
        fit(opts, resume=str(tmp_path / "missing.pth"))


def test_resume_removes_the_partial_files_of_a_killed_run(make_options: MakeOptions, tmp_path: Path) -> None:
    """SIGKILL during a save leaves a full-size '.state_N.pth.<hex>.part' (no finally runs); --resume cleans up."""
    opts = from_dict(TrainOptions, make_options("psnr", train={"total_iter": 2}, data={"val": None}))
    fit(opts)
    run = tmp_path / "exp" / "psnr"
    leftovers = [
        run / "checkpoints" / ".state_00000004.pth.0badc0de.part",
        run / "models" / ".net_g_latest.pth.12345678.part",
        run / "models" / ".net_g_00000004.pth.9abcdef0.part",
    ]
    for path in leftovers:
        path.write_bytes(b"\0" * 4096)
    more = from_dict(TrainOptions, make_options("psnr", train={"total_iter": 3}, data={"val": None}))
    assert fit(more, resume="auto").iteration == 3
    assert not [p for p in leftovers if p.exists()]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["state_00000002.pth", "state_00000003.pth"]


def test_resume_auto_without_checkpoints_starts_fresh(make_options: MakeOptions) -> None:
    opts = from_dict(TrainOptions, make_options("psnr", train={"total_iter": 1}, data={"val": None}))
    assert fit(opts, resume="auto").iteration == 1


def test_nan_loss_stops_and_names_the_last_good_checkpoint(
    make_options: MakeOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = {"n": 0}
    real_step = loop_module.psnr_step

    def failing_step(*args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        out = real_step(*args, **kwargs)
        calls["n"] += 1
        return {"l_pix": torch.tensor(float("nan"))} if calls["n"] == 3 else out

    monkeypatch.setattr(loop_module, "psnr_step", failing_step)
    opts = from_dict(TrainOptions, make_options("psnr", train={"total_iter": 5}, data={"val": None}))
    ckpts = tmp_path / "exp" / "psnr" / "checkpoints"
    with pytest.raises(NonFiniteLossError, match=r"iteration 3 .*state_00000002\.pth"):
        fit(opts)
    assert [p.name for p in ckpts.iterdir()] == ["state_00000002.pth"]  # nothing written after the NaN
    calls["n"] = 0
    path = _write(tmp_path / "o.yml", make_options("psnr", train={"total_iter": 5}, data={"val": None}))
    assert main(["train", "-opt", str(path), "--name", "cli"]) == 1
    state = tmp_path / "exp" / "cli" / "checkpoints" / "state_00000002.pth"
    assert f"(continue from the last good checkpoint with --resume {state})" in caplog.text


def test_nan_loss_exit_status_through_the_cli(
    make_options: MakeOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts = make_options("psnr", train={"total_iter": 2}, data={"val": None})
    path = _write(tmp_path / "nan.yml", opts)
    # A NaN loss weight is refused when the options are read (exit status 2, a user error)...
    assert main(["train", "-opt", str(path), "--set", "losses.pixel.weight=.nan"]) == 2
    # ... and a loss that becomes NaN while training stops it: exit status 1, no checkpoint.
    monkeypatch.setattr(loop_module, "psnr_step", lambda *a, **k: {"l_pix": torch.tensor(float("nan"))})
    assert main(["train", "-opt", str(path)]) == 1
    assert not (tmp_path / "exp" / "psnr" / "checkpoints").exists()


def test_cli_name_and_override_errors(make_options: MakeOptions, tmp_path: Path) -> None:
    path = _write(tmp_path / "o.yml", make_options("psnr", train={"total_iter": 1}, data={"val": None}))
    assert main(["train", "-opt", str(path), "--name", "other", "--set", "checkpoint.every=1"]) == 0
    assert (tmp_path / "exp" / "other" / "checkpoints" / "state_00000001.pth").is_file()
    assert main(["train", "-opt", str(path), "--set", "train.totl_iter=5"]) == 2
    assert main(["train", "-opt", str(path), "--name", "bad/name"]) == 2


def test_time_limit_stops_with_a_checkpoint_and_resume_finishes(make_options: MakeOptions, tmp_path: Path) -> None:
    opts = from_dict(TrainOptions, make_options("psnr", train={"total_iter": 3, "max_minutes": 1e-9}))
    result = fit(opts)
    assert result.iteration == 1 and result.last_state is not None
    assert result.last_state.name == "state_00000001.pth" and result.val_scores  # validated at the stop
    assert fit(opts, resume="auto").iteration == 2  # each invocation gets the (tiny) limit anew
    unlimited = from_dict(TrainOptions, make_options("psnr", train={"total_iter": 3}))
    assert fit(unlimited, resume="auto").iteration == 3


def test_time_limit_through_the_cli_says_how_to_continue(
    make_options: MakeOptions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path / "o.yml", make_options("psnr", train={"total_iter": 3, "max_minutes": 1e-9}))
    with caplog.at_level("INFO"):
        assert main(["train", "-opt", str(path)]) == 0
    assert "resume='auto' continues the run" in caplog.text  # the library's log line
    assert "stopped at iteration 1 of 3: run the same command with --resume auto to continue" in caplog.text


def test_resuming_warns_about_changed_options_not_about_newer_keys(caplog: pytest.LogCaptureFixture) -> None:
    saved = {"seed": 0, "data": {"val": {"tile": 0, "precision": "fp32"}}}
    current = {"seed": 1, "data": {"val": {"tile": 0, "precision": "fp32", "tile_pad": 16, "ensemble": False}}}
    loop_module._warn_changed_options(saved, current, Path("state_00000002.pth"))
    assert [r.getMessage() for r in caplog.records] == ["option seed changed since state_00000002.pth: 0 -> 1"]


def test_span_trains_in_the_psnr_stage(make_options: MakeOptions, tmp_path: Path) -> None:
    from esrgan.models import load_model

    opts = make_options(
        "psnr",
        name="span",
        train={"total_iter": 6, "optim_g": {"lr": 3e-3}},
        logging={"every": 1},
        checkpoint={"every": 6},
        data={"val": {"every": 6}},
    )
    opts["network_g"] = {"arch": "SPAN", "hparams": {"feature_channels": 8, "norm": False}}
    assert main(["train", "-opt", str(_write(tmp_path / "span.yml", opts))]) == 0
    train = [r for r in _records(tmp_path / "exp" / "span") if r["kind"] == "train"]
    assert train[-1]["l_pix"] < train[0]["l_pix"]
    _, info = load_model(tmp_path / "exp" / "span" / "models" / "net_g_latest.pth")
    assert info.arch == "SPAN" and info.hparams == {
        "num_in_ch": 3,
        "num_out_ch": 3,
        "feature_channels": 8,
        "upscale": 4,
        "norm": False,
    }


def test_resume_with_another_pool_size_or_fewer_images_refills_the_pool(
    make_options: MakeOptions, tmp_path: Path, image_dirs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """The options changed under a run with a pool: its saved keys cannot be made again (another queue_size, or
    keys of an image the smaller training set no longer has). The resume goes on with a fresh pool and says why
    (it used to end with a ValueError or an IndexError, shown as a bug)."""
    train = {"degradation": SMALL_DEGRADATION, "queue_size": 4, "num_workers": 0}
    raw = make_options(
        "psnr", name="pool", train={"total_iter": 4}, checkpoint={"every": 2}, data={"val": None, "train": train}
    )
    fit(from_dict(TrainOptions, raw))
    raw["data"]["train"]["queue_size"] = 2
    raw["train"]["total_iter"] = 6
    assert fit(from_dict(TrainOptions, raw), resume="auto").iteration == 6
    assert "pool is not restored (it holds 4 pairs, queue_size is now 2)" in caplog.text
    few = tmp_path / "few"
    few.mkdir()
    first = sorted(image_dirs["train"].iterdir())[0]
    (few / first.name).write_bytes(first.read_bytes())
    saved = torch.load(tmp_path / "exp" / "pool" / "checkpoints" / "state_00000006.pth", weights_only=True)
    assert int(saved["pool"][0]["keys"][:, 0].max()) >= 1  # the pool holds samples of an image that is gone
    raw["data"]["train"]["hr"] = str(few)
    raw["train"]["total_iter"] = 8
    caplog.clear()
    assert fit(from_dict(TrainOptions, raw), resume="auto").iteration == 8
    assert "pool is not restored (it holds samples of training image #" in caplog.text
    assert "the training set now has 1 image);" in caplog.text
