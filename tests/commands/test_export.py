"""`esrgan export` end to end, in-process, with tiny random models."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
import torch

from esrgan.archs import RRDBNet
from esrgan.cli import main
from esrgan.models import save_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture
def tiny_model(tmp_path: Path) -> tuple[Path, RRDBNet]:
    """A random RRDBNet x2 (pixel-unshuffle) saved as .pth, and the network itself."""
    net = RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    path = tmp_path / "tiny_x2.pth"
    save_model(net, path)
    return path, net.eval()


def run_onnx(path: Path, x: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(["output"], {"input": x.numpy()})[0])


def test_export_checks_then_writes_a_dynamic_model(
    tmp_path: Path, tiny_model: tuple[Path, RRDBNet], capsys: pytest.CaptureFixture[str]
) -> None:
    model, net = tiny_model
    out = tmp_path / "tiny.onnx"
    assert main(["export", "-m", str(model), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "RRDBNet x2, fp32, opset 17, dynamic batch, height, width" in printed
    assert "onnxruntime check on 1x3x24x40: max abs diff vs PyTorch" in printed and f"wrote {out}" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx", "tiny_x2.pth"]  # nothing half-written
    for shape in [(1, 3, 8, 12), (2, 3, 16, 10)]:
        x = torch.rand(shape)
        with torch.no_grad():
            assert (run_onnx(out, x) - net(x)).abs().max() < 1e-4


def test_export_fp16_static_opset(tmp_path: Path, tiny_model: tuple[Path, RRDBNet]) -> None:
    model, net = tiny_model
    out = tmp_path / "tiny_fp16.onnx"
    assert main(["export", "-m", str(model), "-o", str(out), "--fp16", "--static", "16", "24", "--opset", "18"]) == 0
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version == 18
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 16, 24]
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        assert (run_onnx(out, x) - net(x)).abs().max() < 1e-2


def test_export_refuses_to_overwrite_its_input(
    tmp_path: Path, tiny_model: tuple[Path, RRDBNet], caplog: pytest.LogCaptureFixture
) -> None:
    model, _ = tiny_model
    before = model.read_bytes()
    assert main(["export", "-m", str(model), "-o", str(model)]) == 2
    assert "overwrite the input model" in caplog.text
    assert model.read_bytes() == before


def test_a_failed_check_writes_nothing(
    tmp_path: Path, tiny_model: tuple[Path, RRDBNet], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import esrgan.backends.onnx_export as onnx_export

    monkeypatch.setattr(onnx_export, "check_with_onnxruntime", lambda *a: 0.5)
    out = tmp_path / "bad.onnx"
    assert main(["export", "-m", str(tiny_model[0]), "-o", str(out)]) == 1
    assert not out.exists() and "not written" in caplog.text


def test_missing_onnx_is_one_line_naming_the_extra(
    tmp_path: Path, tiny_model: tuple[Path, RRDBNet], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with caplog.at_level(logging.ERROR):
        assert main(["export", "-m", str(tiny_model[0]), "-o", str(tmp_path / "m.onnx")]) == 2
    assert "pip install esrgan[onnx]" in caplog.text


def test_missing_onnxruntime_skips_the_check(
    tmp_path: Path,
    tiny_model: tuple[Path, RRDBNet],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    out = tmp_path / "m.onnx"
    assert main(["export", "-m", str(tiny_model[0]), "-o", str(out)]) == 0
    assert "check skipped" in capsys.readouterr().out and out.is_file()


def test_bad_opset_is_a_user_error(
    tmp_path: Path, tiny_model: tuple[Path, RRDBNet], caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["export", "-m", str(tiny_model[0]), "-o", str(tmp_path / "m.onnx"), "--opset", "30"]) == 2
    assert "opset 30" in caplog.text and not (tmp_path / "m.onnx").exists()
