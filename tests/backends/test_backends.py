"""The backend registry and the compiled-model cache keys."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from esrgan.backends import BACKENDS, MissingPackageError, available_backends, check_backend, make_runner
from esrgan.backends.cache import cache_dir, cache_key, network_fingerprint, weights_digest

TinyNets = dict[str, Callable[[], nn.Module]]


def hide_module(monkeypatch: pytest.MonkeyPatch, hidden: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == hidden else real(name, *a))


def test_available_backends_follow_the_installed_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    found = available_backends()
    assert found[0] == "torch" and set(found) <= set(BACKENDS)
    hide_module(monkeypatch, "openvino")
    assert "openvino" not in available_backends() and "torch" in available_backends()


@pytest.mark.parametrize(
    ("backend", "module", "extra"), [("openvino", "openvino", "openvino"), ("onnxruntime", "onnxruntime", "onnx")]
)
def test_a_missing_package_names_the_extra(
    backend: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch, tiny_nets: TinyNets
) -> None:
    hide_module(monkeypatch, module)
    with pytest.raises(MissingPackageError, match=rf"'{module}'.*pip install esrgan\[{extra}\]"):
        make_runner(backend, tiny_nets["srvgg_x4"]())


def test_unknown_and_torch_backends() -> None:
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        check_backend("tensorrt")
    check_backend("torch")  # always there
    with pytest.raises(ValueError, match="no runner"):
        make_runner("torch", nn.Identity())


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ESRGAN_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path / "compiled"
    monkeypatch.delenv("ESRGAN_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "esrgan" / "compiled"


def test_fingerprint_follows_the_weights_not_the_memory_format(tiny_nets: TinyNets) -> None:
    net = tiny_nets["rrdb_x2_unshuffle"]()
    digest = weights_digest(net)
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    assert weights_digest(net) == digest
    key = cache_key({"network": network_fingerprint(net), "precision": "fp32"})
    assert key == cache_key({"precision": "fp32", "network": network_fingerprint(net)})
    assert key != cache_key({"network": network_fingerprint(net), "precision": "bf16"})
    with torch.no_grad():
        next(net.parameters())[0, 0, 0, 0] += 1e-6  # one weight, slightly: another key
    assert weights_digest(net) != digest
    assert cache_key({"network": network_fingerprint(net), "precision": "fp32"}) != key
