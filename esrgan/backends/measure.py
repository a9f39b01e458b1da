"""Timing the candidates of backend ``auto`` on this machine: each is built, called on a real tile and checked
against the plain fp32 forward of the same tile.

:func:`measure` takes any builder (tests pass fakes that are fast but wrong); :class:`Builders` builds the real
ones: torch fp32 / bf16 (channels_last, bf16 by autocast: the engine's torch path) and the compiled ONNX Runtime
and OpenVINO runners, sharing one ONNX export. What to do with the timings is decided in
:mod:`esrgan.backends.calibrate`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from esrgan.backends import Runner, make_runner
from esrgan.backends.onnx_export import export_onnx_bytes
from esrgan.errors import one_line

log = logging.getLogger(__name__)

__all__ = [
    "MAX_TILE_FLOPS",
    "REPEATS",
    "Builders",
    "Candidate",
    "Forward",
    "Timing",
    "calibration_side",
    "fidelity",
    "flops_per_pixel",
    "measure",
    "sample_tile",
]

Forward = Callable[[torch.Tensor], torch.Tensor]

# Work budget of one calibration call. realesrgan-x4plus costs 35.9 MFLOP per input pixel, so it is measured on
# 128x128 (587 GFLOP: ~1.4 s in fp32 channels_last on 2 Zen 5 cores) rather than at the engine's 288x288 (~7 s):
# 1 warm-up + REPEATS calls of 5 candidates and the reference then stay under a minute. Cheap networks
# (realesr-animevideov3: 1.24 MFLOP per pixel) are measured at the engine's own tile size.
MAX_TILE_FLOPS = 6e11
MAX_SIDE = 512  # skimage's astronaut is 512x512
MIN_SIDE = 32
# Timed calls per candidate after one warm-up; the fastest counts (other processes only ever slow a call down).
# Calls after the first are made only for a candidate within CLOSE of the fastest of its precision so far: for
# the others one call already shows that they lose.
REPEATS = 2
CLOSE = 1.25
# Calibration tile sides are multiples of this (and of the network's size multiple).
SIDE_STEP = 16


@dataclass(frozen=True)
class Candidate:
    """One way ``auto`` may run the network: a backend at a precision ("fp32" or "bf16")."""

    backend: str
    precision: str

    @property
    def name(self) -> str:
        return f"{self.backend}+{self.precision}"

    @property
    def exact(self) -> bool:
        """fp32: held to the max-difference bound; lower precisions to the PSNR bound."""
        return self.precision == "fp32"


@dataclass(frozen=True)
class Timing:
    """What one candidate measured on the calibration tile.

    Attributes:
        seconds: the fastest timed call (None: the candidate failed, ``error`` says why).
        max_diff_255, psnr_db: its clamped output against the plain fp32 output (1/255 steps; dB, inf if equal).
        build_seconds: building it (export, compilation, or loading from the compiled-model cache).
    """

    candidate: Candidate
    seconds: float | None
    max_diff_255: float | None = None
    psnr_db: float | None = None
    build_seconds: float = 0.0
    error: str | None = None


def calibration_side(call_side: int, flops: float, multiple: int = 1, minimum: int = 1) -> int:
    """Side of the calibration tile: the engine's call side, at most :data:`MAX_SIDE` and small enough for one
    call to cost at most :data:`MAX_TILE_FLOPS` at ``flops`` per input pixel (0: unknown, no budget); a multiple
    of :data:`SIDE_STEP` and ``multiple``, at least :data:`MIN_SIDE` and the network's ``minimum`` input side."""
    side = min(call_side, MAX_SIDE)
    if flops > 0:
        side = min(side, math.isqrt(int(MAX_TILE_FLOPS / flops)))
    step = math.lcm(SIDE_STEP, multiple)
    return max(side // step * step, -(-max(MIN_SIDE, minimum) // step) * step)


def sample_tile(side: int, channels: int = 3) -> torch.Tensor:
    """A centred ``side`` x ``side`` crop of skimage's astronaut (side <= 512) as (1, channels, side, side) float
    in [0, 1]: RGB for 3 channels, gray for 1, the RGB channels repeated in turn for others."""
    import numpy as np
    import skimage.data

    img = skimage.data.astronaut()  # (512, 512, 3) uint8 RGB
    if not 1 <= side <= min(img.shape[:2]):
        raise ValueError(f"side must be 1-{min(img.shape[:2])}, got {side}")
    top, left = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    crop = np.ascontiguousarray(img[top : top + side, left : left + side])
    x = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div_(255)
    if channels == 1:
        return x.mean(dim=1, keepdim=True)
    return x[:, [c % 3 for c in range(channels)]].contiguous()


def fidelity(y: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """(max difference in 1/255 steps, PSNR in dB) of ``y`` clamped to [0, 1] against ``reference`` (clamped)."""
    if y.shape != reference.shape:
        raise ValueError(f"output shape {tuple(y.shape)} differs from the reference's {tuple(reference.shape)}")
    diff = y.detach().float().clamp(0, 1).double() - reference.double()
    mse = float(diff.pow(2).mean())
    db = math.inf if mse == 0 else (10 * math.log10(1 / mse) if math.isfinite(mse) else -math.inf)
    return float(diff.abs().max()) * 255, db


def measure(
    reference: Forward,
    build: Callable[[Candidate], Forward],
    candidates: Sequence[Candidate],
    x: torch.Tensor,
    *,
    repeats: int = REPEATS,
    clock: Callable[[], float] = time.perf_counter,
    on_timing: Callable[[int, Timing], None] | None = None,
) -> list[Timing]:
    """Time every candidate on ``x`` and check its output against ``reference(x)``.

    Each candidate is built (``build``), called once untimed (kernel selection, per-shape compilation), then
    timed once, and up to ``repeats`` times while it stays within :data:`CLOSE` of the fastest candidate of its
    precision so far; its fastest call counts. A candidate that fails to build or run gets a timing with
    ``seconds=None`` and the error; the others go on. ``on_timing(n, timing)`` reports each (n from 1).
    """
    expected = reference(x).detach().float().clamp(0, 1)
    timings = []
    best: dict[str, float] = {}  # the fastest call so far per precision
    for n, candidate in enumerate(candidates, 1):
        started = clock()
        built = 0.0
        try:
            run = build(candidate)
            built = clock() - started
            y = run(x)
            fastest = math.inf
            for n_call in range(max(1, repeats)):
                if n_call and fastest > best.get(candidate.precision, math.inf) * CLOSE:
                    break  # already clearly slower than another candidate of its precision
                call = clock()
                y = run(x)
                fastest = min(fastest, clock() - call)
            max_diff, db = fidelity(y, expected)
        except Exception as exc:  # any candidate that cannot run here just loses; the others go on
            log.debug("calibration: %s failed", candidate.name, exc_info=True)
            timing = Timing(candidate, None, build_seconds=built, error=one_line(exc))
        else:
            timing = Timing(candidate, fastest, max_diff, db, built)
            best[candidate.precision] = min(best.get(candidate.precision, math.inf), fastest)
        timings.append(timing)
        if on_timing is not None:
            on_timing(n, timing)
    return timings


class Builders:
    """Builds the candidates of one network, sharing what they can: one CPU fp32 copy (the reference runs it
    contiguous, then the torch candidates channels_last) and one ONNX export for the compiled backends. Keeps the
    compiled runners so that the winner's can be handed to the engine."""

    def __init__(self, net: nn.Module, threads: int) -> None:
        # A copy (the caller's network is not touched), contiguous even if an engine already switched it.
        self.net = copy.deepcopy(net).to("cpu", torch.float32).eval()
        self.net.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]  # missing from stubs
        self.threads = threads
        self.runners: dict[Candidate, Runner] = {}
        self._onnx: bytes | None = None
        self._channels_last = False

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The plain fp32 forward: contiguous NCHW, no autocast (what Real-ESRGAN's own code runs)."""
        with torch.inference_mode():
            return self.net(x.contiguous())

    def __call__(self, candidate: Candidate) -> Forward:
        if candidate.backend == "torch":
            return self._torch(candidate.precision)
        runner = make_runner(
            candidate.backend, self.net, candidate.precision, "cpu", threads=self.threads, export=self._export
        )
        self.runners[candidate] = runner
        if runner.precision != candidate.precision:
            raise ValueError(f"{candidate.backend} runs {runner.precision} here, not {candidate.precision}")
        return runner

    def _export(self) -> bytes:
        if self._onnx is None:
            self._onnx = export_onnx_bytes(self.net)
        return self._onnx

    def _torch(self, precision: str) -> Forward:
        """The engine's torch path: channels_last weights and input, bf16 by autocast."""
        if not self._channels_last:
            self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from stubs
            self._channels_last = True
        net = self.net

        def run(x: torch.Tensor) -> torch.Tensor:
            autocast: contextlib.AbstractContextManager[Any] = (
                torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
            )
            with torch.inference_mode(), autocast:
                return net(x.contiguous(memory_format=torch.channels_last)).float()

        return run

    def keep(self, winner: Candidate | None, spare: Collection[Candidate] = ()) -> Runner | None:
        """The winner's runner (None for torch); the others are dropped, and the compiled-model cache entries that
        calibration wrote for them are deleted (each is about the weights' size), except those of ``spare`` (the
        winners at the other precisions, which later runs may ask for)."""
        kept = None
        for candidate, runner in self.runners.items():
            if candidate == winner:
                kept = runner
            elif candidate not in spare and not runner.cache_hit and runner.cache_file is not None:
                with contextlib.suppress(OSError):
                    runner.cache_file.unlink()
        self.runners.clear()
        return kept


def flops_per_pixel(net: nn.Module, channels: int, side: int) -> float:
    """Convolution FLOPs per input pixel, counted with hooks during one real call on a zero (1, channels, side,
    side) input (0.0 if that call fails: then no budget applies).

    A real call, not a shape-only one on the meta device: a network loaded through spandrel may keep what a call
    computed (``self.mean = self.mean.type_as(x)``). Callers pass a copy and a small side (realesrgan-x4plus at
    16 px: 9 GFLOP).
    """
    total = 0

    def hook(module: nn.Module, _inputs: tuple[object, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.kernel_size[0] * module.kernel_size[1] * (module.in_channels // module.groups)
            total += 2 * per_output * output.numel()

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        param = next(net.parameters())
        with torch.inference_mode():
            net(torch.zeros(1, channels, side, side, device=param.device, dtype=param.dtype))
    except Exception:  # no budget then: the tile is the engine's call side, at most MAX_SIDE
        log.debug("could not count the network's FLOPs", exc_info=True)
        return 0.0
    finally:
        for h in hooks:
            h.remove()
    return total / side**2
