"""Temporal modes compared at equal step budgets: how stable, how stylized, how fast.

    uv run python benchmarks/temporal.py                      # defaults below
    uv run python benchmarks/temporal.py --frames 16 --max-size 128 --steps 30 --json out.json

Runs `none`, `prev` and `flow` on the same frames of a real clip with the
same number of steps on every frame (--iterations == --iterations-next, so no
mode gets more optimisation than another) and prints a markdown table:

* warping error (Lai et al. 2018, vidstyle.temporal.metric) of the stylized
  frames along the motion of the input frames, and its ratio to `none`;
* final style and content loss, mean over frames (RunResult.records);
* seconds per frame, and the share of it spent on optical flow.

Goals checked (the issue's): flow warping error <= 0.5x none; flow's style
loss at most 15% above none's; flow time <= 5% of frame time.

Without --weights a randomly initialised VGG19 (torchvision's init, seed
1234, the tests' fixture) is written to a temp file: the numbers then say how
the temporal machinery behaves, not how pretty the result is. Pass
--weights vgg19.pth (or set VIDSTYLE_WEIGHTS and pass --weights "$VIDSTYLE_WEIGHTS")
for the real network.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidstyle.config import (  # noqa: E402
    DeviceChoice,
    ModelConfig,
    OptimizeConfig,
    RunConfig,
    SelectConfig,
    Settings,
    StyleConfig,
    TemporalConfig,
    TemporalMode,
)
from vidstyle.pipeline.plan import make_plan  # noqa: E402
from vidstyle.pipeline.run import RunResult, stylize  # noqa: E402
from vidstyle.temporal.metric import warping_error  # noqa: E402
from vidstyle.video.pixels import resize  # noqa: E402
from vidstyle.video.sources import open_source, read_image  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DEFAULT_INPUT = SHARED / "videos" / "issue-134-rotate.mp4"
DEFAULT_STYLE = SHARED / "styles" / "starry_night.jpg"
MODES = (TemporalMode.NONE, TemporalMode.PREV, TemporalMode.FLOW)


def random_weights(folder: Path) -> Path:
    torch.manual_seed(1234)
    model = torchvision.models.vgg19(weights=None)
    state = {key: value for key, value in model.state_dict().items() if key.startswith("features.")}
    path = folder / "vgg19_random_features.pth"
    torch.save(state, path)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="video, folder or pattern")
    parser.add_argument(
        "--pan",
        type=Path,
        default=None,
        help="instead of --input: a photo seen through a window moving --pan-step px per frame "
        "(e.g. ../shared/data/frames/marple8/marple8_01.ppm); the default clip barely moves",
    )
    parser.add_argument("--pan-step", type=int, default=2, help="px per frame at working size (default 2)")
    parser.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    parser.add_argument("--start", default="#48", help="first frame, as --start takes it (default #48)")
    parser.add_argument("--frames", type=int, default=24, help="frames to stylize (default 24)")
    parser.add_argument("--max-size", type=int, default=192, help="working long side in px (default 192)")
    parser.add_argument("--steps", type=int, default=30, help="steps on every frame, all modes (default 30)")
    parser.add_argument("--temporal-weight", type=float, default=None, help="default: TemporalConfig's")
    parser.add_argument("--gamut-weight", type=float, default=OptimizeConfig.gamut_weight, help="default: OptimizeConfig's")
    parser.add_argument("--first-steps", type=int, default=None, help="steps on each mode's first frame (default: --steps)")
    parser.add_argument("--soft-mask", action="store_true")
    parser.add_argument("--weights", type=Path, default=None, help="VGG19 weights; default: random ones")
    parser.add_argument("--device", choices=[d.value for d in DeviceChoice], default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--modes", default="none,prev,flow", help="comma-separated subset to run")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    return parser.parse_args(argv)


def write_pan(photo_path: Path, folder: Path, frames: int, long_side: int, step: int) -> Path:
    """A real photo seen through a window of long_side x 3/4 long_side moving ``step`` px right per frame."""
    photo = cv2.imread(str(photo_path))
    if photo is None:
        raise SystemExit(f"cannot read {photo_path}")
    width, height = long_side, round(long_side * 3 / 4)
    wide = width + step * frames + 8
    tall = max(height + 8, round(photo.shape[0] * wide / photo.shape[1]))
    scene = cv2.resize(photo, (wide, tall), interpolation=cv2.INTER_AREA)
    top = (tall - height) // 2
    folder.mkdir(parents=True)
    for i in range(frames):
        cv2.imwrite(str(folder / f"pan_{i:04d}.png"), scene[top : top + height, 4 + i * step : 4 + i * step + width])
    return folder


def input_frames(settings: Settings, input_path: Path) -> list[np.ndarray]:
    """The planned input frames at working size: what the warping error measures motion on."""
    with open_source(input_path) as source:
        plan = make_plan(source.info, settings.select)
        return [resize(frame, plan.working_size) for _, frame in source.read(plan.source_indices)]


def run_mode(base: Settings, mode: TemporalMode, args: argparse.Namespace, scratch: Path) -> dict[str, object]:
    temporal = TemporalConfig(mode=mode, soft_mask=args.soft_mask)
    if args.temporal_weight is not None:
        temporal = TemporalConfig(mode=mode, weight=args.temporal_weight, soft_mask=args.soft_mask)
    output = scratch / f"out-{mode.value}"
    settings = base.replace(temporal=temporal, run=RunConfig(work_dir=scratch / f"work-{mode.value}"))
    started = time.perf_counter()
    result: RunResult = stylize(args.input, output, settings=settings)
    wall = time.perf_counter() - started
    outputs = [read_image(path) for path in sorted(output.glob("frame_*.png"))]
    records = result.records
    seconds = sum(r.seconds for r in records)
    flow_seconds = sum(r.flow_seconds for r in records)
    error = warping_error(input_frames(settings, args.input), outputs)
    return {
        "mode": mode.value,
        "temporal_weight": temporal.weight if mode is TemporalMode.FLOW else None,
        "frames": len(records),
        "warping_error": error.value,
        "style_loss": float(np.mean([r.style_loss for r in records])),
        "content_loss": float(np.mean([r.content_loss for r in records])),
        "temporal_loss": float(np.mean([r.temporal_loss for r in records])),
        "steps": float(np.mean([r.steps for r in records])),
        "seconds_per_frame": seconds / len(records),
        "flow_share": flow_seconds / seconds if seconds > 0 else 0.0,
        "wall_seconds": wall,
    }


def table(rows: list[dict[str, object]]) -> str:
    base = next((r for r in rows if r["mode"] == "none"), rows[0])
    lines = [
        "| mode | warping error | vs none | style loss | content loss | steps/frame | s/frame | flow share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["warping_error"] / base["warping_error"] if base["warping_error"] else float("nan")  # type: ignore[operator]
        lines.append(
            f"| {r['mode']} | {r['warping_error']:.5f} | {ratio:.2f}x | {r['style_loss']:.4f} | "
            f"{r['content_loss']:.4f} | {r['steps']:.1f} | {r['seconds_per_frame']:.2f} | {100 * r['flow_share']:.1f}% |"  # type: ignore[operator]
        )
    return "\n".join(lines)


def goals(rows: list[dict[str, object]]) -> list[tuple[str, bool]]:
    by_mode = {r["mode"]: r for r in rows}
    if "none" not in by_mode or "flow" not in by_mode:
        return []
    none, flow = by_mode["none"], by_mode["flow"]
    return [
        (
            f"flow warping error <= 0.5x none ({flow['warping_error'] / none['warping_error']:.2f}x)",  # type: ignore[operator]
            flow["warping_error"] <= 0.5 * none["warping_error"],  # type: ignore[operator]
        ),
        (
            f"flow style loss <= 1.15x none ({flow['style_loss'] / none['style_loss']:.2f}x)",  # type: ignore[operator]
            flow["style_loss"] <= 1.15 * none["style_loss"],  # type: ignore[operator]
        ),
        (f"flow time <= 5% of frame time ({100 * flow['flow_share']:.1f}%)", flow["flow_share"] <= 0.05),  # type: ignore[operator]
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [TemporalMode(m.strip()) for m in args.modes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="vidstyle-bench-temporal-") as tmp:
        scratch = Path(tmp)
        weights = args.weights or random_weights(scratch)
        if args.pan is not None:
            args.input = write_pan(args.pan, scratch / "pan", args.frames, args.max_size, args.pan_step)
            args.start = None
        base = Settings(
            model=ModelConfig(weights=weights, device=DeviceChoice(args.device)),
            style=StyleConfig(images=(args.style,)),
            optimize=OptimizeConfig(
                iterations=args.first_steps or args.steps, iterations_next=args.steps, gamut_weight=args.gamut_weight
            ),
            select=SelectConfig(start=args.start, max_frames=args.frames, max_size=args.max_size),
        )
        rows = []
        for mode in modes:
            row = run_mode(base, mode, args, scratch)
            rows.append(row)
            print(f"{mode.value}: done in {row['wall_seconds']:.0f} s", file=sys.stderr, flush=True)
    clip = f"pan across {args.pan.name}, {args.pan_step} px/frame" if args.pan else f"{args.input.name}, start {args.start}"
    print(
        f"{clip}, {args.frames} frames, long side {args.max_size} px, "
        f"{args.steps} steps per frame ({args.first_steps or args.steps} on the first), gamut weight {args.gamut_weight:g}, weights: {'given' if args.weights else 'random'}, "
        f"torch threads: {torch.get_num_threads()}\n"
    )
    print(table(rows))
    checks = goals(rows)
    if checks:
        print()
        for text, ok in checks:
            print(f"- [{'x' if ok else ' '}] {text}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
