"""Self-ensemble (geometric ensemble, "x8"): average a function over the 8 symmetries of the square.

The dihedral group D4 acts on the last two axes: ``k % 4`` quarter-turns, then a left-right flip if ``k >= 4``.
The function is applied to each transformed input, each output is transformed back, and the 8 results are
averaged. For an upscaler that commutes with these symmetries the ensemble changes nothing; a real network
does not commute exactly, and averaging usually gains a little PSNR at 8x the cost ("EDSR+", Lim et al. 2017).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

NUM_TRANSFORMS = 8


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Transform ``k`` (0..7) of the last two axes: ``k % 4`` counter-clockwise quarter-turns, then a
    left-right flip when ``k >= 4``. Odd ``k % 4`` swaps height and width."""
    _check(k)
    y = torch.rot90(x, k % 4, dims=(-2, -1))
    return y.flip(-1) if k >= 4 else y


def dihedral_inverse(y: torch.Tensor, k: int) -> torch.Tensor:
    """Undo :func:`dihedral`: ``dihedral_inverse(dihedral(x, k), k)`` equals ``x``."""
    _check(k)
    if k >= 4:
        y = y.flip(-1)
    return torch.rot90(y, -(k % 4), dims=(-2, -1))


def self_ensemble(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Average ``fn`` over the 8 dihedral transforms of ``x``.

    Args:
        fn: maps (B, C, H, W) to (B, C_out, H * s, W * s) for any H, W (it must accept the swapped H and W).
        x: (B, C, H, W); any values.

    Returns:
        (B, C_out, H * s, W * s) float32: ``mean_k dihedral_inverse(fn(dihedral(x, k)), k)``.
    """
    total: torch.Tensor | None = None
    for k in range(NUM_TRANSFORMS):
        y = dihedral_inverse(fn(dihedral(x, k)), k).float()
        # Accumulate in place: one output-sized buffer besides fn's own output.
        total = y.clone() if total is None else total.add_(y)
    assert total is not None
    return total.div_(NUM_TRANSFORMS)


def _check(k: int) -> None:
    if not 0 <= k < NUM_TRANSFORMS:
        raise ValueError(f"dihedral transform index must be 0..7, got {k}")
