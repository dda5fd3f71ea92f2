"""Peak memory of optimizing one frame, per working size: the figures behind vidstyle/model/memory.py.

Each size runs in its own process (peak RSS is a high-water mark), builds the
core (weights, style targets) and optimizes one square frame for a few steps;
it prints the peak and the slope between consecutive sizes in bytes per
working pixel, next to what model/memory.py estimates.

    uv run python benchmarks/frame_memory.py                  # 256, 512, 1024 px, L-BFGS
    uv run python benchmarks/frame_memory.py --optimizer adam --sizes 256 512
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import peak_rss_mib, random_weights  # noqa: E402


def one(side: int, optimizer: str, weights: Path, steps: int) -> None:
    import torch

    from vidstyle.config import ModelConfig, OptimizeConfig, Optimizer, StyleConfig
    from vidstyle.model.build import build_core

    style = Path(__file__).resolve().parent.parent / "samples" / "style_swirls.jpg"
    optimize = OptimizeConfig(iterations=steps, optimizer=Optimizer(optimizer), tolerance=0)
    core = build_core(ModelConfig(weights=weights), StyleConfig(images=(style,)), optimize,
                      content_size=(side, side), cache_dir=None, device=torch.device("cpu"))  # fmt: skip
    frame = torch.rand(1, 3, side, side)
    core.stylizer.stylize(frame, init=frame.clone(), budget=steps)
    print(json.dumps({"side": side, "peak_mib": peak_rss_mib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--weights", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, args.optimizer, args.weights, args.steps)
        return

    from vidstyle.model.memory import frame_bytes

    weights = random_weights()
    rows = []
    for side in args.sizes:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(side), "--optimizer", args.optimizer, "--weights", str(weights),
             "--steps", str(args.steps)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"optimizer {args.optimizer}, {args.steps} steps, VGG19, one thread count as torch chose")
    print("| side | peak | slope since the previous size | model/memory.py estimate |")
    print("|---:|---:|---:|---:|")
    previous = None
    for row in rows:
        side, peak = row["side"], row["peak_mib"] * 2**20
        slope = f"{(peak - previous[1]) / (side**2 - previous[0] ** 2):.0f} B/px" if previous else "-"
        print(f"| {side} | {peak / 1e9:.2f} GB | {slope} | {frame_bytes((side, side)) / 1e9:.2f} GB |")
        previous = (side, peak)


if __name__ == "__main__":
    main()
