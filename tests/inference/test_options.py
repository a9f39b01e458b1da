"""EngineOptions: the engine's settings, checked once; Upscaler.from_options builds the same engine as the
keyword arguments; the option sections that embed them read their keys flat (the YAML files users have)."""

from __future__ import annotations

import pytest
import torch

import esrgan.inference
from esrgan import shipped_options
from esrgan.archs import SRVGGNetCompact
from esrgan.inference import EngineOptions, Upscaler
from esrgan.options import OptionsError, from_dict, load_options

OPTIONS_DIR = shipped_options.FOLDER


def test_defaults_are_the_library_and_command_defaults() -> None:
    options = EngineOptions()
    assert (options.tile, options.tile_pad, options.precision, options.device) == ("auto", 16, "auto", "auto")
    assert (options.backend, options.compile, options.ensemble, options.tile_batch) == ("auto", False, False, 1)
    up = Upscaler(SRVGGNetCompact(num_feat=4, num_conv=1))
    assert up.options == options  # Upscaler's keyword defaults are the same values


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tile": -1}, "tile must be 'auto', 0"),
        ({"tile": "big"}, "tile must be 'auto', 0"),
        ({"tile": True}, "tile must be 'auto', 0"),
        ({"tile_pad": -2}, "tile_pad must be 0..1024, got -2"),
        ({"tile_pad": 10**9}, "tile_pad must be 0..1024, got 1000000000"),
        ({"tile_batch": 0}, "tile_batch must be 1..1024, got 0"),
        ({"precision": "fp8"}, "unknown precision 'fp8': use one of auto, fp32, bf16, fp16, int8"),
        ({"precision": "int8", "backend": "torch"}, "precision int8 runs on the openvino backend only, not torch"),
        ({"precision": "int8", "compile": True}, "compile applies to the torch backend only; precision int8"),
        ({"precision": "int8", "device": "cuda"}, "precision int8 runs on the CPU only, not cuda"),
        ({"precision": "int8", "int8_calibration": " "}, "int8_calibration must be a folder of images"),
        ({"int8_calibration": "photos"}, "int8_calibration applies to precision int8 only, not auto"),
        ({"backend": "tensorrt"}, "unknown backend 'tensorrt': use one of auto, torch, onnxruntime, openvino"),
        ({"device": ""}, "device must be a name"),
        ({"backend": "openvino", "compile": True}, "compile applies to the torch backend only, not openvino"),
        ({"backend": "onnxruntime", "device": "cuda:1"}, "onnxruntime backend runs on the CPU only, not cuda:1"),
    ],
)
def test_out_of_range_values_and_impossible_combinations(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EngineOptions(**changes)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):  # the keyword arguments are checked by the same code
        Upscaler(SRVGGNetCompact(num_feat=4, num_conv=1), **changes)  # type: ignore[arg-type]


def test_library_messages_name_no_command_line_flags() -> None:
    for changes in ({"backend": "openvino", "compile": True}, {"backend": "openvino", "device": "cuda"}):
        with pytest.raises(ValueError) as info:
            EngineOptions(**changes)  # type: ignore[arg-type]
        assert "--" not in str(info.value)


def test_with_default_device_fills_in_auto_only() -> None:
    assert EngineOptions().with_default_device("cuda:1").device == "cuda:1"
    assert EngineOptions(device="cpu").with_default_device("cuda:1").device == "cpu"


def test_from_options_builds_the_engine_the_keywords_build() -> None:
    net = SRVGGNetCompact(num_feat=4, num_conv=1)
    options = EngineOptions(tile=16, tile_pad=4, precision="fp32", device="cpu", backend="torch", tile_batch=2)
    calls: list[tuple[int, int]] = []
    up = Upscaler.from_options(net, options, on_tile=lambda done, total: calls.append((done, total)))
    assert up.options == options and up.options == Upscaler(net, **options.as_kwargs()).options
    assert (up.tile, up.tile_pad, up.tile_batch, up.backend, str(up.device)) == (16, 4, 2, "torch", "cpu")
    x = torch.rand(1, 3, 40, 24)
    torch.testing.assert_close(up(x), Upscaler(net, **options.as_kwargs())(x))
    assert calls and calls[-1][0] == calls[-1][1]  # the hook was passed on


def test_package_names_load_on_first_use() -> None:
    for name in esrgan.inference.__all__:
        assert getattr(esrgan.inference, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = esrgan.inference.nothing  # type: ignore[attr-defined]


def test_shipped_options_files_keep_their_engine_keys() -> None:
    """The YAML files users already have: engine keys flat in their section, read into the embedded options."""
    from esrgan.evaluation import TestOptions
    from esrgan.train.options import TrainOptions

    test = load_options(TestOptions, OPTIONS_DIR / "test_realesrgan_x4plus.yml")
    assert test.engine == EngineOptions(tile="auto", precision="fp32")
    assert load_options(TestOptions, OPTIONS_DIR / "test_bicubic_x4.yml").engine == EngineOptions(precision="fp32")
    distill = load_options(TrainOptions, OPTIONS_DIR / "distill_realesrgan_x4plus_compact_cpu.yml")
    assert distill.teacher is not None and distill.data.val is not None
    assert distill.teacher.engine == EngineOptions(tile=192, precision="auto", backend="torch")
    assert distill.data.val.engine == EngineOptions(tile=0, precision="fp32", backend="torch")
    validated = [(p, load_options(TrainOptions, p).data.val) for p in sorted(OPTIONS_DIR.glob("train_*.yml"))]
    assert sum(val is not None for _, val in validated) >= 4  # the Real-ESRGAN files validate nothing, as upstream
    for path, val in validated:
        assert val is None or (val.engine.tile == 0 and val.engine.precision == "fp32"), path


def test_training_sections_refuse_engine_settings_they_cannot_honour() -> None:
    from esrgan.train.options import TeacherOptions, ValDataOptions

    with pytest.raises(OptionsError, match=r"val\.backend must be torch"):
        from_dict(ValDataOptions, {"hr": "hr", "backend": "openvino"})
    with pytest.raises(OptionsError, match="targets online runs the teacher on the training device"):
        from_dict(TeacherOptions, {"model": "m", "targets": "online", "device": "cpu"})
    teacher = from_dict(TeacherOptions, {"model": "m", "ensemble": True, "tile_pad": 8})
    assert teacher.engine == EngineOptions(tile=256, tile_pad=8, ensemble=True, backend="torch")
