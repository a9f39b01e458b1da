from __future__ import annotations

import pytest
import torch
from spandrel.architectures.SPAN import SPAN as SpandrelSPAN  # noqa: N811
from spandrel.util import get_scale_and_output_channels

from esrgan.archs.rrdbnet import RRDBNet
from esrgan.archs.span import SPAN, layout


def keys_of(net: torch.nn.Module) -> frozenset[str]:
    return frozenset(net.state_dict())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_in_ch": 3, "num_out_ch": 3},
        {"num_in_ch": 3, "num_out_ch": 3, "norm": False, "feature_channels": 52, "upscale": 2},
        {"num_in_ch": 1, "num_out_ch": 1, "norm": False, "feature_channels": 8, "upscale": 8},
        {"num_in_ch": 4, "num_out_ch": 4, "norm": False, "feature_channels": 8, "upscale": 1},
    ],
)
def test_hparams_from_files_built_by_spandrel(kwargs: dict[str, object]) -> None:
    state = SpandrelSPAN(**kwargs).state_dict()  # type: ignore[arg-type]
    assert layout.detect(frozenset(state)) == "basicsr"
    canonical = layout.to_canonical(state, "basicsr", "f.pth")
    hparams = layout.hparams_from(canonical, "f.pth")
    expected = {"feature_channels": 48, "upscale": 4, "norm": True, **kwargs}
    assert hparams == expected
    layout.validate_hparams(hparams, "f.pth")
    with torch.device("meta"):
        ours = SPAN(**hparams).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in canonical.items()}


def test_other_architectures_are_not_span() -> None:
    assert layout.detect(keys_of(RRDBNet(num_block=1, num_feat=8, num_grow_ch=4))) is None
    partial = set(keys_of(SPAN(feature_channels=8))) - {"conv_2.eval_conv.weight"}
    assert layout.detect(frozenset(partial)) is None


@pytest.mark.parametrize("rows,num_in", [(16, 3), (12, 3), (48, 3), (4, 1), (9, 1), (64, 4), (27, 3), (3, 3)])
def test_scale_split_agrees_with_spandrel(rows: int, num_in: int) -> None:
    assert layout.split_pixelshuffle(rows, num_in, "f") == get_scale_and_output_channels(rows, num_in)[::-1]


def test_unsplittable_upsampler_is_refused() -> None:
    with pytest.raises(ValueError, match="upsampler has 7 outputs"):
        layout.split_pixelshuffle(7, 3, "f.pth")


def test_missing_block_is_refused() -> None:
    state = {k: v for k, v in SPAN(feature_channels=4).state_dict().items() if not k.startswith("block_6.")}
    with pytest.raises(ValueError, match=r"f.pth: SPAN has blocks 1..6, this file block\(s\) \[1, 2, 3, 4, 5\]"):
        layout.hparams_from(state, "f.pth")


@pytest.mark.parametrize(
    "change,message",
    [
        ({"feature_channels": 4096}, "feature_channels must be an integer from 1 to 512, got 4096"),
        ({"upscale": 0}, "upscale must be an integer from 1 to 16, got 0"),
        ({"num_in_ch": True}, "num_in_ch must be an integer from 1 to 4, got True"),
        ({"norm": 1}, "norm must be one of True, False, got 1"),
        ({"num_in_ch": 1, "num_out_ch": 1}, "needs 3 input channels"),
    ],
)
def test_validate_hparams_bounds(change: dict[str, object], message: str) -> None:
    hparams = {"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 48, "upscale": 4, "norm": True, **change}
    with pytest.raises(ValueError, match=message):
        layout.validate_hparams(hparams, "f.pth")


def test_describe() -> None:
    assert layout.describe({"feature_channels": 48, "norm": True}) == "48 features, 6 blocks"
    assert layout.describe({"feature_channels": 32, "norm": False}).endswith("no input normalisation")
    assert layout.describe({"feature_channels": 32, "norm": False}, short=True) == "32 feat"
