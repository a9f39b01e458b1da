"""esrgan.cluster.devices: device lists, one worker per entry."""

from __future__ import annotations

import pytest

from esrgan.cluster.devices import split_devices


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("cuda:0,1", ["cuda:0", "cuda:1"]),
        ("cuda:0, cuda:2", ["cuda:0", "cuda:2"]),
        ("cuda:1,1", ["cuda:1", "cuda:1"]),
        ("CPU,cpu", ["cpu", "cpu"]),
        ("auto", ["auto"]),
        ("cuda:3", ["cuda:3"]),
    ],
)
def test_split_devices(spec: str, expected: list[str]) -> None:
    assert split_devices(spec) == expected


def test_bad_lists_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="an entry is empty"):
        split_devices("cuda:0,")
    with pytest.raises(ValueError, match=r"a bare index \(1\) must follow cuda:N"):
        split_devices("cpu,1")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda:all' requested but CUDA is not available"):
        split_devices("cuda:all")


def test_cuda_all_lists_every_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 3)
    assert split_devices("cuda:all") == ["cuda:0", "cuda:1", "cuda:2"]
