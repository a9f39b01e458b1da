"""RRDBNet checkpoint layouts: detection by key names, renames to our (BasicSR) names, sizes from tensor shapes.

- the original ESRGAN release ("esrgan-old"): ``model.0`` (first conv), ``model.1.sub.N.RDBk.convj.0``,
  ``model.1.sub.<nb>`` (trunk conv), upsampling convs at ``model.3``, ``model.6`` (``model.9`` for x8), then the
  HR conv and the last conv two and four indices later;
- the later ESRGAN repository ("esrgan-new"): ``conv_first``, ``RRDB_trunk.N.RDBk.convj``, ``trunk_conv``,
  ``upconvN``, ``HRconv``, ``conv_last``;
- BasicSR / Real-ESRGAN ("basicsr", our own names): ``conv_first``, ``body.N.rdbk.convj``, ``conv_body``,
  ``conv_upN``, ``conv_hr``, ``conv_last``; pixel-unshuffle x1/x2 variants are told by the first conv taking
  16x / 4x the output channels (spandrel's rule).

ESRGAN+ files (the old layout with ``conv1x1`` noise branches) are recognised and refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from esrgan.archs.rrdbnet.net import SUPPORTED_SCALES
from esrgan.archs.spec import check_hparams
from esrgan.errors import ModelFileError

LAYOUTS = ("esrgan-old", "esrgan-new", "basicsr")
# Sane bounds on every size: far above any published model (23 blocks, 64 features, growth 32), low enough that
# nothing a file merely claims can make building the network hang or exhaust memory.
SIZES = {
    "num_in_ch": (1, 64),
    "num_out_ch": (1, 64),
    "num_feat": (1, 1024),
    "num_block": (1, 256),
    "num_grow_ch": (1, 1024),
}
CHOICES: dict[str, tuple[Any, ...]] = {"scale": SUPPORTED_SCALES, "pixel_unshuffle": (True, False)}

_OLD_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)")
_OLD_TRUNK = re.compile(r"model\.1\.sub\.(\d+)\.(weight|bias)")
_OLD_TOP = re.compile(r"model\.(\d+)\.(weight|bias)")
_NEW_RDB = re.compile(r"RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\.(weight|bias)")


def detect(keys: frozenset[str]) -> str | None:
    """The layout of these state-dict keys ("esrgan-old", "esrgan-new", "basicsr"), None if not RRDBNet."""
    if "model.0.weight" in keys and any(".conv1x1." in k for k in keys):
        raise ModelFileError("ESRGAN+ (old layout with conv1x1 noise branches) is not supported")
    if "model.0.weight" in keys and any(_OLD_RDB.fullmatch(k) for k in keys):
        return "esrgan-old"
    if "conv_first.weight" in keys and any(_NEW_RDB.fullmatch(k) for k in keys):
        return "esrgan-new"
    if "conv_first.weight" in keys and any(k.startswith("body.0.rdb1.") for k in keys):
        return "basicsr"
    return None


def to_canonical(sd: dict[str, torch.Tensor], layout: str, where: str) -> dict[str, torch.Tensor]:
    """The tensors of a ``layout`` state dict under BasicSR names (keys left over are kept as they are)."""
    if layout == "esrgan-old":
        return _from_old_esrgan(sd, where)
    if layout == "esrgan-new":
        return _from_new_esrgan(sd)
    return sd


def validate_hparams(hparams: Mapping[str, Any], where: str) -> None:
    """OptionsError unless every size is within :data:`SIZES` and scale / pixel_unshuffle are valid."""
    check_hparams(hparams, where, sizes=SIZES, choices=CHOICES)


def _from_old_esrgan(sd: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    num_rrdb = 1 + max(int(m.group(1)) for k in sd if (m := _OLD_RDB.fullmatch(k)))
    top = sorted({int(m.group(1)) for k in sd if (m := _OLD_TOP.fullmatch(k))})
    # model.0 is the first conv, model.1 the trunk; then [Upsample, conv, LeakyReLU] per x2, conv_hr, LeakyReLU,
    # conv_last: upsampling convs at 3, 6, 9 and the last two convs two and four indices after the last one.
    convs = [i for i in top if i >= 2]
    if len(convs) < 2:
        raise ModelFileError(f"{where}: original-ESRGAN layout without the final convolutions (found model.{top})")
    *ups, hr, last = convs
    if ups != [3 * (n + 1) for n in range(len(ups))] or hr != (ups[-1] if ups else 0) + 2 or last != hr + 2:
        raise ModelFileError(
            f"{where}: original-ESRGAN layout with convs at model.{convs} is not nearest-upsampling ESRGAN "
            f"(expected upsampling convs at model.3, 6(, 9), then conv_hr and conv_last)"
        )
    rename = {0: "conv_first", hr: "conv_hr", last: "conv_last"} | {u: f"conv_up{n + 1}" for n, u in enumerate(ups)}
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if m := _OLD_RDB.fullmatch(key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif (m := _OLD_TRUNK.fullmatch(key)) and int(m[1]) == num_rrdb:
            out[f"conv_body.{m[2]}"] = value
        elif (m := _OLD_TOP.fullmatch(key)) and int(m[1]) in rename:
            out[f"{rename[int(m[1])]}.{m[2]}"] = value
        else:
            out[key] = value  # left as is: reported as unexpected when the network is built
    return out


def _from_new_esrgan(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    simple = {"trunk_conv": "conv_body", "HRconv": "conv_hr"}
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        module, _, kind = key.rpartition(".")
        if m := _NEW_RDB.fullmatch(key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif m := re.fullmatch(r"upconv(\d)", module):
            out[f"conv_up{m[1]}.{kind}"] = value
        else:
            out[f"{simple.get(module, module)}.{kind}"] = value
    return out


def hparams_from(sd: dict[str, torch.Tensor], where: str) -> dict[str, Any]:
    """Constructor arguments read from the shapes of a BasicSR-named state dict."""
    num_feat, first_in = sd["conv_first.weight"].shape[:2]
    if "conv_last.weight" not in sd or "body.0.rdb1.conv1.weight" not in sd:
        raise ModelFileError(
            f"{where}: RRDBNet weights without conv_last or body.0 (first keys {', '.join(list(sd)[:5])})"
        )
    num_out = sd["conv_last.weight"].shape[0]
    num_block = len({m[1] for k in sd if (m := re.match(r"body\.(\d+)\.", k))})
    num_up = sum(bool(re.fullmatch(r"conv_up\d\.weight", k)) for k in sd)
    # Pixel-unshuffle variants (Real-ESRGAN x2plus / x1) fold 2x2 or 4x4 pixels into channels: the first conv
    # then takes 4x or 16x the output channels.
    unshuffle = {4 * num_out: 2, 16 * num_out: 4}.get(first_in, 1)
    scale = 2**num_up / unshuffle
    # Real-ESRGAN: 2 upsampling convs (x4, or x2/x1 after pixel-unshuffle) or 3 (x8); original ESRGAN code also
    # builds x1/x2 with 0/1 upsampling convs and no unshuffle.
    plain_low_scale = num_up in (0, 1) and unshuffle == 1
    if not ((num_up == 2 and unshuffle in (1, 2, 4)) or (num_up == 3 and unshuffle == 1) or plain_low_scale):
        raise ModelFileError(
            f"{where}: RRDBNet with {num_up} upsampling conv(s) and pixel-unshuffle {unshuffle} (x{scale:g}) "
            "cannot be built: esrgan's RRDBNet has 2 upsampling convs (x4, or x2/x1 after pixel-unshuffle), "
            "3 (x8), or 1/0 (x2/x1 without pixel-unshuffle)"
        )
    hparams: dict[str, Any] = {
        "num_in_ch": first_in // unshuffle**2,
        "num_out_ch": num_out,
        "scale": int(scale),
        "num_feat": num_feat,
        "num_block": num_block,
        "num_grow_ch": sd["body.0.rdb1.conv1.weight"].shape[0],
    }
    if plain_low_scale:
        hparams["pixel_unshuffle"] = False
    return hparams
