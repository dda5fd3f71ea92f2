"""Where --inbetween's warping error comes from: per consecutive pair, for ways of making the key frames and the in-betweens.

    nice -n 10 uv run python benchmarks/inbetween_pairs.py                  # 24 frames of issue-134-rotate.mp4 at 96 px
    nice -n 10 uv run python benchmarks/inbetween_pairs.py --frames 12 --variants blend,fill5,before

The pipeline's own pieces, driven directly (no work dir): the real VGG19
optimizer (`vidstyle/methods/optimize.py`, default settings, the run's canvas
with its edge margin) and `vidstyle/temporal/inbetween.py`. Every frame of a
variant is made on the same working frames and judged on the same crop (the
working size, as a folder output writes it) with the same flow and mask
(`vidstyle/temporal/metric.py`), so N=1 and the N=2 variants differ only in how
their frames were made. Optimized frames are cached under --cache (keyed by
what made them), so a second call only makes what is new.

Key-frame chains (`--keys`): ``k`` = every 2nd frame warm from the previous
key with the temporal term at the run's weight (what --inbetween 2 does);
``k4`` = the same with 4x the temporal weight.

In-between variants (`--variants`), each on a key chain:

| name | the frame between keys a and b |
|---|---|
| blend | both keys warped to it, blended by position and reliability; the input where neither holds (no fill) |
| fill5 | blend, then 5 steps where neither key holds inside the picture (what --inbetween 2 does) |
| fill5canvas | the same counting holes in the edge margin too (what it did before: every in-between was filled) |
| before | key a alone warped to it (one-sided), the input where it does not hold |
| nearest | where both hold and disagree by more than --agree, key a's warp alone; else the blend |
| opt5, opt10 | a warm optimization of the whole frame from the blend, its temporal term holding it to both keys' warps (5, 10 steps) |

Printed: per variant the mean warping error (vs N=1), the mean style distance
(VGG16 judge, vs N=1), the optimizer steps (vs N=1), then the per-pair error
split into pairs key->between and between->key, and each pair's value.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidstyle.config import DeviceChoice, ModelConfig, SelectConfig, Settings, StyleConfig  # noqa: E402
from vidstyle.faults import Faults  # noqa: E402
from vidstyle.methods.base import FrameTask, GivenStart  # noqa: E402
from vidstyle.methods.optimize import optimize_method  # noqa: E402
from vidstyle.model.measure import Judge, distances  # noqa: E402
from vidstyle.temporal.flow import FlowEstimator  # noqa: E402
from vidstyle.temporal.inbetween import HOLE, composite, key_positions, make_inbetween  # noqa: E402
from vidstyle.temporal.metric import warping_error  # noqa: E402
from vidstyle.video.pixels import crop_margin, resize, working_frame, working_size  # noqa: E402
from vidstyle.video.sources import open_source  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


class Maker:
    """Optimized frames, cached on disk by what made them."""

    def __init__(self, settings: Settings, canvas: tuple[int, int], cache: Path, tag: str) -> None:
        self.method = optimize_method(settings, canvas)
        self.cache = cache
        self.tag = tag
        self.steps = 0

    def _path(self, name: str) -> Path:
        return self.cache / f"{self.tag}-{name}.png"

    def _steps_path(self, name: str) -> Path:
        return self.cache / f"{self.tag}-{name}.steps"

    def frame(self, name: str, task: FrameTask) -> tuple[np.ndarray, int]:
        path = self._path(name)
        if path.exists():
            steps = int(self._steps_path(name).read_text())
            return cv2.imread(str(path)), steps
        result = self.method.stylize(task, on_step=lambda report: None)
        cv2.imwrite(str(path), result.image)
        self._steps_path(name).write_text(str(result.outcome.steps))
        return result.image, result.outcome.steps


def warm(position: int, content, previous_content, previous_stylized) -> FrameTask:
    return FrameTask(position=position, shot_offset=position, content=content, cold=False,
                     previous_content=previous_content, previous_stylized=previous_stylized, faults=Faults())  # fmt: skip


def given(position: int, content, init, target, mask, budget: int) -> FrameTask:
    return FrameTask(position=position, shot_offset=position, content=content, cold=False, previous_content=None,
                     previous_stylized=None, faults=Faults(),
                     given=GivenStart(init=init, target=target, mask=mask, budget=budget))  # fmt: skip


def nearest_blend(made, content, before, after, flow, agree: float, photometric: float) -> np.ndarray:
    """Where both keys hold and their warps disagree, the earlier key's warp alone (no average of two inconsistent keys)."""
    from vidstyle.temporal.inbetween import _warped

    warped_a, mask_a = _warped(flow, content, *before, soft=False, photometric=photometric)
    warped_b, mask_b = _warped(flow, content, *after, soft=False, photometric=photometric)
    differ = np.abs(warped_a - warped_b).mean(axis=2) > agree
    both = (mask_a >= HOLE) & (mask_b >= HOLE)
    image = composite(made, None).astype(np.float32)
    pick = (both & differ)[:, :, None]
    return np.clip(np.rint(np.where(pick, warped_a, image)), 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", type=Path, default=SHARED / "videos" / "issue-134-rotate.mp4")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--max-size", type=int, default=96)
    parser.add_argument("--keys", default="k", help="key chains, comma separated: k, k2, k4, dD (every frame up to D, then every 2nd)")
    parser.add_argument("--variants", default="blend,fill5,before,nearest,opt5")
    parser.add_argument("--agree", type=float, default=24.0, help="nearest: mean |a - b| (0-255) above which two keys disagree")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "vgg19_imagenet_features.pth")
    parser.add_argument("--judge", type=Path, default=SHARED / "weights" / "vgg16_imagenet_features.pth")
    parser.add_argument("--style", type=Path, default=SHARED / "styles" / "starry_night.jpg")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/vidstyle-inbetween-pairs"))
    parser.add_argument("--no-style", action="store_true", help="skip the style distance (faster)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    settings = Settings(
        model=ModelConfig(weights=args.weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(args.style,)),
        select=SelectConfig(max_size=args.max_size),
    )
    margin = settings.select.edge_margin
    with open_source(args.input) as source:
        raw = [frame for _, frame in source.read(range(args.frames))]
    size = working_size(raw[0].shape[1], raw[0].shape[0], args.max_size)
    contents = [working_frame(frame, size, margin) for frame in raw]
    inputs = [resize(frame, size) for frame in raw]  # what benchmarks/inbetween.py judges against
    canvas = contents[0].shape[1], contents[0].shape[0]
    tag = hashlib.sha1(f"{args.input.resolve()}|{args.frames}|{args.max_size}|{args.style}".encode()).hexdigest()[:8]
    print(f"# {args.input.name}: {args.frames} frames at {size[0]}x{size[1]} (canvas {canvas[0]}x{canvas[1]}), cache {args.cache}/{tag}-*", flush=True)

    maker = Maker(settings, canvas, args.cache, tag)
    painting = cv2.imread(str(args.style))
    judge = None if args.no_style else Judge.load(args.judge)
    flow = FlowEstimator(settings.temporal.flow_preset)
    count = len(contents)

    # N=1: every frame, warm from the one before.
    every: list[np.ndarray] = []
    steps_every = 0
    for t in range(count):
        task = FrameTask(position=0, shot_offset=0, content=contents[0], cold=True, previous_content=None, previous_stylized=None) if t == 0 \
            else warm(t, contents[t], contents[t - 1], every[t - 1])  # fmt: skip
        image, steps = maker.frame(f"n1-{t:03d}", task)
        every.append(image)
        steps_every += steps
    print(f"N=1 made ({steps_every} steps)", flush=True)

    def key_chain(name: str) -> tuple[dict[int, np.ndarray], int, list[int]]:
        # k, k2, k4: every 2nd frame, the temporal weight x1, x2, x4; dD: every frame up to D (the N=1 frames), then every 2nd.
        dense = int(name[1:]) if name.startswith("d") else 0
        weight = 1.0 if dense else {"k": 1.0, "k4": 4.0, "k2": 2.0}[name]
        chain_settings = replace(settings, temporal=replace(settings.temporal, weight=settings.temporal.weight * weight))
        chain_maker = maker if weight == 1.0 else Maker(chain_settings, canvas, args.cache, tag)
        at = key_positions(0, count, 2, dense=dense)  # the product's schedule for one shot at --inbetween 2
        keys = {0: every[0]}
        steps = int((args.cache / f"{tag}-n1-000.steps").read_text())
        for previous, t in zip(at, at[1:]):
            if t < dense:  # the dense start: N=1's own frames
                keys[t] = every[t]
                steps += int((args.cache / f"{tag}-n1-{t:03d}.steps").read_text())
                continue
            image, used = chain_maker.frame(f"{name}-{t:03d}", warm(t, contents[t], contents[previous], keys[previous]))
            keys[t] = image
            steps += used
        return keys, steps, at

    rows = [("N=1", every, steps_every)]
    for key_name in args.keys.split(","):
        keys, key_steps, keys_at = key_chain(key_name)
        print(f"keys {key_name} made ({key_steps} steps)", flush=True)
        for variant in args.variants.split(","):
            frames = []
            steps = key_steps
            for t in range(count):
                if t in keys:
                    frames.append(keys[t])
                    continue
                a = max(k for k in keys_at if k < t)
                b = min(k for k in keys_at if k > t)
                before, after = (contents[a], keys[a]), (contents[b], keys[b])
                made = make_inbetween(contents[t], before, after, (t - a) / (b - a), flow=flow, photometric=settings.shots.photometric_threshold)
                if variant == "blend":
                    image = composite(made, None)
                elif variant == "before":
                    image = composite(make_inbetween(contents[t], before, after, 0.0, flow=flow, photometric=settings.shots.photometric_threshold), None)
                elif variant == "nearest":
                    image = nearest_blend(made, contents[t], before, after, flow, args.agree, settings.shots.photometric_threshold)
                elif variant in ("fill5", "fill5canvas"):
                    # fill5 as the pipeline: holes in the cropped edge margin alone need no fill; fill5canvas: as before (any hole)
                    if made.holes_inside(margin if variant == "fill5" else 0):
                        filled, used = maker.frame(f"{key_name}-fill5-{t:03d}", given(t, contents[t], made.init, made.blend, made.reliable, 5))
                        steps += used
                        image = composite(made, filled)
                    else:
                        image = composite(made, None)
                elif variant.startswith("opt"):
                    budget = int(variant[3:])
                    image, used = maker.frame(f"{key_name}-{variant}-{t:03d}", given(t, contents[t], made.init, made.blend, made.reliable, budget))
                    steps += used
                else:
                    raise SystemExit(f"unknown variant {variant}")
                frames.append(image)
            rows.append((f"{key_name}/{variant}", frames, steps))
        # How far each key moved from the previous key over its 2 frames, against N=1's frames over the same 2.
        span = [t for t in range(0, count - 1, 2) if t in keys]  # (a dense start's keys after it sit on odd frames)
        crop = [crop_margin(frame, margin) for frame in every]
        drift_every = warping_error([inputs[t] for t in span], [crop[t] for t in span], estimator=flow).per_pair
        drift_keys = warping_error([inputs[t] for t in span], [crop_margin(keys[t], margin) for t in span], estimator=flow).per_pair
        print(f"2-frame pairs (t, t+2), t = {span[:-1]} (x1000):")
        print("  N=1 frames:      " + " ".join(f"{1000 * p:.3f}" for p in drift_every))
        print(f"  keys {key_name:<10}: " + " ".join(f"{1000 * p:.3f}" for p in drift_keys), flush=True)

    base_pairs = None
    results = []
    for name, frames, steps in rows:
        outputs = [crop_margin(frame, margin) for frame in frames]
        error = warping_error(inputs, outputs, estimator=flow)
        style = float(np.mean([distances(judge, o, i, painting).style_mean for o, i in zip(outputs, inputs)])) if judge else float("nan")
        pairs = np.array(error.per_pair)
        if base_pairs is None:
            base_pairs = pairs
        results.append((name, error.value, style, steps, pairs))
    base = results[0]
    print()
    cold = int((args.cache / f"{tag}-n1-000.steps").read_text())
    print("warping errors x1000; warm steps: all but the cold first frame's")
    print("| frames | warping error | vs N=1 | pairs key->between | pairs between->key | style distance | vs N=1 | steps | vs N=1 | warm steps | vs N=1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    even = np.arange(len(base_pairs)) % 2 == 0  # pair t -> t+1 with t even: key -> between (N=2)
    for name, value, style, steps, pairs in results:
        print(
            f"| {name} | {1000 * value:.4f} | {value / base[1]:.2f}x | {1000 * pairs[even].mean():.4f} | {1000 * pairs[~even].mean():.4f} "
            f"| {style:.4f} | {style / base[2]:.3f}x | {steps} | {steps / base[3]:.2f}x | {steps - cold} | {(steps - cold) / (base[3] - cold):.2f}x |"
        )
    print()
    print("per pair (x1000):")
    for name, _, _, _, pairs in results:
        print(f"  {name:>14}: " + " ".join(f"{1000 * p:.3f}" for p in pairs))


if __name__ == "__main__":
    main()
