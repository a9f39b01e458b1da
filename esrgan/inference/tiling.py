"""Overlapping tiles: run an upscaling function on pieces of an image and blend the pieces without seams.

Pure functions over any callable ``fn(x) -> y`` with ``y`` ``scale`` times larger than ``x``; no network needed.

Each axis of length ``L`` is cut into ``n = ceil(L / tile)`` *cores* of (nearly) equal length, so there are no
thin slivers: 300 px with tile 256 gives two cores of 150, not 256 + 44. A core's *window* (what ``fn`` sees)
adds ``pad`` pixels of context on each side, clipped at the image border. Neighbouring windows overlap by
``2 * pad`` around each core boundary; there the two outputs are cross-faded with complementary raised-cosine
ramps, which are ~0 at a window's edge (where the network saw zero padding instead of the image) and sum to
one. Everywhere else a pixel comes from one tile with weight 1. Weights are normalised by their sum, so a
pointwise ``fn`` gives exactly (up to float rounding) the untiled result, and there is no seam: the
transition is smooth and ``2 * pad`` pixels wide.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

TileFn = Callable[[torch.Tensor], torch.Tensor]
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in input pixels: the core ``[start, stop)`` it is responsible for and the
    window ``[win_start, win_stop)`` (core plus context) that is fed to the function."""

    start: int
    stop: int
    win_start: int
    win_stop: int


@dataclass(frozen=True)
class Tile:
    """A rectangle of the tile grid: one :class:`Span` per axis."""

    y: Span
    x: Span


def split_axis(size: int, tile: int, pad: int, multiple: int = 1) -> list[Span]:
    """Cut an axis of ``size`` pixels into ``ceil(size / tile)`` cores of near-equal length.

    Args:
        size: axis length in input pixels; must be a multiple of ``multiple``.
        tile: largest core length; rounded down to a multiple of ``multiple`` (at least ``multiple``).
            ``tile <= 0`` or ``tile >= size`` gives one span over the whole axis.
        pad: context added on each side of a core; rounded up to a multiple of ``multiple``.
        multiple: every boundary is a multiple of this (networks that pixel-unshuffle need it so that a
            tile sees the same pixel grouping as the whole image).

    Returns:
        Spans in order; cores partition ``[0, size)``, windows are cores widened by ``pad`` and clipped.
    """
    if size < 1 or multiple < 1 or pad < 0:
        raise ValueError(f"split_axis needs size >= 1, multiple >= 1, pad >= 0; got {size}, {multiple}, {pad}")
    if size % multiple:
        raise ValueError(f"axis length {size} is not a multiple of {multiple}; pad the image first")
    units = size // multiple
    tile_units = max(tile // multiple, 1) if tile > 0 else units
    pad = -(-pad // multiple) * multiple
    n = -(-units // tile_units)
    # Integer floor division spreads the remainder: core lengths differ by at most one `multiple`.
    bounds = [i * units // n * multiple for i in range(n + 1)]
    return [Span(a, b, max(a - pad, 0), min(b + pad, size)) for a, b in itertools.pairwise(bounds)]


def plan_tiles(height: int, width: int, tile: int, pad: int, multiple: int = 1) -> list[Tile]:
    """The tile grid for an ``height`` x ``width`` image, row by row (see :func:`split_axis`)."""
    rows = split_axis(height, tile, pad, multiple)
    cols = split_axis(width, tile, pad, multiple)
    return [Tile(y, x) for y in rows for x in cols]


# Ramp half-width as a share of the pad. Measured, PSNR of tiled vs untiled fp32 output with pad 16:
#   RealESRGAN_x4plus, 192x192 photo, tile 96:  1.0 -> 50.7 dB, 0.5 -> 50.2 dB, 0.25 -> 49.9, hard crop 49.7
#   realesr-animevideov3, 512x512, tile 128:    1.0 -> 77.2 dB, 0.5 -> 92.3 dB, 0.25 -> 102.2
# A long-range network gains from averaging two estimates over a wide band; a short-range one from ignoring
# the window edges. The default model is the long-range one, and 77 dB is far beyond visible.
BLEND = 1.0


def ramp(coord: torch.Tensor, boundary: int, half_width: float) -> torch.Tensor:
    """Raised-cosine step from 0 to 1 across ``[boundary - half_width, boundary + half_width]``.

    ``ramp(c) + (1 - ramp(c)) == 1``: the rising ramp of the right neighbour and the falling ramp of the left
    one are complementary, so the weights in an overlap already sum to one. ``half_width == 0`` is a hard step.
    Coordinates are in input pixels.
    """
    if half_width == 0:
        return (coord >= boundary).to(coord.dtype)
    t = ((coord - (boundary - half_width)) / (2 * half_width)).clamp(0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(math.pi * t)


def span_weights(span: Span, size: int, pad: int, scale: int) -> torch.Tensor:
    """Blend weights of one span over its window at output resolution.

    Returns:
        float64 (``(win_stop - win_start) * scale``,) in [0, 1]: 1 inside the core away from neighbours and up
        to the image border, raised-cosine ramps of half-width ``BLEND * pad`` across each boundary shared with
        a neighbour, 0 on the outer part of the padding.
    """
    # Output pixel centres in input coordinates: pixel u covers [u, u + 1) / scale.
    coord = (torch.arange(span.win_start * scale, span.win_stop * scale, dtype=torch.float64) + 0.5) / scale
    weight = torch.ones_like(coord)
    if span.start > 0:
        weight = weight * ramp(coord, span.start, BLEND * pad)
    if span.stop < size:
        weight = weight * (1.0 - ramp(coord, span.stop, BLEND * pad))
    return weight


def axis_normaliser(spans: list[Span], size: int, pad: int, scale: int) -> torch.Tensor:
    """Sum of all spans' weights along an axis, float64 (``size * scale``,); strictly positive."""
    total = torch.zeros(size * scale, dtype=torch.float64)
    for span in spans:
        total[span.win_start * scale : span.win_stop * scale] += span_weights(span, size, pad, scale)
    return total


def tiled(
    fn: TileFn,
    x: torch.Tensor,
    *,
    scale: int,
    tile: int,
    pad: int,
    multiple: int = 1,
    batch_size: int = 1,
    on_tile: ProgressFn | None = None,
) -> torch.Tensor:
    """Apply ``fn`` tile by tile and blend the results.

    Args:
        fn: maps (N, C, h, w) to (N, C_out, h * scale, w * scale); any callable (a network, a test lambda).
            Its exceptions propagate unchanged.
        x: (B, C, H, W); H and W multiples of ``multiple``. Any dtype and device ``fn`` accepts.
        scale: integer upscaling factor of ``fn``.
        tile: largest core side in input pixels (see :func:`split_axis`); <= 0 means one tile.
        pad: context per side in input pixels; neighbours are cross-faded over the middle ``pad`` pixels of
            their ``2 * pad`` overlap.
        multiple: tile boundaries are multiples of this.
        batch_size: how many same-shaped tiles to stack into one ``fn`` call (B * batch_size images).
        on_tile: called as ``on_tile(done, total)`` after each call of ``fn``, ``done`` counting tiles.

    Returns:
        (B, C_out, H * scale, W * scale) in float32 on ``x.device`` (the dtype the blend is exact in).

    Raises:
        ValueError: ``fn`` returned a tensor of the wrong shape.
    """
    if x.ndim != 4:
        raise ValueError(f"tiled expects (B, C, H, W), got shape {tuple(x.shape)}")
    if batch_size < 1:
        raise ValueError(f"tile batch size must be >= 1, got {batch_size}")
    B, _, H, W = x.shape
    rows = split_axis(H, tile, pad, multiple)
    cols = split_axis(W, tile, pad, multiple)
    total = len(rows) * len(cols)
    if total == 1:
        whole = _checked(fn(x), x, scale).float()
        if on_tile is not None:
            on_tile(1, 1)
        return whole

    pad = -(-pad // multiple) * multiple  # the same rounding split_axis applied
    weights_y = [span_weights(s, H, pad, scale).float().to(x.device) for s in rows]
    weights_x = [span_weights(s, W, pad, scale).float().to(x.device) for s in cols]
    out: torch.Tensor | None = None
    done = 0
    for group in _same_shape_groups(rows, cols, batch_size):
        windows = [x[:, :, r.win_start : r.win_stop, c.win_start : c.win_stop] for (_, r), (_, c) in group]
        batch = windows[0] if len(windows) == 1 else torch.cat(windows)
        result = _checked(fn(batch), batch, scale)
        if out is None:
            out = x.new_zeros((B, result.shape[1], H * scale, W * scale), dtype=torch.float32)
        for k, ((i, r), (j, c)) in enumerate(group):
            weight = weights_y[i][:, None] * weights_x[j][None, :]
            target = out[:, :, r.win_start * scale : r.win_stop * scale, c.win_start * scale : c.win_stop * scale]
            target.addcmul_(result[k * B : (k + 1) * B].float(), weight)
        done += len(group)
        if on_tile is not None:
            on_tile(done, total)
    assert out is not None  # total >= 2 tiles were processed
    norm_y = axis_normaliser(rows, H, pad, scale).float().to(x.device)
    norm_x = axis_normaliser(cols, W, pad, scale).float().to(x.device)
    # The grid is a product of 1-D splits, so the 2-D weight sum is the outer product of the 1-D sums;
    # dividing by each in turn avoids materialising an output-sized weight image.
    out /= norm_y[:, None]
    out /= norm_x[None, :]
    return out


def _same_shape_groups(
    rows: list[Span], cols: list[Span], batch_size: int
) -> Iterator[list[tuple[tuple[int, Span], tuple[int, Span]]]]:
    """Tiles in row-major order, gathered into runs of up to ``batch_size`` equal-sized windows."""
    pending: dict[tuple[int, int], list[tuple[tuple[int, Span], tuple[int, Span]]]] = {}
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            shape = (r.win_stop - r.win_start, c.win_stop - c.win_start)
            bucket = pending.setdefault(shape, [])
            bucket.append(((i, r), (j, c)))
            if len(bucket) == batch_size:
                yield pending.pop(shape)
    yield from pending.values()


def _checked(y: torch.Tensor, x: torch.Tensor, scale: int) -> torch.Tensor:
    expected = (x.shape[0], x.shape[2] * scale, x.shape[3] * scale)
    if not isinstance(y, torch.Tensor) or y.ndim != 4 or (y.shape[0], y.shape[2], y.shape[3]) != expected:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(
            f"tile function returned {got} for input {tuple(x.shape)}; expected (N, C, H, W) with "
            f"N={expected[0]}, H={expected[1]}, W={expected[2]} (scale {scale})"
        )
    return y
