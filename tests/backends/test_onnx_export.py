"""ONNX export: dynamic shapes, fp16, static shapes, metadata, and the exported graph against eager PyTorch."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.backends.onnx_export import (
    MissingPackageError,
    check_with_onnxruntime,
    export_onnx,
    export_onnx_bytes,
    onnx_metadata,
)

TinyNets = dict[str, Callable[[], nn.Module]]

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def run_onnx(model: bytes | Path, x: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), providers=["CPUExecutionProvider"]
    )
    return torch.from_numpy(session.run(["output"], {"input": x.numpy()})[0])


def eager(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()(x)


def test_dynamic_export_matches_torch_at_several_shapes_and_batch_2(any_tiny_net: nn.Module) -> None:
    net = any_tiny_net
    scale = int(getattr(net, "scale", 0))
    model = export_onnx_bytes(net)
    # None of these is the traced example (2, 3, 16, 24): every dynamic axis is exercised.
    for shape in [(1, 3, 16, 16), (2, 3, 24, 40), (1, 3, 40, 8)]:
        x = torch.rand(shape)
        expected = eager(net, x)
        got = run_onnx(model, x)
        assert got.shape == expected.shape == (shape[0], 3, shape[2] * scale, shape[3] * scale)
        assert (got - expected).abs().max() < 1e-4


def test_graph_declares_dynamic_axes_and_fixed_names(tiny_nets: TinyNets) -> None:
    graph = onnx.load_from_string(export_onnx_bytes(tiny_nets["rrdb_x2_unshuffle"]())).graph
    (inp,), (out,) = graph.input, graph.output
    assert inp.name == "input" and out.name == "output"
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert in_dims == ["batch", 3, "height", "width"]
    # The output's sides must not reuse the input's names: runtimes read equal names as equal sizes.
    assert out_dims == ["batch", 3, "out_height", "out_width"]
    assert inp.type.tensor_type.elem_type == out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_fp16_export_has_fp16_weights_and_float32_io(tiny_nets: TinyNets) -> None:
    net = tiny_nets["rrdb_x2_unshuffle"]()
    model = onnx.load_from_string(export_onnx_bytes(net, fp16=True))
    conv_weights = [t for t in model.graph.initializer if len(t.dims) == 4]
    assert conv_weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in conv_weights)
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    for shape in [(1, 3, 16, 24), (2, 3, 8, 12)]:
        x = torch.rand(shape)
        got = run_onnx(model.SerializeToString(), x)
        assert got.dtype == torch.float32
        diff = (got - eager(net, x)).abs().max()
        assert 0 < diff < 1e-2  # rounded to fp16 (not identical), but close


def test_static_export_fixes_every_axis(tiny_nets: TinyNets) -> None:
    net = tiny_nets["srvgg_x4"]()
    model = export_onnx_bytes(net, dynamic=False, example_shape=(1, 3, 16, 24))
    dims = [d.dim_value for d in onnx.load_from_string(model).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 16, 24]
    x = torch.rand(1, 3, 16, 24)
    assert (run_onnx(model, x) - eager(net, x)).abs().max() < 1e-4
    with pytest.raises(Exception, match=r"(?i)dimension"):
        run_onnx(model, torch.rand(1, 3, 16, 16))


def test_static_export_checks_its_shape(tiny_nets: TinyNets) -> None:
    net = tiny_nets["rrdb_x2_unshuffle"]()
    with pytest.raises(ValueError, match="example_shape"):
        export_onnx_bytes(net, dynamic=False)
    with pytest.raises(ValueError, match="multiples of 2"):
        export_onnx_bytes(net, dynamic=False, example_shape=(1, 3, 15, 16))
    with pytest.raises(ValueError, match="3 channels"):
        export_onnx_bytes(net, dynamic=False, example_shape=(1, 4, 16, 16))


@pytest.mark.parametrize(("opset", "ok"), [(10, False), (11, True), (20, True), (21, False)])
def test_opset_range(opset: int, ok: bool) -> None:
    net = SRVGGNetCompact(num_feat=4, num_conv=1)
    if ok:
        assert onnx.load_from_string(export_onnx_bytes(net, opset=opset)).opset_import[0].version == opset
    else:
        with pytest.raises(ValueError, match=f"opset {opset}"):
            export_onnx_bytes(net, opset=opset)


def test_metadata_describes_the_network(tiny_nets: TinyNets) -> None:
    meta = onnx_metadata(export_onnx_bytes(tiny_nets["rrdb_x1_unshuffle"](), fp16=True))
    assert meta["esrgan.arch"] == "RRDBNet"
    assert meta["esrgan.scale"] == "1" and meta["esrgan.size_multiple"] == "4"
    assert meta["esrgan.precision"].startswith("fp16") and "RGB in [0, 1]" in meta["esrgan.io"]


def test_export_leaves_the_network_alone() -> None:
    net = RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4).train()
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    export_onnx_bytes(net, fp16=True)
    assert net.training
    assert net.conv_first.weight.is_contiguous(memory_format=torch.channels_last)
    for key, value in net.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, before[key])


def test_export_onnx_writes_the_file_atomically(tmp_path: Path, tiny_nets: TinyNets) -> None:
    net = tiny_nets["srvgg_x4"]()
    path = export_onnx(net, tmp_path / "m.onnx")
    assert path == tmp_path / "m.onnx"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left
    x = torch.rand(1, 3, 12, 20)
    assert (run_onnx(path, x) - eager(net, x)).abs().max() < 1e-4
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(net, tmp_path / "missing" / "m.onnx")


def test_check_with_onnxruntime_reports_the_difference(tiny_nets: TinyNets) -> None:
    net = tiny_nets["rrdb_x4"]()
    model = export_onnx_bytes(net)
    assert check_with_onnxruntime(model, net, torch.rand(1, 3, 8, 12)) < 1e-4
    other = tiny_nets["rrdb_x4"]()  # same shapes, other random weights
    assert check_with_onnxruntime(model, other, torch.rand(1, 3, 8, 12)) > 1e-3


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch, tiny_nets: TinyNets) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(MissingPackageError, match=r"'onnx'.*pip install esrgan\[onnx\]") as info:
        export_onnx_bytes(tiny_nets["srvgg_x4"]())
    assert isinstance(info.value, ImportError) and isinstance(info.value, ValueError)


@pytest.mark.slow
def test_dynamo_exporter_matches_torch(tiny_nets: TinyNets) -> None:
    pytest.importorskip("onnxscript")
    net = tiny_nets["rrdb_x2_unshuffle"]()
    model = export_onnx_bytes(net, exporter="dynamo", opset=18)
    for shape in [(1, 3, 16, 16), (2, 3, 24, 40)]:
        x = torch.rand(shape)
        assert (run_onnx(model, x) - eager(net, x)).abs().max() < 1e-4
    assert np.isfinite(run_onnx(model, torch.rand(1, 3, 8, 8)).numpy()).all()
