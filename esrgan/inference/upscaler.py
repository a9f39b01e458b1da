"""The inference engine: pad → self-ensemble(tiles(network)) → crop → clamp, on any device and precision.

``Upscaler(net)(x)`` upscales a (B, C, H, W) RGB float batch in [0, 1] and returns float32 on the CPU.
Tiling bounds memory (and, on the CPU, keeps every tensor small enough to stay fast); a CUDA out-of-memory
error halves the tile and retries. See :mod:`esrgan.inference.tiling` for the blend and
:mod:`esrgan.device` for how "auto" is resolved.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.archs import as_sr_network, get
from esrgan.backends import Runner, make_runner
from esrgan.backends.calibrate import Choice, decide
from esrgan.defaults import DEFAULT_BACKEND, DEFAULT_PRECISION, DEFAULT_TILE, DEFAULT_TILE_PAD, TileSize
from esrgan.device import PRECISIONS, cpu_has_native_bf16, free_memory_bytes, resolve_device, resolve_precision
from esrgan.errors import OutOfMemoryError
from esrgan.inference.ensemble import NUM_TRANSFORMS, self_ensemble
from esrgan.inference.options import EngineOptions
from esrgan.inference.progress import LayerTrace, WorkMeter, trace_layers
from esrgan.inference.sizing import SizeRule, TileFn, fit_calls, pad_to
from esrgan.inference.tiling import split_axis, tiled

log = logging.getLogger(__name__)

# on_tile(done, total): network calls done (fractions while one runs) out of the total for one image batch.
TileProgressFn = Callable[[float, int], None]

# Largest automatic tile side on the CPU. Eager CPU inference gets slower per pixel on big inputs (page faults
# on the large full-resolution activations: 1.5 M per call at 256 px, 9.9 M at 384 px), while small tiles pay
# for their overlap. RealESRGAN_x4plus, fp32, 2 threads, wall time per output pixel of an interior tile with
# pad 16: tile 64: 466 us, 128: 339, 192: 322, 256: 348, 384: 393, 512: 368; a whole 384x384 image is 6%
# slower than 2x2 tiles of 192 and 10% faster than 3x3 tiles of 128. Cores are evened out, so a cap of 256
# gives tiles of 128-256.
CPU_TILE_CAP = 256
# Smallest tile the out-of-memory retry goes down to before giving up.
MIN_TILE = 32
# Share of the free memory one tile's activations may take (the rest: other processes, allocator slack).
MEMORY_FRACTION = {"cuda": 0.7, "cpu": 0.4, "mps": 0.4}
# Peak activation memory of a forward pass divided by the largest (input + output) of one layer. Measured on
# the CPU (RSS high-water minus RSS before, minus the output): 1.2-1.4 for RRDBNet x4 at 128-192 px, 1.3-2.5
# for SRVGGNetCompact at 128-256 px. 2.5 leaves headroom for allocator caching and oneDNN scratch space.
PEAK_FACTOR = 2.5
# Tile when free memory cannot be read.
FALLBACK_TILE = 256
# compile=True: largest difference between the first compiled output and eager's that is accepted, per compute
# dtype. fp32 differs only by kernel order (~1e-6); bf16/fp16 keep 8/11 significant bits, and fused kernels
# round at other points than eager ones, so their bounds are looser (bounds chosen, not measured).
COMPILE_TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 3e-2, torch.float16: 1e-2}
# Input height and width of that check (rounded up to the network's size multiple): small, and not square, so
# that the dynamic-shape graph does not give height and width one symbol and recompile for non-square tiles.
COMPILE_CHECK_SIDES = (20, 28)


class Upscaler:
    """Runs a super-resolution network over images of any size.

    ``Upscaler(net, tile=0, precision="fp32")`` takes the settings as keyword arguments;
    ``Upscaler.from_options(net, options)`` takes them as one :class:`EngineOptions`. Both check them the same way
    (in :class:`EngineOptions`) and have the same defaults.

    Args:
        net: a network carrying the :class:`~esrgan.archs.spec.SRNetwork` contract: its input sides are padded
            to ``size_multiple`` and ``min_size`` (the image once, each tile below the minimum per call: see
            :mod:`esrgan.inference.sizing`), and "auto" precision keeps clear of a half precision it does not
            support (``supports_fp16`` / ``supports_bf16``; an explicit one is refused). It is put in eval mode and
            moved to ``device`` in place (like ``nn.Module.to``); on CPU and CUDA its weights are also switched
            to channels_last.
        tile: "auto" picks the largest tile that fits in free memory (capped on the CPU at
            :data:`CPU_TILE_CAP`, which is faster); 0 disables tiling; N uses cores of at most N input
            pixels per side.
        tile_pad: context per tile side in input pixels; neighbours overlap and are blended over 2 * tile_pad.
        ensemble: average the 8 flips/rotations ("x8" self-ensemble, 8x slower).
        precision: "auto", "fp32", "bf16" or "fp16" (see :func:`esrgan.device.resolve_precision`), or "int8"
            (OpenVINO on the CPU, the architecture's measured recipe: :mod:`esrgan.backends.int8`).
        device: "auto", "cpu", "cuda", "cuda:N", "mps" or a torch.device.
        on_tile: progress callback ``on_tile(done, total)`` over the network calls (tiles and ensemble passes)
            of one image batch: ``(0, total)`` before the first call starts, whole numbers after each call, and,
            while an eager PyTorch call runs, fractions in between (from the work of the layers done, every
            half second: :mod:`esrgan.inference.progress`), so a single 60-second tile shows progress too.
        tile_batch: same-shaped tiles stacked into one network call (helps GPUs with small tiles).
        channels_last: None = on for CPU and CUDA (oneDNN / cuDNN NHWC kernels are faster).
        backend: "torch" (eager PyTorch, any device), or "onnxruntime" / "openvino" (CPU only; the network is
            exported to ONNX and compiled once, cached on disk, see :mod:`esrgan.backends`). A non-torch
            backend replaces only the per-tile network call; padding, tiling, blending, ensemble and clamping
            are the same. ONNX Runtime runs fp32; OpenVINO fp32, or bf16 on CPUs with native bf16. "auto" (the
            default): on the CPU, the candidate measured fastest on this machine within the fidelity bounds
            (with precision "auto" bf16 candidates too; measured once per network and tile size, then cached:
            :mod:`esrgan.backends.calibrate`); elsewhere torch. Falls back to torch with a warning if that
            backend cannot build the network.
        int8_calibration: precision "int8" only: a folder of images to calibrate the quantization on (None:
            scikit-image's photographs).
        compile: torch backend only: run the network through ``torch.compile`` (dynamic shapes, no freezing).
            The first call compiles (the warm-up time is logged) and checks the compiled output against eager
            on a small input; if they differ by more than :data:`COMPILE_TOLERANCE`, or compiling fails, it
            warns and stays eager.

    Raises:
        ValueError: a setting out of range or a combination no backend runs (see :class:`EngineOptions`), a
            network without a positive integer ``.scale``, or a device that is not available.

    Attributes:
        options: the settings as asked for (:class:`EngineOptions`). scale: output / input size ratio. device,
        dtype: resolved device and compute dtype. backend: backend name as resolved; choice: how it was decided
        (:class:`esrgan.backends.calibrate.Choice`); runner: the backend's compiled network (None for torch).
        compiled: whether torch.compile is in use (None until the first call decides).
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        tile: TileSize = DEFAULT_TILE,
        tile_pad: int = DEFAULT_TILE_PAD,
        ensemble: bool = False,
        precision: str = DEFAULT_PRECISION,
        device: str | torch.device = "auto",
        on_tile: TileProgressFn | None = None,
        tile_batch: int = 1,
        channels_last: bool | None = None,
        backend: str = DEFAULT_BACKEND,
        compile: bool = False,
        int8_calibration: str | None = None,
    ) -> None:
        self.options = EngineOptions(
            tile=tile,
            tile_pad=tile_pad,
            ensemble=ensemble,
            precision=precision,  # type: ignore[arg-type]  # checked by EngineOptions
            device=str(device),
            backend=backend,  # type: ignore[arg-type]  # checked by EngineOptions
            compile=compile,
            tile_batch=tile_batch,
            int8_calibration=int8_calibration,
        )
        device = self.options.device
        contract = as_sr_network(net)
        chosen = backend == "auto"
        # The one place "auto" is decided: measured on this machine and cached, or the fixed rule.
        self.choice: Choice = decide(
            net,
            backend=backend,
            precision=precision,
            device=resolve_device(device),
            compile=compile,
            call_side=call_side(tile, tile_pad),
        )
        backend, precision = self.choice.backend, self.choice.precision
        if backend != "torch" and device.strip().lower() == "auto":
            device = "cpu"  # the compiled backends run on the CPU, whatever accelerator is present
        self.device = resolve_device(device)
        self.supports = {torch.float16: bool(contract.supports_fp16), torch.bfloat16: bool(contract.supports_bf16)}
        # A compiled backend resolves the precision itself (what it supports differs) and sets dtype below.
        self.dtype = self._precision(precision) if backend == "torch" else torch.float32
        self.scale = int(contract.scale)
        if self.scale < 1:
            raise ValueError(f"{type(net).__name__} has no positive integer .scale; cannot size the output")
        self.size_rule = SizeRule.of(contract)
        self.size_multiple = self.size_rule.multiple
        # Our own networks run on shapes alone for the memory estimate; others may keep what a shape-only call
        # computed (spandrel's ``self.mean = self.mean.type_as(x)``), so they are measured on a small real input.
        self._meta_probe = get(contract.arch_name) is not None
        self.in_channels: int | None = contract.num_in_ch
        self.out_channels: int = contract.num_out_ch
        self.tile = tile
        self.tile_pad = tile_pad
        self.ensemble = ensemble
        self.on_tile = on_tile
        self.tile_batch = tile_batch
        self.channels_last = self.device.type in ("cpu", "cuda") if channels_last is None else channels_last
        self.net = net.eval().to(self.device)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from stubs
        # After an out-of-memory error the smaller tile is kept for later images (e.g. video frames).
        self._tile_limit: int | None = None
        self._bytes_per_pixel: float | None = None
        self._init_progress()
        self.backend = backend
        self.runner: Runner | None = None
        if backend != "torch":
            self._set_runner(precision, chosen)
        self.compiled: bool | None = None if compile else False
        self._compiled_net: Any = None
        # Per compute dtype: whether the compiled network agreed with eager (checked on first use).
        self._compile_ok: dict[torch.dtype, bool] = {}
        if compile:
            # No `freezing`: on torch 2.13 it gave wrong output for these networks. dynamic=True: tiles come in
            # several sizes, and one graph with symbolic sizes avoids a recompile per tile shape.
            self._compiled_net = torch.compile(self.net, dynamic=True, options={"freezing": False})
        self._log_choices()

    def _init_progress(self) -> None:
        """The state of the work meter (fractions of a running call) and of the decisions' log."""
        self._layer_trace: LayerTrace | None = None
        self._trace_side = self.size_rule.target(8 * self.size_multiple, 8 * self.size_multiple)[0]
        self._progress: _Progress | None = None  # the progress of the running call, for the layer hooks
        self._meter = WorkMeter(self.net, self._report_partial)
        self._in_flight = 1  # images in the running network call
        self._tile_reason = ""  # why tile_for chose its last answer
        self._logged_tile: int | None = None

    def _log_choices(self) -> None:
        """The engine's decisions and why, at INFO (``esrgan -v`` shows them)."""
        if self.options.device.strip().lower() != "auto":
            where = "asked for"
        elif self.backend != "torch":
            where = f"auto: the {self.backend} backend runs on the CPU"
        else:
            where = {"cuda": "auto: CUDA is available", "mps": "auto: Apple MPS is available"}.get(
                self.device.type, "auto: no CUDA or Apple MPS here"
            )
        log.info("device %s (%s)", self.device, where)
        log.info("precision %s (%s)", self.precision_name, self._why_precision())
        log.info("backend %s (%s)", self.backend, self._why_backend())

    def _why_backend(self) -> str:
        choice = self.choice
        if choice.source == "asked":
            return "asked for"
        if choice.precision == "int8":
            return "auto: precision int8 runs on openvino only"
        if choice.backend != self.backend:
            return f"auto: {choice.backend} could not build this network"
        if choice.source == "measured":
            return "auto: the fastest within the fidelity bounds, measured now on this machine"
        if choice.source == "cache":
            created = choice.calibration.created if choice.calibration else ""
            return f"auto: the fastest within the fidelity bounds, measured on this machine {created}".rstrip()
        return "auto: the fixed rule (nothing measured: ESRGAN_CALIBRATE=0, not the CPU, compile, or one candidate)"

    def _why_precision(self) -> str:
        if self.options.precision != "auto":
            return "asked for"
        if self.choice.source in ("measured", "cache") and self.backend == self.choice.backend:
            return "auto: with the backend, the fastest within the fidelity bounds on this machine"
        if self.backend != "torch":
            return f"what {self.backend} computes in on this CPU"
        if self.device.type == "cuda":
            return "auto on CUDA; an image whose fp16 output breaks is redone in fp32"
        if self.device.type != "cpu":
            return f"auto on {self.device.type}"
        if self.dtype == torch.bfloat16:
            return "auto: this CPU has native bf16 instructions (~2x fp32's speed, ~54 dB from fp32's output)"
        if not cpu_has_native_bf16():
            return "auto: no native bf16 on this CPU, where emulated bf16 is slower"
        return "auto: this network does not run in bf16"

    @classmethod
    def from_options(
        cls,
        net: nn.Module,
        options: EngineOptions,
        *,
        on_tile: TileProgressFn | None = None,
        channels_last: bool | None = None,
    ) -> Upscaler:
        """The engine for ``net`` with the settings of ``options``; ``on_tile`` and ``channels_last`` as in
        :class:`Upscaler`."""
        return cls(net, **options.as_kwargs(), on_tile=on_tile, channels_last=channels_last)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale a batch.

        Args:
            x: (B, C, H, W) float RGB in [0, 1] on any device; C must match the network's input channels.

        Returns:
            (B, C_out, H * scale, W * scale) float32 on the CPU, clamped to [0, 1].
        """
        if x.ndim != 4:
            raise ValueError(f"expected a (B, C, H, W) batch, got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"expected float RGB in [0, 1], got dtype {x.dtype}; convert with esrgan.image")
        if self.in_channels is not None and x.shape[1] != self.in_channels:
            raise ValueError(f"the network takes {self.in_channels} channels, the input has {x.shape[1]}")
        height, width = x.shape[-2:]
        with torch.inference_mode():
            x = pad_to(x.detach().to("cpu", torch.float32), *self.size_rule.target(height, width))
            y = self._run(x, self.dtype)
            if self.dtype == torch.float16:
                bad = broken_outputs(x, y)
                if bad.any():
                    log.warning(
                        "fp16 output of %d image(s) is NaN/inf or black; recomputing them in fp32",
                        int(bad.sum()),
                    )
                    y[bad] = self._run(x[bad], torch.float32)
            return y[:, :, : height * self.scale, : width * self.scale].clamp_(0.0, 1.0).contiguous()

    def resolved_settings(self) -> dict[str, Any]:
        """The settings this engine runs with, "auto" resolved where it is decided at construction: what its
        outputs depend on, as JSON values (a video's resume identity compares them).

        Returns:
            {"backend": the backend in use, "precision": :attr:`precision_name`,
            "compile": as asked (where compiling fails or disagrees with eager, eager runs instead), "tile":
            "auto" or a size, "tile_pad", "ensemble"}.
        """
        precision = self.precision_name
        return {
            "backend": self.backend,
            "precision": precision,
            "compile": self._compiled_net is not None,
            "tile": self.tile,
            "tile_pad": self.tile_pad,
            "ensemble": self.ensemble,
        }

    def tile_for(self, x: torch.Tensor) -> int:
        """The tile side ``tile="auto"`` would use for the padded batch ``x`` (0 = whole image at once).

        Memory: a tile of side t + 2 * tile_pad must fit in :data:`MEMORY_FRACTION` of the free memory at
        :meth:`activation_bytes_per_pixel`; on the CPU the full-size output (twice with ensemble) is
        reserved first, because it lives in the same RAM.
        """
        B, _, H, W = x.shape
        free = free_memory_bytes(self.device)
        if free is None:
            self._tile_reason = f"free memory unknown on {self.device}"
            side = FALLBACK_TILE
        else:
            budget = free * MEMORY_FRACTION.get(self.device.type, 0.4)
            if self.device.type != "cuda":
                outputs = 2 if self.ensemble else 1
                budget -= outputs * B * 4 * H * W * self.scale**2 * self.out_channels
            per_pixel = self.activation_bytes_per_pixel() * B
            side = math.isqrt(int(max(budget, 0.0) / per_pixel)) - 2 * self.tile_pad
            share = MEMORY_FRACTION.get(self.device.type, 0.4)
            self._tile_reason = f"the largest that fits in {share:.0%} of {free / 2**30:.1f} GiB free memory"
        if self.device.type == "cpu" and side > CPU_TILE_CAP:
            self._tile_reason = (
                f"at most {CPU_TILE_CAP} on the CPU, where larger tiles are slower (memory allows {side})"
            )
            side = CPU_TILE_CAP
        side = max(side, MIN_TILE, self.size_rule.minimum)
        if side >= max(H, W):
            self._tile_reason = f"the whole {W}x{H} input fits in one tile"
            return 0
        return side

    def activation_bytes_per_pixel(self) -> float:
        """Estimated peak activation memory of one forward pass per input pixel, in bytes, at ``self.dtype``.

        Runs the network once on a shape-only ("meta") input, recording the largest input + output of any
        layer, and multiplies by :data:`PEAK_FACTOR`. For RRDBNet x4 the largest layer is a 64-channel
        convolution at 4x resolution: 2 * 64 * 16 = 2048 values per input pixel.
        """
        if self._bytes_per_pixel is None:
            element = torch.finfo(self.dtype).bits // 8
            self._bytes_per_pixel = PEAK_FACTOR * self._trace().largest_values / self._trace_side**2 * element
        return self._bytes_per_pixel

    @property
    def flops_per_pixel(self) -> float:
        """Cost of one network call per input pixel in FLOPs (convolutions and linear layers; one ensemble pass,
        one image): the work :attr:`on_tile`'s fractions measure, and what an estimate of the time multiplies."""
        return self._trace().flops / self._trace_side**2

    def _trace(self) -> LayerTrace:
        """The network's layers on a small input (shapes only for our own networks; see ``_meta_probe``), once."""
        if self._layer_trace is None:
            self._layer_trace = trace_layers(self.net, self.in_channels or 3, self._trace_side, meta=self._meta_probe)
        return self._layer_trace

    def _run(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Upscale the padded CPU batch ``x``, halving the tile after each out-of-memory error."""
        tile = self.tile_for(x) if self.tile == "auto" else self.tile
        reason = "auto: " + self._tile_reason if self.tile == "auto" else "asked for"
        if tile > 0:
            tile = max(tile, self.size_rule.minimum)  # cores no smaller than the network's minimum input
        if self._tile_limit is not None:
            tile = min(tile or self._tile_limit, self._tile_limit)
            reason = "after running out of memory with larger tiles"
        if tile != self._logged_tile:  # once per change, not once per video frame
            self._logged_tile = tile
            log.info("tile %s (%s)", tile or "off: whole images", reason)
        while True:
            try:
                return self._run_tiles(x, dtype, tile)
            except torch.cuda.OutOfMemoryError as exc:  # torch.OutOfMemoryError on torch >= 2.5
                tried = tile or max(x.shape[-2:])
                smaller = tried // 2 // self.size_multiple * self.size_multiple
                if smaller < max(MIN_TILE, self.size_rule.minimum):
                    raise OutOfMemoryError(
                        f"out of memory on {self.device} even with tile {tried}: free memory on the device, "
                        f"or use a smaller tile_pad, precision fp16/bf16 or device cpu"
                    ) from exc
                log.warning("out of memory on %s with tile %d; retrying with tile %d", self.device, tried, smaller)
            # Out here the failed attempt's frames, and the tensors they hold, are gone: the cache can shrink.
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            tile = self._tile_limit = smaller

    def _run_tiles(self, x: torch.Tensor, dtype: torch.dtype, tile: int) -> torch.Tensor:
        passes = NUM_TRANSFORMS if self.ensemble else 1
        per_pass = len(split_axis(x.shape[-2], tile, 0, self.size_multiple)) * len(
            split_axis(x.shape[-1], tile, 0, self.size_multiple)
        )
        progress = self._progress = _Progress(self.on_tile, per_pass * passes, images=x.shape[0])

        def call(t: torch.Tensor) -> torch.Tensor:
            return self._forward(t, dtype)

        forward: TileFn = call
        if self.size_rule.minimum > 1:  # tiles (or images) below the network's minimum side are padded per call
            forward = fit_calls(call, self.size_rule, self.scale)

        def upscale(image: torch.Tensor) -> torch.Tensor:
            return tiled(
                forward,
                image,
                scale=self.scale,
                tile=tile,
                pad=self.tile_pad,
                multiple=self.size_multiple,
                batch_size=self.tile_batch,
                on_tile=progress,
            )

        return self_ensemble(upscale, x) if self.ensemble else upscale(x)

    def _forward(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """One network call: CPU float32 (N, C, h, w) in, CPU float32 (N, C_out, h * s, w * s) out."""
        if self.runner is not None:
            return self.runner(x)
        net = self._network(dtype)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        n, _, h, w = x.shape
        x = x.to(self.device, memory_format=memory_format)
        # Compiled graphs run their layers out of sight; foreign networks are not traced before their first call.
        watched = net is self.net and self.on_tile is not None and self._meta_probe
        self._in_flight = n
        meter = self._meter.measuring(self.flops_per_pixel * n * h * w) if watched else contextlib.nullcontext()
        # Autocast keeps the float32 weights, so an fp16 failure can be redone in fp32 with the same module.
        with self._autocast(dtype), meter:
            y = net(x)
        return y.to("cpu", torch.float32)

    def _report_partial(self, fraction: float) -> None:
        if self._progress is not None:
            self._progress.partial(fraction, self._in_flight / self._progress.images)

    @property
    def precision_name(self) -> str:
        """What the network computes in: "fp32", "bf16" or "fp16" (:attr:`dtype`), or the runner's "int8"."""
        if self.runner is not None and self.runner.precision == "int8":
            return "int8"
        return next(name for name, dtype in PRECISIONS.items() if dtype == self.dtype)

    def _set_runner(self, precision: str, chosen: bool) -> None:
        """Run the network through :attr:`backend`'s compiled runner (the one the calibration just built, if any)
        at ``precision``. If it cannot be built, backend "auto" (``chosen``) falls back to torch with a warning;
        a backend named by the caller, or precision int8 (asked for, never a fallback's), raises."""
        try:
            runner = self.runner = self.choice.runner or self._make_runner(precision)
        except Exception as exc:  # "auto" must still upscale (with torch); an explicit choice fails loudly
            if not chosen or precision == "int8":
                raise
            log.warning("backend auto: %s could not build this network (%s); using torch", self.backend, exc)
            self.backend = "torch"
            self.dtype = self._precision(self.options.precision)
        else:
            self.dtype = runner.dtype  # what it really computes in (e.g. fp32 where bf16 is not native)

    def _make_runner(self, precision: str) -> Runner:
        if precision == "int8":
            calibration = self.options.int8_calibration
            return make_runner(self.backend, self.net, precision, "cpu", int8_calibration=calibration)
        return make_runner(self.backend, self.net, precision, "cpu")

    def _precision(self, precision: str) -> torch.dtype:
        """:func:`~esrgan.device.resolve_precision` for this network: "auto" keeps clear of a half precision the
        network does not support; an explicit unsupported one is refused."""
        return resolve_precision(
            precision, self.device, fp16=self.supports[torch.float16], bf16=self.supports[torch.bfloat16]
        )

    def _autocast(self, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _network(self, dtype: torch.dtype) -> Any:
        """The callable to run at ``dtype``: the compiled network once it has matched eager, else ``self.net``."""
        if self._compiled_net is None:
            return self.net
        if dtype not in self._compile_ok:
            self._compile_ok[dtype] = self._check_compiled(dtype)
            self.compiled = any(self._compile_ok.values())
        return self._compiled_net if self._compile_ok[dtype] else self.net

    def _check_compiled(self, dtype: torch.dtype) -> bool:
        """Compile (first call) and compare with eager on a small random input at ``dtype``; False = use eager."""
        sides = self.size_rule.target(*COMPILE_CHECK_SIDES)
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(1, self.in_channels or 3, *sides, generator=generator)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        x = x.to(self.device, memory_format=memory_format)
        started = time.perf_counter()
        try:
            with self._autocast(dtype):
                got = self._compiled_net(x)
        except Exception as exc:  # inductor needs a C++ compiler, Triton, ...; any failure means: stay eager
            log.warning("torch.compile failed (%s: %s); running eager", type(exc).__name__, exc)
            return False
        warm_up = time.perf_counter() - started
        with self._autocast(dtype):
            expected = self.net(x)
        diff = float((got.float() - expected.float()).abs().max())
        tolerance = COMPILE_TOLERANCE.get(dtype, 1e-3)
        if not diff <= tolerance:  # also catches NaN
            log.warning(
                "torch.compile output differs from eager by %.3g (> %.0e) at %s; running eager",
                diff,
                tolerance,
                str(dtype).replace("torch.", ""),
            )
            return False
        log.info("torch.compile warm-up %.1f s; compiled output matches eager (max diff %.2g)", warm_up, diff)
        return True


def call_side(tile: TileSize, tile_pad: int) -> int:
    """Input side of the largest network call the engine makes on the CPU with these settings: the tile plus its
    context on both sides (for tile "auto" and 0, :data:`CPU_TILE_CAP`'s). The calibration of backend "auto" is
    kept per class of this size (:func:`esrgan.backends.calibrate.size_class`)."""
    side = tile if isinstance(tile, int) and tile > 0 else CPU_TILE_CAP
    return side + 2 * tile_pad


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad (B, C, H, W) at the bottom and right so H and W are multiples of ``multiple``.

    Each axis is reflected (no new edge) where it is long enough, replicated where it is shorter than its pad.
    """
    pad_h, pad_w = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    if pad_w:
        x = F.pad(x, (0, pad_w, 0, 0), mode="reflect" if pad_w < x.shape[-1] else "replicate")
    if pad_h:
        x = F.pad(x, (0, 0, 0, pad_h), mode="reflect" if pad_h < x.shape[-2] else "replicate")
    return x


def broken_outputs(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image of the batch: True where the output has NaN/inf, or is black although the input is not
    (fp16 overflow symptoms). x (B, C, H, W) and y (B, C_out, H', W'), both float in [0, 1] nominally."""
    non_finite = ~torch.isfinite(y).flatten(1).all(dim=1)
    black = (y.flatten(1).amax(dim=1) < 0.5 / 255) & (x.flatten(1).amax(dim=1) >= 1 / 255)
    return non_finite | black


class _Progress:
    """Turns the per-pass tile counts of :func:`tiled` into one running count over all ensemble passes, starting
    at 0 before the first call, with the fraction of the running call in between.

    Args:
        callback: the engine's ``on_tile``.
        total: network calls of all passes.
        images: images in the batch (a call of :func:`tiled` holds ``images`` per tile).
    """

    def __init__(self, callback: TileProgressFn | None, total: int, images: int = 1) -> None:
        self.callback = callback
        self.total = total
        self.images = images
        self.finished = 0  # calls of the passes done
        self.done = 0  # calls done in the running pass
        if callback is not None:
            callback(0, total)

    def __call__(self, done: int, total: int) -> None:
        self.done = done
        if self.callback is not None:
            self.callback(self.finished + done, self.total)
        if done == total:
            self.finished += total
            self.done = 0

    def partial(self, fraction: float, calls: float = 1.0) -> None:
        """The running call (of ``calls`` tiles) is ``fraction`` done."""
        if self.callback is not None:
            self.callback(self.finished + self.done + fraction * calls, self.total)
