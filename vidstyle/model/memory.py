"""Whether a frame of the working size can be optimized in the memory this machine has, whole or in tiles.

Optimizing a frame keeps every activation of the VGG forward pass for the
backward pass, plus the optimizer's state (L-BFGS: 50 pairs of image-sized
vectors), so memory grows with the working size's pixel count. Measured on
CPU with benchmarks/frame_memory.py (VGG19, one thread, L-BFGS, a fixed
glibc mmap threshold, the steps' own peak above what was resident before
them, 2026-12-07): 0.25 GB at 256x256, 0.97 GB at 512x512, 3.85 GB at
1024x1024, a slope of 3.66 KB per working pixel at every size from 256 to
1024 (no fixed part to speak of), above about 1 GB of torch, weights and
style targets. Taken as 1 GB + 3.7 KB per pixel.

Of the 3.7 KB, about 1.4 KB is image-sized state that stays whatever the
network sees: L-BFGS's history (2 x 50 x 3 float32 = 1.2 KB, allocated and
zeroed when the frame starts, so resident from its first step) and the
batch's images (the iterate, the best one, the gradient, the temporal
target and mask, the content targets). Measured in 256 px tiles (the tile
fixed, the frame growing from 384 to 640 px): 1.29-1.41 KB per frame
pixel. The rest, 2.3 KB, is the network's activations, which follow the
pixels that go through it at once. A frame optimized in tiles
(model/tiles.py) passes one tile at a time, so it needs 1 GB + 1.4 KB per
frame pixel + 2.3 KB per tile pixel: a 4K frame (8.3 megapixels) about
12.7 GB + its tile, where whole it needs about 32 GB. (Until 2026-12-07 the
activations were taken as 1.6 KB, from peaks that glibc's moving mmap
threshold had blurred; 1080p runs measured whole by benchmarks/tiles.py
had already peaked 1.2x above that model.)

``check_memory`` answers before any work starts: with ``--tile-size auto``
a frame that fits is optimized whole, one that does not in the largest
tile that fits; only a frame whose state alone (or with the smallest
sensible tile, MIN_AUTO_TILE) cannot fit is refused, with a --max-size
that fits. Adam's state is 1.1 KB per pixel smaller than L-BFGS's; the
model keeps L-BFGS's, so it errs on the safe side.

``--batch-chains K`` puts K frames through each pass: the fixed cost is
paid once, the state and the activations K times. The tile choice is made
for one frame (so the frames, which must not depend on K, are the same),
and :func:`frames_that_fit` then says how many such frames fit side by side;
a batch is never opened larger than that (methods/optimize.py).
"""

from __future__ import annotations

import math
import os
from typing import NoReturn

import torch

from vidstyle.config import TILE_AUTO, TILE_OFF
from vidstyle.errors import UsageError

BASE_BYTES = 1.0e9
STATE_BYTES_PER_PIXEL = 1.4e3  # image-sized state: L-BFGS history and the batch's images, per frame pixel
ACTIVATION_BYTES_PER_PIXEL = 2.3e3  # the network's activations kept for the backward pass, per pixel passed at once
BYTES_PER_PIXEL = STATE_BYTES_PER_PIXEL + ACTIVATION_BYTES_PER_PIXEL
# Auto never picks a smaller tile: at 256 px relu5_1 is 16x16 and the 64 px overlap a quarter of the tile.
MIN_AUTO_TILE = 256
TILE_FILL = 0.85  # of the free memory, the most an automatic tile is sized to fill


def frame_bytes(size: tuple[int, int], *, tile: int | None = None) -> float:
    """Estimated peak memory of optimizing one frame of ``size`` (width, height), whole or in tiles of ``tile`` px."""
    width, height = size
    passed = width * height if tile is None else min(width, tile) * min(height, tile)
    return BASE_BYTES + STATE_BYTES_PER_PIXEL * width * height + ACTIVATION_BYTES_PER_PIXEL * passed


def frames_that_fit(size: tuple[int, int], *, tile: int | None, free: float | None) -> int | None:
    """How many frames of ``size`` (optimized whole or in tiles of ``tile`` px) one batch can hold in ``free`` bytes, at least 1.

    None when the free memory is unknown (the batch is then as large as asked).
    """
    if free is None:
        return None
    per_frame = frame_bytes(size, tile=tile) - BASE_BYTES
    return max(1, int((TILE_FILL * free - BASE_BYTES) // per_frame))


def largest_tile(size: tuple[int, int], free: float) -> int:
    """The largest tile side (a multiple of 16 px) whose frame of ``size`` fits in ``free`` bytes; 0 if none."""
    width, height = size
    left = free - BASE_BYTES - STATE_BYTES_PER_PIXEL * width * height
    if left <= 0:
        return 0
    return int(math.sqrt(left / ACTIVATION_BYTES_PER_PIXEL)) // 16 * 16


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device``: the GPU's free memory, else the system's available memory (None if unknown)."""
    if device.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(device)
            return int(free)
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # not Linux: the physical memory, an upper bound
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(
    size: tuple[int, int],
    *,
    device: torch.device,
    max_size: int | None,
    available: int | None = None,
    margin: int = 0,
    tile_size: int | str = TILE_AUTO,
) -> int | None:
    """The tile side frames of ``size`` are optimized in (None: whole), or a UsageError naming what fits.

    ``tile_size``: "auto" (whole when the frame fits, else the largest tile
    that fits), "off" (whole or refused) or a number of pixels (tiles of that
    size, refused when even they do not fit).
    """
    free = available if available is not None else available_bytes(device)
    forced = tile_size if isinstance(tile_size, int) else None
    width, height = size
    if forced is not None and width <= forced and height <= forced:
        forced = None  # the frame is one tile: optimized whole
    if free is None:
        return forced
    if forced is not None:
        need = frame_bytes(size, tile=forced)
        if need <= free:
            return forced
        _refuse(size, need=need, free=free, device=device, max_size=max_size, margin=margin, tile=forced)
    need = frame_bytes(size)
    if need <= free:
        return None
    if tile_size == TILE_OFF:
        _refuse(size, need=need, free=free, device=device, max_size=max_size, margin=margin, tile=None)
    # The model is within about 20% of measured peaks (tests/model/test_memory.py): a tile leaves 15% of the free memory spare.
    tile = largest_tile(size, TILE_FILL * free)
    if tile >= MIN_AUTO_TILE:
        return tile
    smallest = frame_bytes(size, tile=MIN_AUTO_TILE)
    _refuse(size, need=smallest, free=free, device=device, max_size=max_size, margin=margin, tile=MIN_AUTO_TILE)


def _refuse(
    size: tuple[int, int], *, need: float, free: float, device: torch.device, max_size: int | None, margin: int, tile: int | None
) -> NoReturn:
    """The refusal: what the frame needs (whole, or in the tiles tried), what is free, and a --max-size that fits."""
    width, height = size
    where = "GPU" if device.type == "cuda" else "machine"
    aspect = min(width, height) / max(width, height)
    if tile is None:  # whole frames only (--tile-size off)
        pixels = (free - BASE_BYTES) / BYTES_PER_PIXEL
    else:  # in tiles of `tile` px: the state follows the frame, the activations the tile
        pixels = (TILE_FILL * free - BASE_BYTES - ACTIVATION_BYTES_PER_PIXEL * tile * tile) / STATE_BYTES_PER_PIXEL
    fits = math.sqrt(max(0.0, pixels) / aspect)
    fits = int(fits - 2 * margin) // 16 * 16  # the advice is a --max-size: the frame inside its --edge-margin canvas
    advice = (
        f"use --max-size {fits} or less"
        if fits >= 16
        else "free some memory first (close other programs), then use a small --max-size"
    )
    given = f"At --max-size {max_size}" if max_size else "At the input's full size"
    # The user knows the frame's size; the canvas (--edge-margin px more on every side) is what costs the memory.
    edge = f" with the {margin} px edge margin" if margin else ""
    how = "optimizing one" if tile is None else f"optimizing one in tiles of {tile} px"
    raise UsageError(
        f"{given} the frames are {width - 2 * margin}x{height - 2 * margin} ({width * height / 1e6:.1f} megapixels{edge}): {how} needs "
        f"about {need / 1e9:.0f} GB of memory, and this {where} has {free / 1e9:.1f} GB free; {advice}."
    )
