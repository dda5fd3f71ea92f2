"""Fast mode on a GPU: apply speed at 720p and 1080p and the time of a whole default training, fp32 and bf16.

    python benchmarks/fast_gpu.py [--steps N]                # one prepared run for a lent GPU
    python benchmarks/fast_gpu.py --device cpu --smoke       # checks the script on a CPU (measures nothing)

The GPU targets (issues 12 and 26): apply at 1920x1080 at least 60 fps, training at most
5 minutes. The training is timed twice, with the loss network (VGG16) in fp32 and
in bf16 autocast (``FastConfig.bf16_losses``, what ``--precision auto`` picks on a
GPU with bf16), each with one optimizer step at 256x144 in the same precision, so
the table also says where pipeline/budget.py's rule would give the full training. VGG16 with random weights costs exactly what the ImageNet one does
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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeats: int, device: torch.device) -> float:
    sync(device)
    began = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - began) / repeats


SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def apply_rates(device: torch.device, *, scale: int = 1, repeats: int = 10) -> list[tuple[str, float]]:
    """Frames per second of the default network at 720p and 1080p (``scale``: sides divided, for a smoke run)."""
    torch.backends.cudnn.benchmark = True
    net = new_network(DEFAULT_NET, seed=0).to(device).eval()
    rows = []
    for label, (width, height) in SIZES.items():
        width, height = width // scale, height // scale
        for batch in (1, 8):
            x = torch.rand(batch, 3, height, width, device=device)
            with torch.inference_mode():
                for name, fn in (
                    ("fp32", lambda: run_network(net, x)),
                    ("bf16 autocast", lambda: _autocast(net, x, device, torch.bfloat16)),
                    ("fp16 autocast", lambda: _autocast(net, x, device, torch.float16)),
                ):
                    if name == "fp16 autocast" and device.type != "cuda":
                        continue
                    fn()
                    fn()
                    seconds = timed(fn, repeats, device)
                    rows.append((f"apply at {label} ({width}x{height}): network only, batch {batch}, {name}", batch / seconds))
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(8)]
        list(apply_network(net, frames, batch_size=8, device=device))
        sync(device)
        began = time.perf_counter()
        rounds = max(1, repeats // 3)
        for _ in range(rounds):
            for _ in apply_network(net, frames, batch_size=8, device=device):
                pass
        sync(device)
        rows.append((f"apply at {label}: apply_network (numpy BGR in and out, batch 8, fp32)", 8 * rounds / (time.perf_counter() - began)))
    return rows


def _autocast(net, x, device: torch.device, dtype: torch.dtype):
    with torch.autocast(device.type, dtype=dtype):
        return run_network(net, x)


def synthetic_clip(frames: int = 300, size: tuple[int, int] = (256, 144)) -> TrainingClip:
    width, height = size
    rng = np.random.default_rng(1)
    picture = cv2.GaussianBlur(rng.integers(0, 256, (height, width + 2 * frames, 3), dtype=np.uint8), (0, 0), 3)
    clip = [np.ascontiguousarray(picture[:, 2 * i : 2 * i + width]) for i in range(frames)]
    keys = keyframe_positions(frames, 4)
    return TrainingClip(frames=clip, keyframes={k: np.ascontiguousarray(255 - clip[k][:, :, ::-1]) for k in keys})


def training_time(device: torch.device, steps: int, *, bf16: bool) -> tuple[float, int, float]:
    """Seconds of a whole training of ``steps`` (no early stop), its steps, and one optimizer step at 256x144."""
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
    config = FastConfig(train_steps=steps, tolerance=0.0, bf16_losses=bf16)  # the whole budget, no early stop
    began = time.perf_counter()
    result = train_network(
        clip, features=features, style=targets, content_layers=model.content_layers, config=config, device=device
    )
    sync(device)
    seconds = time.perf_counter() - began
    # One optimizer step (VGG16 forward and backward on a 256x144 frame), in the same precision: pipeline/budget.py's unit.
    image = torch.rand(1, 3, 144, 256, device=device, requires_grad=True)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            total = sum(f.float().square().mean() for f in features(image).values())
        total.backward()

    step()
    return seconds, result.steps, timed(step, 5, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=FastConfig().train_steps, help="training steps to time (0: apply only)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="sizes / 8, 3 training steps: checks the script, measures nothing")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    steps = 3 if args.smoke else args.steps
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}", flush=True)
    print("| what | figure |\n|---|---|")
    for what, fps in apply_rates(device, scale=8 if args.smoke else 1, repeats=2 if args.smoke else 10):
        print(f"| {what} | {fps:.1f} fps |", flush=True)
    if steps < 1:
        return
    for bf16 in (False, True):
        seconds, done, step = training_time(device, steps, bf16=bf16)
        label = "bf16 losses" if bf16 else "fp32"
        print(f"| training at 256x144, {label}, {done} steps (no early stop) | {seconds:.1f} s ({1000 * seconds / done:.1f} ms/step) |")
        # pipeline/budget.py's rule: the full training fits 0.5x the optimizer's time from about this many frames of one shot.
        per_frame = 20 * step  # a warm frame: --iterations-next steps
        frames = (FastConfig().train_steps * seconds / done) / (0.5 * per_frame) if per_frame > 0 else float("nan")
        print(f"| optimizer step at 256x144, {label} | {1000 * step:.1f} ms; the full training pays off from about {frames:.0f} frames |", flush=True)


if __name__ == "__main__":
    main()
