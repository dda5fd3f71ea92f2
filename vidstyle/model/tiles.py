"""Overlapping tiles of a frame, and the weights that split the frame's loss between them (a partition of unity).

A frame too large for the device to optimize at once (model/memory.py) is
still optimized as ONE full-size image: the optimizer's variable, its L-BFGS
history and its early stop stay image-sized, so no tile can drift away from
its neighbour. Only the loss and its gradient are computed tile by tile
(model/stylizer.py, ``StylizeBatch._tiled``): each tile, its overlap
included, goes through the network with its own crop of the content, and
the frame's Grams are summed from the tiles and compared with the run's
style targets; tv and the temporal term are per pixel and taken on the
whole image. One tile's activations are alive at a time, so peak memory
follows the tile size.

Every feature-map position counts once, split between the tiles that see
it by their :class:`Tile` ``weight`` (pooled to the map's resolution): the
weights fall off linearly across every overlap and sum to 1 at every pixel,
so the loss is the whole frame's (its Grams included), nothing jumps where a
tile ends, and the positions next to a tile's border, where the network sees
the border (its zero padding) rather than the picture beyond, count least.
That last part is where a tiled frame differs from a whole one: measured in
benchmarks/tiles.py (docs/performance.md, "Memory and tiles").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

@dataclass(frozen=True)
class Tile:
    """One tile: ``rows`` and ``cols`` slice the frame; ``weight`` (1, 1, h, w) blends its gradient."""

    rows: slice
    cols: slice
    weight: torch.Tensor
    share: float  # the weight's sum over the frame's pixel count: the part of the frame this tile stands for


def effective_overlap(tile: int, overlap: int) -> int:
    """The overlap tiles of ``tile`` px get: at most a quarter of the tile, so a tile is mostly its own."""
    return max(0, min(overlap, tile // 4))


def spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, stop) of the tiles along a side of ``length`` px: ``tile`` long, overlapping by at least ``overlap``.

    The starts are spread evenly from 0 to ``length - tile``, so every tile has
    the same size (one shape for --compile) and the overlaps are equal to a pixel.
    """
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    count = max(count, 2)
    return [(round(i * (length - tile) / (count - 1)), round(i * (length - tile) / (count - 1)) + tile) for i in range(count)]


def _ramps(length: int, pieces: list[tuple[int, int]]) -> list[torch.Tensor]:
    """Per span, a 1-D weight over the whole side: 1 inside, falling linearly to 0 across each overlap; summing to 1."""
    positions = torch.arange(length, dtype=torch.float64) + 0.5
    raw = []
    for index, (start, stop) in enumerate(pieces):
        weight = torch.zeros(length, dtype=torch.float64)
        inside = (positions > start) & (positions < stop)
        weight[inside] = 1.0
        if index > 0:  # rises across the overlap with the previous span
            before = pieces[index - 1][1]
            if before > start:
                weight = torch.where(inside, torch.minimum(weight, (positions - start) / (before - start)), weight)
        if index + 1 < len(pieces):  # falls across the overlap with the next span
            after = pieces[index + 1][0]
            if stop > after:
                weight = torch.where(inside, torch.minimum(weight, (stop - positions) / (stop - after)), weight)
        raw.append(weight)
    total = torch.stack(raw).sum(0)
    # Two neighbours' ramps already sum to 1; dividing by the sum also covers three overlapping spans.
    return [weight / total for weight in raw]


def tile_grid(size: tuple[int, int], *, tile: int, overlap: int, device: torch.device | str = "cpu") -> list[Tile]:
    """The tiles of a frame of ``size`` (width, height), row by row; one tile (weight 1) when the frame fits in one."""
    width, height = size
    overlap = effective_overlap(tile, overlap)
    across, down = spans(width, tile, overlap), spans(height, tile, overlap)
    wx, wy = _ramps(width, across), _ramps(height, down)
    tiles = []
    for (top, bottom), row_weight in zip(down, wy):
        for (left, right), col_weight in zip(across, wx):
            weight = row_weight[top:bottom, None] * col_weight[None, left:right]
            tiles.append(
                Tile(
                    rows=slice(top, bottom),
                    cols=slice(left, right),
                    weight=weight.float().reshape(1, 1, bottom - top, right - left).to(device),
                    share=float(weight.sum()) / (width * height),
                )
            )
    return tiles
