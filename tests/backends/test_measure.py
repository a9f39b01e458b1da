"""Timing the candidates of backend "auto": the tile, the fidelity figures, the timing loop on a fake clock, and
the real builders (shared export, the winner's runner handed on, the losers' cache entries removed)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import esrgan.backends.measure as measure_module
from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.backends.measure import (
    Builders,
    Candidate,
    calibration_side,
    fidelity,
    flops_per_pixel,
    measure,
    sample_tile,
)
from esrgan.models.flops import flops_per_input_pixel

TORCH32, ORT32, OV32 = Candidate("torch", "fp32"), Candidate("onnxruntime", "fp32"), Candidate("openvino", "fp32")
TORCH16 = Candidate("torch", "bf16")


def test_sample_tile_is_a_real_photo_crop() -> None:
    rgb = sample_tile(64)
    assert rgb.shape == (1, 3, 64, 64) and rgb.dtype == torch.float32
    assert float(rgb.min()) >= 0.0 and float(rgb.max()) <= 1.0 and float(rgb.std()) > 0.05  # not flat, not noise
    assert torch.equal(sample_tile(64), rgb)  # deterministic
    assert torch.allclose(sample_tile(64, 1), rgb.mean(dim=1, keepdim=True))
    assert torch.equal(sample_tile(64, 4)[:, 3], rgb[:, 0])
    with pytest.raises(ValueError, match="side must be 1-512"):
        sample_tile(513)


def test_calibration_side_keeps_one_call_within_the_budget() -> None:
    x4plus, compact = 35.85e6, 1.24e6  # FLOPs per input pixel (measured by esrgan.models.flops)
    assert calibration_side(288, x4plus) == 128  # 587 GFLOP, not the engine's 288 (2970 GFLOP)
    assert calibration_side(288, compact) == 288  # cheap: the engine's own tile
    assert calibration_side(1000, 0.0) == 512  # unknown cost: the photo's size at most
    assert calibration_side(20, compact) == 32  # at least MIN_SIDE
    assert calibration_side(100, compact, multiple=4) == 96
    assert calibration_side(100, compact, multiple=3) == 96  # multiples of 16 and of the size multiple (48)
    assert calibration_side(20, compact, minimum=64) == 64  # never below the network's minimum input


def test_flops_on_the_meta_device_match_the_counted_forward() -> None:
    net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    assert flops_per_pixel(net, 3, 16) == pytest.approx(flops_per_input_pixel(net, 3, size=16))


def test_fidelity_figures() -> None:
    ref = torch.rand(1, 3, 8, 8)
    assert fidelity(ref.clone(), ref) == (0.0, math.inf)
    diff, db = fidelity(ref + 0.5 / 255, ref.clamp(0, 0.99))
    assert diff <= 0.5 + 1e-3 + 255 * 0.01 and 40 < db < math.inf
    nan = ref.clone()
    nan[0, 0, 0, 0] = math.nan
    diff, db = fidelity(nan, ref)
    assert math.isnan(diff) and db == -math.inf
    with pytest.raises(ValueError, match="output shape"):
        fidelity(ref[..., :4], ref)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_forward(clock: Clock, costs: list[float], offset: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """Each call costs the next of ``costs`` (the last repeats) on ``clock`` and returns x + offset."""
    calls = iter(costs)
    last = costs[-1]

    def run(x: torch.Tensor) -> torch.Tensor:
        nonlocal last
        last = next(calls, last)
        clock.now += last
        return x + offset

    return run


def test_measure_counts_the_fastest_timed_call_and_checks_every_output() -> None:
    clock = Clock()
    forwards = {
        TORCH32: fake_forward(clock, [9.0, 2.0, 1.5]),  # warm-up 9 s (not counted), then 2 and 1.5 s
        OV32: fake_forward(clock, [1.0, 1.2, 1.1], offset=0.2),  # fast but 0.2 off
        TORCH16: fake_forward(clock, [3.0]),
    }
    seen: list[tuple[int, str]] = []
    x = torch.full((1, 3, 4, 4), 0.5)
    timings = measure(
        lambda t: t,
        forwards.__getitem__,
        list(forwards),
        x,
        clock=clock,
        on_timing=lambda n, t: seen.append((n, t.candidate.name)),
    )
    assert [t.seconds for t in timings] == pytest.approx([1.5, 1.1, 3.0])
    assert timings[0].max_diff_255 == 0.0 and timings[0].psnr_db == math.inf
    assert timings[1].max_diff_255 == pytest.approx(0.2 * 255)
    assert seen == [(1, "torch+fp32"), (2, "openvino+fp32"), (3, "torch+bf16")]


def test_a_clearly_slower_candidate_is_timed_once() -> None:
    clock = Clock()
    calls = {"fast": 0, "slow": 0}

    def counted(name: str, seconds: float) -> Callable[[torch.Tensor], torch.Tensor]:
        def run(x: torch.Tensor) -> torch.Tensor:
            calls[name] += 1
            clock.now += seconds
            return x

        return run

    forwards = {OV32: counted("fast", 1.0), TORCH32: counted("slow", 2.0)}
    measure(lambda t: t, forwards.__getitem__, list(forwards), torch.zeros(1, 3, 2, 2), repeats=3, clock=clock)
    assert calls == {"fast": 1 + 3, "slow": 1 + 1}  # warm-up + timed calls


def test_a_failing_candidate_is_recorded_and_the_others_go_on() -> None:
    def build(candidate: Candidate) -> Callable[[torch.Tensor], torch.Tensor]:
        if candidate == ORT32:
            raise RuntimeError("cannot export this network")
        if candidate == OV32:
            return lambda x: x[..., :1]  # wrong shape
        return lambda x: x

    timings = measure(lambda t: t, build, [ORT32, OV32, TORCH32], torch.rand(1, 3, 4, 4))
    assert [t.seconds is None for t in timings] == [True, True, False]
    assert "cannot export this network" in str(timings[0].error) and "output shape" in str(timings[1].error)


def test_torch_builders_match_the_plain_forward() -> None:
    net = SRVGGNetCompact(num_feat=8, num_conv=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    builders = Builders(net, threads=1)
    x = sample_tile(32)
    reference = builders.reference(x)
    fp32, bf16 = builders(TORCH32)(x), builders(TORCH16)(x)
    assert fp32.dtype == bf16.dtype == torch.float32 and fp32.shape == (1, 3, 128, 128)
    assert fidelity(fp32, reference.clamp(0, 1))[0] <= 1.0
    assert fidelity(bf16, reference.clamp(0, 1))[1] > 30  # random weights: only a sanity bound here
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the caller's network untouched
    assert net.body[0].weight.is_contiguous()  # type: ignore[union-attr]  # and not switched to channels_last
    assert builders.keep(TORCH32) is None  # torch has no runner to hand on
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # as an engine leaves it
    assert Builders(net, threads=1).net.body[0].weight.is_contiguous()  # type: ignore[union-attr]  # plain again


def test_compiled_builders_share_one_export_and_keep_only_the_winners_cache(
    monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    exports: list[int] = []
    real_export = measure_module.export_onnx_bytes

    def counting_export(net: torch.nn.Module) -> bytes:
        exports.append(1)
        return real_export(net)

    monkeypatch.setattr(measure_module, "export_onnx_bytes", counting_export)
    net = SRVGGNetCompact(num_feat=8, num_conv=2)
    builders = Builders(net, threads=1)
    x = sample_tile(32)
    reference = builders.reference(x).clamp(0, 1)
    for candidate in (ORT32, OV32):
        assert fidelity(builders(candidate)(x), reference)[0] <= 1.0
    assert len(exports) == 1
    files = {c: r.cache_file for c, r in builders.runners.items()}
    assert all(f is not None and f.is_file() for f in files.values())
    kept = builders.keep(OV32)
    assert kept is not None and kept.name == "openvino" and kept.precision == "fp32"
    assert files[OV32].is_file() and not files[ORT32].exists()  # type: ignore[union-attr]
    assert builders.runners == {}
    builders(ORT32), builders(OV32)  # rebuilt (OpenVINO's from the cache); ONNX Runtime's spared this time
    assert builders.keep(None, spare={ORT32}) is None and files[ORT32].is_file()  # type: ignore[union-attr]
    assert files[OV32].is_file()  # a cache hit: not calibration's to delete
