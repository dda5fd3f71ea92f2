"""Peak memory of optimizing one frame, per working size: the figures behind vidstyle/model/memory.py.

Each configuration runs in its own process (peak RSS is a high-water mark). It
builds the core (random VGG19 weights, the style targets), then resets the
kernel's high-water mark (/proc/self/clear_refs, Linux) and optimizes one square
frame for ``--steps`` steps without an early stop. It prints the resident
memory before the steps, the peak during them, and the slope of the steps' own
memory (peak - before) between consecutive sizes, in bytes per working pixel,
beside what model/memory.py estimates.

The worker runs with a fixed glibc mmap threshold, as tests/model/test_memory.py
does: glibc otherwise raises it after the first large free, and what loading
freed then stays resident and blurs the "before" figure. ``--steps`` defaults to
60, past L-BFGS's 50-pair history; 3 steps measure the same (2026-12-07: 3655
against 3654 B per pixel from 256 to 384 px), because the history is zeroed,
so resident, when the frame starts.

``--tiles 256`` runs the same sizes in 256-px tiles (model/tiles.py): with the
tile fixed, the slope is the image-sized state alone (STATE_BYTES_PER_PIXEL);
the whole-frame slope minus it is the activations' (ACTIVATION_BYTES_PER_PIXEL).

    uv run python benchmarks/frame_memory.py                           # 256, 384, 512 px, whole, L-BFGS
    uv run python benchmarks/frame_memory.py --sizes 512 768 1024 --tiles 256
    uv run python benchmarks/frame_memory.py --optimizer adam --sizes 256 512
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import random_weights  # noqa: E402
from tests.model.memory_worker import status_bytes  # noqa: E402

MMAP_THRESHOLD = "131072"


def one(side: int, optimizer: str, weights: Path, steps: int, tile: int | None) -> None:
    import torch

    from vidstyle.config import ModelConfig, OptimizeConfig, Optimizer, StyleConfig
    from vidstyle.model.build import build_core

    torch.set_num_threads(1)
    style = Path(__file__).resolve().parent.parent / "samples" / "style_swirls.jpg"
    optimize = OptimizeConfig(iterations=steps, optimizer=Optimizer(optimizer), tolerance=0)
    core = build_core(ModelConfig(weights=weights, device="cpu"), StyleConfig(images=(style,)), optimize,
                      content_size=(side, side), cache_dir=None, device=torch.device("cpu"), tile=tile)  # fmt: skip
    frame = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    before = status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := the current RSS, so only the steps' peak counts
    result = core.stylizer.stylize(frame, init=frame.clone(), budget=steps)
    print(json.dumps({"side": side, "before": before, "peak": status_bytes("VmHWM"), "steps": result.steps}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512])
    parser.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    parser.add_argument("--steps", type=int, default=60, help="steps per frame (default 60: past L-BFGS's 50-pair history)")
    parser.add_argument("--tiles", type=int, default=None, help="optimize in tiles of this many px (default: whole)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--weights", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, args.optimizer, args.weights, args.steps, args.tiles)
        return

    from vidstyle.model.memory import ACTIVATION_BYTES_PER_PIXEL, STATE_BYTES_PER_PIXEL, frame_bytes

    weights = random_weights()
    rows = []
    for side in args.sizes:
        command = [sys.executable, __file__, "--one", str(side), "--optimizer", args.optimizer,
                   "--weights", str(weights), "--steps", str(args.steps)]  # fmt: skip
        if args.tiles:
            command += ["--tiles", str(args.tiles)]
        done = subprocess.run(command, capture_output=True, text=True, check=True,
                              env={**os.environ, "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD})  # fmt: skip
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    tiles = f"tiles of {args.tiles} px" if args.tiles else "whole frames"
    print(f"optimizer {args.optimizer}, {args.steps} steps, VGG19 (random weights), one thread, {tiles}")
    print(f"model/memory.py: state {STATE_BYTES_PER_PIXEL:.0f} B + activations {ACTIVATION_BYTES_PER_PIXEL:.0f} B per pixel")
    print("| side | steps | before | peak | the steps' own memory | its slope since the previous size | model estimate |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    previous = None
    for row in rows:
        side, own = row["side"], row["peak"] - row["before"]
        slope = f"{(own - previous[1]) / (side**2 - previous[0] ** 2):.0f} B/px" if previous else "-"
        model = frame_bytes((side, side), tile=args.tiles) / 1e9
        print(f"| {side} | {row['steps']} | {row['before'] / 1e9:.2f} GB | {row['peak'] / 1e9:.2f} GB | {own / 1e9:.2f} GB | {slope} | {model:.2f} GB |")
        previous = (side, own)


if __name__ == "__main__":
    main()
