"""On-disk cache of compiled models for the non-torch backends.

Exporting RealESRGAN_x4plus to ONNX takes seconds and compiling it again more, so a backend stores what it
built under ``${ESRGAN_CACHE_DIR:-~/.cache/esrgan}/compiled/`` and reuses it when everything that shaped the
file is the same: the weights (hashed), the network class's source, the input size class (dynamic shapes or one
fixed shape), the precision, the backend's options and versions, and this CPU's instruction set (optimised
ONNX Runtime graphs and OpenVINO blobs are specific to it). Nothing is ever evicted; delete the folder to clear
it (each entry is about the size of the weights: 67 MB for realesrgan-x4plus).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import logging
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from esrgan import __version__
from esrgan.archs import as_sr_network

log = logging.getLogger(__name__)

CACHE_ENV = "ESRGAN_CACHE_DIR"
_CPUINFO = Path("/proc/cpuinfo")


def cache_dir() -> Path:
    """The folder compiled models go to: ``$ESRGAN_CACHE_DIR/compiled`` or ``~/.cache/esrgan/compiled``.

    Not created here (see :func:`cached_file`)."""
    root = os.environ.get(CACHE_ENV) or "~/.cache/esrgan"
    return Path(root).expanduser() / "compiled"


def weights_digest(net: nn.Module) -> str:
    """SHA-256 over the network's state dict: names, dtypes, shapes and raw bytes, in order.

    The memory format does not matter (channels_last weights hash like contiguous ones)."""
    h = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        if t.numel():
            h.update(t.view(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def network_fingerprint(net: nn.Module) -> dict[str, object]:
    """What identifies a network's computation: class, constructor arguments, weights and source code.

    The source of the class's module is hashed too, so a fix in ``forward`` invalidates old entries."""
    cls = type(net)
    try:
        source = inspect.getsource(sys.modules[cls.__module__])
    except (OSError, TypeError, KeyError):
        source = cls.__qualname__  # classes defined interactively: their weights and hparams still count
    contract = as_sr_network(net)
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "hparams": contract.hparams(),
        "scale": int(contract.scale),
        "weights": weights_digest(net),
        "source": hashlib.sha256(source.encode()).hexdigest(),
    }


def machine_tag() -> str:
    """This CPU's architecture and instruction-set flags, hashed: compiled graphs may use any of them."""
    flags = ""
    try:
        for line in _CPUINFO.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() in ("flags", "features"):
                flags = " ".join(sorted(value.split()))
                break
    except OSError:
        pass
    text = f"{platform.system()}|{platform.machine()}|{flags}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cpu_model() -> str:
    """This CPU's model name ("model name" in /proc/cpuinfo; the processor type where there is none)."""
    try:
        for line in _CPUINFO.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def package_versions(names: tuple[str, ...] = ("torch", "onnx", "onnxruntime", "openvino")) -> dict[str, str | None]:
    """Installed version of each distribution in ``names`` (None: not installed), read without importing it."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cache_key(fields: Mapping[str, object]) -> str:
    """A stable hex key (32 characters) for the JSON-serialisable ``fields`` plus versions and machine."""
    payload = {**fields, "esrgan": __version__, "torch": torch.__version__, "machine": machine_tag()}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_file(backend: str, label: str, key: str, suffix: str) -> Path:
    """``<cache_dir>/<backend>-<label>-<key><suffix>``, with the folder created.

    Raises:
        OSError: the folder cannot be created (callers then run without the cache).
    """
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{backend}-{label}-{key}{suffix}"
