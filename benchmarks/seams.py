"""How visible is the seam where a shot is split into two chains, for each overlap?

    uv run python benchmarks/seams.py --network vgg16 \
        --weights ../shared/data/weights/vgg16_imagenet_features.pth --max-size 128 --overlaps 0,4,8,12

A shot of FRAMES frames of a real clip is stylized twice with the run's own
chain runner (pipeline/chain.py):

* as one chain (the sequential run): its per-pair warping errors (Lai et al.
  2018, flow on the input) give the median pair;
* split at SPLIT into two chains, for every overlap K: the second chain starts
  cold K frames before SPLIT and stylizes those warmup frames before its own.
  Its first chain is the sequential run's prefix (the same frames, bit for
  bit), so only the second chain is run, up to SPLIT + AFTER.

For each K the pair across the seam (SPLIT-1, SPLIT) is measured in the two
ways the run can treat the overlap: ``discard`` (the warmup frames are thrown
away) and ``crossfade`` (the first chain's last K frames are blended towards
the warmup frames, weight (i+1)/(K+1) on the i-th, so the second chain takes
over gradually). The issue's bar: the seam pair at most 1.5x the median pair.
The crossfade's own pairs are reported too (the worst pair of the fade).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
from vidstyle.methods.base import FrameResult, FrameTask, StepCallback  # noqa: E402
from vidstyle.methods.optimize import optimize_method  # noqa: E402
from vidstyle.pipeline.chain import ChainJob, run_chain  # noqa: E402
from vidstyle.pipeline.chains import make_run_plan  # noqa: E402
from vidstyle.pipeline.plan import make_plan  # noqa: E402
from vidstyle.pipeline.workdir import WorkDir  # noqa: E402
from vidstyle.temporal.metric import warping_error  # noqa: E402
from vidstyle.video.pixels import crop_margin, resize  # noqa: E402
from vidstyle.video.sinks import OutputKind, SinkSpec  # noqa: E402
from vidstyle.video.sources import open_source, read_image  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


class Recording:
    """The method, keeping every result it returns (warmup frames included) by position."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner
        self.identity, self.style_passes, self.uses_previous = inner.identity, inner.style_passes, inner.uses_previous
        self.results: dict[int, np.ndarray] = {}

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult:
        result = self.inner.stylize(task, on_step=on_step)
        self.results[task.position] = result.image
        return result


class Never:
    requested = False


def run(args: argparse.Namespace) -> dict[str, object]:
    settings = Settings(
        model=ModelConfig(network=Network(args.network), weights=args.weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(args.style,)),
        optimize=OptimizeConfig(),
        select=SelectConfig(start=f"#{args.start}", max_frames=args.frames, max_size=args.max_size),
        shots=ShotsConfig(cuts="off"),
        run=RunConfig(),
    )
    overlaps = [int(k) for k in args.overlaps.split(",")]
    with open_source(args.input) as source:
        frames = make_plan(source.info, settings.select)
        spec = source.spec
        inputs = [resize(f, frames.working_size) for _, f in source.read(frames.source_indices)]
    method = Recording(optimize_method(settings, frames.canvas_size))  # the chains hand it frames on their canvas (--edge-margin)
    tmp = Path(tempfile.mkdtemp(prefix="vidstyle-seams-"))

    def chain_frames(plan, chain: int, name: str) -> tuple[list[np.ndarray], float]:  # noqa: ANN001
        out = tmp / name
        out.mkdir()
        sink = SinkSpec(kind=OutputKind.FOLDER, output=out, work=tmp / f"{name}.work", crf=18, keep_frames=False)
        WorkDir(tmp / f"{name}.work").frames.mkdir(parents=True)
        started = time.perf_counter()
        run_chain(ChainJob(plan=plan, chain=chain, source=spec, sink=sink), method=method, stop=Never(), on_event=lambda e: None)
        positions = plan.chains[chain].positions
        return [read_image(out / f"frame_{p + 1:06d}.png") for p in positions], time.perf_counter() - started

    one = make_run_plan(frames, segment_frames=240)
    reference, seconds = chain_frames(one, 0, "sequential")
    pairs = warping_error(inputs, reference).per_pair
    median = statistics.median(pairs)
    print(f"sequential: {len(reference)} frames in {seconds:.0f} s; median pair {median:.5f}, max {max(pairs):.5f}", flush=True)
    split, after = args.split, args.after
    rows = []
    for k in overlaps:
        total = split + after
        plan = make_run_plan(replace(frames, source_indices=frames.source_indices[:total]), segment_frames=240)
        # Two chains of the shot: [0, split) and [split, total), the second warmed up by k frames.
        base = plan.chains[0]
        from vidstyle.pipeline.chains import Chain, RunPlan, Segment

        first = Chain(0, 0, 0, 0, split, 0, (Segment(0, 0, split),))
        second = Chain(1, 0, 0, split, total, max(0, split - k), (Segment(1, split, total),))
        plan = RunPlan(frames=plan.frames, shots=plan.shots, chains=(first, second))
        plan.check()
        del base
        method.results.clear()
        tail, seconds = chain_frames(plan, 1, f"overlap{k}")
        warm = {p: crop_margin(method.results[p], plan.margin) for p in range(split - k, split)}  # off their canvas
        discard = reference[:split] + tail
        fade = list(discard)
        for i, p in enumerate(range(split - k, split)):
            w = (i + 1) / (k + 1)
            fade[p] = np.clip(np.rint((1 - w) * reference[p].astype(np.float64) + w * warm[p].astype(np.float64)), 0, 255).astype(np.uint8)
        d = warping_error(inputs[:total], discard).per_pair
        f = warping_error(inputs[:total], fade).per_pair
        seam = split - 1  # pair index of (split-1, split)
        fade_pairs = f[max(0, split - k - 1) : split]
        row = {
            "overlap": k,
            "discard_seam": d[seam],
            "discard_ratio": d[seam] / median,
            "crossfade_seam": f[seam],
            "crossfade_ratio": f[seam] / median,
            "crossfade_worst_ratio": max(fade_pairs) / median,
            "seconds": seconds,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"median_pair": median, "pairs": list(pairs), "rows": rows, "size": frames.working_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=SHARED / "videos" / "issue-134-rotate.mp4")
    parser.add_argument("--style", type=Path, default=SHARED / "styles" / "starry_night.jpg")
    parser.add_argument("--network", default="vgg16")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "vgg16_imagenet_features.pth")
    parser.add_argument("--max-size", type=int, default=128)
    parser.add_argument("--start", type=int, default=48, help="first input frame")
    parser.add_argument("--frames", type=int, default=24, help="frames of the sequential run")
    parser.add_argument("--split", type=int, default=12, help="where the second chain starts")
    parser.add_argument("--after", type=int, default=4, help="frames of the second chain measured after the seam")
    parser.add_argument("--overlaps", default="0,4,8,12")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = run(args)
    print("| overlap | discard: seam / median | crossfade: seam / median | crossfade: worst fade pair / median |")
    print("|---:|---:|---:|---:|")
    for row in result["rows"]:  # type: ignore[union-attr]
        print(f"| {row['overlap']} | {row['discard_ratio']:.2f}x | {row['crossfade_ratio']:.2f}x | {row['crossfade_worst_ratio']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
