"""``esrgan export -m MODEL -o model.onnx``: export a model to ONNX, checked with ONNX Runtime before it is written.

The file takes ``input`` (B, 3, H, W) float32 RGB in [0, 1] and gives ``output`` (B, 3, H*s, W*s) float32, not
clamped; batch, height and width are dynamic unless ``--static H W``. See :mod:`esrgan.backends.onnx_export`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from esrgan.defaults import DEFAULT_MODEL
from esrgan.errors import NotFoundError, OutputError
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

# Largest accepted difference to PyTorch fp32 in the check (random input in [0, 1]). fp32: float rounding of a
# different kernel order; fp16: the weights and activations rounded to 11 significant bits.
TOLERANCE = {False: 1e-3, True: 5e-2}
# Check input of a dynamic export: (batch, height, width) unlike the traced example's (2, 16, 24) on every
# dynamic axis, so the check runs the graph at a shape it was not traced at; multiples of 8 suit every network.
CHECK_SHAPE = (1, 24, 40)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX (for ONNX Runtime, TensorRT, OpenVINO)",
        description="Export a model to ONNX: input 'input' (B, 3, H, W) float32 RGB in [0, 1], output 'output' "
        "(B, 3, H*scale, W*scale) float32, not clamped; dynamic batch, height and width unless --static. The "
        "export is checked with ONNX Runtime against PyTorch (if installed) before the file is written.",
    )
    p.add_argument("-m", "--model", default=DEFAULT_MODEL, help="built-in name (see `esrgan models`) or a path")
    p.add_argument("-o", "--output", required=True, type=Path, help="ONNX file to write (e.g. model.onnx)")
    p.add_argument("--fp16", action="store_true", help="fp16 weights and compute; input and output stay float32")
    p.add_argument("--opset", type=arg_type(int, Range(1, 99)), default=None, help="ONNX opset (default 17; 11-20)")
    p.add_argument(
        "--static",
        type=arg_type(int, Range(1, 65536)),
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="fix the input to 1x3xHxW instead of dynamic batch/height/width",
    )
    p.add_argument(
        "--exporter",
        choices=("torchscript", "dynamo"),
        default="torchscript",
        help="torch's ONNX exporter: torchscript (default, seconds) or dynamo (needs onnxscript; minutes)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime check")
    p.set_defaults(func=run)


def _input_files(spec: str) -> set[Path]:
    """The files a model spec reads (both halves of an ncnn pair), resolved; empty for built-in names."""
    path = Path(spec)
    if not path.exists():
        return set()
    files = {path.resolve()}
    if path.suffix.lower() in (".param", ".bin"):
        files |= {path.with_suffix(".param").resolve(), path.with_suffix(".bin").resolve()}
    return files


def run(args: argparse.Namespace) -> int:
    import torch

    from esrgan.backends.onnx_export import (
        DEFAULT_OPSET,
        check_with_onnxruntime,
        export_onnx_bytes,
        require_module,
        traced_sides,
    )
    from esrgan.errors import one_line
    from esrgan.fileio import write_bytes_atomic
    from esrgan.models import load_model

    output: Path = args.output
    if output.resolve() in _input_files(args.model):
        raise OutputError(f"{output}: output would overwrite the input model; choose another -o")
    if output.is_dir():
        raise OutputError(f"{output} is a folder; -o takes the ONNX file to write, e.g. {output / 'model.onnx'}")
    if not output.parent.is_dir():
        raise NotFoundError(f"{output.parent}: output folder does not exist")
    require_module("onnx", "onnx")  # before loading: say what is missing at once

    net, info = load_model(args.model, device="cpu")
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    static = None if args.static is None else (1, info.in_channels, *args.static)
    data = export_onnx_bytes(
        net, fp16=args.fp16, opset=opset, dynamic=static is None, example_shape=static, exporter=args.exporter
    )
    precision = "fp16 (float32 I/O)" if args.fp16 else "fp32"
    axes = "static " + "x".join(map(str, static)) if static else "dynamic batch, height, width"
    print(f"exported {info.name or info.path}: {info.arch} x{info.scale}, {precision}, opset {opset}, {axes}")

    if args.no_check:
        print("check skipped (--no-check)")
    else:
        try:
            require_module("onnxruntime", "onnx")
        except ImportError as exc:
            print(f"check skipped: {exc}")
        else:
            from esrgan.archs import as_sr_network
            from esrgan.inference.sizing import SizeRule

            batch, height, width = CHECK_SHAPE
            contract = as_sr_network(net)
            rule = SizeRule.of(contract)
            height, width = rule.target(height, width)  # a network's minimum side
            if (height, width) == traced_sides(contract):  # never check at the traced shape
                height, width = rule.target(height + 1, width + 1)
            shapes = [static] if static else [(batch, info.in_channels, height, width)]
            generator = torch.Generator().manual_seed(0)
            tolerance = TOLERANCE[bool(args.fp16)]
            for shape in shapes:
                x = torch.rand(shape, generator=generator)
                try:
                    diff = check_with_onnxruntime(data, net, x)
                except Exception as exc:  # an exported graph ONNX Runtime cannot run (a foreign network's)
                    reason = one_line(exc, limit=200)
                    log.error("the export does not run in ONNX Runtime (%s); %s not written", reason, output)
                    return 1
                print(f"onnxruntime check on {'x'.join(map(str, shape))}: max abs diff vs PyTorch {diff:.2e}")
                if not diff <= tolerance:
                    log.error("the export differs from PyTorch by %.3g (> %g); %s not written", diff, tolerance, output)
                    return 1
    write_bytes_atomic(output, data)
    print(f"wrote {output} ({len(data) / 1e6:.1f} MB)")
    return 0
