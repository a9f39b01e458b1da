"""Input size requirements of a network (multiple of, minimum, square) and the padding that meets them.

Most networks here take any size; pixel-unshuffle networks need multiples of 2 or 4, and networks loaded through
spandrel may also need a minimum side (window attention: 16 for SwinIR, HAT, DAT) or square inputs (Uformer).
The engine pads the whole image once (:func:`pad_to`), and wraps each network call so that a tile smaller than the
minimum, or not square, is padded too and its output cropped back (:func:`fit_calls`).

Padding is at the bottom and right, reflected (no new edge) up to one pixel less than the side, then the edge
replicated for the rest: spandrel's ``pad_tensor``, so a network gives the same output here as in spandrel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

TileFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SizeRule:
    """What input sides a network accepts.

    Attributes:
        multiple: both sides must be multiples of this (>= 1).
        minimum: both sides must be at least this (>= 1); rounded up to ``multiple`` where used.
        square: height and width must be equal.
    """

    multiple: int = 1
    minimum: int = 1
    square: bool = False

    def __post_init__(self) -> None:
        if self.multiple < 1 or self.minimum < 1:
            raise ValueError(f"size rule needs multiple >= 1 and minimum >= 1, got {self.multiple}, {self.minimum}")

    @classmethod
    def of(cls, net: object) -> SizeRule:
        """The rule a network declares through ``size_multiple``, ``min_size`` and ``requires_square`` (each
        optional: our own networks declare only what they need)."""
        return cls(
            int(getattr(net, "size_multiple", 1)),
            max(int(getattr(net, "min_size", 1)), 1),
            bool(getattr(net, "requires_square", False)),
        )

    @property
    def needs_fitting(self) -> bool:
        """Whether a tile that is a multiple of ``multiple`` can still be too small or not square."""
        return self.minimum > 1 or self.square

    def target(self, height: int, width: int) -> tuple[int, int]:
        """The smallest (height, width) at least this large that meets the rule."""

        def side(n: int) -> int:
            n = max(n, self.minimum)
            return -(-n // self.multiple) * self.multiple

        h, w = side(height), side(width)
        if self.square:
            h = w = max(h, w)
        return h, w


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
