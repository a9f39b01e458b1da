"""How ``backend="auto"`` is decided: the candidates are measured on this machine once, then read from the cache.

The first time a network runs with backend ``auto`` on the CPU (per weights, CPU model and instruction set,
package versions, threads and input-size class), every candidate installed here is timed on a real tile (a crop
of skimage's astronaut at the engine's tile size, smaller for costly networks: :func:`calibration_side`), its
output is checked against the plain fp32 torch output of the same tile, and the fastest candidate within the
fidelity bounds (:data:`FIDELITY`) wins. The timings are cached as JSON beside the compiled models
(:func:`esrgan.backends.cache.cache_dir`), so later runs decide in milliseconds.

Candidates on the CPU: torch fp32 (channels_last), ONNX Runtime fp32 and OpenVINO fp32, and where the CPU
multiplies bf16 natively also torch bf16 (autocast, channels_last) and OpenVINO bf16. ``precision="auto"``
chooses among all of them, ``"fp32"`` or ``"bf16"`` among those of that precision. int8 is never a candidate: it
changes the picture too much to be chosen for the user.

``ESRGAN_CALIBRATE``: ``1`` (the default) measures on a cache miss; ``0`` never measures and reads no cached
result: the fixed rule (:func:`auto_backend`) decides, as before calibration existed; ``force`` measures again
and replaces the cached result (``esrgan bench --calibrate`` does this). The fixed rule also decides where there
is nothing to measure or measuring fails: on GPUs, with torch.compile or fp16 (torch only), with a single
candidate.

Layout: :func:`machine_candidates`, :func:`size_class` and :func:`choose` are pure (tests feed :func:`choose`
fake timings); the timing itself is :mod:`esrgan.backends.measure`; :func:`decide` is the engine's one question.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from esrgan.archs import as_sr_network, get
from esrgan.backends import Runner, available_backends
from esrgan.backends.cache import cache_key, cached_file, cpu_model, network_fingerprint, package_versions
from esrgan.backends.measure import (
    Builders,
    Candidate,
    Timing,
    calibration_side,
    flops_per_pixel,
    measure,
    sample_tile,
)
from esrgan.device import cpu_has_native_bf16
from esrgan.errors import OptionsError, one_line

log = logging.getLogger(__name__)

__all__ = [
    "ENV",
    "FIDELITY",
    "Bounds",
    "Calibration",
    "Candidate",
    "Choice",
    "Timing",
    "auto_backend",
    "calibrate",
    "calibration_mode",
    "choose",
    "decide",
    "machine_candidates",
    "outside_bounds",
    "size_class",
]

ENV = "ESRGAN_CALIBRATE"
_MODES = {"": "auto", "1": "auto", "auto": "auto", "0": "off", "off": "off", "force": "force"}


@dataclass(frozen=True)
class Bounds:
    """Fidelity bounds against the plain fp32 output: fp32 candidates within ``max_diff_255`` (largest absolute
    difference, in 1/255 steps) of it, lower-precision ones at least ``min_psnr_db`` dB PSNR."""

    max_diff_255: float
    min_psnr_db: float


# Issue 18's bounds, also kept by tests/backends/test_fidelity.py.
FIDELITY = Bounds(max_diff_255=1.0, min_psnr_db=50.0)
# A bf16 candidate must be at least this much faster than the fastest fp32 one within bounds to be chosen: it
# costs ~4-5 dB against an exact result (54-55 dB for realesrgan-x4plus), which is worth a real gain, not timing
# noise (a few % between runs on a quiet machine).
LOWER_PRECISION_GAIN = 1.10
FORMAT = 1  # of the cached JSON


@dataclass(frozen=True)
class Calibration:
    """One calibration: the timings, the tile side they were measured on, and what it cost.

    Attributes:
        seconds, cpu_seconds: wall and CPU time (all threads) of the whole calibration. load_average: 1-minute
        load when it started (a busy machine makes the timings less telling). created: ISO date and time.
    """

    timings: tuple[Timing, ...]
    side: int
    seconds: float
    size_class: int
    threads: int
    cpu_seconds: float | None = None
    load_average: float | None = None
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Calibration:
        timings = tuple(
            Timing(**{**t, "candidate": Candidate(**t["candidate"])}) for t in doc["timings"]
        )  # KeyError/TypeError on a foreign file: the caller measures again
        return cls(**{**doc, "timings": timings})


@dataclass(frozen=True)
class Choice:
    """The engine's answer: run ``backend`` at ``precision``.

    Attributes:
        precision: "fp32"/"bf16" when measured; otherwise the precision as asked (the engine resolves "auto").
        source: "asked" (not auto), "rule" (the fixed rule), "cache" (a cached calibration) or "measured" (now).
        calibration: the timings it was chosen from (cache and measured). runner: the winner's compiled network
        when it was just built (measured), for the engine to reuse; else None. cache_file: the calibration file.
    """

    backend: str
    precision: str
    source: str
    calibration: Calibration | None = None
    runner: Runner | None = field(default=None, compare=False)
    cache_file: Path | None = None


# ---- the fixed rule ------------------------------------------------------------------------------------------


def auto_backend(net: nn.Module, device: torch.device, precision: str = "auto", compile: bool = False) -> str:
    """The fixed rule: the backend ``auto`` runs when nothing is measured (see the module docstring).

    Measured with ``esrgan bench`` on a 2-core AVX-512 Xeon without native bf16, fp32, in two sessions:
    SRVGGNetCompact (realesr-animevideov3, a 320x180 frame) took 0.39 / 0.47-0.60 s with OpenVINO against 0.55 /
    0.54-0.60 s with the torch engine (ONNX Runtime: 0.61 / 0.86 s); RRDBNet (realesrgan-x4plus, 256x256) 19.0 /
    13.8 s with OpenVINO against 16.0 / 18.9-20.2 s with torch, a winner that changed between sessions. So each
    architecture's spec names its CPU backend (``ArchSpec.cpu_backend``: OpenVINO for SRVGGNetCompact), used when
    installed, and torch runs everything else, every accelerator, fp16, and ``compile``.
    """
    if device.type != "cpu" or compile or precision.strip().lower() == "fp16":
        return "torch"
    spec = get(as_sr_network(net).arch_name)
    if spec is not None and spec.cpu_backend is not None and spec.cpu_backend in available_backends():
        return spec.cpu_backend
    return "torch"


# ---- choosing (pure) -----------------------------------------------------------------------------------------


def machine_candidates(available: Sequence[str], native_bf16: bool) -> tuple[Candidate, ...]:
    """Every candidate on a CPU with the backends ``available`` installed: fp32 ones first, torch first."""
    fp32 = [Candidate(b, "fp32") for b in ("torch", "onnxruntime", "openvino") if b == "torch" or b in available]
    bf16 = [Candidate(b, "bf16") for b in ("torch", "openvino") if b == "torch" or b in available]
    return tuple(fp32 + (bf16 if native_bf16 else []))


def outside_bounds(timing: Timing, bounds: Bounds = FIDELITY) -> str | None:
    """Why ``timing``'s candidate may not be chosen (failed, or beyond its fidelity bound), or None if it may."""
    if timing.seconds is None:
        return f"failed: {timing.error or 'no timing'}"
    if timing.candidate.exact:
        diff = timing.max_diff_255
        if diff is None or not diff <= bounds.max_diff_255:  # `not <=` also catches NaN
            return f"max diff {diff}/255 > {bounds.max_diff_255}/255"
    else:
        db = timing.psnr_db
        if db is None or not db >= bounds.min_psnr_db:
            return f"{db} dB < {bounds.min_psnr_db} dB"
    return None


def choose(
    timings: Sequence[Timing],
    precision: str = "auto",
    bounds: Bounds = FIDELITY,
    lower_precision_gain: float = LOWER_PRECISION_GAIN,
) -> Candidate | None:
    """The fastest candidate within ``bounds`` among those ``precision`` allows ("auto": all), or None.

    A lower-precision candidate wins only if it is ``lower_precision_gain`` times faster than the fastest exact
    (fp32) one within bounds. Ties go to the candidate listed first.
    """
    fit = [
        t
        for t in timings
        if (precision == "auto" or t.candidate.precision == precision) and outside_bounds(t, bounds) is None
    ]
    if not fit:
        return None
    best = min(fit, key=lambda t: t.seconds or 0.0)
    exact = [t for t in fit if t.candidate.exact]
    if exact and not best.candidate.exact:
        best_exact = min(exact, key=lambda t: t.seconds or 0.0)
        if (best.seconds or 0.0) * lower_precision_gain > (best_exact.seconds or 0.0):
            return best_exact.candidate
    return best.candidate


def size_class(side: int) -> int:
    """The input-size class of network calls of ``side`` pixels per side: the nearest power of two, 16-1024."""
    return int(min(1024, max(16, 2 ** round(math.log2(max(side, 1))))))


def calibration_mode(value: str | None = None) -> str:
    """ "auto", "off" or "force" from ``value`` (None: the ``ESRGAN_CALIBRATE`` environment variable).

    Raises:
        ValueError: a value other than 1, 0 or force (also auto/off).
    """
    text = (os.environ.get(ENV, "") if value is None else value).strip().lower()
    if text not in _MODES:
        raise OptionsError(f"{ENV} must be 1 (measure once, the default), 0 (fixed rule) or force, got {text!r}")
    return _MODES[text]


def _progress(count: int) -> Callable[[int, Timing], None]:
    """The progress line of each measured candidate (log INFO: the command line shows it)."""

    def report(n: int, timing: Timing) -> None:
        if timing.seconds is None:
            log.info("calibration %d/%d %s: failed (%s)", n, count, timing.candidate.name, timing.error)
            return
        reason = outside_bounds(timing)
        log.info(
            "calibration %d/%d %s: %.3f s per tile, max diff %.2f/255, %s (built in %.1f s)%s",
            n,
            count,
            timing.candidate.name,
            timing.seconds,
            timing.max_diff_255 or 0.0,
            "exact" if timing.psnr_db == math.inf else f"{timing.psnr_db:.1f} dB",
            timing.build_seconds,
            f"; not eligible: {reason}" if reason else "",
        )

    return report


def calibrate(
    net: nn.Module, candidates: Sequence[Candidate], call_side: int, threads: int
) -> tuple[Calibration, Builders]:
    """Measure ``candidates`` for ``net`` on this machine (see the module docstring); logs one line per candidate."""
    started, cpu_started = time.perf_counter(), time.process_time()
    contract = as_sr_network(net)
    multiple, minimum = max(1, int(contract.size_multiple)), int(contract.min_size)
    channels = int(contract.num_in_ch)
    builders = Builders(net, threads)
    small = -(-max(16, minimum) // multiple) * multiple
    side = calibration_side(call_side, flops_per_pixel(builders.net, channels, small), multiple, minimum)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    log.info(
        "backend auto: measuring %d candidates for %s x%d on a %dx%d tile (%s), once per model, machine and tile "
        "size; %s=0 skips it, =force redoes it",
        len(candidates),
        contract.arch_name,
        contract.scale,
        side,
        side,
        ", ".join(c.name for c in candidates),
        ENV,
    )
    cpus = os.cpu_count() or 1
    if load is not None and load > cpus:
        log.warning(
            "the machine is busy (load %.1f on %d CPUs): the timings may not hold when it is quiet; "
            "redo them then with %s=force",
            load,
            cpus,
            ENV,
        )
    report = _progress(len(candidates))
    timings = measure(builders.reference, builders, candidates, sample_tile(side, channels), on_timing=report)
    calibration = Calibration(
        timings=tuple(timings),
        side=side,
        seconds=time.perf_counter() - started,
        size_class=size_class(call_side),
        threads=threads,
        cpu_seconds=time.process_time() - cpu_started,
        load_average=load,
        created=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    return calibration, builders


# ---- the cache and the engine's question ---------------------------------------------------------------------


def calibration_fields(
    net: nn.Module, device: torch.device, threads: int, size: int, candidates: Sequence[Candidate]
) -> dict[str, Any]:
    """What a calibration depends on (:func:`esrgan.backends.cache.cache_key` adds esrgan's and torch's versions
    and this CPU's instruction-set flags): the network's weights and code, the CPU model, the backends'
    versions, threads, device, size class, the candidates and the bounds."""
    return {
        "format": FORMAT,
        "network": network_fingerprint(net),
        "cpu": cpu_model(),
        "packages": package_versions(),
        "threads": threads,
        "device": str(device),
        "size_class": size,
        "candidates": [c.name for c in candidates],
        "bounds": asdict(FIDELITY),
    }


def _cache_file(net: nn.Module, size: int, fields: dict[str, Any]) -> Path | None:
    contract = as_sr_network(net)
    try:
        return cached_file(
            "calibration", f"{contract.arch_name}-x{contract.scale}-{size}px", cache_key(fields), ".json"
        )
    except OSError as exc:
        log.warning("cannot create the cache folder (%s); the calibration will not be kept", exc)
        return None


def _read(path: Path, fields: dict[str, Any]) -> Calibration | None:
    """The calibration cached in ``path`` for exactly ``fields``, or None (missing, unreadable or other fields)."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("fields") != json.loads(json.dumps(fields, default=str)):
            return None
        return Calibration.from_json(doc["calibration"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable calibration %s (%s)", path, one_line(exc))
        return None


def _write(path: Path, fields: dict[str, Any], calibration: Calibration, winner: Candidate | None) -> None:
    from esrgan.fileio import write_text_atomic

    doc = {
        "fields": fields,
        "winner": winner.name if winner else None,
        "calibration": calibration.to_json(),
    }
    try:
        write_text_atomic(path, json.dumps(doc, indent=1, default=str) + "\n")
    except OSError as exc:
        log.warning("could not write the calibration %s (%s)", path, exc)


def decide(
    net: nn.Module,
    *,
    backend: str,
    precision: str,
    device: torch.device,
    compile: bool = False,
    call_side: int = 288,
    mode: str | None = None,
) -> Choice:
    """Which backend and precision to run ``net`` with: the engine asks this once, whatever it was told.

    Args:
        backend, precision, compile: as the engine was told ("auto" is resolved here; other backends are kept).
        device: the resolved device. call_side: input side of the engine's network calls (tile + 2 * pad).
        mode: "auto", "off" or "force"; None reads ``ESRGAN_CALIBRATE`` (:func:`calibration_mode`).

    Raises:
        ValueError: ``ESRGAN_CALIBRATE`` has an unknown value.
    """
    if backend != "auto":
        return Choice(backend, precision, "asked")
    if precision == "int8":  # only OpenVINO runs it: nothing to decide (its checks say what is missing)
        return Choice("openvino", precision, "rule")
    mode = calibration_mode(mode)
    rule = Choice(auto_backend(net, device, precision, compile), precision, "rule")
    if mode == "off" or device.type != "cpu" or compile or precision not in ("auto", "fp32", "bf16"):
        return rule
    contract = as_sr_network(net)
    # bf16 only where the CPU has it natively and the network computes correctly in it (SRNetwork.supports_bf16)
    candidates = machine_candidates(available_backends(), cpu_has_native_bf16() and bool(contract.supports_bf16))
    if sum(precision in ("auto", c.precision) for c in candidates) < 2:
        return rule
    threads, size = torch.get_num_threads(), size_class(call_side)
    fields = calibration_fields(net, device, threads, size, candidates)
    path = _cache_file(net, size, fields)
    calibration = _read(path, fields) if path is not None and mode != "force" else None
    runner, source = None, "cache"
    if calibration is None:
        try:
            calibration, builders = calibrate(net, candidates, call_side, threads)
        except Exception as exc:  # measuring is an optimisation: the fixed rule still upscales
            log.warning("backend auto: calibration failed (%s); using %s", one_line(exc), rule.backend)
            return rule
        winners = {p: choose(calibration.timings, p) for p in ("auto", "fp32", "bf16")}
        spare = {c for c in winners.values() if c is not None}
        runner, source = builders.keep(choose(calibration.timings, precision), spare), "measured"
        if path is not None:
            _write(path, fields, calibration, winners["auto"])
    arch = contract.arch_name
    winner = choose(calibration.timings, precision)
    if winner is None:  # even torch fp32 failed its bound: run the reference's own path, measured or not
        log.warning("backend auto: no candidate within the fidelity bounds for %s; running torch", arch)
        return Choice("torch", "fp32" if precision == "auto" else precision, "rule", calibration)
    when = calibration.created
    if source == "measured":
        when = f"now in {calibration.seconds:.1f} s, {calibration.cpu_seconds or 0.0:.1f} s CPU"
    log.info("backend auto: %s for %s (measured %s; %s)", winner.name, arch, when, path)
    return Choice(winner.backend, winner.precision, source, calibration, runner, path)
