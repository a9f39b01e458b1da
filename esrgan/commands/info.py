"""``esrgan info MODEL...``: what a model file or built-in name is, as detected from its keys and shapes.

Built-in names are answered from static facts without importing torch; files are loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esrgan.models import zoo

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "info",
        help="describe model files or built-in models",
        description="Show format, architecture, scale, channels, sizes, parameters, cost and hash of models.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="built-in name or path")
    p.add_argument("--json", action="store_true", help="one JSON object per model instead of text")
    p.set_defaults(func=run)


def describe(spec: str) -> dict[str, Any]:
    """Everything `esrgan info` reports about one model, as plain values.

    A built-in name is answered from the model's static facts (no torch import, no weights read: well under a
    second) when its installed files are the ones the facts describe; files, and built-ins whose files differ,
    are loaded."""
    from pathlib import Path

    from esrgan.models import zoo

    model = zoo.find_builtin(spec)
    if model is not None and not Path(spec).exists() and zoo.files_match(model):
        return describe_builtin(spec, model)
    return describe_loaded(spec)


def describe_builtin(spec: str, model: zoo.BuiltinModel) -> dict[str, Any]:
    """:func:`describe_loaded`'s answer for a built-in model, from its static facts."""
    from esrgan.models import zoo

    multiple, minimum = model.size_rule
    return {
        "model": spec,
        "kind": "built-in",
        "name": model.name,
        "path": str(zoo.builtin_files(model)[0]),
        "format": model.source_format,
        "loader": "native",
        "recognised": f"built-in model, {model.recognised}",
        "arch": model.arch,
        "scale": model.scale,
        "in_channels": model.in_channels,
        "out_channels": model.out_channels,
        "hparams": dict(model.hparams),
        "parameters": model.num_params,
        "gflop_per_input_megapixel": model.gflop_per_megapixel,
        "size_rule": {"multiple": multiple, "minimum": minimum},
        "precisions": list(model.precisions),
        "sha256": model.weights_sha256,
        "licence": model.licence,
        "notes": [],
    }


def describe_loaded(spec: str) -> dict[str, Any]:
    """Everything `esrgan info` reports about one model, read from the loaded network."""
    from esrgan.archs import as_sr_network
    from esrgan.inference.sizing import SizeRule
    from esrgan.models import load_model, zoo
    from esrgan.models.flops import flops_per_input_pixel

    net, info = load_model(spec)
    builtin = zoo.find_builtin(info.name) if info.name else None
    contract = as_sr_network(net)
    rule = SizeRule.of(contract)
    flops = flops_per_input_pixel(net, info.in_channels, size=rule.target(8 * rule.multiple, 8 * rule.multiple)[0])
    return {
        "model": spec,
        "kind": "built-in" if info.name else "file",
        "name": info.name,
        "path": info.path,
        "format": info.source_format,
        "loader": info.loader,
        "recognised": info.reason,
        "arch": info.arch,
        "scale": info.scale,
        "in_channels": info.in_channels,
        "out_channels": info.out_channels,
        "hparams": info.hparams,
        "parameters": info.num_params,
        "gflop_per_input_megapixel": round(flops * 1e6 / 1e9, 1),
        "size_rule": {"multiple": rule.multiple, "minimum": rule.minimum},
        "precisions": ["fp32"]
        + [p for p, ok in (("bf16", contract.supports_bf16), ("fp16", contract.supports_fp16)) if ok],
        "sha256": info.sha256,
        "licence": builtin.licence if builtin else None,
        "notes": list(info.notes),
    }


def run(args: argparse.Namespace) -> int:
    from esrgan.models import zoo

    for spec in args.models:  # a misspelt name or a missing file is a user error before any work, as for upscale
        zoo.resolve(spec)
    failed = 0
    for spec in args.models:
        try:
            d = describe(spec)
        except (OSError, ValueError) as exc:
            log.error("%s", exc)
            failed += 1
            continue
        if args.json:
            sys.stdout.write(json.dumps(d) + "\n")
            continue
        h = d["hparams"]
        sizes = ", ".join(f"{k}={v}" for k, v in h.items() if k not in ("num_in_ch", "num_out_ch"))
        if d["loader"] == "spandrel" and len(sizes) > 80:  # a transformer's twenty arguments: --json has them all
            sizes = sizes[:77].rsplit(", ", 1)[0] + ", ..."
        lines = [
            f"{d['model']}",
            f"  kind        {d['kind']}" + (f" ({d['name']})" if d["name"] else ""),
            f"  file        {d['path']}",
            f"  format      {d['format']}",
            f"  loader      {d['loader']}: {d['recognised']}",
            f"  arch        {d['arch']} x{d['scale']}  ({sizes})",
            f"  channels    {d['in_channels']} -> {d['out_channels']}",
            f"  input       {_rule_text(d['size_rule'])}; precisions {', '.join(d['precisions'])}",
            f"  parameters  {d['parameters']:,}",
            f"  cost        {d['gflop_per_input_megapixel']:,.1f} GFLOP per input megapixel",
            f"  sha256      {d['sha256']}",
        ]
        lines += [f"  licence     {d['licence']} (esrgan models --notice)"] if d["licence"] else []
        lines += [f"  note        {n}" for n in d["notes"]]
        sys.stdout.write("\n".join(lines) + "\n")
    return 1 if failed else 0


def _rule_text(rule: dict[str, Any]) -> str:
    """``"any size"``, or ``"sides multiples of 16, at least 16 (padded to fit)"``."""
    parts = [f"multiples of {rule['multiple']}"] if rule["multiple"] > 1 else []
    parts += [f"at least {rule['minimum']}"] if rule["minimum"] > 1 else []
    return "sides " + ", ".join(parts) + " (padded to fit)" if parts else "any size"
