"""--max-size auto on this machine: what each candidate size's warm frame costs, what auto chooses, and whether a run keeps to it.

    uv run python benchmarks/autosize.py --dry-run                   # any machine: the CPU answer, and the probe at tiny sizes
    python benchmarks/autosize.py --source 1920x1080 --json $OUT/autosize.json --run-frames 6   # a lent GPU

On a GPU it probes every candidate long side for a source of --source size
(a real frame of --clip resized to it) exactly as a run does
(vidstyle.model.autosize.probe_sizes: the run's network, weights, precision,
style and temporal term; here without stopping at the first size over the
budget, so every candidate's cost is printed), prints one JSON line per size
(step seconds, warm-frame seconds at --iterations-next, peak memory) and the
choice with its reason. With --run-frames N it then stylizes N frames of a
clip made at --source size with --max-size auto and reports the run's own
warm-frame seconds beside the budget: the check that the probe's estimate
holds in a real run (flow, decode and the guided upsampling included).

--dry-run (no GPU needed): the candidates for --source, the CPU's answer, and
the probe run on the CPU at tiny sizes, so the script is known to work
before a GPU is lent.

Weights: --weights, else the shared ImageNet VGG19 (../shared/data/weights),
else random ones (the cost does not depend on the values).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import torch  # noqa: E402

from _common import REPO, SHARED, make_clip, random_weights  # noqa: E402
from vidstyle.config import (  # noqa: E402
    DeviceChoice,
    ModelConfig,
    Network,
    OptimizeConfig,
    OutputSize,
    Precision,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
)
from vidstyle.model.autosize import BUDGET_SECONDS, candidates, choose_size, probe_sizes, without_gpu  # noqa: E402
from vidstyle.model.device import resolve_device  # noqa: E402
from vidstyle.model.memory import available_bytes  # noqa: E402
from vidstyle.pipeline.events import FrameDone, RunStarted  # noqa: E402
from vidstyle.video.sources import open_source  # noqa: E402


def say(record: dict[str, object], into: list[dict[str, object]]) -> None:
    print(json.dumps(record), flush=True)
    into.append(record)


def first_frame(clip: Path, size: tuple[int, int]):  # noqa: ANN201 - a BGR uint8 array
    with open_source(clip) as source:
        frame = dict(source.read([0]))[0]
    return cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="1920x1080", help="source size WxH the candidates are for")
    parser.add_argument("--clip", type=Path, default=REPO / "samples" / "clip.mp4", help="its first frame is the probed content")
    parser.add_argument("--style", type=Path, default=SHARED / "styles" / "starry_night.jpg")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--network", default="vgg19", choices=[n.value for n in Network])
    parser.add_argument("--precision", default="auto", choices=[p.value for p in Precision])
    parser.add_argument("--iterations-next", type=int, default=OptimizeConfig().iterations_next)
    parser.add_argument("--run-frames", type=int, default=0, help="then stylize this many frames with --max-size auto")
    parser.add_argument("--dry-run", action="store_true", help="CPU: the candidates and the probe at tiny sizes")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    width, height = (int(v) for v in args.source.lower().split("x"))
    shared = SHARED / "weights" / f"{args.network}_imagenet_features.pth"
    weights = args.weights or (shared if shared.is_file() else random_weights(network=args.network))
    style = args.style if args.style.is_file() else REPO / "samples" / "style_swirls.jpg"
    model = ModelConfig(network=Network(args.network), weights=weights, precision=Precision(args.precision))
    optimize = OptimizeConfig(iterations_next=args.iterations_next)
    records: list[dict[str, object]] = []
    device = resolve_device(DeviceChoice.CPU if args.dry_run else DeviceChoice.AUTO)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    say({"device": name, "source": [width, height], "candidates": candidates((width, height)), "budget_s": BUDGET_SECONDS,
         "iterations_next": args.iterations_next, "weights": weights.name, "precision": args.precision}, records)  # fmt: skip

    if device.type != "cuda":
        say({"choice": without_gpu(device).to_json()}, records)
        # The probe itself, at sizes a CPU measures in seconds, so the GPU call has no surprise left.
        sides, (width, height) = [48, 96, 128], (128, 72)
    else:
        sides = candidates((width, height))
    frame = first_frame(args.clip, (width, height))
    started = time.perf_counter()
    probes = []
    for side in sides:  # one at a time and no budget stop: every candidate's cost is printed
        probes += probe_sizes(frame, [side], model=model, style=StyleConfig(images=(style,)), optimize=optimize,
                              temporal_weight=500.0, device=device, budget_seconds=float("inf"))  # fmt: skip
        probe = probes[-1]
        warm = probe.step_seconds * args.iterations_next if probe.step_seconds is not None else None
        say({"long_side": probe.long_side, "size": list(probe.size), "step_s": probe.step_seconds, "warm_frame_s": warm,
             "peak_gb": probe.peak_bytes / 1e9 if probe.peak_bytes else None}, records)  # fmt: skip
        if probe.step_seconds is None:
            break
    if device.type == "cuda":
        torch.cuda.empty_cache()
    choice = choose_size(probes, steps=args.iterations_next, available_bytes=available_bytes(device),
                         source_long_side=max(width, height), where=name)  # fmt: skip
    say({"probe_seconds": time.perf_counter() - started, "choice": choice.to_json() if device.type == "cuda" else None,
         "choice_if_this_were_a_gpu": choice.to_json()}, records)  # fmt: skip

    if args.run_frames and not args.dry_run:
        from vidstyle.pipeline.run import stylize

        folder = Path(tempfile.mkdtemp(prefix="vidstyle-autosize-"))
        clip = make_clip(folder / "clip.mp4", frames=args.run_frames, width=width, height=height)
        events: list[object] = []
        settings = Settings(
            model=model, style=StyleConfig(images=(style,)), optimize=optimize,
            select=SelectConfig(output_size=OutputSize.WORKING), shots=ShotsConfig(cuts="off"),
        )  # fmt: skip
        stylize(clip, folder / "out.mp4", settings=settings, on_event=events.append)
        started_event = next(e for e in events if isinstance(e, RunStarted))
        done = [e for e in events if isinstance(e, FrameDone)]
        warm = [e.record for e in done if not e.record.cold]
        say({"run_working_size": list(started_event.working_size), "run_size_choice": started_event.size_choice,
             "frames": len(done), "warm_frame_s": [round(r.seconds, 4) for r in warm],
             "warm_optimize_s": [round(r.optimize_seconds, 4) for r in warm], "budget_s": BUDGET_SECONDS}, records)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
