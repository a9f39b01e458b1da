"""SPAN, the Swift Parameter-free Attention Network (NTIRE 2024 efficient-SR winner): the network (:mod:`.net`),
its checkpoint layout (:mod:`.layout`) and :data:`SPEC`, what the rest of the package asks of it.

No ncnn form: SPAN's graph needs layers the ncnn reader, interpreter and writer here do not have (Swish, Sigmoid,
BinaryOp products and a scalar subtraction, a per-channel affine for the input normalisation, which cannot be
folded into the first convolution without changing its zero padding at the border), so mapping it is more than
a recogniser and a writer; ONNX export (and OpenVINO, ONNX Runtime) covers its deployment instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from esrgan.archs.span import layout
from esrgan.archs.span.net import SPAN
from esrgan.archs.spec import ArchSpec


def describe(hparams: Mapping[str, Any], *, short: bool = False) -> str:
    """ "48 features, 6 blocks" ("48 feat" when ``short``)."""
    return layout.describe(hparams, short=short)


def feature_layer(net: nn.Module) -> str:
    """``conv_cat``: the 1x1 merge of the block outputs before the upsampler, ``feature_channels`` at the input
    size."""
    return layout.FEATURE_LAYER


SPEC = ArchSpec(
    name=SPAN.arch_name,
    net=SPAN,
    scale_arg="upscale",
    supported_text="SPAN",
    detect=layout.detect,
    to_canonical=layout.to_canonical,
    hparams_from=layout.hparams_from,
    validate_hparams=layout.validate_hparams,
    tiny_hparams={"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 8, "upscale": 2, "norm": True},
    describe=describe,
    feature_layer=feature_layer,
    cpu_backend=None,  # not measured yet against OpenVINO / ONNX Runtime: torch until esrgan bench says otherwise
)

__all__ = ["SPAN", "SPEC"]
