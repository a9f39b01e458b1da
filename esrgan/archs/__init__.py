"""Network definitions. They take plain values (never option objects) and import nothing else of the package."""

from esrgan.archs.rrdbnet import RRDBNet
from esrgan.archs.span import SPAN
from esrgan.archs.srvgg import SRVGGNetCompact

ARCHS = {"RRDBNet": RRDBNet, "SRVGGNetCompact": SRVGGNetCompact, "SPAN": SPAN}

__all__ = ["ARCHS", "SPAN", "RRDBNet", "SRVGGNetCompact"]
