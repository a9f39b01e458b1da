"""OpenVINO backend (CPU plugin): fp32, bf16 on CPUs with native bf16, or int8 (:mod:`esrgan.backends.int8`).

The network is exported to ONNX in memory, read by OpenVINO's ONNX frontend and compiled for the CPU
with ``INFERENCE_PRECISION_HINT`` (f32 / bf16), ``PERFORMANCE_HINT`` (LATENCY / THROUGHPUT) and
``INFERENCE_NUM_THREADS`` (torch's thread count unless told otherwise). The compiled model is exported
(``CompiledModel.export_model``) into the cache and imported on a hit, which skips export, conversion and
compilation. The precision hint is always set: OpenVINO itself would pick bf16 on AMX/AVX512-BF16 CPUs.

bf16 runs only where the CPU multiplies bf16 natively (:func:`esrgan.device.cpu_has_native_bf16`); elsewhere it
would be emulated and slower than fp32, so "bf16" falls back to fp32 with a warning and "auto" means fp32.

int8 is only ever asked for: the network is quantized by NNCF with its architecture's recipe, calibrated on real
images, checked against fp32 on one more crop, compiled (the convolutions the recipe keeps in fp32 compute in f32)
and cached like the others; the cache key includes the recipe, the calibration images and NNCF's version.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from esrgan import device
from esrgan.backends.onnx_export import INPUT_NAME, require_module
from esrgan.backends.runner import CompiledRunner
from esrgan.errors import OptionsError
from esrgan.fileio import write_bytes_atomic

log = logging.getLogger(__name__)

# int8: the quantized convolutions run int8 whatever the hint; the rest computes in f32 (the recipes were measured so)
OV_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
OV_HINT = {"latency": "LATENCY", "throughput": "THROUGHPUT"}


@functools.cache
def shared_core() -> Any:
    """The process's one ``openvino.Core``, made on first use and kept for the life of the process.

    A Core per runner crashed here: with several Cores made and dropped in one process (the test run builds a
    dozen runners), the interpreter later died of a segmentation fault in about half of the full test runs. Other
    projects met the same crash with a second Core in one process and cured it the same way; with one Core, the
    full test run with OpenVINO installed passed every time it was tried. One Core also shares OpenVINO's thread
    pool and plugin between runners.
    """
    import openvino as ov

    return ov.Core()


class OpenVinoRunner(CompiledRunner):
    """A network compiled by OpenVINO for the CPU; see :class:`esrgan.backends.runner.CompiledRunner`.

    Args:
        net: the loaded network (not modified).
        precision: "auto" (bf16 with native bf16, else fp32), "fp32", "bf16" or "int8".
        static_shape: (B, C, H, W) for one fixed input shape, or None for dynamic shapes.
        hint: "latency" (default; the engine sends one request at a time) or "throughput" (several CPU
            streams share the threads; only pays off with parallel requests, which the engine does not make).
        threads: ``INFERENCE_NUM_THREADS``.
        use_cache: read/write the compiled-model cache.
        export: the network's ONNX export, shared with other runners (see :class:`CompiledRunner`); not used for
            int8 (whose recipe may export an equalised copy).
        int8_calibration: int8 only: a folder of images to calibrate on; None: scikit-image's photographs.

    Attributes:
        int8_plan: the int8 build's plan (:class:`esrgan.backends.int8.Int8Plan`), None at other precisions.
        fidelity_db: int8 built here: PSNR against fp32 on a held-out calibration crop; None otherwise.
    """

    name = "openvino"
    suffix = ".blob"

    def __init__(
        self,
        net: nn.Module,
        *,
        precision: str = "auto",
        static_shape: tuple[int, int, int, int] | None = None,
        hint: str = "latency",
        threads: int = 1,
        use_cache: bool = True,
        export: Callable[[], bytes] | None = None,
        int8_calibration: str | os.PathLike[str] | None = None,
    ) -> None:
        require_module("openvino", "openvino")
        import openvino as ov

        from esrgan.backends.int8 import Int8Plan

        if hint not in OV_HINT:
            raise OptionsError(f"unknown performance hint {hint!r}: use 'latency' or 'throughput'")
        self._ov = ov
        self._core = shared_core()
        self._compiled: Any = None
        self._request: Any = None
        self.hint = hint
        self.fidelity_db: float | None = None
        plan = self.int8_plan = Int8Plan.for_network(net, int8_calibration) if precision == "int8" else None
        options: dict[str, object] = {"hint": hint}
        if plan is not None:
            options.update(plan.fields())
            export = functools.partial(plan.export, static_shape)
        super().__init__(
            net,
            precision=precision,
            static_shape=static_shape,
            threads=threads,
            use_cache=use_cache,
            options=options,
            export=export,
        )

    @property
    def config(self) -> dict[str, object]:
        """The CPU plugin properties this runner compiles (and imports) with."""
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": OV_PRECISION[self.precision],
            "PERFORMANCE_HINT": OV_HINT[self.hint],
            "INFERENCE_NUM_THREADS": self.threads,
        }
        if self.threads < usable_cpus():
            # OpenVINO pins its threads to cores from the first one on: two one-thread workers of this machine
            # (--workers 2 on 2 cores) then share core 0 and each runs at half speed (measured: 12 conv layers,
            # 18 ms a call alone, 36 ms with a twin process pinned, 18 ms unpinned; RealESRGAN x4plus over Ray
            # took 1.95x the local time). A process that uses fewer threads than cores leaves placement to the OS.
            config["ENABLE_CPU_PINNING"] = False
        return config

    def _version(self) -> str:
        return str(self._ov.get_version())

    def _resolve_precision(self, precision: str) -> str:
        if precision == "int8":
            return precision
        native = device.cpu_has_native_bf16()
        if precision == "auto":
            return "bf16" if native else "fp32"
        if precision == "bf16" and not native:
            log.warning(
                "this CPU has no native bf16 (AVX512-BF16/AMX): OpenVINO would emulate it, slower than fp32; "
                "running fp32"
            )
            return "fp32"
        return precision

    def _build(self, onnx_model: bytes, cache_file: Path | None) -> None:
        if self.int8_plan is not None:
            model = self.int8_plan.quantize(self._core, onnx_model)
        else:
            try:
                # The ONNX frontend reads serialised bytes directly: 0.01 s against 0.5 s for convert_model's
                # Python conversion pipeline (which gives the same graph for a plain ONNX file).
                model = self._core.read_model(onnx_model)
            except RuntimeError:  # an OpenVINO that only reads IR from bytes
                model = self._ov.convert_model(io.BytesIO(onnx_model))
        self._set_compiled(self._core.compile_model(model, "CPU", self.config))
        if self.int8_plan is not None:
            log.info("int8: convolutions by precision as compiled: %s", self.conv_precisions())
            self.fidelity_db = self.int8_plan.fidelity(self._run)
        if cache_file is None:
            return
        blob = self._compiled.export_model()
        data = blob.getvalue() if isinstance(blob, io.BytesIO) else bytes(blob)  # BytesIO since 2025, bytes before
        try:
            write_bytes_atomic(cache_file, data)
        except OSError as exc:
            log.warning("could not write the compiled-model cache %s (%s); continuing without it", cache_file, exc)

    def _load(self, cache_file: Path) -> None:
        self._set_compiled(self._core.import_model(io.BytesIO(cache_file.read_bytes()), "CPU", self.config))

    def conv_precisions(self) -> dict[str, int]:
        """How many convolutions compute in each precision as compiled ("u8"/"i8": int8 inputs, "f32", "bf16"),
        read from OpenVINO's runtime model: what really runs, whatever was asked."""
        found: dict[str, int] = {}
        for op in self._compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if "layerType" in info and info["layerType"].astype(str) == "Convolution":
                name = info["runtimePrecision"].astype(str)
                found[name] = found.get(name, 0) + 1
        return found

    def _set_compiled(self, compiled: Any) -> None:
        self._compiled = compiled
        # One request, reused: the engine calls the network from one thread, one tile at a time.
        self._request = compiled.create_infer_request()
        self._output = compiled.output(0)

    def _run(self, x: np.ndarray) -> np.ndarray:
        result = self._request.infer({INPUT_NAME: x})
        return np.asarray(result[self._output])


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
