"""Whether a frame of the working size can be optimized in the memory this machine has.

Optimizing a frame keeps every activation of the VGG forward pass for the
backward pass, plus the optimizer's state (L-BFGS: 50 pairs of image-sized
vectors), so memory grows with the working size's pixel count. Measured on
CPU with benchmarks/frame_memory.py (peak RSS of one L-BFGS frame with
VGG19): 1.1-1.3 GB at 256x256, 1.6 GB at 512x512, 3.2-3.4 GB at 1024x1024,
i.e. about 1 GB of fixed cost (torch, weights, style targets) and 1.6-2.8
KB per working pixel; Adam needs about the same. Taken as 1 GB + 3 KB per
pixel, so a frame is refused only when it clearly cannot fit, and the
refusal comes before any work starts, with a --max-size that fits.
"""

from __future__ import annotations

import math
import os

import torch

from vidstyle.errors import UsageError

BASE_BYTES = 1.0e9
BYTES_PER_PIXEL = 3.0e3


def frame_bytes(size: tuple[int, int]) -> float:
    """Estimated peak memory of optimizing one frame of ``size`` (width, height)."""
    return BASE_BYTES + BYTES_PER_PIXEL * size[0] * size[1]


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
    size: tuple[int, int], *, device: torch.device, max_size: int | None, available: int | None = None, margin: int = 0
) -> None:
    """UsageError, naming a --max-size that fits, when a frame of ``size`` clearly needs more memory than ``device`` has."""
    free = available if available is not None else available_bytes(device)
    need = frame_bytes(size)
    if free is None or need <= free:
        return
    width, height = size
    where = "GPU" if device.type == "cuda" else "machine"
    aspect = min(width, height) / max(width, height)
    fits = math.sqrt(max(0.0, free - BASE_BYTES) / (BYTES_PER_PIXEL * aspect))
    fits = int(fits - 2 * margin) // 16 * 16  # the advice is a --max-size: the frame inside its --edge-margin canvas
    advice = (
        f"use --max-size {fits} or less"
        if fits >= 16
        else "free some memory first (close other programs), then use a small --max-size"
    )
    given = f"At --max-size {max_size}" if max_size else "At the input's full size"
    # The user knows the frame's size; the canvas (--edge-margin px more on every side) is what costs the memory.
    edge = f" with the {margin} px edge margin" if margin else ""
    raise UsageError(
        f"{given} the frames are {width - 2 * margin}x{height - 2 * margin} ({width * height / 1e6:.1f} megapixels{edge}): optimizing one needs "
        f"about {need / 1e9:.0f} GB of memory, and this {where} has {free / 1e9:.1f} GB free; {advice}."
    )
