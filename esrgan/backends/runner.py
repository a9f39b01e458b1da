"""What the ONNX Runtime and OpenVINO runners share: input checks, export on a cache miss, the on-disk cache."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from esrgan.archs import as_sr_network
from esrgan.backends.cache import cache_key, cached_file, network_fingerprint
from esrgan.backends.onnx_export import DEFAULT_OPSET, export_onnx_bytes

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


class CompiledRunner:
    """Base of the backend runners: ``runner(x)`` maps CPU float32 (N, C, h, w) RGB in [0, 1] to CPU float32
    (N, C_out, h * scale, w * scale), not clamped.

    Subclasses set :attr:`name` and :attr:`suffix` and implement :meth:`_version`, :meth:`_resolve_precision`,
    :meth:`_build` (from ONNX bytes, writing the cache entry if given a path), :meth:`_load` (from the cache
    entry) and :meth:`_run` (one float32 array in, one out). ``export``: a function returning the network's ONNX
    export (same dynamic or fixed shape), called only on a cache miss, so that several runners of one network
    (the calibration builds three) export it once; None exports here.

    Attributes:
        name, precision ("fp32"/"bf16"), dtype, scale, size_multiple, in_channels, static_shape,
        cache_file (Path or None), cache_hit (loaded from the cache), build_seconds.
    """

    name = "base"
    suffix = ".bin"

    def __init__(
        self,
        net: nn.Module,
        *,
        precision: str,
        static_shape: tuple[int, int, int, int] | None,
        threads: int,
        use_cache: bool,
        options: dict[str, object],
        export: Callable[[], bytes] | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        contract = as_sr_network(net)
        self.scale = int(contract.scale)
        if self.scale < 1:
            raise ValueError(f"{type(net).__name__} has no positive integer .scale; cannot size the output")
        self.size_multiple = int(contract.size_multiple)
        self.in_channels = int(contract.num_in_ch)
        self.static_shape: tuple[int, int, int, int] | None = None
        if static_shape is not None:
            batch, channels, height, width = (int(s) for s in static_shape)
            self.static_shape = (batch, channels, height, width)
        self.threads = threads
        self.precision = self._resolve_precision(precision)
        self.dtype = DTYPES[self.precision]
        size_class = "dynamic" if self.static_shape is None else "x".join(map(str, self.static_shape))
        fields = {
            "backend": self.name,
            "backend_version": self._version(),
            "network": network_fingerprint(net),
            "size_class": size_class,
            "precision": self.precision,
            "opset": DEFAULT_OPSET,
            "threads": threads,
            **options,
        }
        label = f"{contract.arch_name}-x{self.scale}-{self.precision}-{size_class}"
        started = time.perf_counter()
        self.cache_file = self._cache_entry(label, fields) if use_cache else None
        self.cache_hit = self.cache_file is not None and self._load_cached(self.cache_file)
        if not self.cache_hit:
            if export is not None:
                onnx_model = export()
            else:
                onnx_model = export_onnx_bytes(net, dynamic=self.static_shape is None, example_shape=self.static_shape)
            self._build(onnx_model, self.cache_file)
        self.build_seconds = time.perf_counter() - started
        log.info(
            "%s backend: %s, %d thread(s), %s in %.1f s",
            self.name,
            label,
            threads,
            f"loaded from {self.cache_file}" if self.cache_hit else "exported and compiled",
            self.build_seconds,
        )

    def _cache_entry(self, label: str, fields: dict[str, object]) -> Path | None:
        """The cache file of this build (it may not exist yet), or None if the cache folder cannot be made."""
        try:
            return cached_file(self.name, label, cache_key(fields), self.suffix)
        except OSError as exc:
            log.warning("cannot create the compiled-model cache (%s); building without it", exc)
            return None

    def _load_cached(self, cache_file: Path) -> bool:
        """Load ``cache_file`` if it exists; False (build instead) if it does not or cannot be loaded."""
        if not cache_file.is_file():
            return False
        try:
            self._load(cache_file)
        except Exception as exc:  # any unreadable entry (truncated, other build) is rebuilt, not fatal
            log.warning("cached %s could not be loaded (%s); rebuilding it", cache_file, exc)
            return False
        return True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) float32 CPU in [0, 1] -> (N, C_out, h * scale, w * scale) float32 CPU, not clamped."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (N, {self.in_channels}, h, w), got shape {tuple(x.shape)}")
        if x.shape[-2] % self.size_multiple or x.shape[-1] % self.size_multiple:
            raise ValueError(f"height and width must be multiples of {self.size_multiple}, got {tuple(x.shape[-2:])}")
        if self.static_shape is not None and tuple(x.shape) != self.static_shape:
            raise ValueError(
                f"this {self.name} runner was compiled for input shape {self.static_shape}, got {tuple(x.shape)}"
            )
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(np.ascontiguousarray(self._run(array), dtype=np.float32))

    # Subclass hooks ------------------------------------------------------------------------------------------
    def _version(self) -> str:
        raise NotImplementedError

    def _resolve_precision(self, precision: str) -> str:
        raise NotImplementedError

    def _build(self, onnx_model: bytes, cache_file: Path | None) -> None:
        raise NotImplementedError

    def _load(self, cache_file: Path) -> None:
        raise NotImplementedError

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError
