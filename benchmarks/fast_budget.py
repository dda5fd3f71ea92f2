"""Fast mode's clip-sized budget and --method auto against the optimizer, whole runs through the library, real weights.

    uv run python benchmarks/fast_budget.py --frames 60 --max-size 128      # two whole runs (--auto: a third)

The first ``--frames`` frames of ../shared/data/videos/issue-134-rotate.mp4,
The Starry Night, the shared ImageNet VGG16 (``--network vgg16``), every other
setting the default. Three runs, one after another, each timed from the call
to its return (cut detection, keyframes, training, frames, PNGs): ``optimize``
and ``fast`` (no --train-steps: the budget follows the clip, pipeline/budget.py),
and with ``--auto`` ``auto``; without it, what auto would choose on the fast
run's recorded costs. Quality on every frame: the mean style and content loss per frame
(the optimizer's own normalised losses through the same VGG16,
benchmarks/fast_method.py frame_losses) and Lai et al.'s warping error, each
fast figure as a multiple of the optimizer's. Prints the budget's and auto's
notices and a table; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fast_method import CLIP, STYLE, VGG16_WEIGHTS, build_core, frame_losses  # noqa: E402
from vidstyle.config import (  # noqa: E402
    DeviceChoice,
    MethodConfig,
    MethodKind,
    ModelConfig,
    Network,
    RunConfig,
    SelectConfig,
    Settings,
    StyleConfig,
)
from vidstyle.pipeline.budget import BUDGET_NAME, Costs, choose_kind  # noqa: E402
from vidstyle.pipeline.events import Notice  # noqa: E402
from vidstyle.pipeline.measure import measure_warping_error  # noqa: E402
from vidstyle.pipeline.run import stylize  # noqa: E402
from vidstyle.video.pixels import resize, working_size  # noqa: E402
from vidstyle.video.sources import open_source  # noqa: E402


def run(kind: MethodKind, folder: Path, args: argparse.Namespace) -> dict[str, object]:
    settings = Settings(
        model=ModelConfig(weights=VGG16_WEIGHTS, network=Network.VGG16, device=DeviceChoice.CPU),
        style=StyleConfig(images=(args.style,)),
        select=SelectConfig(max_size=args.max_size, max_frames=args.frames),
        method=MethodConfig(kind=kind),
        run=RunConfig(keep_work=True, overwrite=True, restart=True),
    )
    notices: list[str] = []
    began = time.perf_counter()
    print(f"{time.strftime('%H:%M:%S')} {kind.value} ...", flush=True)
    stylize(CLIP, folder / kind.value, settings=settings, on_event=lambda e: notices.append(e.message) if isinstance(e, Notice) else None)
    seconds = time.perf_counter() - began
    (folder / f"{kind.value}.seconds").write_text(f"{seconds:.1f}\n")
    for line in notices:
        if line.startswith(("Training budget", "Method auto", "Trained")):
            print(f"  [{kind.value}] {line}", flush=True)
    return {"seconds": seconds, "notices": notices}


def read_folder(path: Path) -> list:
    with open_source(path) as source:
        return [frame for _, frame in source.read(range(source.info.frame_count))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--max-size", type=int, default=128)
    parser.add_argument("--style", type=Path, default=STYLE)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/vidstyle-fast-budget"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--auto", action="store_true", help="also run --method auto (a third whole run)")
    parser.add_argument("--measure-only", action="store_true", help="measure the outputs (and NAME.seconds) already in --folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.folder.mkdir(parents=True, exist_ok=True)
    kinds = (MethodKind.OPTIMIZE, MethodKind.FAST) + ((MethodKind.AUTO,) if args.auto else ())
    if args.measure_only:
        results = {k.value: {"seconds": float((args.folder / f"{k.value}.seconds").read_text())} for k in kinds}
    else:
        results = {kind.value: run(kind, args.folder, args) for kind in kinds}
    # What auto would choose from the fast run's recorded costs (the same rule, without a third run).
    record = json.loads((args.folder / "fast.vidstyle" / "fast" / BUDGET_NAME).read_text())
    print(f"  auto on these costs: {choose_kind(Costs(**record['costs']))}", flush=True)
    inputs = read_folder_inputs(args)
    # Measured at the working size (an output at the source size, guided-upsampled, is brought back by area).
    outputs = {name: [resize(f, (inputs[0].shape[1], inputs[0].shape[0])) for f in read_folder(args.folder / name)] for name in results}
    for name, frames in outputs.items():
        (args.folder / f"{name}-working").mkdir(exist_ok=True)
        for i, frame in enumerate(frames):
            cv2.imwrite(str(args.folder / f"{name}-working" / f"{i:06d}.png"), frame)
    size = (inputs[0].shape[1], inputs[0].shape[0])
    core = build_core(size, args.style)
    print(f"{time.strftime('%H:%M:%S')} measuring ...", flush=True)
    for name, frames in outputs.items():
        style, content = frame_losses(core, inputs, frames)
        warp = measure_warping_error(args.folder / "inputs", args.folder / f"{name}-working").value
        results[name].update(style=style, content=content, warping=warp)
    base = results["optimize"]
    print(f"\n{args.frames} frames at {size[0]}x{size[1]}, {args.threads} thread(s)")
    print("| | seconds | / optimize | style | / optimize | content | / optimize | warping error | / optimize |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['seconds']:.0f} | {r['seconds'] / base['seconds']:.2f}x | {r['style']:.4f} | {r['style'] / base['style']:.2f}x "
            f"| {r['content']:.4f} | {r['content'] / base['content']:.2f}x | {r['warping']:.5f} | {r['warping'] / base['warping']:.2f}x |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


def read_folder_inputs(args: argparse.Namespace) -> list:
    """The input frames at the working size, also written as PNGs for the warping error (it compares two sequences)."""
    folder = args.folder / "inputs"
    folder.mkdir(exist_ok=True)
    frames = []
    with open_source(CLIP) as source:
        for index, frame in source.read(range(args.frames)):
            small = resize(frame, working_size(frame.shape[1], frame.shape[0], args.max_size))
            cv2.imwrite(str(folder / f"{index:06d}.png"), small)
            frames.append(small)
    return frames


if __name__ == "__main__":
    main()
