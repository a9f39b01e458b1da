"""SRVGGNetCompact checkpoint layout: Real-ESRGAN's names (``body.N.weight``/``.bias``: convolutions at even
indices, PReLU slopes between them), bare or under the usual entries; sizes from tensor shapes.

Files without PReLU weights cannot tell ReLU from LeakyReLU (neither has weights): Real-ESRGAN's default is PReLU,
and such files are assumed LeakyReLU(0.1) unless their metadata says otherwise (spandrel does not detect them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch

from esrgan.archs.spec import check_hparams
from esrgan.archs.srvgg.net import ACT_TYPES
from esrgan.errors import ModelFileError

LAYOUTS = ("basicsr",)
# Sane bounds on every size: far above any published model (64 features, 32 convs, x4), low enough that nothing a
# file merely claims can make building the network hang or exhaust memory.
SIZES = {
    "num_in_ch": (1, 64),
    "num_out_ch": (1, 64),
    "num_feat": (1, 1024),
    "num_conv": (0, 256),
    "upscale": (1, 16),
}
CHOICES: dict[str, tuple[Any, ...]] = {"act_type": ACT_TYPES}

_SRVGG = re.compile(r"body\.(\d+)\.(weight|bias)")


def detect(keys: frozenset[str]) -> str | None:
    """ "basicsr" if every key is ``body.N.weight``/``.bias``, else None."""
    if "body.0.weight" in keys and all(_SRVGG.fullmatch(k) for k in keys):
        return "basicsr"
    return None


def to_canonical(sd: dict[str, torch.Tensor], layout: str, where: str) -> dict[str, torch.Tensor]:
    """The one layout already uses our names."""
    return sd


def validate_hparams(hparams: Mapping[str, Any], where: str) -> None:
    """OptionsError unless every size is within :data:`SIZES` and act_type is one of :data:`ACT_TYPES`."""
    check_hparams(hparams, where, sizes=SIZES, choices=CHOICES)


def shape_notes(hparams: Mapping[str, Any]) -> list[str]:
    """What shapes alone could not settle: ReLU and LeakyReLU files look alike."""
    if hparams["act_type"] != "prelu":
        return ["no PReLU weights: ReLU and LeakyReLU files look alike; assumed LeakyReLU(0.1)"]
    return []


def hparams_from(sd: dict[str, torch.Tensor], where: str) -> dict[str, Any]:
    """Constructor arguments read from the shapes of the ``body.N`` tensors."""
    index = sorted({int(m[1]) for k in sd if (m := _SRVGG.fullmatch(k))})
    convs = [i for i in index if sd[f"body.{i}.weight"].ndim == 4]
    prelus = [i for i in index if sd[f"body.{i}.weight"].ndim == 1]
    between = [i + 1 for i in convs[:-1]]
    if len(convs) < 2 or convs != list(range(0, 2 * len(convs), 2)) or prelus not in ([], between):
        raise ModelFileError(
            f"{where}: SRVGGNetCompact-like keys but convs at body.{convs} and PReLUs at body.{prelus} "
            f"(expected convs at even indices, PReLUs between them)"
        )
    num_feat, num_in = sd["body.0.weight"].shape[:2]
    last_out = sd[f"body.{convs[-1]}.weight"].shape[0]
    num_out, upscale = _split_upscale(last_out, num_in, where)
    return {
        "num_in_ch": num_in,
        "num_out_ch": num_out,
        "num_feat": num_feat,
        "num_conv": len(convs) - 2,
        "upscale": upscale,
        "act_type": "prelu" if prelus else "lrelu",  # no weights tell relu from lrelu: see the module docstring
    }


def _split_upscale(last_out: int, num_in: int, where: str) -> tuple[int, int]:
    """(out channels, upscale) with out * upscale**2 == last_out; the input's channel count first."""
    for out in dict.fromkeys((num_in, 3, 1, 4)):
        if last_out % out == 0 and math.isqrt(last_out // out) ** 2 == last_out // out:
            return out, math.isqrt(last_out // out)
    raise ModelFileError(f"{where}: last conv has {last_out} outputs: not channels x upscale^2 for 1, 3 or 4 channels")
