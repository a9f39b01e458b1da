"""RRDBNet, the ESRGAN generator: the network (:mod:`.net`), its checkpoint layouts (:mod:`.layout`), its ncnn
graphs (:mod:`.ncnn`) and :data:`SPEC`, what the rest of the package asks of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from esrgan.archs.rrdbnet import int8, layout, ncnn
from esrgan.archs.rrdbnet.net import RRDBNet
from esrgan.archs.spec import ArchSpec, NcnnSupport


def describe(hparams: Mapping[str, Any], *, short: bool = False) -> str:
    """ "23 blocks, 64 features, growth 32" ("64 feat" when ``short``)."""
    features = "feat" if short else "features"
    return f"{hparams['num_block']} blocks, {hparams['num_feat']} {features}, growth {hparams['num_grow_ch']}"


def feature_layer(net: nn.Module) -> str:
    """``conv_body``: the trunk's last convolution, ``num_feat`` channels at the input size (after any unshuffle)."""
    return "conv_body"


SPEC = ArchSpec(
    name=RRDBNet.arch_name,
    net=RRDBNet,
    scale_arg="scale",
    supported_text="ESRGAN/RRDBNet (original ESRGAN, later ESRGAN and BasicSR/Real-ESRGAN layouts)",
    detect=layout.detect,
    to_canonical=layout.to_canonical,
    hparams_from=layout.hparams_from,
    validate_hparams=layout.validate_hparams,
    tiny_hparams={"num_in_ch": 3, "num_out_ch": 3, "scale": 2, "num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    describe=describe,
    feature_layer=feature_layer,
    cpu_backend=None,  # measured: OpenVINO's lead over torch on the CPU changed between sessions
    ncnn=NcnnSupport(ncnn.SIGNATURE, ncnn.matches, ncnn.recognise, ncnn.write),
    int8=int8.RECIPE,
)

__all__ = ["SPEC", "RRDBNet"]
