"""Shots in a whole run: the cuts found, the style loss of the frames around each cut, and what detection costs.

    uv run python benchmarks/cut_losses.py [--input CLIP] [--frames 40] [--max-size 96]
                                           [--iterations 100] [--iterations-next 10] [--weights W]
                                           [--network vgg19|vgg16]

Stylizes the same frames twice, with ``--cuts auto`` and with ``--cuts off``,
and prints, for every cut found, the style loss of the frames just before and
after it in both runs, next to the clip's first frame. With shots, the frame
after a cut starts cold with the first-frame budget, so its loss should be
close to the clip's first frame; without, it starts from the previous shot's
painting with the later-frame budget. Also prints the seconds the detection
pass took as a share of the whole run.

Without --input the clip is assembled from the shared videos (tests/mediatools
assemble_clip): pieces of issue-134-rotate.mp4 (two shots), fades.mp4 and
delayed_start.mp4, with hard cuts every --frames/4 frames. Without --weights a
randomly initialised VGG19 is used (the tests' seed): the losses then show
the mechanism, not the picture quality; pass real weights for that, e.g.
``--network vgg16 --weights ../shared/data/weights/vgg16_imagenet_features.pth``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

from tests.mediatools import assemble_clip, shared_data  # noqa: E402
from vidstyle.config import (  # noqa: E402
    DeviceChoice,
    ModelConfig,
    Network,
    OptimizeConfig,
    RunConfig,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
)
from vidstyle.pipeline.events import ShotsPlanned  # noqa: E402
from vidstyle.pipeline.run import stylize  # noqa: E402


def default_clip(folder: Path, frames: int) -> Path:
    piece = max(2, frames // 4)
    rotate = shared_data("videos", "issue-134-rotate.mp4")
    pieces = [
        (rotate, 40, 40 + piece),
        (rotate, 150, 150 + piece),
        (shared_data("videos", "fades.mp4"), 10, 10 + piece),
        (shared_data("videos", "delayed_start.mp4"), 0, piece),
    ]
    return assemble_clip(folder / "assembled.mp4", pieces, size=(256, 192), fps=25)


def random_weights(folder: Path) -> Path:
    torch.manual_seed(1234)
    model = torchvision.models.vgg19(weights=None)
    path = folder / "vgg19_random.pth"
    torch.save({k: v for k, v in model.state_dict().items() if k.startswith("features.")}, path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--max-size", type=int, default=96)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--iterations-next", type=int, default=10)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--network", choices=[n.value for n in Network], default=None,
                        help="the network of --weights (default vgg19; the random weights are always vgg19)")
    parser.add_argument("--style", type=Path, default=shared_data("styles", "starry_night.jpg"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    with tempfile.TemporaryDirectory(prefix="vidstyle-cuts-") as tmp:
        root = Path(tmp)
        clip = args.input or default_clip(root, args.frames)
        weights = args.weights or random_weights(root)
        network = Network(args.network or "vgg19") if args.weights else Network.VGG19
        runs = {}
        for cuts in ("auto", "off"):
            settings = Settings(
                model=ModelConfig(network=network, weights=weights, device=DeviceChoice.CPU),
                style=StyleConfig(images=(args.style,)),
                optimize=OptimizeConfig(iterations=args.iterations, iterations_next=args.iterations_next),
                select=SelectConfig(max_size=args.max_size, max_frames=args.frames),
                shots=ShotsConfig(cuts=cuts),
                run=RunConfig(),
            )
            planned: list[ShotsPlanned] = []
            started = time.perf_counter()
            result = stylize(clip, root / f"out-{cuts}", settings=settings, on_event=lambda e: planned.append(e) if isinstance(e, ShotsPlanned) else None)
            runs[cuts] = (result, time.perf_counter() - started, planned[0])

    auto, auto_seconds, shots = runs["auto"]
    off, off_seconds, _ = runs["off"]
    print(f"input: {clip.name if args.input else 'assembled clip'}, {auto.frames} frames at max {args.max_size} px, "
          f"{args.iterations}/{args.iterations_next} steps, {f'given {network.value}' if args.weights else 'random VGG19'} weights, {args.threads} thread(s)")
    print(f"shots: {shots.summary}")
    print(f"detection: {shots.seconds:.2f} s of a {auto_seconds:.1f} s run ({100 * shots.seconds / auto_seconds:.2f}%); "
          f"the run with --cuts off took {off_seconds:.1f} s")
    style_auto = [r.style_loss for r in auto.records]
    style_off = [r.style_loss for r in off.records]
    first = style_auto[0]
    print(f"\nclip's first frame: style loss {first:.4g}\n")
    print("| cut | frame | style loss, --cuts auto | vs first frame | steps | style loss, --cuts off | vs first frame | steps |")
    print("|---|---|---|---|---|---|---|---|")
    for cut in auto.cuts:
        for position in range(max(0, cut - 1), min(auto.frames, cut + 3)):
            print(
                f"| {cut} | {position - cut:+d} | {style_auto[position]:.4g} | {style_auto[position] / first:.2f}x | {auto.records[position].steps} "
                f"| {style_off[position]:.4g} | {style_off[position] / first:.2f}x | {off.records[position].steps} |"
            )
    after = [style_auto[c] / first for c in auto.cuts]
    if after:
        print(f"\nfirst frame after each cut vs the clip's first: {', '.join(f'{x:.2f}x' for x in after)} "
              f"(max {max(after):.2f}x; without shots: {', '.join(f'{style_off[c] / style_off[0]:.2f}x' for c in auto.cuts)})")
    return 0 if np.isfinite(style_auto).all() else 1


if __name__ == "__main__":
    sys.exit(main())
