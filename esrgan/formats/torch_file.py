"""PyTorch files (``torch.save``: the zip format or a legacy pickle) read without running any code.

``torch.load(..., weights_only=True)`` only rebuilds tensors and plain containers: a file that would run code when
unpickled is refused with the name of the object it holds, and nothing in it executes. TorchScript archives (a
compiled program, not weights) are recognised by their ``constants.pkl`` entry and refused before loading.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from esrgan.errors import ModelFileError
from esrgan.formats import first_line

ZIP_MAGIC = b"PK\x03\x04"


def looks_like_torch(head: bytes) -> bool:
    """True if a file's first bytes are torch's zip format or a legacy pickle (protocol 2+ opcode)."""
    return head.startswith(ZIP_MAGIC) or head.startswith(b"\x80")


def is_torchscript(path: Path) -> bool:
    """TorchScript archives carry ``<name>/constants.pkl`` and compiled ``code/``; torch.save files do not."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") for n in z.namelist())
    except Exception:  # zipfile raises many kinds on damaged bytes (UnicodeDecodeError for a mangled name, ...)
        return False  # torch.load reports the damage


def refuse_torchscript(path: Path, head: bytes) -> None:
    """ModelFileError if ``path`` (starting with ``head``) is a TorchScript archive."""
    if head.startswith(ZIP_MAGIC) and is_torchscript(path):
        raise ModelFileError(
            f"{path}: a TorchScript archive (a compiled program, not plain weights): if you trust it, save its "
            f"torch.jit.load(...).state_dict() with torch.save and load that file"
        )


def read_torch_file(path: Path) -> Any:
    """The object in a torch.save file, on the CPU; ModelFileError (one line) for unsafe pickles and damaged
    files."""
    try:
        # An open file, not the path: torch.load picks its reader by the file's name (a zip .pth renamed
        # .safetensors went to the safetensors reader); the loader sniffed the content already.
        with open(path, "rb") as f, warnings.catch_warnings():
            # Damaged files make torch warn ("Detected pickle protocol 175 ...") on stderr, lines beside the one
            # this function's error gives.
            warnings.simplefilter("ignore")
            return torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise ModelFileError(
                f"{path}: not a plain weights file: it holds a pickled Python object ({found.group(1)}) that could "
                f"run code when loaded; refused without executing anything (re-save only the state dict, or use "
                f".safetensors)"
            ) from None
        found = re.search(r"Unsupported operand (\d+)", str(exc))
        if found:  # e.g. pickle protocol 5 (FRAME, 149): the weights-only reader stops before any object is built
            raise ModelFileError(
                f"{path}: not a plain weights file: its pickle uses an instruction (opcode {found.group(1)}) the "
                f"weights-only reader does not run; refused without executing anything (re-save only the state "
                f"dict with torch.save's default protocol, or use .safetensors)"
            ) from None
        raise ModelFileError(f"{path}: corrupt PyTorch file ({first_line(exc)}); re-download or re-export it") from None
    except Exception as exc:  # torch.load parses the file's bytes: whatever it raises on them, the file is damaged
        raise ModelFileError(
            f"{path}: corrupt or truncated PyTorch file ({first_line(exc)}); re-download or re-export it"
        ) from None
