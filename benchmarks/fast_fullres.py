"""Fast mode at the output size: the network applied at the working size then upsampled, or trained and applied at the output size.

    uv run python benchmarks/fast_fullres.py                         # 16 frames of issue-134-rotate.mp4, The Starry Night
    uv run python benchmarks/fast_fullres.py --frames 16 --steps 300 --crops docs/img/fast_fullres.jpg

Issue 23 asks that the fast network's strokes keep the keyframes' scale at the
output size. Two ways, each trained on the same frames, from the same
keyframe (the optimizer's cold start at the working size, what a run makes),
for the same number of steps, with the run's loss weights (pipeline/fast.py
fast_config):

* **A, apply at the working scale, then guided upsampling** (what a run does:
  methods/feedforward.py applies the network to the working frames on their
  canvas, video/sinks.py crops the margin and upsamples guided by the
  full-size input, video/upsample.py);
* **B, train on crops at the output scale**: the keyframe guided-upsampled to
  the output size is the distillation target, the crops are cut from the
  full-size frames (128 px, ``--crop-b``), the style term's Grams are those of
  the painting at the output's long side (the same strokes relative to the
  picture), and the network is applied to the full-size frames, nothing
  upsampled;
* **B, distillation only**: B without the Gatys style and content terms (only
  the keyframe's L1 and perceptual terms, the temporal and tv terms), in case
  the style term at the output scale pulls the strokes back to VGG's scale.

Measured at the output size (the source's, 544x1280 for this rotated clip):
edge agreement with the input (benchmarks/upsample.py's measure: Pearson
correlation of the Sobel gradient magnitude of the luminance), the judge's
style and content distance (vidstyle/model/measure.py) of the output shrunk to
256 px (the working size) against the keyframe's own, the warping error at the
output size (Lai et al., flow on the input frames), and the training and
apply time (apply: network plus upsampling, per frame, this process's threads).
--crops writes a sheet of 100% crops of one frame that is not the keyframe.
The keyframe is cached in /tmp (``--cache``) so reruns skip it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED  # noqa: E402
from benchmarks.upsample import edge_correlation  # noqa: E402
from vidstyle.config import (  # noqa: E402
    DeviceChoice,
    MethodConfig,
    MethodKind,
    ModelConfig,
    OptimizeConfig,
    SelectConfig,
    Settings,
    StyleConfig,
)
from vidstyle.methods.base import FrameTask  # noqa: E402
from vidstyle.methods.feedforward import TrainingClip, TrainingStep, apply_network, plan_keyframes, train_network  # noqa: E402
from vidstyle.methods.optimize import optimize_method  # noqa: E402
from vidstyle.model.measure import Judge, distances, resize_long_side  # noqa: E402
from vidstyle.model.style import build_style_targets  # noqa: E402
from vidstyle.networks import Network  # noqa: E402
from vidstyle.pipeline.fast import fast_config, keyframer_settings  # noqa: E402
from vidstyle.temporal.metric import warping_error  # noqa: E402
from vidstyle.video.pixels import canvas_size, crop_margin, working_frame, working_size  # noqa: E402
from vidstyle.video.sources import open_source, read_image  # noqa: E402
from vidstyle.video.upsample import upsample_to_source  # noqa: E402

WEIGHTS = SHARED / "weights" / "vgg19_imagenet_features.pth"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=SHARED / "videos" / "issue-134-rotate.mp4")
    parser.add_argument("--start", type=int, default=220, help="first frame (220 on: two faces, a slow pan)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--style", type=Path, default=SHARED / "styles" / "starry_night.jpg")
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--max-size", type=int, default=256, help="the working size's long side (a CPU run's auto)")
    parser.add_argument("--keyframe-steps", type=int, default=OptimizeConfig.iterations, help="the keyframe's optimizer steps")
    parser.add_argument("--steps", type=int, default=300, help="training steps, the same for every variant")
    parser.add_argument("--crop-b", type=int, default=128, help="B's training crop side at the output scale (px)")
    parser.add_argument("--variants", default="A,B,B-distill")
    parser.add_argument("--crops", type=Path, help="write a 100%% crop sheet (input | keyframe look | A | B ...) here")
    parser.add_argument("--crop-at", default="40,300", help="x,y of the crop's top left in the output frame")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/vidstyle-fast-fullres"))
    args = parser.parse_args()
    if not args.weights.is_file():
        sys.exit(f"{args.weights} not found: these measurements need the shared VGG19 ImageNet weights.")
    device = torch.device("cpu")

    with open_source(args.clip) as source:
        sources = [frame for _, frame in source.read(range(args.start, args.start + args.frames))]
    height, width = sources[0].shape[:2]
    settings = Settings(
        model=ModelConfig(weights=args.weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(args.style,)),
        optimize=OptimizeConfig(iterations=args.keyframe_steps),
        select=SelectConfig(max_size=args.max_size),
        method=MethodConfig(kind=MethodKind.FAST),
    )
    margin = settings.select.edge_margin
    working = working_size(width, height, args.max_size)
    canvas = [working_frame(frame, working, margin) for frame in sources]
    print(f"{args.clip.name} frames {args.start}..{args.start + args.frames - 1}, output {width}x{height}, working "
          f"{working[0]}x{working[1]} (+{margin} px canvas), style {args.style.stem}, {torch.get_num_threads()} thread(s), "
          f"{args.steps} training steps", flush=True)

    # The keyframe: the optimizer's cold start on its canvas, as pipeline/fast.py makes it (bf16 where the training is).
    keyframer = optimize_method(keyframer_settings(settings), canvas_size(working, margin))
    core = keyframer.core
    assert core is not None
    (key,) = plan_keyframes([(0, args.frames)], every=settings.method.keyframes)
    tag = hashlib.sha256(f"{args.clip}|{args.start + key}|{args.style}|{args.keyframe_steps}|{args.max_size}".encode()).hexdigest()[:12]
    cached = args.cache / f"keyframe-{tag}.png"
    if cached.is_file():
        key_canvas = read_image(cached)
    else:
        began = time.perf_counter()
        task = FrameTask(position=key, shot_offset=key, content=canvas[key], cold=True, previous_content=None, previous_stylized=None)
        key_canvas = keyframer.stylize(task, on_step=lambda _report: None).image
        args.cache.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(cached), key_canvas)
        print(f"keyframe {args.start + key}: {time.perf_counter() - began:.0f} s", flush=True)
    key_working = crop_margin(key_canvas, margin)
    key_full = upsample_to_source(key_working, sources[key])

    config = fast_config(settings, steps=args.steps)
    judge = Judge.load(args.weights, Network.VGG19)
    painting = read_image(args.style)

    def judged(picture: np.ndarray, photo: np.ndarray) -> tuple[float, float]:
        found = distances(judge, resize_long_side(picture, max(working)), photo, painting)
        return found.style_mean, found.content

    key_style, key_content = judged(key_working, sources[key])
    print(f"the keyframe (working size): style distance {key_style:.4f}, content distance {key_content:.4f}", flush=True)

    def train(clip: TrainingClip, style, variant_config) -> tuple[torch.nn.Module, float]:
        began = time.perf_counter()

        def progress(event: object) -> None:
            if isinstance(event, TrainingStep) and event.step % 50 == 0:
                print(f"  step {event.step}: loss {event.loss:.3g}, {time.perf_counter() - began:.0f} s", flush=True)

        result = train_network(
            clip, features=core.extractor, style=style, content_layers=core.stylizer.content_layers,
            config=variant_config, device=device, on_event=progress,
        )  # fmt: skip
        return result.net, time.perf_counter() - began

    outputs: dict[str, list[np.ndarray]] = {}
    rows = []
    for variant in args.variants.split(","):
        if variant == "A":
            clip = TrainingClip(frames=canvas, keyframes={key: key_canvas})
            net, train_seconds = train(clip, core.style, config)
            began = time.perf_counter()
            frames = [
                upsample_to_source(crop_margin(image, margin), src)
                for image, src in zip(apply_network(net, canvas, batch_size=1, device=device), sources)
            ]
            label = "A: apply at the working size, guided upsampling"
        elif variant in ("B", "B-distill"):
            clip = TrainingClip(frames=sources, keyframes={key: key_full})
            # The painting at the output's long side: the same strokes relative to the picture as the keyframe's targets.
            style = build_style_targets(
                core.extractor, settings.style, settings.model, content_size=(width, height),
                weights_identity=core.weights.identity, device=device, cache_dir=None,
            )  # fmt: skip
            variant_config = replace(config, crop=args.crop_b)
            if variant == "B-distill":
                variant_config = replace(variant_config, weights=replace(config.weights, style=0.0, content=0.0))
            net, train_seconds = train(clip, style, variant_config)
            began = time.perf_counter()
            frames = list(apply_network(net, sources, batch_size=1, device=device))
            label = f"B: trained on {args.crop_b} px crops at the output size, applied there" + (
                ", distillation only" if variant == "B-distill" else ""
            )
        else:
            raise SystemExit(f"unknown variant {variant!r}")
        apply_ms = 1000 * (time.perf_counter() - began) / len(frames)
        outputs[variant] = frames
        args.cache.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.cache / f"{variant}-{args.start + args.frames // 2 + args.frames // 4}.png"), frames[min(args.frames - 1, key + args.frames // 4)])
        edges = float(np.mean([edge_correlation(f, s) for f, s in zip(frames, sources)]))
        judged_all = [judged(f, s) for f, s in zip(frames, sources)]
        style_d = float(np.mean([s for s, _ in judged_all]))
        content_d = float(np.mean([c for _, c in judged_all]))
        flicker = warping_error(sources, frames).value
        rows.append((label, edges, style_d, content_d, flicker, train_seconds, apply_ms))
        print(f"{variant}: edges {edges:.3f} style {style_d:.4f} content {content_d:.4f} warping {flicker:.5f} "
              f"train {train_seconds:.0f} s apply {apply_ms:.0f} ms/frame", flush=True)

    print()
    print("| variant | edge correlation | style distance at 256 px (keyframe: "
          f"{key_style:.4f}) | content distance | warping error at {width}x{height} | training s | apply ms/frame |")
    print("|---|---|---|---|---|---|---|")
    for label, edges, style_d, content_d, flicker, train_seconds, apply_ms in rows:
        print(f"| {label} | {edges:.3f} | {style_d:.4f} ({style_d / key_style:.2f}x) | {content_d:.4f} | {flicker:.5f} | "
              f"{train_seconds:.0f} | {apply_ms:.0f} |")

    if args.crops:
        index = min(args.frames - 1, key + args.frames // 4)  # a frame the keyframe does not show
        x, y = (int(v) for v in args.crop_at.split(","))
        h, w = 300, 300
        tiles = [sources[index]] + [frames[index] for frames in outputs.values()]
        names = ["input", *outputs]
        sheet = np.concatenate([np.pad(t[y : y + h, x : x + w], ((0, 0), (0, 6), (0, 0)), constant_values=255) for t in tiles], axis=1)[:, :-6]
        args.crops.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.crops), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(f"\ncrop sheet ({' | '.join(names)}, 100%, frame {args.start + index}, x {x} y {y}): {args.crops}")


if __name__ == "__main__":
    main()
