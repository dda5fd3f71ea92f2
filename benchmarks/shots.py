"""Shot detection on real clips: the cuts found, the margins behind the defaults, and the cost.

For each clip (a clip assembled from the shared videos with hard cuts at
known frames, fades.mp4, issue-134-rotate.mp4, a slow pan over a real photo
and the same pan with a white flash) it prints what ``find_cuts`` returns
with the default ShotsConfig, how fast it runs (frames per second, shrinking
included, decoding not), and per frame the two numbers the defaults are
compared with: AdaptiveDetector's ratio (cut_threshold) and the reliable
fraction (min_reliable_fraction). Then it times one optimisation step at
256x144 in the same run (random VGG19 weights, same cost as real ones) and
gives the detection cost as a share of a stylized frame.

    uv run python benchmarks/shots.py [--threads 2] [--step-size 256]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED, random_weights  # noqa: E402
from scenedetect import FrameTimecode, StatsManager  # noqa: E402
from scenedetect.detectors import AdaptiveDetector  # noqa: E402
from tests.mediatools import assemble_clip, decode_all  # noqa: E402
from vidstyle.config import ModelConfig, OptimizeConfig, ShotsConfig, StyleConfig  # noqa: E402
from vidstyle.model.build import build_core  # noqa: E402
from vidstyle.pipeline.shots import DETECTION_SIZE, describe_shots, find_cuts  # noqa: E402
from vidstyle.temporal.flow import FlowEstimator  # noqa: E402
from vidstyle.temporal.masks import photometric_mask, reliability_mask, reliable_fraction  # noqa: E402
from vidstyle.video.pixels import bgr_to_tensor, resize, working_size  # noqa: E402

VIDEOS = SHARED / "videos"
PHOTO = SHARED / "frames" / "marple8" / "marple8_01.ppm"
# (video, first frame, end frame): cuts at 25, 50 and 75 of the assembled clip.
PIECES = [
    (VIDEOS / "issue-134-rotate.mp4", 211, 236),  # two people, hand-held
    (VIDEOS / "issue-134-rotate.mp4", 100, 125),  # a computer screen, text appearing
    (VIDEOS / "fades.mp4", 100, 125),  # grey fading up to white
    (VIDEOS / "delayed_start.mp4", 0, 24),  # black fading up to grey
]


def pan(frames: int, step: float = 1.5, size: tuple[int, int] = (256, 192)) -> list[np.ndarray]:
    """A window moving ``step`` px per frame over a real photo (sub-pixel: Lanczos resampling)."""
    photo = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    width, height = size
    out = []
    for k in range(frames):
        matrix = np.float32([[1, 0, -k * step], [0, 1, -60]])
        out.append(cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LANCZOS4))
    return out


def flash(frames: list[np.ndarray], at: int, levels: tuple[float, ...] = (0.5, 1.0, 0.5)) -> list[np.ndarray]:
    """Frames ``at``.. pushed towards white by ``levels`` (1 = white) and back."""
    out = list(frames)
    for k, level in enumerate(levels):
        image = out[at + k].astype(np.float32)
        out[at + k] = np.clip(image + (255.0 - image) * level, 0, 255).astype(np.uint8)
    return out


def per_frame(frames: list[np.ndarray], config: ShotsConfig) -> tuple[list[float], list[float]]:
    """AdaptiveDetector ratio and reliable fraction of every frame (nan where undefined)."""
    detector = AdaptiveDetector(adaptive_threshold=config.cut_threshold, min_scene_len=1)
    detector.stats_manager = StatsManager()
    key = detector.get_metrics()[-1]
    estimator = FlowEstimator()
    fractions = [math.nan]
    small = []
    for i, frame in enumerate(frames):
        height, width = frame.shape[:2]
        image = resize(frame, working_size(width, height, DETECTION_SIZE, even=False))
        detector.process_frame(FrameTimecode(i, fps=25.0), image)
        if small:
            pair = estimator.pair(small[-1], image)
            mask = np.minimum(
                reliability_mask(pair.backward, pair.forward),
                photometric_mask(small[-1], image, pair.backward, threshold=config.photometric_threshold),
            )
            fractions.append(reliable_fraction(mask))
        small.append(image)
    ratios = []
    for i in range(len(frames)):
        value = detector.stats_manager.get_metrics(FrameTimecode(i, fps=25.0), [key])[0]
        ratios.append(math.nan if value is None else float(value))
    return ratios, fractions


def step_seconds(size: int, steps: int) -> tuple[float, tuple[int, int]]:
    """Seconds per optimisation step at (size x 9/16 size), random VGG19 weights."""
    working = (size, size * 9 // 16)
    frame = cv2.resize(cv2.imread(str(PHOTO), cv2.IMREAD_COLOR), working, interpolation=cv2.INTER_AREA)
    content = bgr_to_tensor(frame)
    core = build_core(
        ModelConfig(weights=random_weights()),
        StyleConfig(images=(SHARED / "styles" / "starry_night.jpg",)),
        OptimizeConfig(),
        content_size=working,
        cache_dir=None,
        device=torch.device("cpu"),
    )
    core.stylizer.stylize(content, init=content, budget=2)  # warm-up
    started = time.perf_counter()
    result = core.stylizer.stylize(content, init=content, budget=steps)
    return (time.perf_counter() - started) / result.steps, working


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--step-size", type=int, default=256, help="long side for the step timing")
    parser.add_argument("--timing-steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="find_cuts runs per clip; the fastest counts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    config = ShotsConfig()

    with tempfile.TemporaryDirectory(prefix="vidstyle-shots-") as tmp:
        assembled = assemble_clip(Path(tmp) / "assembled.mp4", PIECES)
        clips = {
            "assembled (cuts at 25, 50, 75)": (decode_all(assembled), {25, 50, 75}),
            "fades.mp4": (decode_all(VIDEOS / "fades.mp4"), set()),
            "issue-134-rotate.mp4 (cuts at 90, 210)": (decode_all(VIDEOS / "issue-134-rotate.mp4"), {90, 210}),
            "pan 1.5 px/frame over marple8_01": (pan(40), set()),
            "same pan, white flash at 20-22": (flash(pan(40), 20), {20, 21, 22, 23}),
        }

    print(f"cuts with the defaults {config}; {args.threads} thread(s)\n")
    print("| clip | frames | size | find_cuts fps | ms/frame | cuts (position reason score) | max ratio off cuts | min reliable off cuts |")
    print("|---|---:|---|---:|---:|---|---:|---:|")
    costs = []
    for name, (frames, expected) in clips.items():
        times = [i / 25 for i in range(len(frames))]
        best = math.inf
        for _ in range(args.repeats):
            started = time.perf_counter()
            cuts = find_cuts(iter(frames), config=config, source_indices=range(len(frames)), times=times)
            best = min(best, time.perf_counter() - started)
        costs.append(best / len(frames))
        ratios, fractions = per_frame(frames, config)
        near = {p + d for p in expected for d in (-1, 0, 1)}
        off_ratio = max((r for i, r in enumerate(ratios) if i not in near and not math.isnan(r)), default=math.nan)
        off_fraction = min((f for i, f in enumerate(fractions) if i not in near and not math.isnan(f)), default=math.nan)
        found = ", ".join(f"{c.position} {c.reason.value} {c.score:.3g}" for c in cuts) or "none"
        height, width = frames[0].shape[:2]
        print(
            f"| {name} | {len(frames)} | {width}x{height} | {len(frames) / best:.0f} | {best / len(frames) * 1000:.1f} "
            f"| {found} ({describe_shots(cuts, times, len(frames))}) | {off_ratio:.2f} | {off_fraction:.3f} |"
        )
        at_cuts = ", ".join(f"{p}: ratio {ratios[p]:.3g}, reliable {fractions[p]:.3f}" for p in sorted(expected))
        if at_cuts:
            print(f"|  at the expected cuts | | | | | {at_cuts} | | |")

    per_step, working = step_seconds(args.step_size, args.timing_steps)
    optimize = OptimizeConfig()
    worst = max(costs)
    print(f"\none optimisation step at {working[0]}x{working[1]}: {per_step * 1000:.0f} ms (random VGG19 weights)")
    print("| detection per frame (slowest clip) | vs one step | vs a later frame "
          f"({optimize.iterations_next} steps) | vs a first frame ({optimize.iterations} steps) |")
    print("|---:|---:|---:|---:|")
    print(
        f"| {worst * 1000:.1f} ms | {worst / per_step:.1%} | {worst / (per_step * optimize.iterations_next):.2%} "
        f"| {worst / (per_step * optimize.iterations):.3%} |"
    )


if __name__ == "__main__":
    main()
