"""ncnn models (``.param`` graph + ``.bin`` weights) read into the networks of :mod:`esrgan.archs`, and written
from them.

The container (parsing, weight blobs, the graph walker and interpreter, the writer) is :mod:`esrgan.formats.ncnn`
and :mod:`esrgan.formats.ncnn_graph`; each architecture room recognises and writes its own graphs
(``esrgan/archs/<name>/ncnn.py``). The reader hands the graph to the first spec of :data:`esrgan.archs.REGISTRY`
whose ``ncnn.matches`` claims it; its recogniser walks the graph (block, feature and growth counts come from the
layers, never from fixed sizes) and names the weighted layers after our parameters. The graph itself is then run
(a small interpreter of the layers used here) next to the mapped network on a random input: a graph wired
differently from our networks fails that check and is refused. A trailing ``Interp`` resize on the output (the
``REALESRGAN_ANIMAVIDEOV3_UP2X/UP3X`` graphs resize the x4 result by 0.5 / 0.75) is not part of the network: it is
stripped and reported in :attr:`NcnnModel.trailing_resize`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from esrgan.archs import REGISTRY, ArchSpec, as_sr_network, get
from esrgan.errors import ModelFileError, OptionsError
from esrgan.fileio import write_bytes_atomic
from esrgan.formats import first_line
from esrgan.formats.ncnn import INTERP_MODES, GraphWriter, Layer, ncnn_pair, parse_param, read_weights
from esrgan.formats.ncnn_graph import Graph, run_graph

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NcnnModel:
    """An ncnn graph recognised as one of our networks.

    Attributes:
        arch: the architecture's name (a spec of ``esrgan.archs.REGISTRY``).
        hparams: constructor arguments of the network.
        state_dict: float32 tensors under the network's parameter names.
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
    graph: Graph = field(repr=False, compare=False)

    def check(self, net: nn.Module) -> None:
        """Run the ncnn graph and ``net`` (holding these weights) on a random 4x4 input; ValueError if they differ.

        This is what proves the mapping: a graph wired differently from our network (other residual scaling,
        another conv order, a missing skip) passes the shape checks but fails here.
        """
        g = self.graph
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(1, as_sr_network(net).num_in_ch, 4, 4, generator=gen)
        param = next(net.parameters())
        # ~1400 ops on 4x4 tensors: extra threads only add synchronisation, which on a busy 2-core machine made
        # this check take 4-12 s instead of 0.2-0.4 s with one thread.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                expected = net(x.to(param.device, param.dtype)).float().cpu()
                got = run_graph(g.layers, g.input, g.output, x)
        except (RuntimeError, ValueError, IndexError, KeyError, TypeError) as exc:
            # The graph's own parameters (paddings, strides, scales the network does not have) make torch refuse
            # to run it: the file is not the network it was recognised as.
            raise g.fail(self.arch, f"running the graph failed ({first_line(exc)})") from None
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


def _ncnn_specs() -> list[ArchSpec]:
    return [spec for spec in REGISTRY if spec.ncnn is not None]


def _graph(layers: list[Layer], where: str) -> Graph:
    return Graph(layers, where, " or ".join(spec.name for spec in _ncnn_specs()))


def _recognise(g: Graph) -> tuple[ArchSpec, dict[str, Any], list[tuple[Layer, str]]]:
    """(architecture, checked hyper-parameters, (weighted layer, parameter prefix) pairs) of a graph."""
    types = Counter(layer.type for layer in g.layers)
    for spec in _ncnn_specs():
        assert spec.ncnn is not None
        if spec.ncnn.matches(types):
            hparams, params = spec.ncnn.recognise(g)
            try:
                spec.validate_hparams(hparams, g.where)
            except OptionsError as exc:
                raise ModelFileError(f"{exc} (the ncnn graph declares it)") from None
            return spec, hparams, params
    summary = ", ".join(f"{n} {t}" for t, n in types.most_common())
    wanted = " or ".join(f"{spec.name} ({spec.ncnn.signature})" for spec in _ncnn_specs() if spec.ncnn)
    raise ModelFileError(f"{g.where}: ncnn graph not recognised as {wanted}; it has {summary}")


def _state_dict(params: list[tuple[Layer, str]]) -> dict[str, torch.Tensor]:
    """Tensors named after our parameters from the weights of recognised layers."""
    sd: dict[str, torch.Tensor] = {}
    for layer, name in params:
        if layer.type == "Convolution":
            out, kw = layer.integer(0, 0), layer.integer(1, 0)
            sd[f"{name}.weight"] = torch.from_numpy(layer.weights[0]).view(out, -1, layer.integer(11, kw), kw)
            if len(layer.weights) > 1:
                sd[f"{name}.bias"] = torch.from_numpy(layer.weights[1])
        elif layer.type == "PReLU":
            sd[f"{name}.weight"] = torch.from_numpy(layer.weights[0])
        else:
            raise TypeError(f"recognisers name Convolution and PReLU layers only, not {layer.type} ({layer.name})")
    return sd


def describe_param(param_path: str | os.PathLike[str]) -> GraphSummary:
    """Recognise a ``.param`` graph without reading its weights (cheap: used to list built-in models)."""
    path = Path(param_path)
    g = _graph(parse_param(path.read_text(encoding="utf-8", errors="replace"), str(path)), str(path))
    spec, hparams, _ = _recognise(g)
    num_params = 0
    for layer in g.layers:
        if layer.type == "Convolution":
            num_params += layer.integer(6, 0) + (layer.integer(0, 0) if layer.get(5, 0) else 0)
        elif layer.type == "PReLU":
            num_params += layer.integer(0, 0)
    return GraphSummary(spec.name, hparams, num_params, g.trailing_resize)


def read_ncnn(path: str | os.PathLike[str], *, verify: bool = True) -> NcnnModel:
    """Read an ncnn model (either file of the pair) and map it onto the network of a registered architecture.

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
    g = _graph(layers, where)
    spec, hparams, params = _recognise(g)
    weight_format = read_weights(layers, bin_path.read_bytes(), str(bin_path))
    model = NcnnModel(
        spec.name, hparams, _state_dict(params), weight_format, g.trailing_resize, param_path, bin_path, g
    )
    if verify:
        with torch.device("meta"):
            net = spec.build(hparams, where)
        net.load_state_dict(model.state_dict, strict=True, assign=True)
        model.check(net)
    if g.trailing_resize:
        scale = spec.scale_of(hparams)
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


def write_ncnn(
    net: nn.Module,
    param_path: str | os.PathLike[str],
    *,
    fp16: bool = True,
    trailing_resize: tuple[str, float] | None = None,
) -> tuple[Path, Path]:
    """Write a network as an ncnn ``.param`` + ``.bin`` pair laid out like the Real-ESRGAN ncnn releases (fused
    leaky-ReLU convolutions, Eltwise residuals, nearest Interp upsampling, PixelShuffle).

    Args:
        net: the network (its ``arch_name`` selects the architecture's graph writer).
        param_path: where the ``.param`` goes; the ``.bin`` gets the same stem.
        fp16: store kernels as float16 (tag 0x01306B47) instead of float32 (tag 0); biases/slopes stay fp32.
        trailing_resize: (mode, scale) of an Interp appended to the output, as in the animevideov3 x2/x3 graphs.

    Returns:
        (param path, bin path); both written atomically.
    """
    arch = as_sr_network(net).arch_name
    spec = get(arch)
    if spec is None or spec.ncnn is None:
        raise OptionsError(f"cannot write {arch} as ncnn: only {' and '.join(s.name for s in _ncnn_specs())}")
    w = GraphWriter(fp16)
    out = spec.ncnn.write(w, net, w.add("Input", [], {}))
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
