"""esrgan.benchmark: configuration parsing, the photo, the conv peak, derived figures and the job runner, with a
tiny RRDBNet, 32 px inputs and (where a figure is checked exactly) a fake clock instead of real timings."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from esrgan import benchmark as bm


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every timed call lasts exactly one second of wall time."""
    ticks = itertools.count()
    monkeypatch.setattr(bm, "_wall_clock", lambda: float(next(ticks)))


# --- configurations and sizes ---------------------------------------------------------------------------------


def test_parse_config_tokens() -> None:
    assert bm.parse_config("plain") == bm.Config("plain", plain=True)
    assert bm.parse_config("default").engine_overrides() == {}
    c = bm.parse_config("openvino+bf16")
    assert (c.name, c.backend, c.precision, c.plain) == ("openvino+bf16", "openvino", "bf16", False)
    assert bm.parse_config("fp32+tile=0").engine_overrides() == {"precision": "fp32", "tile": 0}
    assert bm.parse_config("compile+tile=auto").engine_overrides() == {"compile": True, "tile": "auto"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plain+fp32", "takes no options"),
        ("fp32+bf16", "twice"),
        ("fast", "unknown"),
        ("tile=8", "at least 16"),
        ("fp32+", "empty"),
    ],
)
def test_parse_config_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bm.parse_config(text)


def test_parse_size() -> None:
    assert bm.parse_size("256") == (256, 256)
    assert bm.parse_size("320x180") == (320, 180)
    assert bm.parse_size("1080P") == (1920, 1080)
    for bad in ("0", "12x", "x4", "big", "-3"):
        with pytest.raises(ValueError, match="bad size"):
            bm.parse_size(bad)


def test_plan_puts_plain_first_per_model_and_size() -> None:
    configs = [bm.parse_config(c) for c in ("fp32", "plain", "default")]
    jobs = bm.plan(["a", "b"], [(32, 32), (48, 32)], configs, repeats=2, warmup=0, threads=1)
    first = [(j.model, j.width, j.config.name) for j in jobs[:3]]
    assert first == [("a", 32, "plain"), ("a", 32, "fp32"), ("a", 32, "default")]
    assert len(jobs) == 12 and all(j.repeats == 2 and j.warmup == 0 and j.threads == 1 for j in jobs)
    assert [(j.model, j.width) for j in bm.plan({"m": [(8, 4)]}, None, configs)] == [("m", 8)] * 3
    with pytest.raises(ValueError, match="repeats"):
        bm.plan(["a"], [(8, 8)], configs, repeats=0)


# --- the photo ------------------------------------------------------------------------------------------------


def test_photo_is_a_real_image_of_the_requested_size() -> None:
    x = bm.photo(48, 32)
    assert x.shape == (1, 3, 32, 48) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert float(x.std()) > 0.05  # a photo crop, not a flat or empty image
    assert torch.equal(x, bm.photo(48, 32))  # the same input for every configuration
    big = bm.photo(600, 520)  # larger than the 512 x 512 photo: enlarged, then cropped
    assert big.shape == (1, 3, 520, 600) and float(big.std()) > 0.05
    assert bm.photo(16, 16, channels=1).shape == (1, 1, 16, 16)


# --- convolution peak -----------------------------------------------------------------------------------------


def test_conv_peak_is_flops_over_median_time(fake_clock: None) -> None:
    gflops = bm.conv_peak(torch.float32, channels_last=True, threads=1, size=16, channels=8, repeats=3, warmup=1)
    assert gflops == pytest.approx(2 * 8 * 8 * 9 * 16 * 16 / 1.0 / 1e9)  # one fake second per call
    assert torch.get_num_threads() == 1


def test_conv_peaks_report_bf16_unavailable_without_native_bf16() -> None:
    kwargs: dict[str, Any] = {"threads": 1, "size": 8, "channels": 4, "repeats": 1, "warmup": 0}
    peaks = {p.name: p for p in bm.conv_peaks(native_bf16=False, **kwargs)}
    assert set(peaks) == {"fp32 NCHW", "fp32 channels_last", "bf16 NCHW", "bf16 channels_last"}
    assert peaks["fp32 channels_last"].gflops is not None and peaks["fp32 channels_last"].gflops > 0
    assert peaks["bf16 channels_last"].gflops is None and "native bf16" in str(peaks["bf16 channels_last"].reason)
    assert bm.peak_for(list(peaks.values()), "bf16") is None
    native = bm.conv_peaks(native_bf16=True, **kwargs)
    assert all(p.gflops is not None for p in native)


# --- derived figures ------------------------------------------------------------------------------------------


def _m(config: str, seconds: list[float], *, width: int = 32, dtype: str = "fp32", **kw: float) -> bm.Measurement:
    """A fake measurement of a model costing 1 MFLOP per pixel at width x 32."""
    m = bm.Measurement("net", config, width, 32, times=seconds, cpu_times=seconds, flops_per_pixel=1e6, dtype=dtype)
    for key, value in kw.items():
        setattr(m, key, value)
    return m


def test_summarise_speedup_gflops_and_peak_share() -> None:
    peaks = [
        bm.ConvPeak("fp32 NCHW", "fp32", False, 100.0),
        bm.ConvPeak("fp32 channels_last", "fp32", True, 400.0),
        bm.ConvPeak("bf16 channels_last", "bf16", True, None, "no native bf16"),
    ]
    measurements = [
        _m("plain", [4.0, 6.0, 5.0], baseline_mib=100.0, peak_mib=150.0),
        _m("fp32", [2.0, 2.5, 3.0]),
        _m("bf16", [1.0], dtype="bf16"),
        _m("plain", [40.0], width=64),  # another size: its own reference
        _m("fp32", [8.0], width=64),
        bm.Measurement("net", "openvino", 32, 32, status=bm.SKIPPED, reason="not installed"),
    ]
    rows = {(r.config, r.width): r for r in bm.summarise(measurements, peaks)}
    plain, fp32, bf16 = rows["plain", 32], rows["fp32", 32], rows["bf16", 32]
    assert plain.seconds == 5.0 and plain.speedup == 1.0  # the median, not the best
    assert fp32.speedup == pytest.approx(5.0 / 2.5) and bf16.speedup == pytest.approx(5.0)
    assert rows["fp32", 64].speedup == pytest.approx(40.0 / 8.0)
    assert fp32.gflops == pytest.approx(1e6 * 32 * 32 / 2.5 / 1e9)
    assert fp32.peak_name == "fp32 channels_last"  # the best peak of the row's dtype
    assert fp32.pct_peak == pytest.approx(100 * fp32.gflops / 400.0)
    assert bf16.gflops is not None and bf16.pct_peak is None  # no bf16 peak on this machine
    assert fp32.us_per_pixel == pytest.approx(2.5 / 1024 * 1e6) and fp32.frames_per_second == pytest.approx(0.4)
    assert plain.over_baseline_mib == 50.0
    skipped = rows["openvino", 32]
    assert skipped.status == "skipped" and skipped.seconds is None and skipped.speedup is None


def test_summarise_without_plain_has_no_speedup() -> None:
    (row,) = bm.summarise([_m("default", [2.0])])
    assert row.speedup is None and row.gflops == pytest.approx(1e6 * 1024 / 2.0 / 1e9)


def test_scaling_spread_and_activation_memory() -> None:
    rows = bm.summarise(
        [
            _m("default", [1.0], width=32, baseline_mib=100, peak_mib=120, output_mib=5),
            _m("default", [2.2], width=64, baseline_mib=100, peak_mib=130, output_mib=10),
            _m("fp32", [1.0], width=32),  # one size only: no scaling line
        ]
    )
    (s,) = bm.scaling(rows)
    assert (s.config, s.sizes) == ("default", ["32x32", "64x32"])
    assert s.spread == pytest.approx(1.1) and s.activations_mib_max == pytest.approx(20)


def test_row_json_has_no_infinities() -> None:
    (row,) = bm.summarise([_m("fp32", [1.0], psnr_db=math.inf)])
    assert row.to_json()["psnr_db"] == "inf"


# --- availability ---------------------------------------------------------------------------------------------


class _EngineWithBackends:
    def __init__(self, net: object, *, backend: str = "torch", compile: bool = False) -> None:
        pass


class _EngineWithout:
    def __init__(self, net: object, *, precision: str = "auto") -> None:
        pass


def test_backend_needs_the_upscaler_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("esrgan.inference.Upscaler", _EngineWithout)
    assert "backend=" in str(bm.unavailable_reason(bm.parse_config("onnxruntime")))
    assert "compile=" in str(bm.unavailable_reason(bm.parse_config("compile")))
    assert bm.unavailable_reason(bm.parse_config("fp32+tile=0")) is None
    assert bm.unavailable_reason(bm.parse_config("plain")) is None
    # Skipped before anything is loaded (the model file does not even exist).
    jobs = bm.plan(["no-such-model.pth"], [(32, 32)], [bm.parse_config("onnxruntime")], repeats=1)
    (result,) = bm.run_jobs(jobs, isolate=False)
    assert result.status == "skipped" and "backend=" in str(result.reason)


def test_backend_needs_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("esrgan.inference.Upscaler", _EngineWithBackends)
    real_find_spec = bm.importlib.util.find_spec
    monkeypatch.setattr(
        bm.importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real_find_spec(name, *a)
    )
    reason = bm.unavailable_reason(bm.parse_config("openvino+bf16"))
    assert reason is not None and "openvino is not installed" in reason and "esrgan[openvino]" in reason
    assert "openvino" not in [c.name for c in bm.default_configs()]


def test_default_configs_start_with_the_reference() -> None:
    names = [c.name for c in bm.default_configs()]
    assert names[:3] == ["plain", "default", "fp32"]
    assert all(bm.unavailable_reason(bm.parse_config(n)) is None for n in names)


def test_default_configs_show_torch_beside_installed_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default backend, auto, may pick an installed one: the torch engine then gets a row of its own."""
    installed: set[str] = set()
    monkeypatch.setattr(bm, "unavailable_reason", lambda c: None if c.backend in installed | {None} else "missing")
    assert [c.name for c in bm.default_configs()] == ["plain", "default", "fp32"]
    installed.add("openvino")
    assert [c.name for c in bm.default_configs()] == ["plain", "default", "fp32", "torch", "openvino"]


# --- running jobs ---------------------------------------------------------------------------------------------


def test_in_process_run_compares_against_plain(tiny_model: Path, fake_clock: None) -> None:
    configs = [bm.parse_config(c) for c in ("plain", "fp32", "fp32+tile=16")]
    jobs = bm.plan([str(tiny_model)], [(32, 32)], configs, repeats=1, warmup=1, threads=1)
    rows = {r.config: r for r in bm.summarise(bm.run_jobs(jobs, isolate=False))}
    plain, fp32, tiled = rows["plain"], rows["fp32"], rows["fp32+tile=16"]
    assert plain.status == fp32.status == tiled.status == "ok"
    assert plain.psnr_db is None and plain.tile == 0 and plain.dtype == "fp32"
    assert fp32.psnr_db is not None and fp32.psnr_db > 50 and fp32.max_diff_255 is not None
    assert fp32.max_diff_255 < 1.0
    assert tiled.tile == 16 and tiled.psnr_db is not None and tiled.psnr_db > 20
    # One fake second per call: every figure follows from the formulas alone.
    assert plain.seconds == fp32.seconds == plain.warmup_seconds == 1.0 and fp32.speedup == 1.0
    assert fp32.flops_per_pixel is not None and fp32.flops_per_pixel > 0
    assert fp32.gflops == pytest.approx(fp32.flops_per_pixel * 32 * 32 / 1.0 / 1e9)
    assert fp32.output_mib == pytest.approx(3 * 128 * 128 * 4 / 2**20)
    assert fp32.threads == 1 and torch.get_num_threads() == 1


def test_failure_is_a_row_not_an_exception(tmp_path: Path) -> None:
    jobs = bm.plan([str(tmp_path / "missing.pth")], [(32, 32)], [bm.parse_config("fp32")], repeats=1, warmup=0)
    (result,) = bm.run_jobs(jobs, isolate=False)
    assert result.status == "failed" and "missing.pth" in str(result.reason)


def test_child_process_measures_its_own_memory(tiny_model: Path) -> None:
    """The real path: one job in a fresh `python -m esrgan.benchmark` process (a few seconds to start)."""
    jobs = bm.plan([str(tiny_model)], [(32, 32)], [bm.parse_config("fp32")], repeats=1, warmup=0, threads=1)
    (result,) = bm.run_jobs(jobs)
    assert result.status == "ok", result.reason
    assert len(result.times) == 1 and result.times[0] > 0 and result.warmup_seconds is None
    assert result.baseline_mib is not None and result.peak_mib is not None and result.output_mib is not None
    assert result.peak_mib >= result.baseline_mib > 50  # torch alone is resident
    assert result.threads == 1 and result.dtype == "fp32" and result.psnr_db is None  # no plain in this run
