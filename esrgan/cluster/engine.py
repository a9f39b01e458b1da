"""The engine a worker builds: the network as plain data (:class:`NetworkRecipe`) plus the engine's options.

The driver loads and checks the model once, as a local run does (any built-in, file or ``--interp`` mix), and
sends workers its architecture name, constructor arguments and tensors: no model file has to exist where the
workers run, and every worker builds exactly the driver's network. Nothing but tensors and plain values travels
(no pickled modules or code).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from esrgan.errors import MissingPackageError, ModelFileError
from esrgan.inference.options import EngineOptions

if TYPE_CHECKING:
    from esrgan.inference import Upscaler

__all__ = ["EngineSpec", "NetworkRecipe"]


@dataclass(frozen=True)
class NetworkRecipe:
    """A network as data: ``arch`` (its architecture's name), ``hparams`` (constructor arguments), ``state`` (its
    state dict, float32 on the CPU) and ``loader``: "native" (a room of :mod:`esrgan.archs` builds it) or "spandrel"
    (spandrel rebuilds it from the state's keys and shapes, as it did from the file; workers need the extra)."""

    arch: str
    hparams: dict[str, Any]
    state: dict[str, torch.Tensor]
    loader: str = "native"

    @staticmethod
    def of(net: nn.Module) -> NetworkRecipe:
        """The recipe of a network :func:`esrgan.models.load_model` gave (it carries ``arch_name`` and
        ``hparams()``).

        Raises:
            ValueError: ``net`` does not describe itself.
        """
        from esrgan.models.checkpoint import unwrap
        from esrgan.models.spandrel_bridge import SpandrelNetwork

        net = unwrap(net)
        arch = getattr(net, "arch_name", None)
        hparams = getattr(net, "hparams", None)
        if not isinstance(arch, str) or not callable(hparams):
            raise ValueError(f"{type(net).__name__} does not carry arch_name and hparams(); cannot send it to workers")
        weights: nn.Module = net.model if isinstance(net, SpandrelNetwork) else net
        state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in weights.state_dict().items()}
        return NetworkRecipe(arch, dict(hparams()), state, "spandrel" if weights is not net else "native")

    def build(self) -> nn.Module:
        """The network, in eval mode with frozen float32 weights on the CPU (as :func:`esrgan.models.load_model`
        returns it).

        Raises:
            ValueError: spandrel's network where spandrel is missing or rebuilds another network.
        """
        if self.loader == "spandrel":
            return self._build_with_spandrel()
        from esrgan.models import build_network

        with torch.device("meta"):  # no random init: every parameter is replaced below
            net = build_network(self.arch, self.hparams)
        net.load_state_dict({k: v.clone() for k, v in self.state.items()}, strict=True, assign=True)
        net.eval()
        net.requires_grad_(False)
        return net

    def _build_with_spandrel(self) -> nn.Module:
        from esrgan.models.spandrel_bridge import load_with_spandrel

        where = f"the driver's {self.arch} network"
        found = load_with_spandrel({k: v.clone() for k, v in self.state.items()}, where)
        if found is None:
            raise MissingPackageError(
                f"{where} needs spandrel where the workers run: pip install 'esrgan[spandrel]' there"
            )
        net = found[0]
        if getattr(net, "arch_name", None) != self.arch or net.hparams() != self.hparams:
            raise ModelFileError(f"spandrel rebuilt {where} as another network ({net.arch_name}, {net.hparams()})")
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

    def settled(self, devices: Sequence[str]) -> EngineSpec:
        """This spec with a backend (and precision) "auto" decided here, as a local run on this machine decides it,
        when every worker computes on the CPU.

        A worker would otherwise calibrate for itself with its own thread count (a Ray worker per core has one) and
        could pick another backend or precision than the local run, whose outputs differ in the last bits: the
        outputs of a spread run must be the local run's, byte for byte. Workers on a GPU keep "auto" (their device
        decides it by a fixed rule, the same on every worker); so do int8 and already explicit choices.

        Args:
            devices: each worker's device name ("cpu", "auto", "cuda:1", ...); "auto" counts as this machine's.
        """
        from esrgan.backends.calibrate import decide
        from esrgan.device import resolve_device
        from esrgan.inference.upscaler import call_side

        options = self.options
        if options.backend != "auto" or options.precision == "int8" or not devices:
            return self
        kinds = {d.strip().lower().split(":")[0] for d in devices}
        if kinds - {"cpu", "auto"} or ("auto" in kinds and resolve_device("auto").type != "cpu"):
            return self
        choice = decide(
            self.recipe.build(),
            backend="auto",
            precision=options.precision,
            device=torch.device("cpu"),
            compile=options.compile,
            call_side=call_side(options.tile, options.tile_pad),
        )
        # device "cpu": every worker computes there (each replaces it with its own name); the command's device list
        # ("cpu,cpu") is not one device, and a compiled backend's options refuse it
        decided = replace(options, backend=choice.backend, precision=choice.precision, device="cpu")  # type: ignore[arg-type]
        return replace(self, options=decided)
