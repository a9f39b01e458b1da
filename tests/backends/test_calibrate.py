"""How backend "auto" is decided: the pure choice over timings, the size classes, the switch, the cached decision,
and that a fast candidate beyond the fidelity bounds is never chosen."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import esrgan.backends.calibrate as calibrate
import esrgan.backends.measure as measure_module
from esrgan.archs import SRVGGNetCompact
from esrgan.backends.calibrate import FIDELITY, Candidate, Timing, choose, decide, machine_candidates, size_class
from esrgan.inference import Upscaler

CPU = torch.device("cpu")
TORCH32, ORT32, OV32 = Candidate("torch", "fp32"), Candidate("onnxruntime", "fp32"), Candidate("openvino", "fp32")
TORCH16, OV16 = Candidate("torch", "bf16"), Candidate("openvino", "bf16")


def timing(candidate: Candidate, seconds: float | None, diff: float = 0.2, db: float = 55.0) -> Timing:
    return Timing(candidate, seconds, diff, db if not candidate.exact else 130.0)


def test_machine_candidates_follow_what_is_installed_and_native_bf16() -> None:
    assert machine_candidates(["torch"], native_bf16=False) == (TORCH32,)
    assert machine_candidates(["torch", "openvino"], native_bf16=False) == (TORCH32, OV32)
    everything = machine_candidates(["torch", "onnxruntime", "openvino"], native_bf16=True)
    assert everything == (TORCH32, ORT32, OV32, TORCH16, OV16)  # ONNX Runtime has no CPU bf16
    assert all(c.precision in ("fp32", "bf16") for c in everything)  # int8 is never a candidate


def test_choose_takes_the_fastest_within_the_bounds() -> None:
    timings = [timing(TORCH32, 2.0), timing(ORT32, 1.5), timing(OV32, 1.2), timing(TORCH16, 0.9), timing(OV16, 0.6)]
    assert choose(timings) == OV16
    assert choose(timings, "fp32") == OV32
    assert choose(timings, "bf16") == OV16
    assert choose([]) is None


def test_choose_never_takes_a_candidate_beyond_its_bound() -> None:
    wrong_fp32 = Timing(OV32, 0.1, max_diff_255=1.5, psnr_db=60.0)  # fastest, but 1.5/255 off
    nan_fp32 = Timing(ORT32, 0.05, max_diff_255=math.nan, psnr_db=-math.inf)
    blurry_bf16 = Timing(OV16, 0.01, max_diff_255=9.0, psnr_db=45.0)  # fastest of all, but 45 dB
    failed = Timing(TORCH16, None, error="no bf16 kernels")
    timings = [timing(TORCH32, 2.0), wrong_fp32, nan_fp32, blurry_bf16, failed]
    assert choose(timings) == TORCH32
    assert choose(timings, "bf16") is None
    assert calibrate.outside_bounds(wrong_fp32) and calibrate.outside_bounds(nan_fp32)
    assert calibrate.outside_bounds(blurry_bf16) and "failed" in str(calibrate.outside_bounds(failed))
    edge = Timing(OV32, 0.1, max_diff_255=FIDELITY.max_diff_255, psnr_db=50.0)  # exactly at the bound: allowed
    assert choose([timing(TORCH32, 2.0), edge]) == OV32


def test_bf16_must_be_clearly_faster_than_exact_fp32() -> None:
    close = [timing(OV32, 1.0), timing(TORCH16, 0.95)]  # 5%: timing noise, not worth 4-5 dB
    assert choose(close) == OV32
    clear = [timing(OV32, 1.0), timing(TORCH16, 0.8)]
    assert choose(clear) == TORCH16
    assert choose([timing(TORCH16, 0.95)]) == TORCH16  # no exact candidate to prefer


def test_size_classes_are_powers_of_two() -> None:
    assert [size_class(s) for s in (1, 20, 48, 64, 96, 160, 200, 288, 5000)] == [
        16,
        16,
        64,
        64,
        128,
        128,
        256,
        256,
        1024,
    ]


def test_calibration_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, mode in (("1", "auto"), ("", "auto"), (" Force ", "force"), ("0", "off"), ("off", "off")):
        monkeypatch.setenv(calibrate.ENV, value)
        assert calibrate.calibration_mode() == mode
    monkeypatch.setenv(calibrate.ENV, "yes")
    with pytest.raises(ValueError, match=r"ESRGAN_CALIBRATE must be 1 .* 0 .* or force, got 'yes'"):
        decide(tiny(), backend="auto", precision="auto", device=CPU)
    monkeypatch.delenv(calibrate.ENV)
    assert calibrate.calibration_mode() == "auto"  # measuring is the default outside the tests


def tiny() -> SRVGGNetCompact:
    return SRVGGNetCompact(num_feat=4, num_conv=1)


class FakeBuilders:
    """Stands in for measure.Builders: every candidate computes the network's own output (``wrong`` ones add an
    offset) and costs ``costs[candidate]`` seconds on the fake clock."""

    built: ClassVar[list[str]] = []
    spared: ClassVar[set[Candidate]] = set()

    def __init__(self, net: nn.Module, threads: int, clock: FakeClock, costs: dict[Candidate, float]) -> None:
        self.net, self.clock, self.costs = net, clock, costs

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.net(x)

    def __call__(self, candidate: Candidate) -> Callable[[torch.Tensor], torch.Tensor]:
        FakeBuilders.built.append(candidate.name)

        def run(x: torch.Tensor) -> torch.Tensor:
            self.clock.now += self.costs[candidate]
            return self.reference(x)

        return run

    def keep(self, winner: Candidate | None, spare: Collection[Candidate] = ()) -> None:
        FakeBuilders.spared = set(spare)
        return None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_measuring(monkeypatch: pytest.MonkeyPatch) -> dict[Candidate, float]:
    """Calibration on: every candidate installed, native bf16, and fake builders on a fake clock. Returns the
    costs (seconds per call) to set per candidate."""
    monkeypatch.setenv(calibrate.ENV, "1")
    monkeypatch.setattr(calibrate, "available_backends", lambda: ["torch", "onnxruntime", "openvino"])
    monkeypatch.setattr(calibrate, "cpu_has_native_bf16", lambda: True)
    clock = FakeClock()
    costs = {TORCH32: 2.0, ORT32: 1.6, OV32: 1.2, TORCH16: 0.9, OV16: 0.5}
    monkeypatch.setattr(calibrate, "Builders", lambda net, threads: FakeBuilders(net, threads, clock, costs))
    real_measure = calibrate.measure

    def measure_on_fake_clock(*args: Any, **kwargs: Any) -> list[Timing]:
        return real_measure(*args, clock=clock, **kwargs)

    monkeypatch.setattr(calibrate, "measure", measure_on_fake_clock)
    FakeBuilders.built = []
    return costs


def test_decide_measures_once_then_reads_the_cache(
    fake_measuring: dict[Candidate, float], cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    net = tiny()
    with caplog.at_level(logging.INFO):
        first = decide(net, backend="auto", precision="auto", device=CPU, call_side=48)
    assert (first.backend, first.precision, first.source) == ("openvino", "bf16", "measured")
    assert FakeBuilders.built == [c.name for c in fake_measuring]  # every candidate, once
    assert FakeBuilders.spared == {OV16, OV32}  # the winners at each precision keep their compiled models
    assert "measuring 5 candidates" in caplog.text and "calibration 5/5 openvino+bf16" in caplog.text
    assert first.calibration is not None and first.calibration.side == 48
    assert first.cache_file is not None and first.cache_file.parent == cache_dir
    doc = json.loads(first.cache_file.read_text())
    assert doc["winner"] == "openvino+bf16" and doc["fields"]["size_class"] == 64
    assert {"weights", "source"} <= set(doc["fields"]["network"]) and "torch" in doc["fields"]["packages"]

    again = decide(net, backend="auto", precision="auto", device=CPU, call_side=48)
    assert (again.backend, again.precision, again.source) == ("openvino", "bf16", "cache")
    fp32 = decide(net, backend="auto", precision="fp32", device=CPU, call_side=56)  # same class, same file
    assert (fp32.backend, fp32.precision, fp32.source) == ("openvino", "fp32", "cache")
    assert len(FakeBuilders.built) == 5  # nothing measured again

    forced = decide(net, backend="auto", precision="auto", device=CPU, call_side=48, mode="force")
    assert forced.source == "measured" and len(FakeBuilders.built) == 10


def test_the_cache_key_holds_what_changes_the_answer(
    fake_measuring: dict[Candidate, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    net = tiny()
    files = {decide(net, backend="auto", precision="auto", device=CPU, call_side=48).cache_file}
    files.add(decide(net, backend="auto", precision="auto", device=CPU, call_side=96).cache_file)  # size class
    torch.set_num_threads(2)
    files.add(decide(net, backend="auto", precision="auto", device=CPU, call_side=48).cache_file)  # threads
    torch.set_num_threads(1)
    with torch.no_grad():
        net.body[0].weight.add_(0.01)  # type: ignore[operator]
    files.add(decide(net, backend="auto", precision="auto", device=CPU, call_side=48).cache_file)  # weights
    monkeypatch.setattr(calibrate, "package_versions", lambda: {"openvino": "2099.1"})
    files.add(decide(net, backend="auto", precision="auto", device=CPU, call_side=48).cache_file)  # versions
    monkeypatch.setattr(calibrate, "cpu_model", lambda: "Another CPU")
    files.add(decide(net, backend="auto", precision="auto", device=CPU, call_side=48).cache_file)  # CPU model
    assert len(files) == 6 and len(FakeBuilders.built) == 6 * 5


def test_decide_uses_the_fixed_rule_where_nothing_is_measured(
    fake_measuring: dict[Candidate, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    net = tiny()
    assert decide(net, backend="openvino", precision="auto", device=CPU).source == "asked"
    rule = decide(net, backend="auto", precision="auto", device=CPU, mode="off")
    assert (rule.backend, rule.precision, rule.source) == ("torch", "auto", "rule")  # conftest: the rule says torch
    assert decide(net, backend="auto", precision="auto", device=torch.device("cuda")).source == "rule"
    assert decide(net, backend="auto", precision="auto", device=CPU, compile=True).source == "rule"
    assert decide(net, backend="auto", precision="fp16", device=CPU).source == "rule"
    monkeypatch.setattr(calibrate, "available_backends", lambda: ["torch"])
    monkeypatch.setattr(calibrate, "cpu_has_native_bf16", lambda: False)
    assert decide(net, backend="auto", precision="auto", device=CPU).source == "rule"  # one candidate only
    assert FakeBuilders.built == []
    monkeypatch.setenv(calibrate.ENV, "0")
    monkeypatch.setattr(calibrate, "available_backends", lambda: ["torch", "openvino"])
    assert decide(net, backend="auto", precision="auto", device=CPU).source == "rule"
    assert FakeBuilders.built == []


def test_no_bf16_candidates_for_a_network_that_is_wrong_in_bf16(fake_measuring: dict[Candidate, float]) -> None:
    net = tiny()
    net.supports_bf16 = False  # type: ignore[misc]  # as a network loaded through spandrel may say
    choice = decide(net, backend="auto", precision="auto", device=CPU, call_side=48)
    assert (choice.backend, choice.precision) == ("openvino", "fp32")
    assert FakeBuilders.built == ["torch+fp32", "onnxruntime+fp32", "openvino+fp32"]


def test_nothing_within_bounds_runs_torch_fp32(
    fake_measuring: dict[Candidate, float], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(calibrate, "choose", lambda timings, precision="auto": None)  # every candidate out
    with caplog.at_level(logging.WARNING):
        choice = decide(tiny(), backend="auto", precision="auto", device=CPU, call_side=48)
    assert (choice.backend, choice.precision) == ("torch", "fp32") and "no candidate within" in caplog.text


def test_a_failed_calibration_falls_back_to_the_fixed_rule(
    fake_measuring: dict[Candidate, float], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(calibrate, "calibrate", broken)
    with caplog.at_level(logging.WARNING):
        choice = decide(tiny(), backend="auto", precision="auto", device=CPU, call_side=48)
    assert choice.source == "rule" and "calibration failed (RuntimeError: out of memory)" in caplog.text


def test_an_unreadable_cache_file_is_measured_again(fake_measuring: dict[Candidate, float]) -> None:
    net = tiny()
    path = decide(net, backend="auto", precision="auto", device=CPU, call_side=48).cache_file
    assert path is not None
    path.write_text("{not json")
    assert decide(net, backend="auto", precision="auto", device=CPU, call_side=48).source == "measured"
    assert json.loads(path.read_text())["winner"] == "openvino+bf16"  # rewritten


class SlowSRVGG(SRVGGNetCompact):
    """The torch candidates of this network take 20 ms more per call than the fakes below."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.02)
        return super().forward(x)


class FakeRunner:
    """A compiled backend that is fast: ``compute(x)`` with no sleep."""

    cache_file, cache_hit, build_seconds = None, False, 0.0

    def __init__(self, name: str, precision: str, compute: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.name, self.precision, self.compute = name, precision, compute
        self.dtype = torch.float32 if precision == "fp32" else torch.bfloat16

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.compute(x)


@pytest.mark.parametrize("onnxruntime_correct", [True, False])
def test_a_fast_backend_beyond_the_bounds_is_never_chosen(
    monkeypatch: pytest.MonkeyPatch, onnxruntime_correct: bool
) -> None:
    """Real measuring (real clock, real torch candidates) with fake compiled backends that are much faster: OpenVINO
    fp32 off by 2/255, OpenVINO bf16 a bicubic upscale (far below 50 dB), ONNX Runtime exact or off by 1.5/255."""
    monkeypatch.setenv(calibrate.ENV, "1")
    monkeypatch.setattr(calibrate, "available_backends", lambda: ["torch", "onnxruntime", "openvino"])
    monkeypatch.setattr(calibrate, "cpu_has_native_bf16", lambda: True)
    net = SlowSRVGG(num_feat=4, num_conv=1)
    plain = SRVGGNetCompact(num_feat=4, num_conv=1)
    plain.load_state_dict(net.state_dict())
    plain.eval()

    def bicubic(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=4, mode="bicubic")

    fakes = {
        ("openvino", "fp32"): lambda x: plain(x) + 2 / 255,
        ("openvino", "bf16"): bicubic,
        ("onnxruntime", "fp32"): (lambda x: plain(x)) if onnxruntime_correct else (lambda x: plain(x) - 1.5 / 255),
    }

    def fake_make_runner(name: str, _net: nn.Module, precision: str, *args: Any, **kwargs: Any) -> FakeRunner:
        return FakeRunner(name, precision, fakes[name, precision])

    monkeypatch.setattr(measure_module, "make_runner", fake_make_runner)
    x = torch.rand(1, 3, 21, 27)
    up = Upscaler(net, tile=16, tile_pad=4, device="cpu", backend="auto")
    assert up.choice.source == "measured" and up.choice.calibration is not None
    verdicts = {t.candidate.name: calibrate.outside_bounds(t) for t in up.choice.calibration.timings}
    assert verdicts["openvino+fp32"] and verdicts["openvino+bf16"] and verdicts["torch+fp32"] is None
    fastest = min(up.choice.calibration.timings, key=lambda t: t.seconds or math.inf)
    assert fastest.candidate.backend in ("openvino", "onnxruntime")  # the fakes were faster: the test bites
    if onnxruntime_correct:
        assert (up.backend, up.dtype) == ("onnxruntime", torch.float32) and isinstance(up.runner, FakeRunner)
    else:
        assert up.backend == "torch" and up.runner is None
    expected = Upscaler(plain, tile=16, tile_pad=4, device="cpu", backend="torch", precision="fp32")(x)
    got = up(x)
    bound = FIDELITY.max_diff_255 / 255 if up.dtype == torch.float32 else None
    if bound is not None:
        assert float((got - expected).abs().max()) <= bound
    else:
        mse = float(((got - expected) ** 2).mean())
        assert 10 * math.log10(1 / mse) >= FIDELITY.min_psnr_db
