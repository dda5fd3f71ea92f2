"""Peak memory of one optimization step, in a process of its own: ``python -m tests.model.memory_worker WEIGHTS STYLE SIDE``.

Prints one JSON line: the resident memory before the step (torch, weights, style
targets, the frame) and the peak during one L-BFGS step, in bytes. On Linux the
peak is VmHWM after resetting it just before the step (/proc/self/clear_refs),
so the step's own peak is seen even when loading peaked higher; elsewhere it is
ru_maxrss, the process's high-water mark.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def status_bytes(field: str) -> int | None:
    """A /proc/self/status figure (VmRSS, VmHWM) in bytes; None where there is no /proc (not Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def main() -> None:
    import torch

    from vidstyle.config import ModelConfig, OptimizeConfig, StyleConfig
    from vidstyle.model.build import build_core

    weights, style, side = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    core = build_core(
        ModelConfig(weights=weights, device="cpu"), StyleConfig(images=(style,)), OptimizeConfig(tolerance=0),
        content_size=(side, side), cache_dir=None, device=torch.device("cpu"),
    )  # fmt: skip
    frame = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    before = status_bytes("VmRSS")
    reset = False
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        reset = True
    except OSError:
        pass
    core.stylizer.stylize(frame, init=frame.clone(), budget=1)
    peak = status_bytes("VmHWM") if reset else None
    if peak is None:
        scale = 1 if sys.platform == "darwin" else 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    print(json.dumps({"side": side, "before": before, "peak": peak, "reset": reset}))


if __name__ == "__main__":
    main()
