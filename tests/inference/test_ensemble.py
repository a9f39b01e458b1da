"""Self-ensemble over the 8 dihedral transforms (esrgan/inference/ensemble.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from esrgan.inference.ensemble import NUM_TRANSFORMS, dihedral, dihedral_inverse, self_ensemble


def nearest3(t: torch.Tensor) -> torch.Tensor:
    return F.interpolate(t, scale_factor=3, mode="nearest")


@pytest.mark.parametrize("k", range(NUM_TRANSFORMS))
def test_each_inverse_composes_to_identity(k: int) -> None:
    x = torch.rand(2, 3, 5, 7)
    y = dihedral(x, k)
    assert y.shape[-2:] == ((7, 5) if k % 2 else (5, 7))
    assert torch.equal(dihedral_inverse(y, k), x)
    assert torch.equal(dihedral(dihedral_inverse(x, k), k), x)


def test_the_eight_transforms_are_distinct() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    images = {tuple(dihedral(x, k).flatten().tolist()) for k in range(NUM_TRANSFORMS)}
    assert len(images) == NUM_TRANSFORMS


def test_transform_index_is_checked() -> None:
    with pytest.raises(ValueError, match=r"0\.\.7"):
        dihedral(torch.rand(1, 1, 2, 2), 8)


def test_equivariant_fn_is_unchanged() -> None:
    x = torch.rand(2, 3, 6, 11)
    torch.testing.assert_close(self_ensemble(nearest3, x), nearest3(x), rtol=0, atol=1e-6)


def test_non_equivariant_fn_gives_the_hand_computed_average() -> None:
    """fn adds j**2 along the output width. Turned back, the 8 passes add j**2 (identity, half-turn flip),
    (W-1-j)**2 (flip, half-turn), i**2 and (H-1-i)**2 (the quarter-turns, two each): their mean is
    (j**2 + (W-1-j)**2 + i**2 + (H-1-i)**2) / 4."""

    def fn(t: torch.Tensor) -> torch.Tensor:
        up = nearest3(t)
        column = torch.arange(up.shape[-1], dtype=up.dtype) ** 2
        return up + column

    x = torch.rand(1, 2, 4, 9)
    Ho, Wo = 12, 27
    i = torch.arange(Ho, dtype=torch.float32)[:, None]
    j = torch.arange(Wo, dtype=torch.float32)[None, :]
    expected = nearest3(x) + (j**2 + (Wo - 1 - j) ** 2 + i**2 + (Ho - 1 - i) ** 2) / 4
    torch.testing.assert_close(self_ensemble(fn, x), expected, rtol=1e-6, atol=1e-4)


def test_each_pass_sees_its_transform() -> None:
    shapes: list[tuple[int, ...]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(t.shape))
        return nearest3(t)

    self_ensemble(fn, torch.rand(1, 3, 4, 6))
    assert shapes == [(1, 3, 4, 6), (1, 3, 6, 4)] * 4


def test_ensemble_does_not_modify_fn_outputs() -> None:
    kept: list[torch.Tensor] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        y = nearest3(t)
        kept.append(y)  # a caller may still hold its output: the ensemble must not sum into it
        return y

    x = torch.rand(1, 3, 5, 5)
    self_ensemble(fn, x)
    assert torch.equal(kept[0], nearest3(x))
