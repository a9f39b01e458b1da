"""Network definitions. They take plain values (never option objects) and import nothing else of the package."""

from esrgan.archs.rrdbnet import RRDBNet
from esrgan.archs.srvgg import SRVGGNetCompact

ARCHS = {"RRDBNet": RRDBNet, "SRVGGNetCompact": SRVGGNetCompact}

__all__ = ["ARCHS", "RRDBNet", "SRVGGNetCompact"]
