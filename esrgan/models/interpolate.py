"""Network interpolation (ESRGAN paper, section 3.4): a weighted average of every parameter of same-shaped models.

Interpolating a PSNR-oriented model with its GAN fine-tuned version trades fidelity for perceptual quality
smoothly, without the noise that blending output images gives.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import torch
from torch import nn

from esrgan.errors import OptionsError
from esrgan.models.checkpoint import ModelInfo, load_model

log = logging.getLogger(__name__)

__all__ = ["interpolate_models", "parse_interp_spec"]


def parse_interp_spec(text: str) -> tuple[list[str], list[float]]:
    """Parse ``"A:B:0.7"`` (alpha = weight of B) or ``"A:B:C:0.2,0.3,0.5"`` (one weight per model).

    Returns:
        (model specs, weights summing to 1).
    """
    parts = text.split(":")
    if len(parts) < 3:
        raise OptionsError(f"interpolation spec {text!r} must look like A:B:ALPHA or A:B:C:W1,W2,W3")
    *models, numbers = parts
    try:
        values = [float(v) for v in numbers.split(",")]
    except ValueError:
        raise OptionsError(
            f"interpolation spec {text!r}: {numbers!r} is not a number or a comma-separated list"
        ) from None
    return models, interp_weights(len(models), values)


def interp_weights(n_models: int, values: Sequence[float]) -> list[float]:
    """Weights for ``n_models`` from either one alpha (two models: [1 - alpha, alpha]) or one weight per model."""
    if n_models < 2:
        raise OptionsError(f"interpolation needs at least two models, got {n_models}")
    if len(values) == 1 and n_models == 2:
        alpha = float(values[0])
        weights = [1.0 - alpha, alpha]
    elif len(values) == n_models:
        weights = [float(v) for v in values]
    else:
        raise OptionsError(f"{n_models} models need one weight each (got {len(values)})")
    if not all(math.isfinite(w) for w in weights):
        raise OptionsError(f"interpolation weights must be finite numbers, got {weights}")
    if abs(sum(weights) - 1.0) > 1e-6:
        raise OptionsError(f"interpolation weights must sum to 1, got {weights} (sum {sum(weights):g})")
    return weights


def interpolate_models(
    specs: Sequence[str | os.PathLike[str]], weights: Sequence[float]
) -> tuple[nn.Module, list[ModelInfo]]:
    """Load models and average their parameters: ``sum_i weights[i] * theta_i``.

    All models must have the same architecture and hyper-parameters (checked, with an error naming the first
    difference). With weights [1, 0] the result equals the first model exactly (the sum is computed in float64
    and weights of exactly 0 or 1 contribute exactly).

    Returns:
        (network with the interpolated weights, eval mode; the loaded models' infos).
    """
    if len(specs) != len(weights):
        raise ValueError(f"{len(specs)} models but {len(weights)} weights")
    nets, infos = zip(*(load_model(s) for s in specs), strict=True)
    first = infos[0]
    for info in infos[1:]:
        if info.arch != first.arch or info.hparams != first.hparams:
            diff = [
                f"{k}: {first.hparams.get(k)} vs {info.hparams.get(k)}"
                for k in sorted(set(first.hparams) | set(info.hparams))
                if first.hparams.get(k) != info.hparams.get(k)
            ]
            what = f"{first.arch} vs {info.arch}" if info.arch != first.arch else "; ".join(diff)
            raise OptionsError(
                f"cannot interpolate {first.path} and {info.path}: architectures differ ({what}); "
                "only models of the same shape can be interpolated"
            )
    states = [n.state_dict() for n in nets]
    mixed: dict[str, torch.Tensor] = {}
    for key, ref in states[0].items():
        acc = torch.zeros_like(ref, dtype=torch.float64)
        for w, sd in zip(weights, states, strict=True):
            if w != 0.0:
                acc += float(w) * sd[key].to(torch.float64)
        mixed[key] = acc.to(ref.dtype)
    out = nets[0]
    out.load_state_dict(mixed)
    log.info(
        "interpolated %s with weights %s",
        ", ".join(str(i.name or i.path) for i in infos),
        [round(w, 4) for w in weights],
    )
    return out, list(infos)
