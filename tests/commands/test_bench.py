"""`esrgan bench` end to end, in-process (``--in-process``: no child start-up), with a tiny RRDBNet at 32 px, one
repeat, a fake clock and fake conv peaks, so that every printed figure is checked without timing anything."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import pytest
import torch

from esrgan import bench as bm
from esrgan.bench import measurement
from esrgan.cli import build_parser, main

TABLE_COLUMNS = ["config", "size", "tile", "time s", "warm-up s", "speed-up", "GFLOP/s", "% peak", "PSNR vs fp32",
                 "max diff", "peak MiB", "over base MiB"]  # fmt: skip
FAKE_PEAKS = [
    bm.ConvPeak("fp32 NCHW", "fp32", False, 1.0),
    bm.ConvPeak("fp32 channels_last", "fp32", True, 2.0),
    bm.ConvPeak("bf16 NCHW", "bf16", False, None, "no native bf16 here"),
    bm.ConvPeak("bf16 channels_last", "bf16", True, None, "no native bf16 here"),
]


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """One fake second per timed call; fake conv peaks (the real one takes seconds); single-threaded; a CPU without
    native bf16, so that precision auto (the default configuration) resolves to fp32 on every machine."""
    monkeypatch.setattr("esrgan.device.cpu_has_native_bf16", lambda cpuinfo=None: False)
    ticks = itertools.count()
    monkeypatch.setattr(measurement, "wall_clock", lambda: float(next(ticks)))
    monkeypatch.setattr(bm, "conv_peaks", lambda threads=None, **_: list(FAKE_PEAKS))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_table_and_json(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec  # openvino: not installed, whatever this machine has
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real_find_spec(name, *a)
    )
    out = tmp_path / "bench.json"
    configs = "plain,default,fp32,fp32+tile=16,openvino+bf16"
    argv = ["bench", "-m", str(tiny_model), "--sizes", "32", "--configs", configs, "--repeats", "1",
            "--warmup", "0", "--threads", "1", "--in-process", "-q", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "| fp32 channels_last | 2.0 |" in text and "bf16 channels_last | unavailable: no native bf16" in text
    header = next(i for i, line in enumerate(lines) if line.startswith("| config | size"))
    assert _cells(lines[header]) == TABLE_COLUMNS
    table = {c[0]: dict(zip(TABLE_COLUMNS, c, strict=True)) for c in map(_cells, lines[header + 2 : header + 6])}
    assert set(table) == {"plain", "default (torch fp32)", "fp32 (torch)", "fp32+tile=16 (torch)"}
    assert table["plain"]["PSNR vs fp32"] == "reference" and table["plain"]["speed-up"] == "1.00x"
    assert table["fp32+tile=16 (torch)"]["tile"] == "16" and table["plain"]["tile"] == "none"
    fp32_row = table["fp32 (torch)"]
    assert fp32_row["time s"] == "1.00" and fp32_row["speed-up"] == "1.00x"  # the fake clock
    assert float(fp32_row["PSNR vs fp32"].removesuffix(" dB")) > 50
    assert all(table[c]["peak MiB"] != "—" for c in table)
    assert "backend auto for " in text and "the fixed rule" in text  # the tests run with ESRGAN_CALIBRATE=0
    assert "- default (torch fp32) 32x32: 1.00x the time of the fastest fp32-exact row (fp32)" in text
    assert "- fp32 (torch) 32x32: 1.00x the time of the fastest fp32-exact row (default)" in text
    skipped = [line for line in lines if line.startswith("- skipped openvino+bf16 32x32: ")]
    assert len(skipped) == 1, text  # with the reason: not installed (or no backend= in this Upscaler yet)

    doc = json.loads(out.read_text())
    assert doc["machine"]["torch"] == torch.__version__ and doc["settings"]["repeats"] == 1
    assert [p["name"] for p in doc["conv_peaks"]] == [p.name for p in FAKE_PEAKS]
    rows = {r["config"]: r for r in doc["rows"]}
    assert [r["status"] for r in doc["rows"]] == ["ok", "ok", "ok", "ok", "skipped"]
    assert rows["openvino+bf16"]["reason"]
    fp32 = rows["fp32"]
    for key in ("seconds", "warmup_seconds", "speedup", "gflops", "pct_peak", "psnr_db", "max_diff_255", "peak_mib",
                "baseline_mib", "over_baseline_mib", "output_mib", "us_per_pixel", "frames_per_second"):  # fmt: skip
        assert key in fp32
    assert fp32["speedup"] == pytest.approx(rows["plain"]["seconds"] / fp32["seconds"])
    assert fp32["gflops"] == pytest.approx(fp32["flops_per_pixel"] * 32 * 32 / fp32["seconds"] / 1e9)
    assert fp32["peak_name"] == "fp32 channels_last" and fp32["pct_peak"] == pytest.approx(100 * fp32["gflops"] / 2)
    assert fp32["psnr_db"] > 50 and fp32["max_diff_255"] < 1


def test_linear_mode(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--linear", "-m", str(tiny_model), "--sizes", "32", "64x32", "--repeats", "1", "--warmup",
            "0", "--threads", "1", "--in-process", "-q", "--no-peak"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "convolution peak" not in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| config | size"))
    assert _cells(lines[header]) == ["config", "size", "pixels", "tile", "time s", "µs/px", "peak MiB",
                                     "over base MiB", "output MiB"]  # fmt: skip
    rows = [_cells(line) for line in lines[header + 2 : header + 4]]
    assert [r[:3] for r in rows] == [
        ["default (torch fp32)", "32x32", "1,024"],
        ["default (torch fp32)", "64x32", "2,048"],
    ]
    assert [r[5] for r in rows] == [f"{1e6 / 1024:.1f}", f"{1e6 / 2048:.1f}"]  # one fake second each
    assert any("µs per input pixel over 32x32, 64x32 (max/min 2.00" in line for line in lines)


def test_calibrate_measures_again_and_stops(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--calibrate`` measures backend auto's candidates even where a result is cached (and with
    ESRGAN_CALIBRATE=0, as in the tests), prints them with the verdicts, and runs no benchmark."""
    monkeypatch.setattr("esrgan.backends.calibrate.available_backends", lambda: ["torch"])
    monkeypatch.setattr("esrgan.backends.calibrate.cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("ESRGAN_CACHE_DIR", str(tmp_path))
    argv = ["bench", "--calibrate", "-m", str(tiny_model), "--threads", "1", "-q"]
    for _ in range(2):
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert "backend auto for " in text and "measured now in" in text and "1 threads" in text
        table = {c[0]: c for c in map(_cells, text.splitlines()) if c[0] in ("torch+fp32", "torch+bf16")}
        assert set(table) == {"torch+fp32", "torch+bf16"}
        assert "chosen for precision fp32" in table["torch+fp32"][-1]
        assert table["torch+fp32"][2] == "0.00/255"  # against the plain fp32 output of the same tile
        assert "convolution peak" not in text and "| config | size" not in text
    assert len(list((tmp_path / "compiled").glob("calibration-RRDBNet-x4-256px-*.json"))) == 1
    with pytest.raises(SystemExit):
        main(["bench", "--calibrate", "--threads", "0"])


def test_bad_arguments_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["bench", "--configs", "plain,turbo", "--in-process", "-q"]) == 2
    assert "unknown configuration token 'turbo'" in caplog.text
    assert main(["bench", "--configs", "fp32,fp32", "--in-process", "-q"]) == 2
    assert "names 'fp32' twice" in caplog.text
    with pytest.raises(SystemExit):
        main(["bench", "--sizes", "big"])
    assert "bad size 'big'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_one_line_before_any_measurement(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It printed a traceback (AssertionError: Torch not compiled with CUDA enabled) and called itself a bug."""
    monkeypatch.setattr(bm, "run_jobs", lambda *a, **k: pytest.fail("measured before checking the device"))
    assert main(["bench", "--device", "cuda", "--no-peak", "--in-process", "-q"]) == 2
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert [r.getMessage() for r in errors] == [
        "--device: device 'cuda' requested but CUDA is not available here; use device cpu"
    ]
    assert not any(r.exc_info for r in caplog.records)


def test_registered() -> None:
    assert "bench" in build_parser().format_help()
