"""The ONNX Runtime runner: matches eager PyTorch, caches the optimised graph on disk, refuses what it cannot run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from esrgan.backends import make_runner

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

TinyNets = dict[str, Callable[[], nn.Module]]


def eager(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()(x)


@pytest.mark.parametrize("name", ["srvgg_x4", "rrdb_x2_unshuffle"])
def test_runner_matches_torch_at_two_sizes_and_batch_2(name: str, tiny_nets: TinyNets) -> None:
    net = tiny_nets[name]()
    runner = make_runner("onnxruntime", net, "fp32")
    assert runner.name == "onnxruntime" and runner.precision == "fp32" and runner.dtype == torch.float32
    for shape in [(1, 3, 16, 24), (2, 3, 20, 12)]:
        x = torch.rand(shape)
        y = runner(x)
        assert y.dtype == torch.float32 and y.device.type == "cpu"
        assert (y - eager(net, x)).abs().max() < 1e-4


def test_second_build_loads_the_cached_graph(tiny_nets: TinyNets, cache_dir: Path) -> None:
    net = tiny_nets["rrdb_x2_unshuffle"]()
    first = make_runner("onnxruntime", net)
    assert not first.cache_hit and first.cache_file is not None and first.cache_file.parent == cache_dir
    stamp = first.cache_file.stat().st_mtime_ns
    second = make_runner("onnxruntime", net)
    assert second.cache_hit and second.cache_file == first.cache_file
    assert first.cache_file.stat().st_mtime_ns == stamp  # read, not rewritten
    assert len(list(cache_dir.iterdir())) == 1
    x = torch.rand(1, 3, 12, 16)
    assert torch.equal(first(x), second(x))
    assert (second(x) - eager(net, x)).abs().max() < 1e-4
    # Other weights (same shapes) are another entry, never the cached graph.
    other = tiny_nets["rrdb_x2_unshuffle"]()
    third = make_runner("onnxruntime", other)
    assert not third.cache_hit and third.cache_file != first.cache_file
    assert (third(x) - eager(other, x)).abs().max() < 1e-4


def test_an_unreadable_cache_entry_is_rebuilt(tiny_nets: TinyNets, caplog: pytest.LogCaptureFixture) -> None:
    net = tiny_nets["srvgg_x4"]()
    entry = make_runner("onnxruntime", net).cache_file
    assert entry is not None
    entry.write_bytes(b"not an onnx model")
    with caplog.at_level(logging.WARNING):
        runner = make_runner("onnxruntime", net)
    assert not runner.cache_hit and "rebuilding" in caplog.text
    x = torch.rand(1, 3, 8, 8)
    assert (runner(x) - eager(net, x)).abs().max() < 1e-4
    assert make_runner("onnxruntime", net).cache_hit  # the rebuilt entry is good again


def test_without_cache_nothing_is_written(tiny_nets: TinyNets, cache_dir: Path) -> None:
    runner = make_runner("onnxruntime", tiny_nets["srvgg_x4"](), use_cache=False)
    assert runner.cache_file is None and not runner.cache_hit
    assert not cache_dir.exists()


def test_static_shape_runner(tiny_nets: TinyNets) -> None:
    net = tiny_nets["srvgg_x4"]()
    runner = make_runner("onnxruntime", net, static_shape=(1, 3, 16, 24))
    dynamic = make_runner("onnxruntime", net)
    assert runner.cache_file != dynamic.cache_file and runner.cache_file is not None
    assert "1x3x16x24" in runner.cache_file.name
    x = torch.rand(1, 3, 16, 24)
    assert (runner(x) - eager(net, x)).abs().max() < 1e-4
    with pytest.raises(ValueError, match=r"compiled for input shape \(1, 3, 16, 24\)"):
        runner(torch.rand(1, 3, 16, 16))


def test_precision_and_inputs_are_checked(tiny_nets: TinyNets) -> None:
    net = tiny_nets["rrdb_x2_unshuffle"]()
    with pytest.raises(ValueError, match="fp32"):
        make_runner("onnxruntime", net, "bf16")
    with pytest.raises(ValueError, match="auto, fp32 or bf16"):
        make_runner("onnxruntime", net, "fp16")
    runner = make_runner("onnxruntime", net, "auto")
    assert runner.precision == "fp32"
    with pytest.raises(ValueError, match="multiples of 2"):
        runner(torch.rand(1, 3, 15, 16))
    with pytest.raises(ValueError, match=r"\(N, 3, h, w\)"):
        runner(torch.rand(1, 4, 16, 16))
