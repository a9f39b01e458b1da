"""PyTorch files: read with weights_only, code-running pickles refused without running, damage reported in one
line, TorchScript recognised."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from esrgan.formats.torch_file import looks_like_torch, read_torch_file, refuse_torchscript


class Payload:
    """Unpickling this calls open(marker, "w"): it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def one_line(path: Path, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        read_torch_file(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("legacy", [False, True])
def test_pickle_that_runs_code_is_refused_and_not_executed(tmp_path: Path, legacy: bool) -> None:
    # The payload is live: plain pickle.loads does create its marker.
    pickle.loads(pickle.dumps(Payload(tmp_path / "proof")))
    assert (tmp_path / "proof").exists()

    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2), "x": Payload(marker)}, path, _use_new_zipfile_serialization=not legacy)
    one_line(path, "not a plain weights file: it holds a pickled Python object")
    assert not marker.exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_plain_and_truncated_files(tmp_path: Path, legacy: bool) -> None:
    path = tmp_path / "m.pth"
    torch.save({"w": torch.arange(1000.0)}, path, _use_new_zipfile_serialization=not legacy)
    assert looks_like_torch(path.read_bytes()[:16])
    torch.testing.assert_close(read_torch_file(path)["w"], torch.arange(1000.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    one_line(path, "corrupt or truncated PyTorch file")


def test_torchscript_is_recognised(tmp_path: Path) -> None:
    with warnings.catch_warnings():  # torch deprecates tracing; it is only the way to make such a file here
        warnings.simplefilter("ignore")
        torch.jit.trace(torch.nn.Conv2d(1, 1, 3), torch.rand(1, 1, 4, 4)).save(tmp_path / "ts.pt")
    head = (tmp_path / "ts.pt").read_bytes()[:16]
    with pytest.raises(ValueError, match="a TorchScript archive"):
        refuse_torchscript(tmp_path / "ts.pt", head)
    torch.save({"w": torch.zeros(1)}, tmp_path / "plain.pth")
    refuse_torchscript(tmp_path / "plain.pth", (tmp_path / "plain.pth").read_bytes()[:16])  # no error
    assert not looks_like_torch(b"hello")
