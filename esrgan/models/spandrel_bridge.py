"""Architectures without a room here, loaded through spandrel (the optional ``esrgan[spandrel]`` extra).

Our loader stays in front: the file is read by :mod:`esrgan.models.checkpoint` (``torch.load(weights_only=True)``
or safetensors, the generator entry picked, prefixes removed) and only its tensors are handed to spandrel, which
detects the architecture from the key names, reads the hyper-parameters from the shapes and loads the weights
strictly. spandrel never opens a file, so a pickle that would run code is refused before spandrel sees anything.

The descriptor spandrel returns is wrapped in :class:`SpandrelNetwork`, an ``nn.Module`` with the attributes every
inference network here carries (the SRNetwork contract: scale, channels, size multiple, minimum size, fp16/bf16
support), so the engine pads, tiles and picks a precision for it as for our own networks. Its forward is spandrel's
own call of the network (some architectures normalise the input or take the first of several outputs) without
spandrel's padding and clamping, which the engine does; only a square-input requirement (Uformer), which the
contract does not have, is met inside the forward.

spandrel 0.4.2 imports torchvision when it is imported (for LaMa and RestoreFormer only); without torchvision it
cannot be imported at all, and this module says so in one line.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.archs import names as registered_names
from esrgan.errors import MissingPackageError, ModelFileError
from esrgan.models.signatures import spandrel_version as spandrel_version  # torch-free: `esrgan models` asks

log = logging.getLogger(__name__)

TESTED_VERSIONS = ">=0.4.2,<0.5"  # the range of the extra in setup.cfg; the wrapper reads 0.4's descriptor


class SpandrelNetwork(nn.Module):
    """A network loaded by spandrel, with the attributes of esrgan's networks.

    Args:
        descriptor: a ``spandrel.ImageModelDescriptor`` (image in, image out).

    Attributes:
        model: spandrel's network (its state dict names are the file's, under ``model.``).
        arch_name: the network's class name ("RealPLKSR", "SwinIR", ...; "RRDBNet (spandrel)" where one of our
            architectures has the name); spandrel_id: spandrel's architecture id.
        scale, num_in_ch, num_out_ch: output / input size, image channels in and out.
        size_multiple, min_size: input sides must be multiples of ``size_multiple`` and at least ``min_size``
            (spandrel's ``size_requirements``; the engine pads to them).
        requires_square: the network needs equal sides (Uformer): :meth:`forward` pads the shorter side itself
            (the engine's contract has no such rule) and crops the output back.
        supports_fp16, supports_bf16: whether half precisions give correct output (spandrel's word).
        tiling: spandrel's tiling advice, "supported", "discouraged" or "internal".
        purpose, tags: spandrel's "SR" / "Restoration" / "FaceSR" and size tags ("64nf", "large", ...).

    Shapes:
        (B, num_in_ch, H, W) RGB in [0, 1], sides meeting the requirements -> (B, num_out_ch, H * scale, W * scale),
        not clamped.
    """

    def __init__(self, descriptor: Any) -> None:
        super().__init__()
        self.model: nn.Module = descriptor.model
        call: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = getattr(descriptor, "_call_fn", None)
        self._call = call or _plain_call
        # The class name, unless one of our architectures has it (spandrel's ESRGAN network, which also loads
        # ESRGAN+, is called RRDBNet): a spandrel network must never pass for one of ours (save_model, specs).
        name = type(descriptor.model).__name__
        self.arch_name = f"{name} (spandrel)" if name in registered_names() else name
        self.spandrel_id = str(descriptor.architecture.id)
        self.scale = int(descriptor.scale)
        self.num_in_ch = int(descriptor.input_channels)
        self.num_out_ch = int(descriptor.output_channels)
        req = descriptor.size_requirements
        self.size_multiple = int(req.multiple_of)
        self.min_size = max(int(req.minimum), 1)
        self.requires_square = bool(req.square)
        self.supports_fp16 = bool(descriptor.supports_half)
        self.supports_bf16 = bool(descriptor.supports_bfloat16)
        self.tiling = descriptor.tiling.name.lower()
        self.purpose = str(descriptor.purpose)
        self.tags = tuple(str(t) for t in descriptor.tags)

    def hparams(self) -> dict[str, Any]:
        """The constructor arguments spandrel read from the shapes (``model.hyperparameters``), as plain values
        (a class argument such as ``norm_layer`` becomes its name), so they print and serialise as JSON."""
        return {k: _plain(v) for k, v in (getattr(self.model, "hyperparameters", None) or {}).items()}

    def describe(self) -> str:
        """``"spandrel RealPLKSR, 64nf"``: the architecture and spandrel's size tags."""
        return ", ".join((f"spandrel {self.spandrel_id}", *self.tags))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if not self.requires_square or height == width:
            return self._call(self.model, x)
        side = max(height, width)
        y = self._call(self.model, _pad_bottom_right(x, side - height, side - width))
        return y[..., : height * self.scale, : width * self.scale]


def _pad_bottom_right(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """spandrel's padding: reflect up to one pixel less than the side, then replicate the edge."""
    reflect_h, reflect_w = min(pad_h, x.shape[-2] - 1), min(pad_w, x.shape[-1] - 1)
    x = F.pad(x, (0, reflect_w, 0, reflect_h), mode="reflect") if reflect_h or reflect_w else x
    rest_h, rest_w = pad_h - reflect_h, pad_w - reflect_w
    return F.pad(x, (0, rest_w, 0, rest_h), mode="replicate") if rest_h or rest_w else x


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return getattr(value, "__name__", None) or type(value).__name__


def _plain_call(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = model(x)
    return out


def import_spandrel(where: str) -> Any:
    """The ``spandrel`` module, or None when it is not installed.

    Raises:
        ValueError: spandrel is installed but cannot be imported (torchvision or einops missing): one line saying
            what to install.
    """
    if spandrel_version() is None:
        return None
    try:
        return importlib.import_module("spandrel")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        why = " (spandrel imports it for LaMa and RestoreFormer)" if missing == "torchvision" else ""
        raise MissingPackageError(
            f"{where}: needs spandrel, which is installed but cannot be imported: no module {missing!r}{why}; "
            f"install {missing} for your torch build (see the README, 'Other architectures')"
        ) from None


def load_with_spandrel(sd: Mapping[str, torch.Tensor], where: str) -> tuple[SpandrelNetwork, str] | None:
    """Detect and load a state dict with spandrel.

    Args:
        sd: parameter name -> tensor, already picked out of its container and stripped of wrapper prefixes; not
            modified (spandrel gets a copy: some of its loaders add entries).
        where: file name for messages.

    Returns:
        (network in eval mode, float32 on the CPU, without gradients; the reason it was recognised, e.g.
        "spandrel 0.4.2 detected PLKSR from its keys"), or None when spandrel is not installed or does not
        recognise the keys.

    Raises:
        ValueError: spandrel cannot be imported; it recognised the architecture but could not build it from these
            tensors; or the network is not image-to-image (inpainting).
    """
    spandrel = import_spandrel(where)
    if spandrel is None:
        return None
    state = dict(sd)
    for support in spandrel.MAIN_REGISTRY.architectures("detection"):
        if support.detect(state):
            arch = support.architecture
            break
    else:
        return None
    try:
        with warnings.catch_warnings(record=True) as caught:  # torch's warnings about spandrel's own code
            warnings.simplefilter("always")
            descriptor = arch.load(state)
        for w in caught:
            log.debug("%s: while spandrel built %s: %s", where, arch.id, w.message)
    except Exception as exc:  # spandrel's loaders raise KeyError/AssertionError/RuntimeError on misfits
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        text = " ".join(lines[:2]) if lines and lines[0].endswith(":") else (lines[0] if lines else "")
        first = f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
        raise ModelFileError(
            f"{where}: spandrel detected {arch.id} but could not build it from the tensors ({first})"
        ) from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ModelFileError(
            f"{where}: a {arch.id} {descriptor.purpose.lower()} model (image and mask in): esrgan runs image-to-image "
            "models only"
        )
    net = SpandrelNetwork(descriptor).float().eval().requires_grad_(False)
    reason = f"spandrel {spandrel.__version__} detected {arch.id} from its keys"
    log.debug("%s: %s", where, reason)
    return net, reason
