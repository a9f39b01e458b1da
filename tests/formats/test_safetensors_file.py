"""safetensors files: tensors and header metadata read back; damage reported in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from esrgan.formats.safetensors_file import looks_like_safetensors, read_safetensors


def test_tensors_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.arange(6.0).view(2, 3)}, str(path), metadata={"k": "v"})
    assert looks_like_safetensors(path.read_bytes()[:16]) and not looks_like_safetensors(b"PK\x03\x04" + bytes(12))
    tensors, header = read_safetensors(path)
    torch.testing.assert_close(tensors["w"], torch.arange(6.0).view(2, 3))
    assert header == {"k": "v"}


def test_truncated(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(1000)}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match="corrupt or truncated safetensors file") as info:
        read_safetensors(path)
    assert "\n" not in str(info.value)
