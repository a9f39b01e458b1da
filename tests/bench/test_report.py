"""esrgan.bench.report: the figures derived from measurements (speed-up, GFLOP/s, % of peak, scaling)."""

from __future__ import annotations

import math

import pytest

from esrgan import bench as bm


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


def test_versus_compares_default_with_the_fastest_rows_within_the_bounds() -> None:
    rows = bm.summarise(
        [
            _m("plain", [10.0]),
            _m("default", [2.0], dtype="bf16", psnr_db=55.0, max_diff_255=8.0),
            _m("torch+fp32", [4.0], max_diff_255=0.1, psnr_db=130.0),
            _m("openvino+fp32", [3.0], max_diff_255=0.2, psnr_db=130.0),
            _m("broken+fp32", [0.5], max_diff_255=2.0, psnr_db=60.0),  # fastest, but 2/255 off: not a rival
            _m("openvino+bf16", [1.9], dtype="bf16", psnr_db=56.0, max_diff_255=8.0),
            _m("blurry+bf16", [0.1], dtype="bf16", psnr_db=45.0, max_diff_255=20.0),  # below 50 dB: not a rival
        ]
    )
    (v,) = bm.versus(rows)
    assert v.row.config == "default" and v.size == "32x32"
    assert v.exact is not None and v.exact.config == "openvino+fp32" and v.vs_exact == pytest.approx(2.0 / 3.0)
    assert v.bounded is not None and v.bounded.config == "openvino+bf16" and v.vs_bounded == pytest.approx(2.0 / 1.9)
    assert bm.versus(rows, "no-such-config") == []
