"""safetensors files: an 8-byte little-endian header length, a JSON header (shapes, dtypes, offsets and a
``__metadata__`` dict of strings), then the raw tensor data. Reading never runs code."""

from __future__ import annotations

from pathlib import Path

import torch

from esrgan.errors import ModelFileError
from esrgan.formats import first_line

# A real header is a few hundred KB at most; a larger "length" means the first bytes are something else.
MAX_HEADER_BYTES = 100_000_000


def looks_like_safetensors(head: bytes) -> bool:
    """True if a file's first 9 bytes are a plausible header length followed by the JSON header's ``{``."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < MAX_HEADER_BYTES


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors on the CPU, the header's string metadata); ModelFileError (one line) for a damaged file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError, OverflowError) as exc:
        raise ModelFileError(f"{path}: corrupt or truncated safetensors file ({first_line(exc)})") from None
    return tensors, dict(header)
