"""esrgan.bench.jobs and .measurement: planning, and running jobs in this process or in a fresh child process, with
a tiny RRDBNet, 32 px inputs and (where a figure is checked exactly) a fake clock instead of real timings."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from esrgan import bench as bm
from esrgan.bench import measurement


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every timed call lasts exactly one second of wall time."""
    ticks = itertools.count()
    monkeypatch.setattr(measurement, "wall_clock", lambda: float(next(ticks)))


def test_plan_puts_plain_first_per_model_and_size() -> None:
    configs = [bm.parse_config(c) for c in ("fp32", "plain", "default")]
    jobs = bm.plan(["a", "b"], [(32, 32), (48, 32)], configs, repeats=2, warmup=0, threads=1)
    first = [(j.model, j.width, j.config.name) for j in jobs[:3]]
    assert first == [("a", 32, "plain"), ("a", 32, "fp32"), ("a", 32, "default")]
    assert len(jobs) == 12 and all(j.repeats == 2 and j.warmup == 0 and j.threads == 1 for j in jobs)
    assert [(j.model, j.width) for j in bm.plan({"m": [(8, 4)]}, None, configs)] == [("m", 8)] * 3
    with pytest.raises(ValueError, match="repeats"):
        bm.plan(["a"], [(8, 8)], configs, repeats=0)


def test_photo_is_a_real_image_of_the_requested_size() -> None:
    x = bm.photo(48, 32)
    assert x.shape == (1, 3, 32, 48) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert float(x.std()) > 0.05  # a photo crop, not a flat or empty image
    assert torch.equal(x, bm.photo(48, 32))  # the same input for every configuration
    big = bm.photo(600, 520)  # larger than the 512 x 512 photo: enlarged, then cropped
    assert big.shape == (1, 3, 520, 600) and float(big.std()) > 0.05
    assert bm.photo(16, 16, channels=1).shape == (1, 1, 16, 16)


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
    """The real path: one job in a fresh `python -m esrgan.bench` process (a few seconds to start)."""
    jobs = bm.plan([str(tiny_model)], [(32, 32)], [bm.parse_config("fp32")], repeats=1, warmup=0, threads=1)
    (result,) = bm.run_jobs(jobs)
    assert result.status == "ok", result.reason
    assert len(result.times) == 1 and result.times[0] > 0 and result.warmup_seconds is None
    assert result.baseline_mib is not None and result.peak_mib is not None and result.output_mib is not None
    assert result.peak_mib >= result.baseline_mib > 50  # torch alone is resident
    assert result.threads == 1 and result.dtype == "fp32" and result.psnr_db is None  # no plain in this run
