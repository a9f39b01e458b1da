"""Input size requirements of a network (a multiple of, at least) and the padding that meets them.

Most networks here take any size; pixel-unshuffle networks need multiples of 2 or 4, and networks loaded through
spandrel may also need a minimum side (window attention: 16 for SwinIR, HAT, DAT; Real-CUGAN 32). The engine pads
the whole image once (:func:`pad_to`), and wraps each network call so that a tile below the minimum is padded too
and its output cropped back (:func:`fit_calls`).

Padding is at the bottom and right, reflected (no new edge) up to one pixel less than the side, then the edge
replicated for the rest: spandrel's ``pad_tensor``, so a network gives the same output here as in spandrel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from esrgan.archs import SRNetwork

TileFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SizeRule:
    """What input sides a network accepts.

    Attributes:
        multiple: both sides must be multiples of this (>= 1).
        minimum: both sides must be at least this (>= 1); rounded up to ``multiple`` where used.
    """

    multiple: int = 1
    minimum: int = 1

    def __post_init__(self) -> None:
        if self.multiple < 1 or self.minimum < 1:
            raise ValueError(f"size rule needs multiple >= 1 and minimum >= 1, got {self.multiple}, {self.minimum}")

    @classmethod
    def of(cls, net: SRNetwork) -> SizeRule:
        """The rule of a network's contract (``size_multiple``, ``min_size``)."""
        return cls(int(net.size_multiple), max(int(net.min_size), 1))

    def target(self, height: int, width: int) -> tuple[int, int]:
        """The smallest (height, width) at least this large that meets the rule."""

        def side(n: int) -> int:
            n = max(n, self.minimum)
            return -(-n // self.multiple) * self.multiple

        return side(height), side(width)


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad (..., H, W) at the bottom and right to (height, width): reflect up to H - 1 (W - 1) pixels, then
    replicate the edge. Returns ``x`` itself when nothing is missing."""
    pad_h, pad_w = height - x.shape[-2], width - x.shape[-1]
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f"cannot pad {tuple(x.shape[-2:])} down to {(height, width)}")
    if pad_h == 0 and pad_w == 0:
        return x
    reflect_h, reflect_w = min(pad_h, x.shape[-2] - 1), min(pad_w, x.shape[-1] - 1)
    if reflect_h or reflect_w:
        x = F.pad(x, (0, reflect_w, 0, reflect_h), mode="reflect")
    if pad_h > reflect_h or pad_w > reflect_w:
        x = F.pad(x, (0, pad_w - reflect_w, 0, pad_h - reflect_h), mode="replicate")
    return x


def fit_calls(fn: TileFn, rule: SizeRule, scale: int) -> TileFn:
    """``fn`` with every input padded to meet ``rule`` and the output cropped back to ``scale`` times the input.

    ``fn`` maps (N, C, h, w) to (N, C_out, h * scale, w * scale); so does the result, for any h and w.
    """

    def fitted(x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        target = rule.target(height, width)
        if target == (height, width):
            return fn(x)
        return fn(pad_to(x, *target))[..., : height * scale, : width * scale]

    return fitted
