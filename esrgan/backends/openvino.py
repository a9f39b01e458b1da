"""OpenVINO backend (CPU plugin): fp32, or bf16 on CPUs with native bf16.

The network is exported to ONNX in memory, read by OpenVINO's ONNX frontend and compiled for the CPU
with ``INFERENCE_PRECISION_HINT`` (f32 / bf16), ``PERFORMANCE_HINT`` (LATENCY / THROUGHPUT) and
``INFERENCE_NUM_THREADS`` (torch's thread count unless told otherwise). The compiled model is exported
(``CompiledModel.export_model``) into the cache and imported on a hit, which skips export, conversion and
compilation. The precision hint is always set: OpenVINO itself would pick bf16 on AMX/AVX512-BF16 CPUs.

bf16 runs only where the CPU multiplies bf16 natively (:func:`esrgan.device.cpu_has_native_bf16`); elsewhere it
would be emulated and slower than fp32, so "bf16" falls back to fp32 with a warning and "auto" means fp32.
"""

from __future__ import annotations

import functools
import io
import logging
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

OV_PRECISION = {"fp32": "f32", "bf16": "bf16"}
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
        precision: "auto" (bf16 with native bf16, else fp32), "fp32" or "bf16".
        static_shape: (B, C, H, W) for one fixed input shape, or None for dynamic shapes.
        hint: "latency" (default; the engine sends one request at a time) or "throughput" (several CPU
            streams share the threads; only pays off with parallel requests, which the engine does not make).
        threads: ``INFERENCE_NUM_THREADS``.
        use_cache: read/write the compiled-model cache.
        export: the network's ONNX export, shared with other runners (see :class:`CompiledRunner`).
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
    ) -> None:
        require_module("openvino", "openvino")
        import openvino as ov

        if hint not in OV_HINT:
            raise OptionsError(f"unknown performance hint {hint!r}: use 'latency' or 'throughput'")
        self._ov = ov
        self._core = shared_core()
        self._compiled: Any = None
        self._request: Any = None
        self.hint = hint
        super().__init__(
            net,
            precision=precision,
            static_shape=static_shape,
            threads=threads,
            use_cache=use_cache,
            options={"hint": hint},
            export=export,
        )

    @property
    def config(self) -> dict[str, object]:
        """The CPU plugin properties this runner compiles (and imports) with."""
        return {
            "INFERENCE_PRECISION_HINT": OV_PRECISION[self.precision],
            "PERFORMANCE_HINT": OV_HINT[self.hint],
            "INFERENCE_NUM_THREADS": self.threads,
        }

    def _version(self) -> str:
        return str(self._ov.get_version())

    def _resolve_precision(self, precision: str) -> str:
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
        try:
            # The ONNX frontend reads serialised bytes directly: 0.01 s against 0.5 s for convert_model's
            # Python conversion pipeline (which gives the same graph for a plain ONNX file).
            model = self._core.read_model(onnx_model)
        except RuntimeError:  # an OpenVINO that only reads IR from bytes
            model = self._ov.convert_model(io.BytesIO(onnx_model))
        self._set_compiled(self._core.compile_model(model, "CPU", self.config))
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

    def _set_compiled(self, compiled: Any) -> None:
        self._compiled = compiled
        # One request, reused: the engine calls the network from one thread, one tile at a time.
        self._request = compiled.create_infer_request()
        self._output = compiled.output(0)

    def _run(self, x: np.ndarray) -> np.ndarray:
        result = self._request.infer({INPUT_NAME: x})
        return np.asarray(result[self._output])
