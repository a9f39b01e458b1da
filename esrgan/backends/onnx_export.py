"""Export ESRGAN-family networks (RRDBNet incl. the pixel-unshuffle x1/x2 variants, SRVGGNetCompact) to ONNX.

The graph takes ``input``: (B, C, H, W) float32 RGB in [0, 1], with H and W multiples of the network's
``size_multiple`` (1; 2 for RRDBNet x2, 4 for x1), and gives ``output``: (B, C_out, H * scale, W * scale) float32,
nominally in [0, 1] but *not* clamped (clamp after, as the engine does). By default batch, height and width are
dynamic axes (named ``batch``, ``height``, ``width`` on the input and ``batch``, ``out_height``, ``out_width`` on
the output: the output's sides are not the input's, and runtimes read equal names as equal sizes).

Precision: ``fp16=True`` stores the weights in fp16 and computes in fp16, but keeps float32 input and output
(a Cast at each end). That is what TensorRT and OpenVINO users expect: the same pre- and post-processing feeds
either file, half-size weights, fp16 kernels inside. (With fp32 files, ``trtexec --fp16`` and OpenVINO's
``INFERENCE_PRECISION_HINT`` pick lower precision themselves.)

Exporter: the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) is the default. On torch 2.13 both
exporters give correct dynamic-shape graphs for these networks (checked against eager at several sizes and
batch 2, pixel-unshuffle included), but the torch.export-based ("dynamo") one took 89 s for realesrgan-x4plus
against 4 s, and needs ``onnxscript``; the backends export in memory on every cache miss, so that matters. The
TorchScript exporter is deprecated upstream; ``exporter="dynamo"`` is the way forward once it is removed (its
graphs also carry symbolic output sizes such as ``4*height``).
"""

from __future__ import annotations

import copy
import inspect
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import nn

from esrgan import __version__
from esrgan.archs import SRNetwork, as_sr_network
from esrgan.errors import MissingPackageError, OptionsError, one_line
from esrgan.fileio import write_bytes_atomic

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "output"
# 17 is the newest opset that TensorRT 8.6, OpenVINO 2023+ and ONNX Runtime 1.14+ all read, and has every op
# these networks need (Conv, LeakyRelu/PRelu, Concat, Resize, DepthToSpace, Reshape/Transpose for unshuffle).
DEFAULT_OPSET = 17
# DepthToSpace (pixel shuffle, CRD mode) and the Resize used for nearest upsampling need opset 11.
MIN_OPSET = 11
# Newest opset of torch's TorchScript exporter (torch.onnx._constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET).
TORCHSCRIPT_MAX_OPSET = 20
# The dynamo exporter writes opset 18 natively and converts downwards, which can fail; refuse below it.
DYNAMO_MIN_OPSET = 18
ONNX_EXTRA = "pip install esrgan[onnx]"

Exporter = Literal["torchscript", "dynamo"]


def require_module(module: str, extra: str) -> None:
    """Raise :class:`MissingPackageError` naming ``module`` and ``pip install esrgan[<extra>]`` if it is absent."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingPackageError(
            f"the {module!r} package is not installed: pip install esrgan[{extra}] (or pip install {module})",
            name=module,
        )


def export_onnx_bytes(
    net: nn.Module,
    *,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    dynamic: bool = True,
    example_shape: tuple[int, int, int, int] | None = None,
    exporter: Exporter = "torchscript",
) -> bytes:
    """Export ``net`` to an ONNX model in memory.

    Args:
        net: an ESRGAN-family network with ``.scale`` (and ``.size_multiple``, ``.num_in_ch`` if it has them).
            Not modified: a CPU float32 copy in eval mode is exported.
        fp16: fp16 weights and computation, float32 input and output (see the module docstring).
        opset: ONNX opset, 11-20 (TorchScript exporter) or >= 18 (dynamo).
        dynamic: batch, height and width as dynamic axes; False fixes every axis to ``example_shape``.
        example_shape: (B, C, H, W) of the fixed input when ``dynamic`` is False; ignored otherwise.
        exporter: "torchscript" (default, fast) or "dynamo" (needs ``onnxscript``; slow).

    Returns:
        The serialised ``onnx.ModelProto``, checked by ``onnx.checker``, with metadata (``esrgan.scale``,
        ``esrgan.size_multiple``, ``esrgan.arch``, ``esrgan.precision``, ``esrgan.io``).

    Raises:
        MissingPackageError: ``onnx`` (or ``onnxscript`` for dynamo) is not installed.
        ValueError: bad opset, exporter or shape.
    """
    require_module("onnx", "onnx")
    import onnx

    _check_opset(exporter, opset)
    contract = as_sr_network(net)
    scale = int(contract.scale)
    multiple = int(contract.size_multiple)
    shape = _trace_shape(contract, dynamic, example_shape)

    module = _Exportable(net, fp16=fp16)
    generator = torch.Generator().manual_seed(0)
    # Tracing must record real autograd-free ops: leave any inference_mode the caller is in.
    with torch.inference_mode(False), torch.no_grad():
        example = torch.rand(shape, generator=generator)
        try:
            if exporter == "dynamo":
                data = _export_dynamo(module, example, opset, dynamic)
            else:
                data = _export_torchscript(module, example, opset, dynamic)
        except Exception as exc:  # some foreign networks (loaded through spandrel) do not trace: say so in a line
            why = one_line(exc, limit=160)
            raise OptionsError(
                f"{contract.arch_name} does not export to ONNX with the {exporter} exporter ({why})"
            ) from exc

    model = onnx.load_from_string(data)
    meta = {
        "esrgan.version": __version__,
        "esrgan.arch": str(contract.arch_name),
        "esrgan.scale": str(scale),
        "esrgan.size_multiple": str(multiple),
        "esrgan.precision": "fp16 weights and compute, float32 input/output" if fp16 else "fp32",
        "esrgan.io": "input (B, C, H, W) float32 RGB in [0, 1], H and W multiples of size_multiple; "
        "output (B, C, H*scale, W*scale) float32, not clamped",
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"{meta['esrgan.arch']} x{scale} exported by esrgan {__version__}"
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _check_opset(exporter: str, opset: int) -> None:
    """Raise OptionsError for an unknown exporter or an opset it cannot write."""
    if exporter not in ("torchscript", "dynamo"):
        raise OptionsError(f"unknown exporter {exporter!r}: use 'torchscript' or 'dynamo'")
    low, high = (DYNAMO_MIN_OPSET, 10**6) if exporter == "dynamo" else (MIN_OPSET, TORCHSCRIPT_MAX_OPSET)
    if not low <= opset <= high:
        top = "" if exporter == "dynamo" else f"-{high}"
        raise OptionsError(f"opset {opset} is not supported by the {exporter} exporter: use {low}{top} (default 17)")


def traced_sides(net: SRNetwork) -> tuple[int, int]:
    """(height, width) of the example a dynamic export traces ``net`` with.

    Not square, and batch 2 (:func:`_trace_shape`): the dynamo exporter would otherwise give equal sides one
    symbol (so the graph would demand H == W) and specialise the batch to 1. 16 x 24 meets every size multiple up
    to 8; larger multiples and minimum sides (networks loaded through spandrel) round it up.
    """
    multiple, minimum = int(net.size_multiple), int(net.min_size)

    def side(n: int) -> int:
        return -(-max(n, minimum) // multiple) * multiple

    height, width = side(16), side(24)
    return height, (width if width != height else side(height + 1))


def _trace_shape(
    net: SRNetwork, dynamic: bool, example_shape: tuple[int, int, int, int] | None
) -> tuple[int, int, int, int]:
    """(B, C, H, W) of the example input the export traces: a fixed shape for a dynamic export, else
    ``example_shape`` checked against the network's channels, size multiple and minimum side."""
    channels, multiple, minimum = int(net.num_in_ch), int(net.size_multiple), int(net.min_size)
    if dynamic:
        return (2, channels, *traced_sides(net))
    if example_shape is None:
        raise OptionsError("a static export needs example_shape=(B, C, H, W)")
    shape = tuple(int(s) for s in example_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise OptionsError(f"example_shape must be 4 positive sizes (B, C, H, W), got {example_shape}")
    if shape[1] != channels:
        raise OptionsError(f"the network takes {channels} channels, example_shape has {shape[1]}")
    if shape[2] % multiple or shape[3] % multiple:
        raise OptionsError(f"height and width must be multiples of {multiple} for this network, got {shape[2:]}")
    if min(shape[2:]) < minimum:
        raise OptionsError(f"height and width must be at least {minimum} for this network, got {shape[2:]}")
    return shape[0], shape[1], shape[2], shape[3]


def export_onnx(
    net: nn.Module,
    path: str | os.PathLike[str],
    *,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    dynamic: bool = True,
    example_shape: tuple[int, int, int, int] | None = None,
    exporter: Exporter = "torchscript",
) -> Path:
    """Export ``net`` to the ONNX file ``path`` (written atomically; replaced if it exists).

    Same arguments as :func:`export_onnx_bytes`. Returns ``path`` as a Path. Models above 2 GB cannot be
    written as one protobuf; ESRGAN-family networks are far below (realesrgan-x4plus: 67 MB).
    """
    data = export_onnx_bytes(
        net, fp16=fp16, opset=opset, dynamic=dynamic, example_shape=example_shape, exporter=exporter
    )
    return write_bytes_atomic(path, data)


def onnx_metadata(model: bytes | str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX model (serialised bytes or a file) as a dict."""
    require_module("onnx", "onnx")
    import onnx

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(os.fspath(model))
    return {p.key: p.value for p in proto.metadata_props}


def check_with_onnxruntime(model: bytes | str | os.PathLike[str], net: nn.Module, x: torch.Tensor) -> float:
    """Run ``model`` in ONNX Runtime (CPU) and ``net`` in eager fp32 PyTorch on ``x``; the max absolute difference.

    Args:
        model: serialised ONNX bytes or a file path.
        net: the network it was exported from (not modified; a CPU float32 copy runs).
        x: (B, C, H, W) float in [0, 1] that the model accepts (shape and multiples).

    Raises:
        MissingPackageError: ``onnxruntime`` is not installed.
    """
    require_module("onnxruntime", "onnx")
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else os.fspath(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    x = x.detach().to("cpu", torch.float32).contiguous()
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
    reference = _cpu_fp32_copy(net)
    with torch.no_grad():
        expected = reference(x)
    if tuple(got.shape) != tuple(expected.shape):
        raise RuntimeError(f"ONNX output shape {tuple(got.shape)} differs from PyTorch's {tuple(expected.shape)}")
    return float((torch.from_numpy(got) - expected).abs().max())


class _Exportable(nn.Module):
    """The network as exported: a CPU fp32 (or fp16) copy in eval mode, fixed float32 I/O, one argument ``x``."""

    def __init__(self, net: nn.Module, *, fp16: bool) -> None:
        super().__init__()
        self.net = _cpu_fp32_copy(net)
        self.fp16 = fp16
        if fp16:
            self.net.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fp16:
            return self.net(x.to(torch.float16)).to(torch.float32)
        return self.net(x)


def _cpu_fp32_copy(net: nn.Module) -> nn.Module:
    # A copy: the caller's network may live on a GPU, in channels_last or in training mode, and stays so.
    clone = copy.deepcopy(net).to("cpu", torch.float32).eval()
    return clone.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]  # missing from stubs


def _export_torchscript(module: nn.Module, example: torch.Tensor, opset: int, dynamic: bool) -> bytes:
    kwargs: dict[str, object] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:  # torch >= 2.5; dynamo is the default >= 2.9
        kwargs["dynamo"] = False
    if dynamic:
        kwargs["dynamic_axes"] = {
            INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
            OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"},
        }
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The deprecation notices are about the exporter choice, explained in the module docstring.
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message="The feature will be removed.*")
        # The only Python conditions the tracer sees are on channel counts (SRVGGNetCompact's residual), which
        # are fixed for a network; spatial sizes stay symbolic (tests run the graph at several sizes).
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (example,),
            cast(Any, buffer),  # the TorchScript exporter writes to file objects; the annotation says paths
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            do_constant_folding=True,
            **kwargs,  # type: ignore[arg-type]
        )
    return buffer.getvalue()


def _export_dynamo(module: nn.Module, example: torch.Tensor, opset: int, dynamic: bool) -> bytes:
    require_module("onnxscript", "onnx")
    dims = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch-internal pytree notices
        program = torch.onnx.export(
            module,
            (example,),
            None,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamo=True,
            dynamic_shapes={"x": dims} if dynamic else None,
            verbose=False,
        )
    if program is None:
        raise RuntimeError("the dynamo ONNX exporter returned no program")
    return bytes(program.model_proto.SerializeToString())
