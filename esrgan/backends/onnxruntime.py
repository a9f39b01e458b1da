"""ONNX Runtime backend (CPU execution provider, fp32).

The network is exported to ONNX in memory, ONNX Runtime optimises the graph at ``ORT_ENABLE_ALL`` (conv +
activation fusion, NCHWc blocked layouts for AVX2/AVX-512), and the *optimised* graph is what the cache keeps,
so a cache hit skips both the export and the optimisation. Such a graph may use this CPU's instruction set,
which is why the cache key includes it. ONNX Runtime has no bf16 convolutions on the CPU: fp32 only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from esrgan.backends.onnx_export import INPUT_NAME, OUTPUT_NAME, require_module
from esrgan.backends.runner import CompiledRunner
from esrgan.errors import OptionsError
from esrgan.fileio import atomic_path

log = logging.getLogger(__name__)

# ONNX Runtime's logger: 3 = errors only. Saving an ORT_ENABLE_ALL graph always logs a warning that it is
# hardware-specific; the cache key covers that (see esrgan.backends.cache.machine_tag).
_ORT_ERRORS_ONLY = 3


class OnnxRuntimeRunner(CompiledRunner):
    """A network compiled by ONNX Runtime; see :class:`esrgan.backends.runner.CompiledRunner`.

    Args:
        net: the loaded network (not modified).
        precision: "auto" or "fp32" ("bf16" is refused: no bf16 kernels in ONNX Runtime's CPU provider).
        static_shape: (B, C, H, W) for one fixed input shape, or None for dynamic shapes.
        threads: intra-op threads (inter-op: 1, the graph is a chain).
        use_cache: read/write the compiled-model cache.
        export: the network's ONNX export, shared with other runners (see :class:`CompiledRunner`).
    """

    name = "onnxruntime"
    suffix = ".onnx"

    def __init__(
        self,
        net: nn.Module,
        *,
        precision: str = "auto",
        static_shape: tuple[int, int, int, int] | None = None,
        threads: int = 1,
        use_cache: bool = True,
        export: Callable[[], bytes] | None = None,
    ) -> None:
        require_module("onnxruntime", "onnx")
        import onnxruntime as ort

        self._ort = ort
        self._session: Any = None
        super().__init__(
            net,
            precision=precision,
            static_shape=static_shape,
            threads=threads,
            use_cache=use_cache,
            options={},
            export=export,
        )

    def _version(self) -> str:
        return str(self._ort.__version__)

    def _resolve_precision(self, precision: str) -> str:
        if precision == "bf16":
            raise OptionsError(
                "the onnxruntime backend runs fp32 on the CPU (no bf16 kernels): use precision fp32 or auto, "
                "or backend openvino for bf16"
            )
        return "fp32"

    def _options(self, level: Any) -> Any:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self._ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = level
        return options

    def _build(self, onnx_model: bytes, cache_file: Path | None) -> None:
        options = self._options(self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        if cache_file is not None:
            options.log_severity_level = _ORT_ERRORS_ONLY
            try:
                # ONNX Runtime writes the optimised graph while creating the session; the ".onnx" suffix of
                # the temporary name tells it to write ONNX (not its .ort format).
                with atomic_path(cache_file, suffix=".onnx") as tmp:
                    options.optimized_model_filepath = str(tmp)
                    self._session = self._session_for(onnx_model, options)
                return
            except OSError as exc:
                log.warning("could not write the compiled-model cache %s (%s); continuing without it", cache_file, exc)
                if self._session is not None:
                    return
                options = self._options(self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        self._session = self._session_for(onnx_model, options)

    def _load(self, cache_file: Path) -> None:
        # The file is already optimised; optimising it again would only cost time.
        options = self._options(self._ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        self._session = self._session_for(str(cache_file), options)

    def _session_for(self, model: bytes | str, options: Any) -> Any:
        return self._ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def _run(self, x: np.ndarray) -> np.ndarray:
        (y,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: x})
        return np.asarray(y)
