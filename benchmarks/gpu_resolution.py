"""The optimizer's warm frame and fast mode's apply at 720p and 1080p on a GPU: time and peak memory, fp32 and bf16.

    python benchmarks/gpu_resolution.py --json $OUT/gpu_resolution.json        # one prepared run for a lent GPU
    python benchmarks/gpu_resolution.py --smoke --json /tmp/gpu_resolution.json  # on a CPU at 64x36: checks the script

Issue 23's GPU targets: a warm frame of the optimizer at 1080p (20 steps, bf16)
in at most 0.5 s on an H100, and fast mode's apply at 1080p at least 60 fps.

For 1280x720 and 1920x1080 frames (the working size is the frame's: no
upsampling), in fp32 and bf16 (``--precision``, model/runtime.py: bf16
autocast for the network pass, channels_last and cuDNN autotuning on CUDA):

* optimize: a warm frame as a chain stylizes it (methods/optimize.py
  OptimizeMethod, the run's defaults: flow temporal mode, --iterations-next
  20, the frame on its --edge-margin canvas), with --batch-chains 1 (one frame
  per network pass) and 4 (four chains' frames per pass, OptimizeBatch); the
  flow is computed before the frame starts, as the chain's read-ahead thread
  does, and timed apart. Seconds per frame (a batch's seconds / its frames),
  the steps done, the achieved TFLOP/s (benchmarks/_common.py vgg_step_flops)
  and the peak CUDA memory;
* fast apply: benchmarks/fast_gpu.py's apply_rates (the default network,
  network only at batch 1 and 8 in fp32, bf16 and fp16 autocast, and
  apply_network with uint8 in and out, the path a run takes).

Weights: the shared VGG19 ImageNet weights when present (``--weights``), else a
randomly initialised VGG19 (the same cost; the table says which). The frames
are a smooth random picture seen through a window panning 2 px per frame, the
style the shared Starry Night when present, else a random picture. Every
figure is the median of ``--repeats`` runs after an untimed one (autotuning,
allocation). Prints one markdown table and the targets, writes the rows as
JSON to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VIDSTYLE_CACHE_DIR", "")  # no style-target cache written on a lent machine (or by the smoke test)

from benchmarks._common import SHARED, random_weights, vgg_step_flops  # noqa: E402
from benchmarks.fast_gpu import apply_rates, sync  # noqa: E402
from vidstyle.config import DeviceChoice, ModelConfig, OptimizeConfig, Precision, SelectConfig, Settings, StyleConfig  # noqa: E402
from vidstyle.methods.base import FrameTask  # noqa: E402
from vidstyle.methods.optimize import OptimizeMethod, optimize_method  # noqa: E402
from vidstyle.model.build import deepest_layer  # noqa: E402
from vidstyle.video.pixels import canvas_size, working_frame  # noqa: E402

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
SMOKE_SIZES = {"720p / 20": (64, 36), "1080p / 20": (96, 54)}
WARM_TARGET_S = 0.5  # 1080p, optimize, 20 steps, bf16, H100
APPLY_TARGET_FPS = 60.0  # 1080p, fast apply


def pan_frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` BGR frames of a smooth random picture seen through a window panning 2 px per frame."""
    width, height = size
    rng = np.random.default_rng(1)
    picture = cv2.GaussianBlur(rng.integers(0, 256, (height, width + 2 * count, 3), dtype=np.uint8), (0, 0), 3)
    return [np.ascontiguousarray(picture[:, 2 * i : 2 * i + width]) for i in range(count)]


def style_image(folder: Path) -> Path:
    shared = SHARED / "styles" / "starry_night.jpg"
    if shared.is_file():
        return shared
    path = folder / "style.png"
    rng = np.random.default_rng(2)
    cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8), (0, 0), 2))
    return path


def peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def warm_tasks(method: OptimizeMethod, frames: list[np.ndarray], batch: int) -> tuple[list[FrameTask], float]:
    """``batch`` warm frames, one per chain (frame 2k+1 after frame 2k), with their flow prepared; and the flow's seconds per frame."""
    tasks, seconds = [], 0.0
    for k in range(batch):
        previous, content = frames[2 * k], frames[2 * k + 1]
        # The previous frame's "stylization": a cheap stand-in (the warm start's cost does not depend on its look).
        stylized = np.ascontiguousarray(255 - previous)
        position = 2 * k + 1
        began = time.perf_counter()
        method.prepare(position, previous, content)  # the chain's read-ahead thread does this while the frame before is optimized
        seconds += time.perf_counter() - began
        tasks.append(FrameTask(position=position, shot_offset=position, content=content, cold=False,
                               previous_content=previous, previous_stylized=stylized))  # fmt: skip
    return tasks, seconds / batch


def warm_round(method: OptimizeMethod, frames: list[np.ndarray], batch: int, device: torch.device) -> tuple[float, float, int]:
    """Seconds per frame of ``batch`` warm frames (one per chain, together when batch > 1), flow seconds per frame, steps done."""
    tasks, flow = warm_tasks(method, frames, batch)
    sync(device)
    began = time.perf_counter()
    if batch == 1:
        steps = [method.stylize(tasks[0], on_step=lambda _report: None).outcome.steps]
    else:
        opened = method.open_batch(batch)
        assert opened is not None
        for task in tasks:
            opened.add(task, on_step=lambda _report: None)
        steps = []
        while len(steps) < batch:
            steps += [result.outcome.steps for _, result in opened.step()]
    sync(device)
    return (time.perf_counter() - began) / batch, flow, max(steps)


def optimize_rows(device: torch.device, sizes: dict[str, tuple[int, int]], *, weights: Path, style: Path, repeats: int,
                  batches: tuple[int, ...], steps: int) -> list[dict]:  # fmt: skip
    rows = []
    for label, size in sizes.items():
        frames = pan_frames(size, 2 * max(batches))
        for precision in (Precision.FP32, Precision.BF16):
            settings = Settings(
                model=ModelConfig(weights=weights, device=DeviceChoice(device.type), precision=precision),
                style=StyleConfig(images=(style,)),
                optimize=OptimizeConfig(iterations_next=steps),
                select=SelectConfig(max_size=None),
            )
            margin = settings.select.edge_margin
            canvas = [working_frame(frame, size, margin) for frame in frames]
            reset_peak(device)
            method = optimize_method(settings, canvas_size(size, margin))
            flops = vgg_step_flops(settings.model.network, canvas_size(size, margin), deepest_layer(settings.model))
            for batch in batches:
                reset_peak(device)
                warm_round(method, canvas, batch, device)  # untimed: cuDNN autotuning, allocation
                timed = [warm_round(method, canvas, batch, device) for _ in range(repeats)]
                seconds = statistics.median(t for t, _, _ in timed)
                steps = max(s for _, _, s in timed)
                row = {
                    "what": "optimize warm frame", "size": label, "width": size[0], "height": size[1],
                    "precision": precision.value, "batch_chains": batch, "seconds_per_frame": seconds,
                    "flow_seconds_per_frame": statistics.median(f for _, f, _ in timed), "steps": steps,
                    "tflops": flops * steps / seconds / 1e12, "peak_mib": peak_mib(device),
                }  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
            del method
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, required=True, help="write the rows here")
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "vgg19_imagenet_features.pth")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", default="1,4", help="--batch-chains values to time")
    parser.add_argument("--smoke", action="store_true", help="64x36 and 96x54 frames, 2 steps, batch-chains 1 and 2, one repeat: checks the script, measures nothing")
    args = parser.parse_args()
    device = torch.device(args.device or ("cpu" if args.smoke else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device (use --smoke --device cpu to check the script)")
    folder = Path(tempfile.mkdtemp(prefix="vidstyle-gpu-resolution-"))
    real = args.weights.is_file()
    weights = args.weights if real else random_weights(folder)
    weights_label = "ImageNet VGG19" if real else "random VGG19 (the same cost)"
    style = style_image(folder)
    sizes = SMOKE_SIZES if args.smoke else SIZES
    repeats = 1 if args.smoke else args.repeats
    batches = (1, 2) if args.smoke else tuple(int(b) for b in args.batches.split(","))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    env = {"what": "env", "device": name, "torch": torch.__version__, "weights": weights_label, "smoke": args.smoke}
    print(json.dumps(env), flush=True)
    rows = [env]

    def save() -> None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))

    steps = 2 if args.smoke else OptimizeConfig.iterations_next  # the default warm budget, 20
    rows += optimize_rows(device, sizes, weights=weights, style=style, repeats=repeats, batches=batches, steps=steps)
    save()
    # fast_gpu.apply_rates divides 1280x720 and 1920x1080 by its scale: 20 gives the smoke's 64x36 and 96x54.
    for what, fps in apply_rates(device, scale=20 if args.smoke else 1, repeats=2 if args.smoke else 10):
        rows.append({"what": "fast apply", "detail": what, "fps": fps})
    save()

    print(f"\n{name}, torch {torch.__version__}, {weights_label}{' (smoke: sizes / 20, measures nothing)' if args.smoke else ''}\n")
    print("| optimize warm frame | precision | --batch-chains | s / frame | steps | flow s / frame (read-ahead) | TFLOP/s | peak CUDA MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if row["what"] == "optimize warm frame":
            peak = f"{row['peak_mib']:.0f}" if row["peak_mib"] is not None else "-"
            print(f"| {row['size']} ({row['width']}x{row['height']}) | {row['precision']} | {row['batch_chains']} | "
                  f"{row['seconds_per_frame']:.3f} | {row['steps']} | {row['flow_seconds_per_frame']:.3f} | {row['tflops']:.1f} | {peak} |")
    print("\n| fast apply | fps |\n|---|---|")
    for row in rows:
        if row["what"] == "fast apply":
            print(f"| {row['detail']} | {row['fps']:.1f} |")

    big = "1080p / 20" if args.smoke else "1080p"
    warm = [r for r in rows if r["what"] == "optimize warm frame" and r["size"] == big and r["precision"] == "bf16" and r["batch_chains"] == 1]
    apply = [r for r in rows if r["what"] == "fast apply" and r["detail"].startswith("apply at 1080p: apply_network")]
    print("\nTargets (issue 23):")
    if warm:
        s = warm[0]["seconds_per_frame"]
        print(f"- optimize warm frame at 1080p, 20 steps, bf16 <= {WARM_TARGET_S} s on an H100: {s:.3f} s ({'met' if s <= WARM_TARGET_S else 'NOT met'})")
    if apply:
        fps = apply[0]["fps"]
        print(f"- fast apply at 1080p >= {APPLY_TARGET_FPS:.0f} fps: {fps:.1f} fps ({'met' if fps >= APPLY_TARGET_FPS else 'NOT met'}; apply_network, fp32)")
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
