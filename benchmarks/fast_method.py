"""Fast mode against the optimizer on a real clip, with real ImageNet VGG16 features for every loss.

    uv run python benchmarks/fast_method.py --steps 1500              # the issue's benchmark (about 35 min on one core)
    uv run python benchmarks/fast_method.py --architectures --seconds 240   # the architecture comparison

The clip (320 frames at 256 px long side, two kinds of motion): the 240
frames of ../shared/data/videos/issue-134-rotate.mp4 (a film scene with cuts:
a computer screen, then two people), followed by 80 frames of a window
panning 2 px per frame across the real photo
../shared/data/frames/marple8/marple8_01.ppm (exact, known motion). Cuts are
found with a plain mean-difference threshold, a stand-in until the shots
issue's detector lands; both methods treat every shot as a new chain.

Optimize (flow mode, default settings: 300/20 steps, temporal weight 500)
is run on windows of consecutive frames (``--windows``), each a chain that
starts cold, because the whole clip would take an hour of this shared CPU;
its per-frame cost is extrapolated from them (cold starts and warm frames
separately). Fast mode is run on the whole clip: keyframes (the optimizer's
cold start, ``--keyframes-every``), training, apply. Quality is compared on
the optimizer's windows: mean style and content loss per frame (the
optimizer's own normalised losses, vidstyle.model.stylizer.Stylizer.losses,
with the same VGG16), and the warping error of Lai et al. 2018
(vidstyle.temporal.metric, what `vidstyle metrics` prints).

The feature network is the product's (``--network vgg16`` with the shared
weights), for the losses, the keyframes and the optimizer alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidstyle.config import ModelConfig, Network, OptimizeConfig, Precision, StyleConfig, TemporalConfig  # noqa: E402
from vidstyle.methods.fastnet import Architecture, NetSpec, Norm, build_network, parameter_count, run_network  # noqa: E402
from vidstyle.methods.feedforward import (  # noqa: E402
    CheckpointSaved,
    FastConfig,
    TrainingClip,
    TrainingStep,
    apply_network,
    network_from_checkpoint,
    plan_keyframes,
    train_network,
)
from vidstyle.model.style import build_style_targets  # noqa: E402
from vidstyle.model.stylizer import Stylizer  # noqa: E402
from vidstyle.methods.optimize import FrameStarter  # noqa: E402
from vidstyle.model.build import load_extractor  # noqa: E402
from vidstyle.model.features import FeatureExtractor  # noqa: E402
from vidstyle.model.runtime import native_bf16, resolve_runtime  # noqa: E402
from vidstyle.temporal.metric import warping_error  # noqa: E402
from vidstyle.video.pixels import bgr_to_tensor, resize, tensor_to_bgr, working_size  # noqa: E402

# VIDSTYLE_SHARED_DATA points elsewhere (a GPU machine gets a copy of the few files used here).
SHARED = Path(os.environ.get("VIDSTYLE_SHARED_DATA") or ROOT.parent / "shared" / "data")
CLIP = SHARED / "videos" / "issue-134-rotate.mp4"
PAN_PHOTO = SHARED / "frames" / "marple8" / "marple8_01.ppm"
VGG16_WEIGHTS = SHARED / "weights" / "vgg16_imagenet_features.pth"
STYLE = SHARED / "styles" / "starry_night.jpg"
DEVICE = torch.device("cpu")  # --device
OPTIMIZE = OptimizeConfig()  # the optimizer's defaults (--smoke shrinks them to check the script quickly)


# ------------------------------------------------------------------ the clip


def load_clip(max_size: int, pan_frames: int) -> tuple[list[np.ndarray], list[int], tuple[int, int]]:
    """Frames (BGR uint8, working size), shot starts, working size (w, h)."""
    capture = cv2.VideoCapture(str(CLIP))
    raw = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        raw.append(frame)
    capture.release()
    size = working_size(raw[0].shape[1], raw[0].shape[0], max_size)
    frames = [resize(frame, size) for frame in raw]
    width, height = size
    photo = cv2.imread(str(PAN_PHOTO), cv2.IMREAD_COLOR)
    scale = height / photo.shape[0]
    photo = resize(photo, (round(photo.shape[1] * scale), height))
    if photo.shape[1] < width + 2 * pan_frames:
        raise SystemExit(f"the pan photo is too narrow for {pan_frames} frames at {size}")
    frames += [np.ascontiguousarray(photo[:, 2 * i : 2 * i + width]) for i in range(pan_frames)]
    return frames, find_cuts(frames), size


def find_cuts(frames: Sequence[np.ndarray], threshold: float = 30.0) -> list[int]:
    """Shot starts: frame 0 and every frame whose mean absolute grey difference to the previous one exceeds ``threshold``."""
    starts = [0]
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32) for f in frames]
    for i in range(1, len(frames)):
        if float(np.abs(grey[i] - grey[i - 1]).mean()) > threshold:
            starts.append(i)
    return starts


def shots_of(starts: Sequence[int], total: int) -> list[tuple[int, int]]:
    ends = list(starts[1:]) + [total]
    return list(zip(starts, ends))


# ------------------------------------------------------------------ methods


@dataclass
class Core:
    features: FeatureExtractor
    stylizer: Stylizer
    model: ModelConfig
    style_key: str


def build_core(size: tuple[int, int], style: Path) -> Core:
    model = ModelConfig(network=Network.VGG16, weights=VGG16_WEIGHTS)
    features, weights = load_extractor(model, device=DEVICE)
    targets = build_style_targets(
        features, StyleConfig(images=(style,)), model, content_size=size, weights_identity=weights.identity,
        device=DEVICE, cache_dir=None,
    )
    stylizer = Stylizer(features, targets, model=model, optimize=OPTIMIZE)
    return Core(features, stylizer, model, targets.key)


def stylizer_in(core: Core, precision: Precision) -> Stylizer:
    """The core's optimizer with its network pass in ``precision`` (fp32: the core's own)."""
    if precision is Precision.FP32:
        return core.stylizer
    runtime = resolve_runtime(precision, DEVICE)
    return Stylizer(core.features, core.stylizer.style, model=core.model, optimize=OPTIMIZE, runtime=runtime)


def cold_start(stylizer: Stylizer, frame: np.ndarray) -> tuple[np.ndarray, int]:
    content = bgr_to_tensor(frame, device=DEVICE)
    result = stylizer.stylize(content, init=content, budget=OPTIMIZE.iterations)
    return tensor_to_bgr(result.image), result.steps


def optimize_window(core: Core, frames: Sequence[np.ndarray], size: tuple[int, int]) -> tuple[list[np.ndarray], dict[str, list]]:
    """The flow-mode chain of the pipeline (FrameStarter + Stylizer), default settings; seconds and steps per frame."""
    starter = FrameStarter(OPTIMIZE, TemporalConfig(), working_size=size, device=DEVICE)
    outputs: list[np.ndarray] = []
    seconds: list[float] = []
    steps: list[int] = []
    for position, frame in enumerate(frames):
        began = time.perf_counter()
        start = starter.start(
            position, frame, frames[position - 1] if position else None, outputs[-1] if position else None
        )
        result = core.stylizer.stylize(bgr_to_tensor(frame, device=DEVICE), init=start.init, budget=start.budget, temporal=start.temporal)
        outputs.append(tensor_to_bgr(result.image))
        seconds.append(time.perf_counter() - began)
        steps.append(result.steps)
        print(f"    optimize frame {position + 1}/{len(frames)}: {result.steps} steps, {seconds[-1]:.1f} s", flush=True)
    return outputs, {"seconds": seconds, "steps": steps}


def frame_losses(core: Core, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> tuple[float, float]:
    """Mean style and content loss (the optimizer's normalised terms, same VGG16) of stylized frames."""
    styles, contents = [], []
    with torch.no_grad():
        for frame, out in zip(inputs, outputs):
            targets = core.stylizer.content_targets(bgr_to_tensor(frame, device=DEVICE))
            terms = core.stylizer.losses(bgr_to_tensor(out, device=DEVICE), targets)
            styles.append(float(terms["style"]))
            contents.append(float(terms["content"]))
    return float(np.mean(styles)), float(np.mean(contents))


# ------------------------------------------------------------------ helpers


def clock() -> float:
    """CPU seconds of this process on the CPU, wall seconds on a GPU.

    The CPU is shared with other people's jobs (load averages of 6-10 on 2
    cores during these measurements): wall time then measures the neighbours.
    With one torch thread, the process's CPU time is what the work costs.
    """
    return time.perf_counter() if DEVICE.type != "cpu" else time.process_time()


def cached(cache: Path | None, name: str, key: dict[str, object], compute):
    """np.savez cache of (arrays, meta) under a hash of ``key``; the keyframes and optimizer windows take minutes."""
    if cache is None:
        return compute()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache / f"{name}-{digest}.npz"
    if path.is_file():
        data = np.load(path, allow_pickle=False)
        print(f"  (cached: {path})", flush=True)
        return list(data["images"]), json.loads(str(data["meta"]))
    images, meta = compute()
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=np.stack(images), meta=json.dumps(meta))
    return images, meta


def apply_speed(net: nn.Module, size: tuple[int, int], threads: int, *, frames: int = 16, batch: int = 4) -> float:
    """Seconds (clock()) per frame of apply_network at ``size`` (w, h) with ``threads`` torch threads, after a warm-up."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(frames)]
    list(apply_network(net, clip[:batch], batch_size=batch))
    began = clock()
    for _ in apply_network(net, clip, batch_size=batch):
        pass
    torch.set_num_threads(before)
    return (clock() - began) / frames


def strip(rows: Sequence[tuple[str, Sequence[np.ndarray]]], path: Path) -> None:
    """One row per method (label on the left), frames side by side."""
    labelled = []
    for label, images in rows:
        row = np.hstack([cv2.copyMakeBorder(im, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255)) for im in images])
        tag = np.full((row.shape[0], 90, 3), 255, np.uint8)
        cv2.putText(tag, label, (4, row.shape[0] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        labelled.append(np.hstack([tag, row]))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(labelled), [cv2.IMWRITE_PNG_COMPRESSION, 9])


# ------------------------------------------------------------------ main


def parse_windows(text: str) -> list[tuple[int, int]]:
    """'20@40,20@150' -> [(40, 60), (150, 170)]."""
    windows = []
    for part in text.split(","):
        count, start = part.split("@")
        windows.append((int(start), int(start) + int(count)))
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-size", type=int, default=256)
    parser.add_argument("--pan-frames", type=int, default=80)
    parser.add_argument("--style", type=Path, default=STYLE)
    parser.add_argument("--steps", type=int, default=FastConfig().train_steps, help="training step budget")
    parser.add_argument("--seconds", type=float, default=None, help="stop training after this many seconds instead")
    parser.add_argument("--keyframes-every", type=int, default=FastConfig().keyframes, help="one keyframe per this many frames of a shot")
    parser.add_argument("--windows", default="16@60,16@180,16@296", help="optimizer windows COUNT@START,...")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--smoke", action="store_true", help="a few optimizer steps per frame: checks the script, measures nothing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared 2-core CPU, 2 threads spin and run slower)")
    parser.add_argument("--architectures", action="store_true", help="compare network designs at equal training time")
    parser.add_argument(
        "--keyframe-precision", choices=["auto", "fp32", "bf16"], default="auto",
        help="the keyframes' optimizer (auto: as a fast-mode run, bf16 where the training is: vidstyle.pipeline.fast.keyframer_settings)",
    )
    parser.add_argument("--config", default="{}", help="JSON overrides of FastConfig fields (weights and net as dicts of the fields to change)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/vidstyle-fast-bench"), help="cache of keyframes and optimizer windows")
    parser.add_argument("--strip", type=Path, default=None, help="write the side-by-side PNG here")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--trace", type=int, default=0, help="every N training steps, measure the windows (learning curve)")
    parser.add_argument("--prepare-only", action="store_true", help="compute (and cache) keyframes and optimizer windows, then stop")
    args = parser.parse_args()
    if not VGG16_WEIGHTS.is_file():
        raise SystemExit(f"needs the shared VGG16 weights at {VGG16_WEIGHTS}")
    torch.set_num_threads(args.threads)
    global DEVICE, OPTIMIZE
    DEVICE = torch.device(args.device)
    if args.smoke:
        OPTIMIZE = OptimizeConfig(iterations=3, iterations_next=2)
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs", flush=True)

    frames, starts, size = load_clip(args.max_size, args.pan_frames)
    shots = shots_of(starts, len(frames))
    print(f"clip: {len(frames)} frames at {size[0]}x{size[1]}; shots {shots}", flush=True)
    core = build_core(size, args.style)
    # Every setting the cached images depend on: the optimizer's defaults have changed before
    # (style weight 10 -> 3, tv 1e-3 -> 1), and stale keyframes would be compared silently.
    base_key = {
        "size": size, "style": str(args.style), "frames": len(frames), "weights": "vgg16",
        "optimize": repr(OPTIMIZE), "temporal": repr(TemporalConfig()), "model": repr(core.model),
    }
    if args.device != "cpu" or args.smoke:
        base_key.update(device=args.device, smoke=args.smoke)

    # Keyframes: per shot, one per --keyframes-every frames, at least one.
    keys = list(plan_keyframes(shots, every=args.keyframes_every))
    print(f"keyframes: {keys}", flush=True)

    def keyframes_in(precision: Precision):
        def compute():
            stylizer = stylizer_in(core, precision)
            images, seconds, steps = [], [], []
            for index in keys:
                began = time.perf_counter()
                image, spent = cold_start(stylizer, frames[index])
                images.append(image)
                seconds.append(time.perf_counter() - began)
                steps.append(spent)
                print(f"  keyframe {index} ({precision.value}): {spent} steps, {seconds[-1]:.1f} s", flush=True)
            return images, {"seconds": seconds, "steps": steps}

        # fp32 keeps the key it had before the keyframes could be bf16 (the cache stays valid).
        key = {**base_key, "keys": keys} | ({} if precision is Precision.FP32 else {"precision": precision.value})
        return cached(args.cache, "keyframes", key, compute)

    overrides = json.loads(args.config)
    # As a run on this device: bf16 training where it is native (vidstyle.pipeline.fast.bf16_training's auto).
    config = FastConfig(train_steps=args.steps, bf16_losses=native_bf16(DEVICE))
    if "weights" in overrides:
        overrides["weights"] = replace(config.weights, **overrides["weights"])
    if "net" in overrides:
        net = overrides["net"]
        overrides["net"] = NetSpec.from_json({**config.net.to_json(), **net})  # e.g. {"residual": true}: the rest as the default
    config = replace(config, **overrides)
    if args.keyframe_precision == "auto":  # the product's rule: keyframes in bf16 exactly when the training is
        keyframe_precision = Precision.BF16 if config.bf16_losses else Precision.FP32
    else:
        keyframe_precision = Precision(args.keyframe_precision)
    # The optimizer's own cold starts are fp32 (its auto on a CPU); they price the optimizer's cuts.
    fp32_keyframes = keyframes_in(Precision.FP32)
    key_images, key_meta = fp32_keyframes if keyframe_precision is Precision.FP32 else keyframes_in(keyframe_precision)
    key_meta = {**key_meta, "precision": keyframe_precision.value, "fp32_steps": fp32_keyframes[1]["steps"]}
    clip = TrainingClip(
        frames=frames, keyframes=dict(zip(keys, key_images)), breaks=frozenset(s - 1 for s in starts[1:])
    )

    # Optimizer windows (the reference).
    windows = parse_windows(args.windows)
    reference: dict[tuple[int, int], tuple[list[np.ndarray], list[float]]] = {}
    for begin, end in windows:
        images, meta = cached(
            args.cache, "optimize", {**base_key, "window": [begin, end]},
            lambda b=begin, e=end: optimize_window(core, frames[b:e], size),
        )
        reference[(begin, end)] = (images, meta)

    if args.prepare_only:
        return
    if args.architectures:
        compare_architectures(args, core, clip, config, windows, reference)
        return

    # Fast mode: train, apply.
    print(f"training: {json.dumps(config.to_json())}", flush=True)
    inputs = [f for b, e in windows for f in frames[b:e]]
    opt_style, opt_content = frame_losses(core, inputs, [im for w in windows for im in reference[w][0]])
    opt_warp = float(np.mean([warping_error(frames[b:e], reference[(b, e)][0]).value for b, e in windows]))
    print(f"optimize on the windows: style {opt_style:.4f} content {opt_content:.4f} warping error {opt_warp:.5f}", flush=True)

    def progress(event):
        if isinstance(event, TrainingStep) and (event.step % 50 == 0 or event.step == 1):
            terms = " ".join(f"{k} {v:.4g}" for k, v in event.terms.items())
            print(f"  step {event.step}/{event.budget} loss {event.loss:.4g} ({terms}) eta {event.eta_seconds:.0f} s", flush=True)
        if isinstance(event, TrainingStep) and event.validation is not None:
            print(f"  step {event.step}: validation loss {event.validation:.4g}", flush=True)
        if isinstance(event, CheckpointSaved) and args.trace and event.step % args.trace == 0:
            net = network_from_checkpoint(event.path.parent, config.net, device=DEVICE)
            out = {}
            for b, e in windows:
                out.update(zip(range(b, e), apply_network(net, frames[b:e])))
            style, content = frame_losses(core, inputs, [out[i] for b, e in windows for i in range(b, e)])
            warp = float(np.mean([warping_error(frames[b:e], [out[i] for i in range(b, e)]).value for b, e in windows]))
            print(
                f"  TRACE step {event.step}: style {style:.4f} ({style / opt_style:.2f}x) content {content:.4f} "
                f"({content / opt_content:.2f}x) warping error {warp:.5f} ({warp / opt_warp:.2f}x)",
                flush=True,
            )

    # The optimizer's and the keyframes' costs are their step counts times the
    # cost of one optimizer step, measured just before and just after the
    # training and apply, so both methods are priced the same way (CPU time,
    # see clock()).
    key_step_before = optimizer_step_seconds(core, frames[60:62], size, keyframe_precision)
    step_before = optimizer_step_seconds(core, frames[60:62], size)
    wall, cpu = time.perf_counter(), clock()
    if args.seconds:
        trained = _train_for(clip, core, config, progress, time.perf_counter() + args.seconds)
    else:
        import tempfile

        trained = train_network(
            clip, features=core.features, style=core.stylizer.style, content_layers=core.model.content_layers,
            config=config, on_event=progress, checkpoint_dir=Path(tempfile.mkdtemp(prefix="fast-bench-")),
            device=DEVICE,
        )
    train_seconds = clock() - cpu
    print(f"training: {train_seconds:.0f} s ({time.perf_counter() - wall:.0f} s of wall time)", flush=True)
    began = clock()
    fast = list(apply_network(trained.net, frames))
    apply_seconds = clock() - began
    step_after = optimizer_step_seconds(core, frames[60:62], size)
    key_step_after = optimizer_step_seconds(core, frames[60:62], size, keyframe_precision)
    step_seconds = (step_before + step_after) / 2
    key_step_seconds = (key_step_before + key_step_after) / 2
    print(f"optimizer step: {step_before:.3f} s before training, {step_after:.3f} s after", flush=True)
    print(f"keyframes' optimizer step ({keyframe_precision.value}): {key_step_before:.3f} s before, {key_step_after:.3f} s after", flush=True)
    report(
        args, core, frames, size, shots, keys, key_meta, trained, train_seconds, apply_seconds, fast, windows,
        reference, step_seconds, key_step_seconds,
    )


def optimizer_step_seconds(
    core: Core, pair: Sequence[np.ndarray], size: tuple[int, int], precision: Precision = Precision.FP32, steps: int = 10
) -> float:
    """Seconds per step of a warm flow-mode frame (early stop off) with the network pass in ``precision``, after one warm-up step."""
    starter = FrameStarter(OPTIMIZE, TemporalConfig(), working_size=size, device=DEVICE)
    previous = cold = pair[0]
    start = starter.start(1, pair[1], previous, cold)
    runtime = resolve_runtime(precision, DEVICE)
    stylizer = Stylizer(core.features, core.stylizer.style, model=core.model, optimize=OptimizeConfig(tolerance=0.0), runtime=runtime)
    stylizer.stylize(bgr_to_tensor(pair[1], device=DEVICE), init=start.init, budget=1, temporal=start.temporal)
    began = clock()
    stylizer.stylize(bgr_to_tensor(pair[1], device=DEVICE), init=start.init, budget=steps, temporal=start.temporal)
    return (clock() - began) / steps


def _train_for(clip, core, config, progress, stop_at):
    from vidstyle.methods.feedforward import TrainingStopped

    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="fast-bench-"))
    began = time.perf_counter()
    try:
        return train_network(
            clip, features=core.features, style=core.stylizer.style, content_layers=core.model.content_layers,
            config=config, on_event=progress, stop=lambda: time.perf_counter() > stop_at, checkpoint_dir=folder,
            device=DEVICE,
        )
    except TrainingStopped as stopped:
        from vidstyle.methods.feedforward import TrainResult, network_from_checkpoint

        return TrainResult(
            net=network_from_checkpoint(folder, config.net, device=DEVICE), spec=config.net, steps=stopped.step,
            stopped_early=False, seconds=time.perf_counter() - began, history=(),
        )


def report(
    args, core, frames, size, shots, keys, key_meta, trained, train_seconds, apply_seconds, fast, windows, reference,
    step_seconds, key_step_seconds,
):
    optimized_inputs = [f for b, e in windows for f in frames[b:e]]
    optimized = [im for w in windows for im in reference[w][0]]
    fast_windows = [im for b, e in windows for im in fast[b:e]]
    opt_style, opt_content = frame_losses(core, optimized_inputs, optimized)
    fast_style, fast_content = frame_losses(core, optimized_inputs, fast_windows)
    opt_warp = float(np.mean([warping_error(frames[b:e], reference[(b, e)][0]).value for b, e in windows]))
    fast_warp = float(np.mean([warping_error(frames[b:e], fast[b:e]).value for b, e in windows]))
    fast_all_warp = float(np.mean([warping_error(frames[b:e], fast[b:e]).value for b, e in shots if e - b > 1]))
    # Steps: a cold start takes what the optimizer's early stop gave it (the
    # windows' first frames and the keyframes are all cold starts), a warm
    # frame the default 20.
    cold_steps = float(np.mean(list(key_meta["fp32_steps"]) + [w[1]["steps"][0] for w in reference.values()]))
    warm_steps = float(np.mean([s for w in reference.values() for s in w[1]["steps"][1:]]))
    n = len(frames)

    def optimize_seconds(frames_: float, shots_: float) -> float:
        return (shots_ * cold_steps + (frames_ - shots_) * warm_steps) * step_seconds

    keyframe_seconds = float(sum(key_meta["steps"])) * key_step_seconds  # in the keyframes' precision
    per_frame_apply = apply_seconds / n
    opt_total = optimize_seconds(n, len(shots))
    fast_total = keyframe_seconds + train_seconds + apply_seconds
    scale = 1000 / n  # a 1,000-frame clip with this clip's density of shots and keyframes
    opt_1000 = optimize_seconds(1000, len(shots) * scale)
    fast_1000 = keyframe_seconds * scale + train_seconds + per_frame_apply * 1000
    speed_256_1 = apply_speed(trained.net, size, 1)
    speed_1080 = apply_speed(trained.net, (1920, 1080), args.threads, frames=4, batch=1)
    rows = [
        ("total seconds, this clip", f"{opt_total:.0f}", f"{fast_total:.0f}", f"{fast_total / opt_total:.2f}x"),
        ("total seconds, 1,000 frames", f"{opt_1000:.0f}", f"{fast_1000:.0f}", f"{fast_1000 / opt_1000:.2f}x"),
        ("keyframe seconds", "-", f"{keyframe_seconds:.0f} ({len(keys)} cold starts in {key_meta['precision']}, {sum(key_meta['steps'])} steps)", ""),
        ("training seconds", "-", f"{train_seconds:.0f} ({trained.steps} steps{', early stop' if trained.stopped_early else ''})", ""),
        ("seconds per frame", f"{warm_steps * step_seconds:.2f} (cold start {cold_steps * step_seconds:.0f})", f"{per_frame_apply:.4f} (apply)", f"{per_frame_apply / (warm_steps * step_seconds):.4f}x"),
        ("style loss", f"{opt_style:.4f}", f"{fast_style:.4f}", f"{fast_style / opt_style:.2f}x"),
        ("content loss", f"{opt_content:.4f}", f"{fast_content:.4f}", f"{fast_content / opt_content:.2f}x"),
        ("warping error", f"{opt_warp:.5f}", f"{fast_warp:.5f}", f"{fast_warp / opt_warp:.2f}x"),
        ("warping error, every shot of the clip", "-", f"{fast_all_warp:.5f}", ""),
        (f"apply fps at {size[0]}x{size[1]}, one thread", "-", f"{1 / speed_256_1:.1f}", ""),
        ("apply seconds per 1920x1080 frame", "-", f"{speed_1080:.2f}", ""),
    ]
    kind = "CPU seconds, one thread" if DEVICE.type == "cpu" else f"seconds on {DEVICE}"
    print(f"\n{kind}; optimizer step {step_seconds:.3f} s; cold start {cold_steps:.0f} steps, warm frame {warm_steps:.0f}")
    print(f"\n| {n} frames, {size[0]}x{size[1]}, {len(shots)} shots | optimize (flow) | fast | fast / optimize |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.strip:
        picks = [b + (e - b) // 2 for b, e in windows]
        strip(
            [("input", [frames[i] for i in picks]),
             ("optimize", [reference[w][0][(w[1] - w[0]) // 2] for w in windows]),
             ("fast", [fast[i] for i in picks])],
            args.strip,
        )
        print(f"strip: {args.strip} (frames {picks})")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "history": list(trained.history)}, indent=1))


def compare_architectures(args, core, clip, config, windows, reference) -> None:
    """Each design trained for the same wall time (--seconds), measured on the optimizer windows."""
    designs = {
        "johnson-half (no norm)": NetSpec(Architecture.JOHNSON, 16, 5, Norm.NONE),
        "johnson-half (instance norm)": NetSpec(Architecture.JOHNSON, 16, 5, Norm.INSTANCE),
        "reconet (instance norm)": NetSpec(Architecture.JOHNSON, 48, 4, Norm.INSTANCE),
        "unet (texler-style)": NetSpec(Architecture.UNET, 16, 3, Norm.NONE),
    }
    frames = clip.frames
    size = clip.size
    inputs = [f for b, e in windows for f in frames[b:e]]
    optimized = [im for w in windows for im in reference[w][0]]
    opt_style, _ = frame_losses(core, inputs, optimized)
    opt_warp = float(np.mean([warping_error(frames[b:e], reference[(b, e)][0]).value for b, e in windows]))
    seconds = args.seconds or 240.0
    print(f"\n| design | parameters | GFLOP at {size[0]}x{size[1]} | ms/frame 256 px (1 thr) | s/frame 1080p | steps in {seconds:.0f} s | style vs optimize | content | warping error vs optimize |")
    print("|---|---|---|---|---|---|---|---|---|")
    from torch.utils.flop_counter import FlopCounterMode

    picks = [b + (e - b) // 2 for b, e in windows]
    rows = [("input", [frames[i] for i in picks]), ("optimize", [reference[w][0][(w[1] - w[0]) // 2] for w in windows])]
    for name, spec in designs.items():
        net = build_network(spec).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            run_network(net, torch.rand(1, 3, size[1], size[0]))
        flops = counter.get_total_flops() / 1e9
        stop_at = time.perf_counter() + seconds
        trained = _train_for(clip, core, replace(config, net=spec, train_steps=100000), lambda e: None, stop_at)
        out = list(apply_network(trained.net, frames))
        style, content = frame_losses(core, inputs, [im for b, e in windows for im in out[b:e]])
        warp = float(np.mean([warping_error(frames[b:e], out[b:e]).value for b, e in windows]))
        rows.append((name.split(" ")[0], [out[i] for i in picks]))
        ms = apply_speed(trained.net, size, 1) * 1000
        s1080 = apply_speed(trained.net, (1920, 1080), args.threads, frames=2, batch=1)
        print(
            f"| {name} | {parameter_count(trained.net):,} | {flops:.2f} | {ms:.0f} | {s1080:.2f} | {trained.steps} | "
            f"{style / opt_style:.2f}x | {content:.3f} | {warp / opt_warp:.2f}x |",
            flush=True,
        )
    if args.strip:
        strip(rows, args.strip)
        print(f"strip: {args.strip} (frames {picks})")


if __name__ == "__main__":
    main()
