"""SRVGGNetCompact, Real-ESRGAN's compact network: the network (:mod:`.net`), its checkpoint layout
(:mod:`.layout`), its ncnn graphs (:mod:`.ncnn`) and :data:`SPEC`, what the rest of the package asks of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from esrgan.archs.spec import ArchSpec, NcnnSupport
from esrgan.archs.srvgg import layout, ncnn
from esrgan.archs.srvgg.net import SRVGGNetCompact


def describe(hparams: Mapping[str, Any], *, short: bool = False) -> str:
    """ "16 convs, 64 features, prelu" ("64 feat" when ``short``)."""
    features = "feat" if short else "features"
    return f"{hparams['num_conv']} convs, {hparams['num_feat']} {features}, {hparams['act_type']}"


def feature_layer(net: nn.Module) -> str:
    """The activation after the last hidden convolution (``body.<len - 2>``), ``num_feat`` channels."""
    assert isinstance(net, SRVGGNetCompact)
    return f"body.{len(net.body) - 2}"


SPEC = ArchSpec(
    name=SRVGGNetCompact.arch_name,
    net=SRVGGNetCompact,
    scale_arg="upscale",
    supported_text="SRVGGNetCompact",
    detect=layout.detect,
    to_canonical=layout.to_canonical,
    hparams_from=layout.hparams_from,
    validate_hparams=layout.validate_hparams,
    tiny_hparams={"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2, "upscale": 2, "act_type": "prelu"},
    shape_notes=layout.shape_notes,
    describe=describe,
    feature_layer=feature_layer,
    # esrgan bench, 2-core AVX-512 Xeon, fp32, a 320x180 frame of realesr-animevideov3: OpenVINO 0.39 / 0.47-0.60 s
    # against torch 0.55 / 0.54-0.60 s in two sessions (ONNX Runtime 0.61 / 0.86 s).
    cpu_backend="openvino",
    ncnn=NcnnSupport(ncnn.SIGNATURE, ncnn.matches, ncnn.recognise, ncnn.write),
)

__all__ = ["SPEC", "SRVGGNetCompact"]
