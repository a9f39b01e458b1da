"""SRVGGNetCompact, Real-ESRGAN's compact network: the network (:mod:`.net`), its checkpoint layout
(:mod:`.layout`), its ncnn graphs (:mod:`.ncnn`) and :data:`SPEC`, what the rest of the package asks of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from esrgan.archs.spec import ArchSpec, Int8Recipe, NcnnSupport
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


def int8_conv(hparams: Mapping[str, Any], index: int, count: int, in_channels: int) -> bool:
    """int8 for every convolution but the first (it reads the image) and the last (it writes the output)."""
    return 0 < index < count - 1


# Measured on realesr-animevideov3 (2-core AMD Zen 5 with AVX-512 VNNI, OpenVINO 2026.4, NNCF 3.4; PSNR against the
# fp32 output on a 128x128 crop of skimage's astronaut / mean and worst of Set14's x4 LR inputs; speed over
# OpenVINO fp32, the fastest fp32 backend there, at 320x180): NNCF's defaults 40.0 / 35.2 / 22.1 dB (ranges that
# clip outliers ruin flat, saturated pictures: ppt3); whole-range activation statistics, NNCF's SmoothQuant
# (alpha 0.5) and asymmetric activations 42.8 / 41.3 / 39.2 dB, 3.1x (40.7-41.3 dB on Set14 over seven draws of
# calibration crops); with the first and the last convolution in fp32 (this recipe) 43.1 / 41.5 / 39.5 dB, 3.2x.
INT8 = Int8Recipe(quantize_conv=int8_conv, smooth_quant=0.5, crop=128, version=1)

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
    int8=INT8,
)

__all__ = ["SPEC", "SRVGGNetCompact"]
