"""TestOptions: the checks made once when the options are built."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not "Test*": pytest would collect them
from esrgan.evaluation import TestOptions as Options


def _ds(name: str = "Set5") -> DatasetOptions:
    return DatasetOptions(name=name, hr=Path("hr"))


def test_defaults_score_y_in_fp32_with_the_auto_backend() -> None:
    opts = Options(model="realesrgan-x4plus", datasets=[_ds()])
    assert opts.test_y_channel and opts.precision == "fp32" and opts.backend == "auto" and opts.crop_border is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"datasets": []}, "lists no dataset"),
        ({"datasets": [_ds("A"), _ds("A")]}, "must be unique"),
        ({"scale": 0}, "'scale' must be a positive integer"),
        ({"model": "bicubic"}, "'scale' is required for the bicubic baseline"),
        ({"crop_border": -1}, "'crop_border' must be >= 0"),
        ({"tile": -1}, "'tile' and 'tile_pad' must be >= 0"),
        ({"tile_pad": -1}, "'tile' and 'tile_pad' must be >= 0"),
    ],
)
def test_invalid_options_are_refused(changes: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"model": "m", "datasets": [_ds()], **changes}
    with pytest.raises(ValueError, match=message):
        Options(**args)  # type: ignore[arg-type]
