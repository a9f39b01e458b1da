"""SPAN checkpoint layouts: detection by key names, hyper-parameters from tensor shapes.

One layout is in use, "basicsr": the reference repository's names (hongyuanyu/SPAN, a BasicSR code base),
which spandrel, traiNNer-redux and neosr keep, so ``to_canonical`` renames nothing. Variants seen in shared
files, all told apart by their tensors:

- feature channels (48 in the published x2/x4 models; 52, 32, 64 in community ones): ``conv_1.sk.weight`` rows;
- scale and output channels: ``upsampler.0.weight`` rows = out_channels * scale**2, split as spandrel does (the
  input's channel count first, then 3, 4, 1), so a file means the same network here and there;
- input channels: ``conv_1.sk.weight`` columns (1, 3 or 4);
- no input normalisation: a ``no_norm`` entry (traiNNer-redux's ``norm: false``); without it the reference's
  ``(x - rgb_mean) * img_range`` runs first. ``img_range`` and ``rgb_mean`` are not in the weights: the reference
  values are assumed unless our own metadata says otherwise.

Every ``Conv3XC`` stores its trained branches (``sk``, ``conv.0/1/2``) and their fold (``eval_conv``); the network
always runs the fold of the branches, as the reference and spandrel do, so a stale ``eval_conv`` in a file cannot
change the output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from esrgan.archs.span.net import NUM_BLOCKS
from esrgan.archs.spec import check_hparams
from esrgan.errors import ModelFileError, OptionsError

LAYOUT = "basicsr"
LAYOUTS = (LAYOUT,)
# The keys spandrel's SPAN detection requires (spandrel/architectures/SPAN/__init__.py): a file matching them is
# SPAN to both loaders.
SIGNATURE = frozenset(
    {
        "conv_1.sk.weight",
        "block_1.c1_r.sk.weight",
        "block_1.c1_r.eval_conv.weight",
        "block_1.c3_r.eval_conv.weight",
        "conv_cat.weight",
        "conv_2.sk.weight",
        "conv_2.eval_conv.weight",
        "upsampler.0.weight",
    }
)
# Default distillation feature tap: the 1x1 merge before the upsampler (feature_channels maps at the input size).
FEATURE_LAYER = "conv_cat"
# Sane bounds on every size: far above any published model (48-64 features, x4), low enough that nothing a file
# merely claims can make building the network hang or exhaust memory.
SIZES = {"num_in_ch": (1, 4), "num_out_ch": (1, 4), "feature_channels": (1, 512), "upscale": (1, 16)}
CHOICES: dict[str, tuple[Any, ...]] = {"norm": (True, False), "reparam": (True, False)}


def detect(keys: frozenset[str]) -> str | None:
    """``"basicsr"`` if the keys are SPAN's, else None."""
    return LAYOUT if keys >= SIGNATURE else None


def to_canonical(sd: Mapping[str, torch.Tensor], layout: str, where: str) -> dict[str, torch.Tensor]:
    """The state dict under :class:`~esrgan.archs.span.net.SPAN`'s names (the reference's: nothing to rename)."""
    if layout != LAYOUT:
        raise ModelFileError(f"{where}: unknown SPAN layout {layout!r}")
    return dict(sd)


def hparams_from(sd: Mapping[str, torch.Tensor], where: str) -> dict[str, Any]:
    """Constructor arguments read from tensor shapes (and the ``no_norm`` marker).

    Raises:
        ModelFileError: a tensor has the wrong number of dimensions, or the blocks are not the reference's six.
    """
    first = _shape(sd, "conv_1.sk.weight", 4, where)
    up = _shape(sd, "upsampler.0.weight", 4, where)
    names = {k.split(".")[0][len("block_") :] for k in sd if k.startswith("block_")}
    if names != {str(i) for i in range(1, NUM_BLOCKS + 1)}:
        # a name from a damaged file need not be a number ("block_ .c1_r...")
        shown = sorted(int(n) for n in names if n.isascii() and n.isdigit()) + sorted(
            n for n in names if not (n.isascii() and n.isdigit())
        )
        raise ModelFileError(f"{where}: SPAN has blocks 1..{NUM_BLOCKS}, this file block(s) {shown}")
    num_in = first[1]
    num_out, upscale = split_pixelshuffle(up[0], num_in, where)
    return {
        "num_in_ch": num_in,
        "num_out_ch": num_out,
        "feature_channels": first[0],
        "upscale": upscale,
        "norm": "no_norm" not in sd,
    }


def validate_hparams(hparams: Mapping[str, Any], where: str) -> None:
    """OptionsError unless every size is within :data:`SIZES` and the switches are booleans (checked before anything
    is built); normalisation needs 3 input channels (its mean is RGB)."""
    check_hparams(hparams, where, sizes=SIZES, choices=CHOICES)
    if hparams.get("norm", True) and hparams.get("num_in_ch", 3) != 3:
        raise OptionsError(
            f"{where}: SPAN with input normalisation needs 3 input channels (its mean is RGB), not "
            f"{hparams['num_in_ch']}"
        )


def describe(hparams: Mapping[str, Any], *, short: bool = False) -> str:
    """``"48 features, 6 blocks"`` (plus ``", no input normalisation"`` for the norm-free variant); ``short``:
    ``"48 feat"`` for tables."""
    if short:
        return f"{hparams['feature_channels']} feat"
    text = f"{hparams['feature_channels']} features, {NUM_BLOCKS} blocks"
    return text if hparams.get("norm", True) else text + ", no input normalisation"


def split_pixelshuffle(rows: int, num_in: int, where: str) -> tuple[int, int]:
    """(out channels, scale) with out * scale**2 == rows; candidates in spandrel's order (input channels, 3, 4,
    1), so ambiguous sizes (16 rows: 4 channels x2 or 1 channel x4) resolve the same way in both loaders."""
    for out in dict.fromkeys((num_in, 3, 4, 1)):
        if rows % out == 0 and math.isqrt(rows // out) ** 2 == rows // out:
            return out, math.isqrt(rows // out)
    raise ModelFileError(f"{where}: upsampler has {rows} outputs: not channels x scale^2 for 1, 3 or 4 channels")


def _shape(sd: Mapping[str, torch.Tensor], key: str, ndim: int, where: str) -> tuple[int, ...]:
    tensor = sd.get(key)
    if tensor is None or tensor.ndim != ndim:
        got = "missing" if tensor is None else f"shape {tuple(tensor.shape)}"
        raise ModelFileError(f"{where}: SPAN tensor {key} is {got}, expected {ndim} dimensions")
    return tuple(tensor.shape)
