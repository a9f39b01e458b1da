"""Network definitions, one room per architecture, and the registry of them.

Each architecture lives in ``esrgan/archs/<name>/``: the network (``net.py``), its checkpoint layouts
(``layout.py``), its ncnn graphs (``ncnn.py``) and its :class:`~esrgan.archs.spec.ArchSpec` (``__init__.py``,
``SPEC``). :data:`REGISTRY` lists the specs explicitly; adding an architecture is one folder plus one line here.
Loaders try the specs in this order. ``vgg.py`` and ``discriminator.py`` are training-only helper networks.

Networks take plain values (never option objects); the rooms import only :mod:`esrgan.archs.spec` and the
generic containers of :mod:`esrgan.formats`.
"""

from __future__ import annotations

import difflib

from esrgan.archs import rrdbnet, span, srvgg
from esrgan.archs.discriminator import VGGStyleDiscriminator
from esrgan.archs.rrdbnet import RRDBNet
from esrgan.archs.span import SPAN
from esrgan.archs.spec import ArchSpec, Described, SRNetwork, as_sr_network
from esrgan.archs.srvgg import SRVGGNetCompact
from esrgan.archs.unet_discriminator import UNetDiscriminatorSN
from esrgan.errors import OptionsError

REGISTRY: tuple[ArchSpec, ...] = (
    rrdbnet.SPEC,
    srvgg.SPEC,
    span.SPEC,
)

# Architecture name -> network class (for callers that only build networks).
ARCHS = {spec.name: spec.net for spec in REGISTRY}
# The GAN stage's discriminators by name; each class says its GAN loss, patch multiple and minimum, and builds
# itself for a patch size (``for_patches``).
DISCRIMINATORS: dict[str, type[VGGStyleDiscriminator] | type[UNetDiscriminatorSN]] = {
    c.arch_name: c for c in (VGGStyleDiscriminator, UNetDiscriminatorSN)
}


def names() -> list[str]:
    """The registered architecture names, in registry order."""
    return [spec.name for spec in REGISTRY]


def get(name: str) -> ArchSpec | None:
    """The spec called ``name``, or None (for networks that may come from elsewhere)."""
    return next((spec for spec in REGISTRY if spec.name == name), None)


def find(name: str) -> ArchSpec:
    """The spec called ``name``; ValueError listing the known names, with the closest one, otherwise."""
    spec = get(name)
    if spec is None:
        known = names()
        by_lower = {n.lower(): n for n in known}  # "rrdbnet" is RRDBNet's closest name, case aside
        close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.5)
        hint = f"; did you mean '{by_lower[close[0]]}'?" if close else ""
        raise OptionsError(f"unknown architecture {name!r}: use one of {', '.join(map(repr, known))}{hint}")
    return spec


__all__ = [
    "ARCHS",
    "DISCRIMINATORS",
    "REGISTRY",
    "SPAN",
    "ArchSpec",
    "Described",
    "RRDBNet",
    "SRNetwork",
    "SRVGGNetCompact",
    "as_sr_network",
    "find",
    "get",
    "names",
]
