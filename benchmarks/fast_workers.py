"""Fast mode's apply on Ray workers: 2 workers of 1 thread against 1 (issue 26's target: at least 1.7x the apply fps).

    nice -n 10 uv run python benchmarks/fast_workers.py                       # 240 frames at 320x180
    nice -n 10 uv run python benchmarks/fast_workers.py --frames 480 --batch-chains 4

Trains a network once (10 steps on random VGG19 features: its weights do not
change its speed) and saves it, then applies it (``--model``) to the same
clip on a local Ray cluster started for each run: 1 worker of 1 thread, then
2 workers of 1 thread each, chains of ``--chain-frames`` frames. Each run's
wall time is split at the "worker(s) ready" notice (as scale.py does): before
it is Ray's start-up, after it the apply (decode on the driver, the
network on the workers, PNGs and encode). The speedup is the ratio of the
apply times; the outputs must be identical. The machine's load is printed
with the result: on a shared 2-core machine the speedup depends on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster (docs/workers.md)

import torch  # noqa: E402

from benchmarks._common import make_clip, random_weights  # noqa: E402
from benchmarks.scale import run_once  # noqa: E402
from vidstyle.config import (  # noqa: E402
    DeviceChoice,
    MethodConfig,
    MethodKind,
    ModelConfig,
    OptimizeConfig,
    RunConfig,
    ScaleConfig,
    SelectConfig,
    Settings,
    StyleConfig,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--chain-frames", type=int, default=30)
    parser.add_argument("--batch-chains", type=int, default=1, help="frames per network pass on each worker")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="vidstyle-fast-workers-"))
    clip = make_clip(tmp / "clip.mp4", frames=args.frames, width=args.width, height=args.height, fps=25)
    net = tmp / "net.pt"
    base = Settings(
        model=ModelConfig(weights=random_weights(tmp), device=DeviceChoice.CPU),
        style=StyleConfig(images=(ROOT / "samples" / "style_swirls.jpg",)),
        optimize=OptimizeConfig(iterations=10, iterations_next=10),
        select=SelectConfig(max_size=max(args.width, args.height)),
        run=RunConfig(keep_work=False),
    )
    train = base.replace(method=MethodConfig(kind=MethodKind.FAST, keyframes=1000, train_steps=10, save_model=net))
    run_once(clip, tmp / "train.mp4", train)
    apply = base.replace(
        method=MethodConfig(kind=MethodKind.FAST, model=net), model=replace(base.model, batch_chains=args.batch_chains)
    )
    load_before = os.getloadavg()
    runs = {}
    for workers in (1, 2):
        scale = ScaleConfig(workers=workers, threads=1, chain_frames=args.chain_frames, overlap=0)
        runs[workers] = run_once(clip, tmp / f"apply-{workers}.mp4", apply.replace(scale=scale))
        r = runs[workers]
        print(f"{workers} worker(s): {r['total_s']:.1f} s (start-up {r['startup_s']:.1f} s), apply {r['stylize_s']:.1f} s, "
              f"{r['frames'] / r['stylize_s']:.1f} fps", flush=True)  # fmt: skip
    load_after = os.getloadavg()
    one, two = runs[1], runs[2]
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nclip: {args.frames} frames at {args.width}x{args.height}, chains of {args.chain_frames}, "
          f"{args.batch_chains} frame(s) per pass; outputs identical: {one['output'] == two['output']}")  # fmt: skip
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({uptime})")
    print(f"2 workers against 1: {one['stylize_s'] / two['stylize_s']:.2f}x apply fps, {one['total_s'] / two['total_s']:.2f}x whole run")


if __name__ == "__main__":
    main()
