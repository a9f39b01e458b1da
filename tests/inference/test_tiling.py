"""Tiling: the plan, the blend weights, and tiled == untiled (esrgan/inference/tiling.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from esrgan.archs import RRDBNet
from esrgan.inference.tiling import BLEND, axis_normaliser, plan_tiles, ramp, span_weights, split_axis, tiled


def nearest(scale: int):  # type: ignore[no-untyped-def]
    """A pointwise upscaler: every output pixel depends on one input pixel only."""
    return lambda t: F.interpolate(t, scale_factor=scale, mode="nearest")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def photo(crop: int) -> torch.Tensor:
    """A (1, 3, crop, crop) crop of skimage's astronaut, float RGB in [0, 1]."""
    import skimage.data

    img = skimage.data.astronaut()[:crop, 512 - crop :]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255


# --- the plan -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "tile", "pad", "multiple"),
    [(300, 256, 16, 1), (512, 128, 16, 1), (7, 3, 2, 1), (1, 64, 8, 1), (100, 1, 0, 1), (96, 40, 10, 4), (10, 4, 3, 2)],
)
def test_split_axis_partitions_into_near_equal_cores(size: int, tile: int, pad: int, multiple: int) -> None:
    spans = split_axis(size, tile, pad, multiple)
    tile_eff = max(tile // multiple, 1) * multiple
    assert len(spans) == math.ceil(size / tile_eff)
    assert spans[0].start == 0 and spans[-1].stop == size
    assert all(a.stop == b.start for a, b in itertools.pairwise(spans))
    lengths = [s.stop - s.start for s in spans]
    assert max(lengths) <= tile_eff
    assert max(lengths) - min(lengths) <= multiple  # no thin sliver at the end
    pad_eff = -(-pad // multiple) * multiple
    for s in spans:
        assert s.start % multiple == 0 and s.win_start % multiple == 0
        assert s.win_start == max(s.start - pad_eff, 0) and s.win_stop == min(s.stop + pad_eff, size)


def test_split_axis_avoids_slivers() -> None:
    assert [(s.start, s.stop) for s in split_axis(300, 256, 16)] == [(0, 150), (150, 300)]


def test_split_axis_refuses_unpadded_sizes() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        split_axis(10, 4, 0, multiple=4)


def test_plan_is_row_major_grid() -> None:
    tiles = plan_tiles(20, 30, 10, 2)
    assert len(tiles) == 2 * 3
    assert [(t.y.start, t.x.start) for t in tiles] == [(0, 0), (0, 10), (0, 20), (10, 0), (10, 10), (10, 20)]


# --- blend weights --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "tile", "pad", "scale"), [(300, 100, 16, 4), (64, 16, 8, 1), (50, 7, 5, 3), (9, 2, 0, 2)]
)
def test_blend_weights_sum_to_one(size: int, tile: int, pad: int, scale: int) -> None:
    spans = split_axis(size, tile, pad)
    norm = axis_normaliser(spans, size, pad, scale)
    assert bool((norm > 0).all())
    total = torch.zeros(size * scale, dtype=torch.float64)
    for s in spans:
        w = span_weights(s, size, pad, scale)
        assert bool(((w >= 0) & (w <= 1)).all())
        total[s.win_start * scale : s.win_stop * scale] += w / norm[s.win_start * scale : s.win_stop * scale]
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-12)
    if min(s.stop - s.start for s in spans) >= 2 * BLEND * pad:
        # Complementary ramps: the raw weights already sum to one when only neighbours overlap.
        torch.testing.assert_close(norm, torch.ones_like(norm), rtol=0, atol=1e-12)


def test_weights_are_one_inside_and_ramp_only_over_the_overlap() -> None:
    size, pad, scale = 300, 16, 2
    spans = split_axis(size, 100, pad)
    middle = spans[1]  # core [100, 200), window [84, 216)
    w = span_weights(middle, size, pad, scale)
    coord = (torch.arange(middle.win_start * scale, middle.win_stop * scale) + 0.5) / scale
    half = BLEND * pad
    assert bool((w[(coord > middle.start + half) & (coord < middle.stop - half)] == 1).all())
    # Next to the window edges, where the network saw zeros instead of the image, the weight is ~0.
    assert float(w[0]) < 1e-3 and float(w[-1]) < 1e-3
    assert bool((w[(coord < middle.start - half) | (coord > middle.stop + half)] == 0).all())
    rising = w[coord < middle.start + half]
    assert bool((rising[1:] >= rising[:-1]).all())  # monotone ramp
    assert float(w.diff().abs().max()) < math.pi / (4 * half * scale) + 1e-9  # smooth: bounded slope
    first = span_weights(spans[0], size, pad, scale)
    assert bool((first[: int((spans[0].stop - half) * scale)] == 1).all())  # no ramp at the image border


def test_ramp_halves_are_complementary() -> None:
    coord = torch.linspace(0, 40, 401, dtype=torch.float64)
    up = ramp(coord, 20, 8)
    assert float(up[coord <= 12].max()) == 0 and float(up[coord >= 28].min()) == 1
    torch.testing.assert_close(up + (1 - up), torch.ones_like(up))
    assert float(ramp(torch.tensor([19.5, 20.0]), 20, 0).sum()) == 1  # pad 0: a hard step


# --- tiled == untiled ------------------------------------------------------------------------------------------

COMBOS = [
    # (B, H, W, tile, pad, scale, multiple)
    (1, 64, 64, 16, 4, 4, 1),
    (2, 37, 53, 8, 2, 3, 1),
    (1, 33, 17, 7, 0, 2, 1),
    (1, 20, 30, 100, 3, 4, 1),  # tile larger than the image
    (1, 1, 41, 8, 3, 4, 1),  # one pixel high
    (1, 29, 1, 5, 2, 2, 1),  # one pixel wide
    (1, 1, 1, 16, 16, 4, 1),
    (3, 24, 40, 9, 9, 1, 1),  # pad larger than the core
    (1, 48, 64, 12, 5, 2, 4),  # unshuffling networks: boundaries on a grid of 4
    (1, 30, 18, 6, 1, 4, 2),
]


@pytest.mark.parametrize(("b", "h", "w", "tile", "pad", "scale", "multiple"), COMBOS)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_tiled_equals_untiled_for_pointwise_fn(
    b: int, h: int, w: int, tile: int, pad: int, scale: int, multiple: int, batch_size: int
) -> None:
    x = torch.rand(b, 3, h, w)
    fn = nearest(scale)
    y = tiled(fn, x, scale=scale, tile=tile, pad=pad, multiple=multiple, batch_size=batch_size)
    assert y.dtype == torch.float32 and y.shape == (b, 3, h * scale, w * scale)
    # Equal up to float rounding of the normalised blend (w1 * v + w2 * v) / (w1 + w2).
    torch.testing.assert_close(y, fn(x), rtol=0, atol=1e-6)


def test_tiled_output_channels_may_differ_from_input() -> None:
    x = torch.rand(1, 1, 20, 20)
    y = tiled(lambda t: nearest(2)(t).repeat(1, 3, 1, 1), x, scale=2, tile=6, pad=2)
    torch.testing.assert_close(y, nearest(2)(x).repeat(1, 3, 1, 1), rtol=0, atol=1e-6)


def test_progress_counts_every_tile() -> None:
    calls: list[tuple[int, int]] = []
    tiled(nearest(2), torch.rand(1, 3, 30, 20), scale=2, tile=10, pad=2, on_tile=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]


def test_batched_progress_and_call_count() -> None:
    calls: list[tuple[int, int]] = []
    batches: list[int] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        batches.append(t.shape[0])
        return nearest(2)(t)

    # 40x40, tile 10, pad 2: 4x4 grid; window shapes 12 (border) or 14 (inner) per axis -> 4 shape classes.
    tiled(
        fn, torch.rand(2, 3, 40, 40), scale=2, tile=10, pad=2, batch_size=4, on_tile=lambda d, t: calls.append((d, t))
    )
    assert sum(batches) == 2 * 16 and max(batches) == 2 * 4
    assert calls[-1] == (16, 16)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(calls))


def test_single_tile_reports_progress_once() -> None:
    calls: list[tuple[int, int]] = []
    tiled(nearest(2), torch.rand(1, 3, 8, 8), scale=2, tile=0, pad=4, on_tile=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 1)]


def test_errors_inside_a_tile_propagate() -> None:
    seen = 0

    def fn(t: torch.Tensor) -> torch.Tensor:
        nonlocal seen
        seen += 1
        if seen == 3:
            raise RuntimeError("boom in tile 3")
        return nearest(2)(t)

    with pytest.raises(RuntimeError, match="boom in tile 3"):
        tiled(fn, torch.rand(1, 3, 30, 30), scale=2, tile=10, pad=2)


def test_wrong_output_shape_is_reported() -> None:
    with pytest.raises(ValueError, match="scale 4"):
        tiled(nearest(2), torch.rand(1, 3, 30, 30), scale=4, tile=10, pad=2)


# --- seams with a real network ---------------------------------------------------------------------------------


def line_gradient(y: torch.Tensor, lines: list[int]) -> float:
    """Mean absolute difference between output columns ``c - 1`` and ``c`` and rows ``r - 1`` and ``r``."""
    cols = [(y[..., :, c] - y[..., :, c - 1]).abs().mean() for c in lines]
    rows = [(y[..., r, :] - y[..., r - 1, :]).abs().mean() for r in lines]
    return float(torch.stack(cols + rows).mean())


def seam_ratio(y: torch.Tensor, boundaries: list[int], scale: int) -> float:
    """Gradient across the tile boundaries / gradient across all other lines of the same phase.

    Same phase (multiples of ``scale``) because upscalers repeat structure with period ``scale``; a square
    image is assumed so the same lines serve for rows and columns.
    """
    others = [c for c in range(scale, y.shape[-1], scale) if c not in boundaries]
    return line_gradient(y, boundaries) / line_gradient(y, others)


def check_seamless(fn, x: torch.Tensor, scale: int, tile: int, pad: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """PSNR of tiled vs untiled, and the seam ratio of the tiled and of the untiled output."""
    whole = fn(x).clamp(0, 1)
    parts = tiled(fn, x, scale=scale, tile=tile, pad=pad).clamp(0, 1)
    bounds = [s.start * scale for s in split_axis(x.shape[-1], tile, pad)[1:]]
    return psnr(parts, whole), seam_ratio(parts, bounds, scale), seam_ratio(whole, bounds, scale)


def test_tiling_a_network_is_seamless() -> None:
    """A small random RRDBNet (receptive field wider than the overlap) on a real photo.

    Its output is turned into a photo-like image (nearest upscale plus the network as a residual with 0.1
    standard deviation, like realesr-animevideov3) so that PSNR and gradients have a realistic scale.
    """
    net = RRDBNet(3, 3, scale=2, num_feat=16, num_block=2, num_grow_ch=8).eval()
    x = photo(192)
    with torch.inference_mode():
        residual = net(x)
        gain, offset = 0.1 / float(residual.std()), float(residual.mean())

        def fn(t: torch.Tensor) -> torch.Tensor:
            return nearest(2)(t) + gain * (net(t) - offset)

        fidelity, seams_tiled, seams_whole = check_seamless(fn, x, scale=2, tile=64, pad=16)
        # The same measure flags hard seams: tiles without overlap show their edges.
        _, seams_hard, _ = check_seamless(fn, x, scale=2, tile=64, pad=0)
    assert fidelity >= 45
    # Boundaries are no busier than other lines, relative to the same lines of the untiled output.
    assert seams_tiled <= seams_whole * 1.02
    assert seams_hard > seams_whole * 1.1, "the seam measure should see the seams of unblended tiles"


def test_tiling_a_real_model_is_seamless() -> None:
    """realesr-animevideov3 on the 512x512 astronaut, tile 128: >= 45 dB vs untiled and no visible seam."""
    models = pytest.importorskip("esrgan.models")
    net, info = models.load_model("realesr-animevideov3")
    with torch.inference_mode():
        fidelity, seams_tiled, seams_whole = check_seamless(net, photo(512), scale=info.scale, tile=128, pad=16)
    assert fidelity >= 45
    assert seams_tiled <= seams_whole * 1.02
