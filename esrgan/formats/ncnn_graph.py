"""ncnn graphs as data: a walker that resolves blobs (for the recognisers of :mod:`esrgan.archs`) and an
interpreter of the layers used by our networks (to prove that a recognised graph computes what the mapped network
computes). No architecture names: callers say which networks they look for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from esrgan.errors import ModelFileError
from esrgan.formats.ncnn import ACT_LRELU, ACT_NONE, ACT_RELU, INTERP_MODES, Layer

# Layer types the graph walker and the interpreter understand; any other type (with or without weights) makes a
# graph unrecognised.
SUPPORTED_LAYERS = (
    "Input",
    "Split",
    "Noop",
    "Concat",
    "Convolution",
    "PReLU",
    "ReLU",
    "Eltwise",
    "BinaryOp",
    "Interp",
    "PixelShuffle",
    "Reorg",
)


class Graph:
    """Layers plus blob bookkeeping: who produces and who consumes each blob, Split/Noop aliases resolved.

    Args:
        layers: the parsed ``.param`` (weights read or not).
        where: the file, for messages.
        networks: the networks looked for, for messages ("RRDBNet or SRVGGNetCompact").

    Attributes:
        input, output: the graph's input blob and its output blob (before any trailing resize).
        trailing_resize: (mode, scale) of an ``Interp`` applied to the network's output at the very end (the
            ``REALESRGAN_ANIMAVIDEOV3_UP2X/UP3X`` graphs resize the x4 result by 0.5 / 0.75), else None: it is
            not part of the network and is left out of :attr:`layers`.
    """

    def __init__(self, layers: list[Layer], where: str, networks: str) -> None:
        self.where = where
        unknown = sorted({layer.type for layer in layers} - set(SUPPORTED_LAYERS))
        if unknown:
            raise ModelFileError(
                f"{where}: ncnn graph not recognised: layer types {', '.join(unknown)} are not part of {networks} "
                f"graphs (supported: {', '.join(SUPPORTED_LAYERS)})"
            )
        self.producer: dict[str, Layer] = {}
        consumed: set[str] = set()
        for layer in layers:
            consumed.update(layer.bottoms)
            for top in layer.tops:
                self.producer[top] = layer
        inputs = [layer for layer in layers if layer.type == "Input"]
        outputs = [top for layer in layers for top in layer.tops if top not in consumed]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFileError(
                f"{where}: ncnn graph not recognised: expected one input and one output, found {len(inputs)} "
                f"input(s) and {len(outputs)} unconsumed output blob(s)"
            )
        self.input = inputs[0].tops[0]
        self.output = outputs[0]
        self.trailing_resize: tuple[str, float] | None = None
        last = self.producer[self.output]
        if last.type == "Interp" and self.resolve(last.bottoms[0]) != self.input:
            hs, ws = last.number(1, 1.0), last.number(2, 1.0)
            mode = INTERP_MODES.get(last.integer(0, 0), f"type {last.get(0, 0)}")
            if hs != ws or last.get(3, 0) or last.get(4, 0):
                raise ModelFileError(
                    f"{where}: the graph ends with a resize to a fixed or anisotropic size: not supported"
                )
            self.trailing_resize = (mode, hs)
            self.output = last.bottoms[0]
            layers = [layer for layer in layers if layer is not last]
        self.layers = layers

    def resolve(self, blob: str) -> str:
        """The blob a Split/Noop output is a copy of (followed to the first real producer)."""
        layer = self.producer.get(blob)
        while layer is not None and layer.type in ("Split", "Noop"):
            blob = layer.bottoms[0]
            layer = self.producer.get(blob)
        return blob

    def of_type(self, *types: str) -> list[Layer]:
        """The layers of these types, in graph order."""
        return [layer for layer in self.layers if layer.type in types]

    def fail(self, arch: str, why: str) -> ModelFileError:
        """The one-line error for a graph that looked like ``arch`` but is wired otherwise (raise it)."""
        return ModelFileError(f"{self.where}: ncnn graph not recognised as {arch}: {why}")

    def conv_shape(self, conv: Layer) -> tuple[int, int]:
        """(out, in) channels of a Convolution layer; ModelFileError unless it is a 3x3, stride 1, pad 1 conv with
        bias."""
        out = conv.integer(0, 0)
        kw = conv.integer(1, 0)
        kh = conv.integer(11, kw)
        geometry_ok = (
            kw == kh == 3
            and conv.get(3, 1) == conv.get(13, conv.get(3, 1)) == 1
            and conv.get(2, 1) == conv.get(12, conv.get(2, 1)) == 1
            and conv_pads(conv) == (1, 1, 1, 1)
        )
        size = conv.integer(6, 0)
        if not geometry_ok or out <= 0 or size % (out * 9) or not conv.get(5, 0):
            raise ModelFileError(
                f"{self.where}: layer {conv.name} is not a 3x3/stride-1/pad-1 convolution with bias, as the "
                f"supported networks use"
            )
        return out, size // (out * 9)

    def act_of(self, conv: Layer) -> tuple[str, float]:
        """Activation applied to a conv's output: fused in the conv or a following PReLU/ReLU layer."""
        kind = conv.integer(9, ACT_NONE)
        if kind == ACT_RELU:
            return "relu", 0.0
        if kind == ACT_LRELU:
            params = conv.numbers(10, [0.0])
            return "lrelu", params[0] if params else 0.0
        if kind != ACT_NONE:
            raise ModelFileError(
                f"{self.where}: layer {conv.name} fuses activation type {kind}: not used by the supported networks"
            )
        users = [layer for layer in self.layers if layer.bottoms and self.resolve(layer.bottoms[0]) == conv.tops[0]]
        if len(users) == 1 and users[0].type == "PReLU":
            return "prelu", users[0].number(0, 0)
        if len(users) == 1 and users[0].type == "ReLU":
            slope = users[0].number(0, 0.0)
            return ("lrelu", slope) if slope else ("relu", 0.0)
        return "none", 0.0


def conv_pads(conv: Layer) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding of a Convolution layer."""
    left = conv.integer(4, 0)
    top = conv.integer(14, left)
    return left, conv.integer(15, left), top, conv.integer(16, top)


def run_graph(layers: Sequence[Layer], input_blob: str, output_blob: str, x: torch.Tensor) -> torch.Tensor:
    """Evaluate ncnn layers (with weights read) on x of shape (1, C, H, W); returns the output blob.

    Covers the layer types of SUPPORTED_LAYERS with the semantics of ncnn's reference CPU layers; used to check
    that a mapping onto a network computes what the graph computes.
    """
    blobs: dict[str, torch.Tensor] = {input_blob: x}
    for layer in layers:
        if layer.type == "Input":
            continue
        ins = [blobs[b] for b in layer.bottoms]
        outs = _LAYER_FNS[layer.type](layer, ins)
        blobs.update(zip(layer.tops, outs, strict=True))
    return blobs[output_blob]


def _conv(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    out = layer.integer(0, 0)
    kw = layer.integer(1, 0)
    kh = layer.integer(11, kw)
    w = torch.from_numpy(layer.weights[0]).view(out, -1, kh, kw)
    b = torch.from_numpy(layer.weights[1]) if len(layer.weights) > 1 else None
    x = F.pad(ins[0], conv_pads(layer), value=layer.number(18, 0.0))
    stride = (layer.integer(13, layer.integer(3, 1)), layer.integer(3, 1))
    dilation = (layer.integer(12, layer.integer(2, 1)), layer.integer(2, 1))
    y = F.conv2d(x, w, b, stride, 0, dilation)
    act = layer.integer(9, ACT_NONE)
    if act == ACT_RELU:
        y = F.relu(y)
    elif act == ACT_LRELU:
        y = F.leaky_relu(y, (layer.numbers(10, [0.0]) or [0.0])[0])
    elif act != ACT_NONE:
        raise ModelFileError(f"{layer.where}: layer {layer.name}: fused activation type {act} not supported")
    return [y]


def _eltwise(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    op = layer.integer(0, 0)
    coeffs = layer.get(1, []) or [1.0] * len(ins)
    if op == 0:
        y = ins[0]
        for t in ins[1:]:
            y = y * t
    elif op == 1:
        y = sum((float(c) * t for c, t in zip(coeffs, ins, strict=True)), torch.zeros_like(ins[0]))
    elif op == 2:
        y = torch.stack(ins).amax(0)
    else:
        raise ModelFileError(f"{layer.where}: layer {layer.name}: Eltwise op {op} not supported")
    return [y]


def _binary(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    ops: dict[int, Callable[[torch.Tensor, Any], torch.Tensor]] = {
        0: torch.add,
        1: torch.sub,
        2: torch.mul,
        3: torch.div,
    }
    op = layer.integer(0, 0)
    if op not in ops:
        raise ModelFileError(f"{layer.where}: layer {layer.name}: BinaryOp {op} not supported")
    b = layer.number(2, 0.0) if layer.get(1, 0) else ins[1]
    return [ops[op](ins[0], b)]


def _interp(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    mode = INTERP_MODES.get(layer.integer(0, 0))
    if mode is None:
        raise ModelFileError(f"{layer.where}: layer {layer.name}: Interp resize type {layer.get(0, 0)} not supported")
    kwargs: dict[str, Any] = {} if mode == "nearest" else {"align_corners": bool(layer.get(6, 0))}
    oh, ow = layer.integer(3, 0), layer.integer(4, 0)
    if oh and ow:
        return [F.interpolate(ins[0], size=(oh, ow), mode=mode, **kwargs)]
    scale = (layer.number(1, 1.0), layer.number(2, 1.0))
    return [F.interpolate(ins[0], scale_factor=scale, mode=mode, **kwargs)]


def _relu(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    slope = layer.number(0, 0.0)
    return [F.leaky_relu(ins[0], slope) if slope else F.relu(ins[0])]


def _prelu(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    return [F.prelu(ins[0], torch.from_numpy(layer.weights[0]))]


def _shuffle(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    if layer.get(1, 0) != 0:
        raise ModelFileError(f"{layer.where}: layer {layer.name}: PixelShuffle mode {layer.get(1, 0)} not supported")
    return [F.pixel_shuffle(ins[0], layer.integer(0, 1))]


def _reorg(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    if layer.get(1, 0) != 0:
        raise ModelFileError(f"{layer.where}: layer {layer.name}: Reorg mode {layer.get(1, 0)} not supported")
    # Reorg (mode 0) puts pixel (i*s + sh, j*s + sw) of channel q into channel q*s*s + sh*s + sw: pixel_unshuffle.
    return [F.pixel_unshuffle(ins[0], layer.integer(0, 1))]


def _concat(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    if layer.get(0, 0) != 0:
        raise ModelFileError(f"{layer.where}: layer {layer.name}: Concat along axis {layer.get(0, 0)} not supported")
    return [torch.cat(ins, dim=1)]  # ncnn axis 0 of a (C, H, W) blob is the channel axis


_LAYER_FNS: dict[str, Callable[[Layer, list[torch.Tensor]], list[torch.Tensor]]] = {
    "Split": lambda layer, ins: [ins[0]] * len(layer.tops),
    "Noop": lambda layer, ins: ins,
    "Concat": _concat,
    "Convolution": _conv,
    "PReLU": _prelu,
    "ReLU": _relu,
    "Eltwise": _eltwise,
    "BinaryOp": _binary,
    "Interp": _interp,
    "PixelShuffle": _shuffle,
    "Reorg": _reorg,
}
