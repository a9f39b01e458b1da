"""SRVGGNetCompact as an ncnn graph, laid out like the realesr-animevideov3 ncnn release: a stack of 3x3
convolutions each followed by a PReLU (or ReLU) layer, a PixelShuffle, and the nearest-upsampled input added
by a BinaryOp.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from torch import nn

from esrgan.archs.srvgg.net import SRVGGNetCompact
from esrgan.errors import OptionsError
from esrgan.formats.ncnn import GraphWriter, Layer
from esrgan.formats.ncnn_graph import Graph

SIGNATURE = "conv stack + PixelShuffle"


def matches(types: Counter[str]) -> bool:
    """The only upsampler is a PixelShuffle: a graph with one is SRVGGNetCompact's to recognise."""
    return bool(types["PixelShuffle"])


def recognise(g: Graph) -> tuple[dict[str, Any], list[tuple[Layer, str]]]:
    """Hyper-parameters and (convolution or PReLU layer, our parameter name) pairs of an SRVGGNetCompact graph."""
    arch = "SRVGGNetCompact"
    convs = g.of_type("Convolution")
    shapes = [g.conv_shape(c) for c in convs]
    shuffles = g.of_type("PixelShuffle")
    if len(shuffles) != 1 or shuffles[0].get(1, 0) != 0:
        raise g.fail(arch, "expected exactly one PixelShuffle layer (mode 0, PyTorch channel order)")
    upscale = shuffles[0].integer(0, 1)
    if upscale < 1:  # ncnn's PixelShuffle 0=0 divided by zero below
        raise g.fail(arch, f"PixelShuffle by {upscale}")
    if len(convs) < 2:
        raise g.fail(arch, f"only {len(convs)} convolution(s)")
    num_feat, num_in = shapes[0]
    last_out, last_in = shapes[-1]
    if any(s != (num_feat, num_feat) for s in shapes[1:-1]) or last_in != num_feat or last_out % upscale**2:
        raise g.fail(arch, f"convolution shapes {shapes} are not a plain {num_feat}-feature stack")
    num_out = last_out // upscale**2
    if num_out != num_in:
        raise g.fail(arch, f"{num_in} input but {num_out} output channels (the graph adds the upsampled input)")
    acts = {g.act_of(c) for c in convs[:-1]}
    if len(acts) != 1:
        raise g.fail(arch, f"mixed activations {sorted(acts)}")
    ((kind, value),) = acts
    if kind == "prelu" and value == num_feat:
        act_type = "prelu"
    elif kind == "relu":
        act_type = "relu"
    elif kind == "lrelu" and abs(value - 0.1) < 1e-6:
        act_type = "lrelu"
    else:
        raise g.fail(arch, f"activation {kind} ({value}) is not PReLU({num_feat}), ReLU or LeakyReLU(0.1)")
    hparams = {
        "num_in_ch": num_in,
        "num_out_ch": num_out,
        "num_feat": num_feat,
        "num_conv": len(convs) - 2,
        "upscale": upscale,
        "act_type": act_type,
    }
    params = [(conv, f"body.{2 * k}") for k, conv in enumerate(convs)]
    params += [(prelu, f"body.{2 * k + 1}") for k, prelu in enumerate(g.of_type("PReLU"))]
    return hparams, params


def write(w: GraphWriter, net: nn.Module, x: str) -> str:
    """Add the layers of ``net`` (an SRVGGNetCompact) after blob ``x``; returns the output blob."""
    assert isinstance(net, SRVGGNetCompact)
    if net.num_in_ch != net.num_out_ch:
        raise OptionsError("ncnn SRVGGNetCompact graphs add the upsampled input: num_in_ch must equal num_out_ch")
    cur = x
    for layer in net.body:
        if isinstance(layer, nn.Conv2d):
            cur = w.conv(layer, cur)
        elif isinstance(layer, nn.PReLU):
            slopes = layer.weight.detach().float().cpu().numpy()
            cur = w.add("PReLU", [cur], {0: int(slopes.size)}, slopes)
        elif isinstance(layer, nn.LeakyReLU):
            cur = w.add("ReLU", [cur], {0: float(layer.negative_slope)})
        else:
            cur = w.add("ReLU", [cur], {})
    cur = w.add("PixelShuffle", [cur], {0: int(net.upscale)})
    base = w.add("Interp", [x], {0: 1, 1: float(net.upscale), 2: float(net.upscale)})
    return w.add("BinaryOp", [cur, base], {})
