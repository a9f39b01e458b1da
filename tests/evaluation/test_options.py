"""TestOptions: the checks made once when the options are built."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not "Test*": pytest would collect them
from esrgan.evaluation import TestOptions as Options
from esrgan.inference import EngineOptions
from esrgan.options import OptionsError, from_dict


def _ds(name: str = "Set5") -> DatasetOptions:
    return DatasetOptions(name=name, hr=Path("hr"))


def test_defaults_score_y_in_fp32_with_the_auto_backend() -> None:
    opts = Options(model="realesrgan-x4plus", datasets=[_ds()])
    assert opts.test_y_channel and opts.crop_border is None
    assert opts.engine == EngineOptions(precision="fp32") and opts.engine.backend == "auto"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"datasets": []}, "lists no dataset"),
        ({"datasets": [_ds("A"), _ds("A")]}, "must be unique"),
        ({"scale": 0}, r"scale must be 1\.\.16, got 0"),
        ({"model": "bicubic"}, "'scale' is required for the bicubic baseline"),
        ({"crop_border": -1}, r"crop_border must be 0\.\.1024, got -1"),
    ],
)
def test_invalid_options_are_refused(changes: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"model": "m", "datasets": [_ds()], **changes}
    with pytest.raises(ValueError, match=message):
        Options(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"tile": -1}, r"'tile' must be 0\.\.65536, got -1"), ({"tile_pad": -1}, r"'tile_pad' must be 0\.\.1024, got -1")],
)
def test_engine_keys_are_checked_by_the_engine_options(changes: dict[str, object], message: str) -> None:
    data = {"model": "m", "datasets": [{"name": "Set5", "hr": "hr"}], **changes}
    with pytest.raises(OptionsError, match=message):
        from_dict(Options, data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": Path("lr"), "degradation": "degrade_test_x4"}, "'lr' and 'degradation' exclude each other"),
        ({"seed": 3}, "'seed' applies to a 'degradation' only"),
        ({"degradation": "degrade_test_x4", "seed": -1}, r"seed must be 0\.\.4294967295, got -1"),
        ({"degradation": " "}, "'degradation' is empty"),
    ],
)
def test_invalid_degradations_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"dataset Set5: {message}"):
        DatasetOptions(name="Set5", hr=Path("hr"), **changes)  # type: ignore[arg-type]


def test_a_degradation_reads_from_yaml_with_its_seed() -> None:
    data = {"model": "m", "datasets": [{"name": "Set5", "hr": "hr", "degradation": "degrade_test_x4", "seed": 7}]}
    (ds,) = from_dict(Options, data).datasets
    assert (ds.degradation, ds.seed, ds.lr) == ("degrade_test_x4", 7, None)
    with pytest.raises(OptionsError, match="'seed' applies to a 'degradation' only"):
        from_dict(Options, {"model": "m", "datasets": [{"name": "Set5", "hr": "hr", "seed": 7}]})
