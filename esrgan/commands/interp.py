"""``esrgan interp A B --alpha 0.7 -o C.pth``: network interpolation into a new checkpoint."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from esrgan.errors import OutputError
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "interp",
        help="interpolate the weights of same-shaped models",
        description=(
            "Weighted average of every parameter of two or more models of the same architecture "
            "(ESRGAN's network interpolation). Two models: --alpha is the weight of the second "
            "(0 gives A, 1 gives B). More models: --weights, one per model, summing to 1."
        ),
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="built-in names or paths (at least two)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--alpha", type=arg_type(float, Range()), help="weight of the second model (two models)")
    group.add_argument("--weights", type=arg_type(float, Range()), nargs="+", help="one weight per model, summing to 1")
    p.add_argument("-o", "--output", required=True, help="output checkpoint (.pth or .safetensors)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from esrgan.models import save_model
    from esrgan.models.interpolate import interp_weights, interpolate_models

    values = [args.alpha] if args.alpha is not None else args.weights
    weights = interp_weights(len(args.models), values)
    output = Path(args.output)
    sources = {str(Path(m).resolve()) for m in args.models if Path(m).exists()}
    if str(output.resolve()) in sources:
        raise OutputError(f"{output}: output would overwrite an input model; choose another -o")
    net, infos = interpolate_models(args.models, weights)
    save_model(
        net,
        output,
        extra={"interpolated_from": [str(i.name or i.path) for i in infos], "interpolation_weights": weights},
    )
    log.info("wrote %s (%s x%d, weights %s)", output, infos[0].arch, infos[0].scale, weights)
    return 0
