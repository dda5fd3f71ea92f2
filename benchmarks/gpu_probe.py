"""GPU probe: matmul rates, and one optimization step of the current core at several sizes and precisions.

Prints a JSON line per measurement and writes all of them to --json. Random VGG weights
(the cost does not depend on the values). Meant to run in one short device call:

    python benchmarks/gpu_probe.py --json $OUT/gpu_probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchvision  # noqa: E402

from vidstyle.config import Network, Pooling  # noqa: E402
from vidstyle.model.features import FeatureExtractor  # noqa: E402
from vidstyle.model.losses import content_loss, gram_matrix, style_loss  # noqa: E402

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT = ("relu4_2",)


DEVICE = "cuda"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def matmul_rate(dtype: torch.dtype, n: int = 8192, reps: int = 10) -> float:
    a = torch.randn(n, n, device=DEVICE, dtype=dtype)
    b = torch.randn(n, n, device=DEVICE, dtype=dtype)
    for _ in range(3):
        a @ b
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def step_flops(extractor: FeatureExtractor, h: int, w: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, h, w, device=DEVICE, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        feats = extractor(x)
        loss = sum(f.float().pow(2).mean() for f in feats.values())
        loss.backward()
    return float(counter.get_total_flops())


def time_step(extractor, batch, h, w, *, autocast: bool, channels_last: bool, reps: int) -> float:
    x = torch.rand(batch, 3, h, w, device=DEVICE)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    with torch.no_grad():
        feats = extractor(x.detach())
        targets = {n: feats[n].float().detach() for n in CONTENT}
        grams = {n: gram_matrix(feats[n][:1].float()).detach() for n in STYLE}
    weights = {n: 1.0 for n in STYLE}

    def one() -> torch.Tensor:
        x.grad = None
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=autocast):
            f = extractor(x)
        f = {k: v.float() for k, v in f.items()}
        if batch == 1:
            loss = content_loss(f, targets) + 10 * style_loss(f, grams, weights)
        else:
            loss = sum(f[n].pow(2).mean() for n in f)
        loss.backward()
        return loss

    for _ in range(3):
        one()
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        one()
    sync()
    return (time.perf_counter() - t) / reps


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="VGG19 only, fp32 and bf16+channels_last")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU, to check the script")
    args = parser.parse_args()
    global DEVICE
    sizes = ((256, 144), (960, 540), (1920, 1080))
    batches = (1, 8, 32, 64)
    n = 8192
    if args.dry_run:
        DEVICE, sizes, batches, n = "cpu", ((64, 32),), (1, 2), 256
    torch.backends.cudnn.benchmark = True
    out: list[dict] = []

    def emit(row: dict) -> None:
        print(json.dumps(row), flush=True)
        out.append(row)
        args.json.write_text(json.dumps(out, indent=1))

    emit({"what": "env", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu"})
    emit({"what": "matmul", "dtype": "bf16", "tflops": matmul_rate(torch.bfloat16, n)})
    emit({"what": "matmul", "dtype": "fp32", "tflops": matmul_rate(torch.float32, n)})
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    emit({"what": "matmul", "dtype": "tf32", "tflops": matmul_rate(torch.float32, n)})
    networks = (Network.VGG19,) if args.quick else (Network.VGG19, Network.VGG16)
    variants = ((False, False, False), (True, True, False)) if args.quick else ((False, False, False), (False, False, True), (True, False, False), (True, True, False))
    for network in networks:
        model = getattr(torchvision.models, network.value)(weights=None)
        state = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
        extractor = FeatureExtractor(state, network=network, layers=CONTENT + STYLE, pooling=Pooling.AVG).to(DEVICE)
        for (w, h) in sizes:
            flops = step_flops(extractor, h, w)
            for autocast, cl, tf32 in variants:
                torch.backends.cudnn.allow_tf32 = tf32
                torch.backends.cuda.matmul.allow_tf32 = tf32
                if cl:
                    extractor = extractor.to(memory_format=torch.channels_last)
                reps = 20 if w < 1000 else 8
                seconds = time_step(extractor, 1, h, w, autocast=autocast, channels_last=cl, reps=reps)
                emit({"what": "step", "network": network.value, "size": f"{w}x{h}", "batch": 1, "bf16": autocast,
                      "channels_last": cl, "tf32": tf32, "ms": seconds * 1e3, "gflop": flops / 1e9,
                      "tflops": flops / seconds / 1e12, "frames_per_s_at_20_steps": 1 / (20 * seconds)})
                extractor = extractor.to(memory_format=torch.contiguous_format)
        for batch in batches:
            seconds = time_step(extractor, batch, sizes[0][1], sizes[0][0], autocast=True, channels_last=False, reps=10)
            emit({"what": "batched_step", "network": network.value, "size": f"{sizes[0][0]}x{sizes[0][1]}", "batch": batch, "bf16": True,
                  "ms": seconds * 1e3, "images_per_s": batch / seconds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
