"""Cost of one optimization step against the machine's floor, and what the default budget buys.

Reports, in one run on this machine:
- the float32 matmul rate (GFLOP/s) measured now, on the chosen device;
- the FLOPs of one step (VGG19 or VGG16 forward to the deepest used layer +
  backward for the input gradient only), counted from the layer shapes;
- measured seconds per step, hence the step's efficiency against the floor;
- the first frame at the default budget and early stop: steps used, seconds,
  and the style-loss reduction (initial / final), from the content init.

    uv run python benchmarks/speed.py [--size 256] [--device auto] [--network vgg19] [--weights PATH] [--preserve-colors]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, random_weights, vgg_step_flops  # noqa: E402
from vidstyle.config import DeviceChoice, ModelConfig, Network, OptimizeConfig, StyleConfig  # noqa: E402
from vidstyle.model.build import build_core, deepest_layer  # noqa: E402
from vidstyle.model.device import resolve_device  # noqa: E402
from vidstyle.video.pixels import bgr_to_tensor, resize, working_size  # noqa: E402


def matmul_gflops(device: torch.device, n: int = 1024, repeats: int = 10) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    (a @ b).sum().item()
    started = time.perf_counter()
    for _ in range(repeats):
        c = a @ b
    c.sum().item()
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="auto", choices=[d.value for d in DeviceChoice])
    parser.add_argument("--network", default="vgg19", choices=[n.value for n in Network])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--preserve-colors", action="store_true", help="luminance-only transfer (the style loss is then the luminance one)")
    parser.add_argument("--timing-steps", type=int, default=10)
    parser.add_argument("--content", type=Path, default=REPO / "samples" / "clip.mp4")
    parser.add_argument("--style", type=Path, default=REPO / "samples" / "style_swirls.jpg")
    args = parser.parse_args()

    device = resolve_device(DeviceChoice(args.device))
    network = Network(args.network)
    weights = args.weights or random_weights(network=network.value)
    capture = cv2.VideoCapture(str(args.content))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        frame = cv2.imread(str(args.content))
    size = working_size(frame.shape[1], frame.shape[0], args.size)
    content = bgr_to_tensor(resize(frame, size), device=device)
    model = ModelConfig(network=network, weights=weights)
    defaults = OptimizeConfig()
    style = StyleConfig(images=(args.style,), preserve_colors=args.preserve_colors)
    core = build_core(model, style, defaults, content_size=size, cache_dir=None, device=device)

    rate = matmul_gflops(device)
    flops = vgg_step_flops(network, size, deepest_layer(model))
    timing = core.stylizer.stylize(content, init=content, budget=2)  # warm-up (allocator, kernels)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    timing = core.stylizer.stylize(content, init=content, budget=args.timing_steps)
    sync()
    per_step = (time.perf_counter() - started) / timing.steps
    floor = flops / (rate * 1e9)

    started = time.perf_counter()
    first = core.stylizer.stylize(content, init=content, budget=defaults.iterations)
    sync()
    first_seconds = time.perf_counter() - started

    colours = ", preserve-colors" if args.preserve_colors else ""
    print(f"device {device} ({torch.get_num_threads()} threads), {network.value}{colours}, working size {size[0]}x{size[1]}, "
          f"weights {'random' if args.weights is None else args.weights}")
    print("| measure | value |\n|---|---:|")
    print(f"| float32 matmul rate | {rate:.0f} GFLOP/s |")
    print(f"| FLOPs per step (fwd + input-grad bwd) | {flops / 1e9:.1f} GFLOP |")
    print(f"| floor per step (FLOPs / matmul rate) | {floor * 1000:.0f} ms |")
    print(f"| measured per step | {per_step * 1000:.0f} ms |")
    print(f"| step efficiency (floor / measured) | {floor / per_step:.0%} |")
    print(f"| first frame: steps used of {defaults.iterations} (early stop {defaults.tolerance:g}/{defaults.window}) | {first.steps} |")
    print(f"| first frame: seconds | {first_seconds:.1f} |")
    print(f"| first frame: style loss initial -> final | {first.initial.style:.4g} -> {first.final.style:.4g} ({first.initial.style / first.final.style:.0f}x lower) |")
    print(f"| first frame: content loss final | {first.final.content:.4g} |")


if __name__ == "__main__":
    main()
