"""The engine a worker builds: the network as plain data (:class:`NetworkRecipe`) plus the engine's options.

The driver loads and checks the model once, as a local run does (any built-in, file or ``--interp`` mix), and
sends workers its architecture name, constructor arguments and tensors: no model file has to exist where the
workers run, and every worker builds exactly the driver's network. Nothing but tensors and plain values travels
(no pickled modules or code).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from esrgan.inference.options import EngineOptions

if TYPE_CHECKING:
    from esrgan.inference import Upscaler

__all__ = ["EngineSpec", "NetworkRecipe"]


@dataclass(frozen=True)
class NetworkRecipe:
    """A network as data: ``arch`` (registered architecture name), ``hparams`` (constructor arguments) and
    ``state`` (its state dict, float32 on the CPU)."""

    arch: str
    hparams: dict[str, Any]
    state: dict[str, torch.Tensor]

    @staticmethod
    def of(net: nn.Module) -> NetworkRecipe:
        """The recipe of a network of :mod:`esrgan.archs` (it carries ``arch_name`` and ``hparams()``).

        Raises:
            ValueError: ``net`` does not describe itself.
        """
        from esrgan.models.checkpoint import unwrap

        net = unwrap(net)
        arch = getattr(net, "arch_name", None)
        hparams = getattr(net, "hparams", None)
        if not isinstance(arch, str) or not callable(hparams):
            raise ValueError(f"{type(net).__name__} does not carry arch_name and hparams(); cannot send it to workers")
        state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()}
        return NetworkRecipe(arch, dict(hparams()), state)

    def build(self) -> nn.Module:
        """The network, in eval mode with frozen float32 weights on the CPU (as :func:`esrgan.models.load_model`
        returns it)."""
        from esrgan.models import build_network

        with torch.device("meta"):  # no random init: every parameter is replaced below
            net = build_network(self.arch, self.hparams)
        net.load_state_dict({k: v.clone() for k, v in self.state.items()}, strict=True, assign=True)
        net.eval()
        net.requires_grad_(False)
        return net


@dataclass(frozen=True)
class EngineSpec:
    """What a worker needs to build its engine: the network and the engine's options; the device is the
    worker's own (it replaces ``options.device``)."""

    recipe: NetworkRecipe
    options: EngineOptions = field(default_factory=EngineOptions)

    def build(self, device: str) -> Upscaler:
        """A new :class:`esrgan.inference.Upscaler` on ``device`` with its own copy of the network."""
        from esrgan.inference import Upscaler

        return Upscaler.from_options(self.recipe.build(), replace(self.options, device=device))
