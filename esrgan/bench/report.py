"""Figures derived from benchmark measurements: speed-up against the plain reference, GFLOP/s, share of the
convolution peak, time per pixel, and how time and memory grow with the image."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from esrgan.backends.calibrate import FIDELITY
from esrgan.bench.configs import PLAIN
from esrgan.bench.machine import ConvPeak, peak_for
from esrgan.bench.measurement import OK, Measurement

__all__ = ["Row", "Scaling", "Versus", "scaling", "summarise", "versus"]


@dataclass
class Row(Measurement):
    """A measurement with the derived figures the table shows.

    Attributes:
        seconds, cpu_seconds: medians of the timed calls. speedup: the plain row's seconds / these seconds (same
            model and size, same run). gflops: flops_per_pixel * input pixels / seconds (the network's nominal
            work; tile overlap recomputed is not counted). pct_peak: gflops as a percentage of the measured conv
            peak of the same dtype (``peak_name``). us_per_pixel: microseconds per input pixel.
            frames_per_second: 1 / seconds. over_baseline_mib: peak_mib - baseline_mib.
    """

    seconds: float | None = None
    cpu_seconds: float | None = None
    speedup: float | None = None
    gflops: float | None = None
    peak_name: str | None = None
    pct_peak: float | None = None
    us_per_pixel: float | None = None
    frames_per_second: float | None = None
    over_baseline_mib: float | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (an infinite PSNR, for identical outputs, becomes the string "inf")."""
        return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def summarise(measurements: Sequence[Measurement], peaks: Sequence[ConvPeak] = ()) -> list[Row]:
    """Rows with speed-up (against the plain row of the same model and size), GFLOP/s, % of the conv peak of
    the row's dtype (CPU rows only), µs per pixel, frames/s and memory over the baseline."""
    plain = {
        (m.model, m.width, m.height): statistics.median(m.times)
        for m in measurements
        if m.config == PLAIN and m.status == OK and m.times
    }
    rows = []
    for m in measurements:
        row = Row(**{f.name: getattr(m, f.name) for f in fields(Measurement)})
        if m.status == OK and m.times:
            seconds = statistics.median(m.times)
            pixels = m.width * m.height
            row.seconds = seconds
            row.cpu_seconds = statistics.median(m.cpu_times) if m.cpu_times else None
            row.us_per_pixel = seconds / pixels * 1e6
            row.frames_per_second = 1 / seconds if seconds > 0 else None
            reference = plain.get((m.model, m.width, m.height))
            if reference is not None and seconds > 0:
                row.speedup = reference / seconds
            if m.flops_per_pixel and seconds > 0:
                row.gflops = m.flops_per_pixel * pixels / seconds / 1e9
                peak = peak_for(peaks, m.dtype) if m.device == "cpu" else None
                if peak is not None and peak.gflops:
                    row.peak_name = peak.name
                    row.pct_peak = 100 * row.gflops / peak.gflops
            if m.peak_mib is not None and m.baseline_mib is not None:
                row.over_baseline_mib = m.peak_mib - m.baseline_mib
        rows.append(row)
    return rows


@dataclass
class Scaling:
    """How time and memory grow with the image, for one model and configuration over several sizes.

    Attributes:
        us_per_pixel_min, us_per_pixel_max: the extremes over the sizes; ``spread`` = max / min (1.0 = linear).
        activations_mib_max: largest (peak - baseline - output) over the sizes: memory beyond the output
            itself, which tiling should keep bounded.
    """

    model: str
    config: str
    sizes: list[str]
    us_per_pixel_min: float
    us_per_pixel_max: float
    spread: float
    activations_mib_max: float | None


def scaling(rows: Sequence[Row]) -> list[Scaling]:
    """One :class:`Scaling` per (model, configuration) measured at two or more sizes."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.status == OK and row.us_per_pixel is not None:
            groups.setdefault((row.model, row.config), []).append(row)
    out = []
    for (model, config), group in groups.items():
        if len(group) < 2:
            continue
        us = [r.us_per_pixel for r in group if r.us_per_pixel is not None]
        extra = [
            r.over_baseline_mib - r.output_mib
            for r in group
            if r.over_baseline_mib is not None and r.output_mib is not None
        ]
        out.append(
            Scaling(
                model,
                config,
                [r.size for r in group],
                min(us),
                max(us),
                max(us) / min(us),
                max(extra) if extra else None,
            )
        )
    return out


@dataclass
class Versus:
    """One configuration (``default``) against the fastest other rows of the same model and size, counting only
    rows within the fidelity bounds (:data:`esrgan.backends.calibrate.FIDELITY`).

    Attributes:
        exact: the fastest other row computing in fp32 within 1/255 of the plain output (None if there is none);
            ``vs_exact``: this row's time / its time (<= 1.05: within 5%).
        bounded: the fastest other row within the bounds of its precision (fp32: 1/255, else 50 dB), and
            ``vs_bounded`` likewise.
    """

    model: str
    size: str
    row: Row
    exact: Row | None
    vs_exact: float | None
    bounded: Row | None
    vs_bounded: float | None


def _exact(row: Row) -> bool:
    return row.dtype == "fp32" and row.max_diff_255 is not None and row.max_diff_255 <= FIDELITY.max_diff_255


def _bounded(row: Row) -> bool:
    """fp32 rows are held to the 1/255 bound (a high PSNR does not excuse a wrong pixel), the others to 50 dB."""
    if row.dtype == "fp32":
        return _exact(row)
    return row.psnr_db is not None and row.psnr_db >= FIDELITY.min_psnr_db


def versus(rows: Sequence[Row], config: str = "default") -> list[Versus]:
    """``config`` against the fastest fp32-exact row and the fastest row within the bounds, per model and size
    (rows without a plain reference to compare outputs with are left out)."""
    out = []
    for row in rows:
        if row.config != config or row.seconds is None:
            continue
        others = [
            r
            for r in rows
            if (r.model, r.width, r.height) == (row.model, row.width, row.height)
            and r.config not in (config, PLAIN)
            and r.status == OK
            and r.seconds
        ]
        exact = min((r for r in others if _exact(r)), key=lambda r: r.seconds or 0.0, default=None)
        bounded = min((r for r in others if _bounded(r)), key=lambda r: r.seconds or 0.0, default=None)
        out.append(
            Versus(
                row.model,
                row.size,
                row,
                exact,
                row.seconds / exact.seconds if exact and exact.seconds else None,
                bounded,
                row.seconds / bounded.seconds if bounded and bounded.seconds else None,
            )
        )
    return out
