"""Fast mode on a GPU: apply speed at 1080p and the time of a whole default training.

    python benchmarks/fast_gpu.py [--steps N]

The issue's GPU targets: apply at 1920x1080 at least 60 fps, training at most
5 minutes. VGG16 with random weights costs exactly what the ImageNet one does
(the shared weights do not travel to a GPU machine), and the clip is made
here: a smooth random picture seen through a window panning 2 px per frame,
300 frames at 256x144, four keyframes "stylized" by a fixed colour mapping.
Prints one markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidstyle.config import ModelConfig, Network, StyleConfig  # noqa: E402
from vidstyle.methods.fastnet import run_network  # noqa: E402
from vidstyle.methods.feedforward import (  # noqa: E402
    DEFAULT_NET,
    FastConfig,
    TrainingClip,
    apply_network,
    keyframe_positions,
    new_network,
    train_network,
)
from vidstyle.model.features import FeatureExtractor  # noqa: E402
from vidstyle.model.style import build_style_targets  # noqa: E402


def timed(fn, repeats: int) -> float:
    torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - began) / repeats


def apply_rates(device: torch.device) -> list[tuple[str, float]]:
    """Frames per second of the default network at 1920x1080, tensor in and out, and numpy BGR in and out."""
    torch.backends.cudnn.benchmark = True
    net = new_network(DEFAULT_NET, seed=0).to(device).eval()
    rows = []
    for batch in (1, 8):
        x = torch.rand(batch, 3, 1080, 1920, device=device)
        with torch.inference_mode():
            for name, fn in (
                ("fp32", lambda: run_network(net, x)),
                ("fp16 autocast", lambda: _autocast(net, x)),
            ):
                fn()
                fn()
                seconds = timed(fn, 10)
                rows.append((f"network only, batch {batch}, {name}", batch / seconds))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8) for _ in range(8)]
    list(apply_network(net, frames, batch_size=8, device=device))
    torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(3):
        for _ in apply_network(net, frames, batch_size=8, device=device):
            pass
    torch.cuda.synchronize()
    rows.append(("apply_network (numpy BGR in and out, batch 8, fp32)", 24 / (time.perf_counter() - began)))
    return rows


def _autocast(net, x):
    with torch.autocast("cuda", dtype=torch.float16):
        return run_network(net, x)


def synthetic_clip(frames: int = 300, size: tuple[int, int] = (256, 144)) -> TrainingClip:
    width, height = size
    rng = np.random.default_rng(1)
    picture = cv2.GaussianBlur(rng.integers(0, 256, (height, width + 2 * frames, 3), dtype=np.uint8), (0, 0), 3)
    clip = [np.ascontiguousarray(picture[:, 2 * i : 2 * i + width]) for i in range(frames)]
    keys = keyframe_positions(frames, 4)
    return TrainingClip(frames=clip, keyframes={k: np.ascontiguousarray(255 - clip[k][:, :, ::-1]) for k in keys})


def training_time(device: torch.device, steps: int) -> tuple[float, int]:
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    state = {k: v for k, v in torchvision.models.vgg16(weights=None).state_dict().items() if k.startswith("features.")}
    model = ModelConfig(network=Network.VGG16)
    features = FeatureExtractor(
        state, network=Network.VGG16, layers=model.content_layers + model.style_layers, pooling=model.pooling
    ).to(device)
    style_path = Path("/tmp/fast-gpu-style.png")
    rng = np.random.default_rng(2)
    cv2.imwrite(str(style_path), cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), (0, 0), 1))
    targets = build_style_targets(
        features, StyleConfig(images=(style_path,)), model, content_size=(256, 144), weights_identity="random-vgg16",
        device=device, cache_dir=None,
    )
    clip = synthetic_clip()
    config = FastConfig(train_steps=steps, tolerance=0.0)  # the whole budget, no early stop
    began = time.perf_counter()
    result = train_network(
        clip, features=features, style=targets, content_layers=model.content_layers, config=config, device=device
    )
    torch.cuda.synchronize()
    return time.perf_counter() - began, result.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=FastConfig().train_steps, help="training steps to time (0: apply only)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    device = torch.device("cuda")
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    print("| what | figure |\n|---|---|")
    for name, fps in apply_rates(device):
        print(f"| apply at 1920x1080: {name} | {fps:.1f} fps |", flush=True)
    if args.steps < 1:
        return
    seconds, steps = training_time(device, args.steps)
    print(f"| training at 256x144, {steps} steps (default budget, no early stop) | {seconds:.1f} s ({1000 * seconds / steps:.1f} ms/step) |")


if __name__ == "__main__":
    main()
