"""Chains in parallel: 2 Ray workers of 1 thread against 1 worker of 1 thread, and a plan for 8 GPUs.

    uv run python benchmarks/scale.py                   # a 4-shot clip, random VGG19, 64 px
    uv run python benchmarks/scale.py --json out.json

Runs the same multi-shot clip (cuts listed, so each shot is one chain and
no split changes the frames) three ways, one after another in one process:

* ``sequential``: no Ray, this process, torch on 1 thread (the baseline);
* ``1 worker``: a local Ray cluster started for the run, 1 worker of 1 thread;
* ``2 workers``: the same with 2 workers of 1 thread each.

Each Ray run's wall time is split at the "worker(s) ready" notice: before it
is Ray's start-up (the cluster, the worker processes, importing torch and
building the method in each), after it the stylizing. The speedup is the
ratio of the stylizing times (and, apart, of the whole runs); the outputs
must be identical. The machine's load (``uptime``) is printed with the
result: on a shared 2-core machine the speedup depends on it.

Then the 8-GPU plan for an hour-long 1080p60 capture, from the measured
per-chain costs (steps of a chain's cold first frame and of its warm frames,
from the runs' per-frame records) and the FLOPs of one step at 1920x1080
(torch's FLOP counter at a small size, scaled by the pixel count; convolutions
scale linearly with it). The GPU's rate is an ASSUMPTION, labelled as such:
no GPU was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster (docs/workers.md)

import torch  # noqa: E402

from benchmarks._common import make_clip, random_weights  # noqa: E402
from vidstyle.config import (  # noqa: E402
    DEFAULT_OVERLAP,
    DeviceChoice,
    ModelConfig,
    OptimizeConfig,
    RunConfig,
    ScaleConfig,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
)
from vidstyle.pipeline.events import Notice, RunStarted  # noqa: E402
from vidstyle.pipeline.run import stylize  # noqa: E402

FRAMES_1080P60_HOUR = 3600 * 60


def run_once(clip: Path, out: Path, settings: Settings) -> dict[str, object]:
    marks: dict[str, float] = {}
    began = time.perf_counter()

    def on_event(event: object) -> None:
        now = time.perf_counter() - began
        if isinstance(event, Notice) and "ready after" in event.message:
            marks["ready"] = now
        if isinstance(event, RunStarted):
            marks["started"] = now

    result = stylize(clip, out, settings=settings, on_event=on_event)
    total = time.perf_counter() - began
    startup = marks.get("ready", marks.get("started", 0.0))
    records = result.records
    return {
        "total_s": total,
        "startup_s": startup,
        "stylize_s": total - startup,
        "frames": result.frames,
        "cold_steps": [r.steps for r in records if r.position in _cold(result)],
        "warm_steps": [r.steps for r in records if r.position not in _cold(result)],
        "warm_s": [r.seconds for r in records if r.position not in _cold(result)],
        "output": out.read_bytes(),
    }


def _cold(result) -> set[int]:  # noqa: ANN001
    return {0, *result.cuts}


def step_flops(height: int, width: int, network: str = "vgg19") -> float:
    """FLOPs of one step (features forward + input gradient) at a small size, by torch's counter."""
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    from vidstyle.config import Network, Pooling
    from vidstyle.model.features import FeatureExtractor

    model = getattr(torchvision.models, network)(weights=None)
    state = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
    layers = ("relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    extractor = FeatureExtractor(state, network=Network(network), layers=layers, pooling=Pooling.AVG)
    x = torch.rand(1, 3, height, width, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        feats = extractor(x)
        sum(f.pow(2).mean() for f in feats.values()).backward()
    return float(counter.get_total_flops())


def plan_8_gpus(cold_steps: float, warm_steps: float, *, gpus: int, tflops: float, efficiency: float, overlap: int) -> dict[str, object]:
    """Chains, balance and wall time for one hour of 1080p60 stylized at 1920x1080 on ``gpus`` GPUs."""
    flops_small = step_flops(144, 256)
    flops = flops_small * (1920 * 1080) / (256 * 144)
    step_s = flops / (tflops * 1e12 * efficiency)
    warm_frame_s = warm_steps * step_s
    cold_extra_s = (cold_steps - warm_steps) * step_s
    rows = []
    for per_gpu in (1, 2, 4, 8):
        chains = gpus * per_gpu  # one long shot, the worst case for balance (cuts only help)
        splits = chains - 1
        # A split costs the next chain a cold first frame and `overlap` warm warmup frames (stylized once).
        extra_s = splits * (cold_extra_s + overlap * warm_frame_s)
        work_s = FRAMES_1080P60_HOUR * warm_frame_s + cold_extra_s + extra_s
        chain_s = work_s / chains
        # Equal chains, longest first: every GPU takes per_gpu of them. Uneven frame costs (early stops)
        # leave at most about one chain's worth of imbalance at the end, less with more chains per GPU.
        wall_s = per_gpu * chain_s
        rows.append({"chains": chains, "frames_per_chain": FRAMES_1080P60_HOUR // chains, "overhead_pct": 100 * extra_s / work_s,
                     "wall_h": wall_s / 3600, "worst_tail_h": chain_s / 3600})  # fmt: skip
    return {"step_gflop_1080p": flops / 1e9, "step_s": step_s, "warm_frame_s": warm_frame_s, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--shot-frames", type=int, default=8)
    parser.add_argument("--max-size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--iterations-next", type=int, default=20)
    parser.add_argument("--gpu-tflops", type=float, default=495.0, help="ASSUMED dense TF32 peak of one GPU (H100 SXM)")
    parser.add_argument("--gpu-efficiency", type=float, default=0.35, help="ASSUMED share of that peak a VGG step reaches")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="vidstyle-scale-"))
    frames = args.shots * args.shot_frames
    clip = make_clip(tmp / "clip.mp4", frames=frames, width=160, height=96, fps=24)
    style = ROOT / "samples" / "style_swirls.jpg"
    cuts = ",".join(f"{args.shot_frames * k}f" for k in range(1, args.shots))  # frames: a bare number is seconds
    base = Settings(
        model=ModelConfig(weights=random_weights(tmp), device=DeviceChoice.CPU),
        style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations=args.iterations, iterations_next=args.iterations_next),
        select=SelectConfig(max_size=args.max_size),
        shots=ShotsConfig(cuts=cuts),
        run=RunConfig(keep_work=False),
    )
    load_before = os.getloadavg()
    runs = {}
    for name, scale in (
        ("sequential", ScaleConfig()),
        ("1 worker", ScaleConfig(workers=1, threads=1)),
        ("2 workers", ScaleConfig(workers=2, threads=1)),
    ):
        runs[name] = run_once(clip, tmp / f"{name.replace(' ', '_')}.mp4", base.replace(scale=scale))
        print(f"{name}: {runs[name]['total_s']:.1f} s (start-up {runs[name]['startup_s']:.1f} s)", flush=True)
    load_after = os.getloadavg()
    same = runs["sequential"]["output"] == runs["1 worker"]["output"] == runs["2 workers"]["output"]
    one, two = runs["1 worker"], runs["2 workers"]
    speedup = one["stylize_s"] / two["stylize_s"]  # type: ignore[operator]
    speedup_total = one["total_s"] / two["total_s"]  # type: ignore[operator]
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nclip: {args.shots} shots of {args.shot_frames} frames, {args.max_size} px, random VGG19, "
          f"{args.iterations}/{args.iterations_next} steps; outputs identical: {same}")  # fmt: skip
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({uptime})\n")
    print("| run | whole run | Ray start-up | stylizing | speedup (stylizing) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in runs.items():
        ratio = one["stylize_s"] / r["stylize_s"] if name != "sequential" else float("nan")  # type: ignore[operator]
        startup = f"{r['startup_s']:.1f} s" if name != "sequential" else "-"
        print(f"| {name} | {r['total_s']:.1f} s | {startup} | {r['stylize_s']:.1f} s | {ratio:.2f}x |")
    print(f"\n2 workers against 1: {speedup:.2f}x stylizing, {speedup_total:.2f}x whole run (start-up included)")

    cold = statistics.mean(one["cold_steps"]) if one["cold_steps"] else args.iterations  # type: ignore[arg-type]
    warm = statistics.mean(one["warm_steps"]) if one["warm_steps"] else args.iterations_next  # type: ignore[arg-type]
    plan = plan_8_gpus(cold, warm, gpus=8, tflops=args.gpu_tflops, efficiency=args.gpu_efficiency, overlap=DEFAULT_OVERLAP)
    print(f"\nMeasured per chain: cold first frame {cold:.0f} steps, warm frames {warm:.1f} steps on average.")
    print(f"One step at 1920x1080: {plan['step_gflop_1080p']:.0f} GFLOP (counted); ESTIMATE at {args.gpu_tflops:.0f} TFLOP/s x "
          f"{args.gpu_efficiency:.0%} (assumed, no GPU measured): {plan['step_s'] * 1e3:.0f} ms/step, "
          f"{plan['warm_frame_s']:.2f} s per warm frame.")  # fmt: skip
    print("\n| chains (8 GPUs) | frames per chain | split overhead | wall time (estimate) | last chain alone |")
    print("|---:|---:|---:|---:|---:|")
    for row in plan["rows"]:  # type: ignore[union-attr]
        print(f"| {row['chains']} | {row['frames_per_chain']} | {row['overhead_pct']:.2f}% | {row['wall_h']:.2f} h | {row['worst_tail_h']:.2f} h |")
    if args.json:
        for r in runs.values():
            r.pop("output")
        args.json.write_text(json.dumps({"runs": runs, "speedup": speedup, "speedup_total": speedup_total, "same": same,
                                         "load": [load_before, load_after], "plan": plan}, indent=1))  # fmt: skip
    if not same:
        sys.exit("the outputs differ")


if __name__ == "__main__":
    main()
