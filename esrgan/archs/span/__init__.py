"""SPAN (Swift Parameter-free Attention Network): the network and its checkpoint layouts."""

from esrgan.archs.span.net import SPAN

__all__ = ["SPAN"]
