"""esrgan.bench.configs: configuration tokens, sizes, what this installation can run, and the engine options a
configuration stands for (the command's defaults with its changes)."""

from __future__ import annotations

import importlib.util

import pytest

from esrgan import bench as bm
from esrgan.bench import configs
from esrgan.inference import EngineOptions


def test_parse_config_tokens() -> None:
    assert bm.parse_config("plain") == bm.Config("plain", plain=True)
    assert bm.parse_config("default").engine_overrides() == {}
    c = bm.parse_config("openvino+bf16")
    assert (c.name, c.backend, c.precision, c.plain) == ("openvino+bf16", "openvino", "bf16", False)
    assert bm.parse_config("fp32+tile=0").engine_overrides() == {"precision": "fp32", "tile": 0}
    assert bm.parse_config("compile+tile=auto").engine_overrides() == {"compile": True, "tile": "auto"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plain+fp32", "takes no options"),
        ("fp32+bf16", "twice"),
        ("fast", "unknown"),
        ("tile=8", "at least 16"),
        ("fp32+", "empty"),
    ],
)
def test_parse_config_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bm.parse_config(text)


def test_parse_size() -> None:
    assert bm.parse_size("256") == (256, 256)
    assert bm.parse_size("320x180") == (320, 180)
    assert bm.parse_size("1080P") == (1920, 1080)
    for bad in ("0", "12x", "x4", "big", "-3"):
        with pytest.raises(ValueError, match="bad size"):
            bm.parse_size(bad)


def test_configurations_are_the_command_defaults_with_their_changes() -> None:
    assert bm.parse_config("default").engine_options("cpu") == EngineOptions(device="cpu")
    assert bm.parse_config("openvino+bf16+tile=0").engine_options("cpu") == EngineOptions(
        tile=0, precision="bf16", backend="openvino", device="cpu"
    )
    with pytest.raises(ValueError, match="compile applies to the torch backend only"):
        bm.parse_config("openvino+compile").engine_options("cpu")


def test_backend_needs_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real_find_spec(name, *a)
    )
    reason = bm.unavailable_reason(bm.parse_config("openvino+bf16"))
    assert reason is not None and "'openvino' package is not installed" in reason and "esrgan[openvino]" in reason
    assert "openvino" not in [c.name for c in bm.default_configs()]
    assert bm.unavailable_reason(bm.parse_config("fp32+tile=0")) is None
    assert bm.unavailable_reason(bm.parse_config("plain")) is None
    # Skipped before anything is loaded (the model file does not even exist).
    jobs = bm.plan(["no-such-model.pth"], [(32, 32)], [bm.parse_config("openvino")], repeats=1)
    (result,) = bm.run_jobs(jobs, isolate=False)
    assert result.status == "skipped" and "esrgan[openvino]" in str(result.reason)


def test_compile_needs_a_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(configs.shutil, "which", lambda name: None)
    assert "C++ compiler" in str(bm.unavailable_reason(bm.parse_config("compile")))


def test_default_configs_start_with_the_reference() -> None:
    names = [c.name for c in bm.default_configs()]
    assert names[:3] == ["plain", "default", "fp32"]
    assert all(bm.unavailable_reason(bm.parse_config(n)) is None for n in names)


def test_default_configs_name_every_candidate_of_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every candidate backend auto chooses from gets a row at a fixed precision, so that the default can be read
    against the fastest fp32-exact row and the fastest row of any precision."""
    installed = ["torch"]
    monkeypatch.setattr("esrgan.backends.available_backends", lambda: list(installed))
    assert [c.name for c in bm.default_configs(native_bf16=False)] == ["plain", "default", "fp32", "torch+fp32"]
    installed += ["onnxruntime", "openvino"]
    assert [c.name for c in bm.default_configs(native_bf16=False)] == [
        "plain", "default", "fp32", "torch+fp32", "onnxruntime+fp32", "openvino+fp32"
    ]  # fmt: skip
    with_bf16 = [c.name for c in bm.default_configs(native_bf16=True)]
    assert with_bf16[-2:] == ["torch+bf16", "openvino+bf16"]  # ONNX Runtime has no bf16 on the CPU
    assert all(c.precision in ("fp32", "bf16") and c.backend for c in bm.default_configs(True)[3:])
    assert [c.name for c in bm.default_configs(True, device="cuda")] == ["plain", "default", "fp32"]
