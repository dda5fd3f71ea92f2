"""Fast mode's training variants on one clip, at a fixed step count: what a training recipe buys per CPU second.

    uv run python benchmarks/fast_budget.py --frames 150 --max-size 128 --folder /tmp/fb150   # makes the folder
    uv run python benchmarks/fast_training.py --folder /tmp/fb150 --steps 465 --tag default
    uv run python benchmarks/fast_training.py --folder /tmp/fb150 --steps 887 --full-every 4 --tag cheap4
    uv run python benchmarks/fast_training.py --folder /tmp/fb150 --steps 335 --lr 3e-3 --clip 1 --seed 1 --tag lr3c1s1

Reads a ``fast_budget.py`` folder: the input frames at the working size
(``inputs/``), the optimizer's frames (``optimize-working/``) and the fast
run's keyframes (``fast.vidstyle/fast/keyframes/``, on the plan's canvas).
Trains one network on the canvas frames with those keyframes (one torch
thread, the loss network in bf16 as fast mode does on this CPU, the run's
default weights unless overridden), applies it, and prints one JSON line:
training CPU seconds, and the style and content loss per frame and the
warping error, each also as a multiple of the optimizer's, and the grid
measure (vidstyle.model.measure.grid: periodic energy at the network's
stride periods, 1 = none) of the fast frames, the optimizer's and the
inputs. ``--upsample``, ``--downsample`` and ``--residual`` pick the
network's design (NetSpec); ``--phase-tie`` penalises the shuffle's
phases drifting apart (LossWeights.phases); ``--loss-shift`` trains with the network's
stride lattice at a random phase to the loss network's pooling (each call
of the network pads its input by 0-3 px at the top and left and crops the
output back; apply is unchanged). ``--budget``
takes the step count from the product's rule (pipeline/budget.py) on probe
prices measured here and the keyframes' recorded timings instead of
``--steps``. Writes the frames and a strip (input | optimize | fast, frames
at 2/15, 6/15 and 11/15 of the clip) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fast_method import STYLE, build_core, frame_losses  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from vidstyle.config import OptimizeConfig  # noqa: E402
from vidstyle.methods import feedforward  # noqa: E402
from vidstyle.methods.fastnet import Downsample, Upsample, phase_spread, run_network  # noqa: E402
from vidstyle.methods.feedforward import STYLE_EMPHASIS, FastConfig, LossWeights, TrainingClip, apply_network, time_training, train_network  # noqa: E402
from vidstyle.model.measure import grid  # noqa: E402
from vidstyle.pipeline.budget import Costs, describe_budget, training_steps  # noqa: E402
from vidstyle.pipeline.measure import measure_warping_error  # noqa: E402
from vidstyle.video.pixels import add_margin  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, required=True, help="a fast_budget.py --folder")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/vidstyle-fast-training"))
    parser.add_argument("--steps", type=int, default=465)
    parser.add_argument("--budget", action="store_true", help="the step count from the budget rule instead of --steps")
    parser.add_argument("--full-every", type=int, default=1, help="FastConfig.full_every: one full step in this many")
    parser.add_argument("--cheap-crops", type=int, default=FastConfig.cheap_crops)
    parser.add_argument("--keyframe-crops", type=int, default=FastConfig.keyframe_crops, help="FastConfig.keyframe_crops: distillation crops per step")
    parser.add_argument("--frame-crops", type=int, default=FastConfig.frame_crops, help="FastConfig.frame_crops: style/content crops per step")
    parser.add_argument("--lr", type=float, default=FastConfig.learning_rate, help="FastConfig.learning_rate: Adam's, before the cosine decay")
    parser.add_argument("--clip", type=float, default=FastConfig.grad_clip, help="FastConfig.grad_clip: the gradient norm's cap (0: off)")
    parser.add_argument("--seed", type=int, default=FastConfig.seed, help="FastConfig.seed: the network's initial weights and the crops drawn")
    parser.add_argument("--emphasis", type=float, default=STYLE_EMPHASIS, help="the style term as a multiple of --style-weight")
    parser.add_argument("--l1", type=float, default=LossWeights.l1)
    parser.add_argument("--perceptual", type=float, default=LossWeights.perceptual)
    parser.add_argument("--temporal", type=float, default=LossWeights.temporal, help="the temporal term's weight (default: the run's --temporal-weight times TEMPORAL_EMPHASIS)")
    parser.add_argument("--breaks", default="", help="positions i where frame i + 1 starts a new shot (comma-separated)")
    parser.add_argument("--upsample", choices=[u.value for u in Upsample], default=FastConfig.net.upsample.value)
    parser.add_argument("--downsample", choices=[d.value for d in Downsample], default=FastConfig.net.downsample.value)
    parser.add_argument("--residual", type=int, choices=(0, 1), default=int(FastConfig.net.residual), help="1: the network adds its output to its input")
    parser.add_argument("--phase-tie", type=float, default=LossWeights.phases, help="LossWeights.phases: the penalty on the shuffle's phases drifting apart (0: off)")
    parser.add_argument("--loss-shift", action="store_true", help="the network's lattice at a random phase to the loss network's in training")
    parser.add_argument("--shots", type=int, default=1, help="for --budget: the clip's shots")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = args.folder
    count = len(list((folder / "inputs").glob("*.png")))
    inputs = [cv2.imread(str(folder / "inputs" / f"{i:06d}.png")) for i in range(count)]
    reference = [cv2.imread(str(folder / "optimize-working" / f"{i:06d}.png")) for i in range(count)]
    key_folder = folder / "fast.vidstyle" / "fast" / "keyframes"
    keys = {int(path.stem): cv2.imread(str(path)) for path in sorted(key_folder.glob("*.png"))}
    margin = (next(iter(keys.values())).shape[0] - inputs[0].shape[0]) // 2  # keyframes are on the plan's canvas
    canvas = [add_margin(frame, margin) for frame in inputs]
    core = build_core((inputs[0].shape[1], inputs[0].shape[0]), STYLE)
    clip = TrainingClip(frames=canvas, keyframes=keys, breaks=frozenset(int(b) for b in args.breaks.split(",") if b))
    weights = LossWeights(
        style=OptimizeConfig.style_weight * args.emphasis, l1=args.l1, perceptual=args.perceptual, temporal=args.temporal, phases=args.phase_tie
    )
    config = FastConfig(
        train_steps=args.steps, full_every=args.full_every, cheap_crops=args.cheap_crops,
        keyframe_crops=args.keyframe_crops, frame_crops=args.frame_crops, learning_rate=args.lr, grad_clip=args.clip,
        seed=args.seed, weights=weights, bf16_losses=True, window=10**6, checkpoint_every=10**6,
        net=replace(FastConfig.net, upsample=Upsample(args.upsample), downsample=Downsample(args.downsample), residual=bool(args.residual)),
    )  # fmt: skip
    learn = dict(features=core.features, style=core.stylizer.style, content_layers=core.stylizer.content_layers)
    if args.budget:
        timings = [json.loads(path.read_text()) for path in sorted(key_folder.glob("*.json"))]
        seconds, steps = sum(t["seconds"] for t in timings), sum(t["steps"] for t in timings)
        times = time_training(clip, config=config, **learn)
        costs = Costs(
            frames=count, shots=args.shots, workers=1, step_seconds=seconds / steps, cold_steps=steps / len(timings), warm_steps=20,
            keyframes=len(timings), keyframe_seconds=seconds, train_step_seconds=times.full_step, apply_seconds=times.apply,
            cheap_step_seconds=times.cheap_step, full_every=args.full_every,
        )  # fmt: skip
        config = replace(config, train_steps=training_steps(costs))
        print(describe_budget(costs, config.train_steps), flush=True)
    if args.loss_shift:
        phases = torch.Generator().manual_seed(args.seed)

        def shifted(net: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
            dy, dx = (int(v) for v in torch.randint(4, (2,), generator=phases))
            return run_network(net, F.pad(batch, (dx, 0, dy, 0), mode="reflect"))[..., dy:, dx:]

        feedforward.run_network = shifted  # the training's calls only: restored before apply
    began = time.process_time()
    result = train_network(clip, config=config, **learn)
    train_cpu = time.process_time() - began
    feedforward.run_network = run_network
    frames = [np.ascontiguousarray(f[margin : f.shape[0] - margin, margin : f.shape[1] - margin]) for f in apply_network(result.net, canvas)]
    out = args.out / args.tag
    (out / "frames").mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(out / "frames" / f"{i:06d}.png"), frame)
    style, content = frame_losses(core, inputs, frames)
    ref_style, ref_content = frame_losses(core, inputs, reference)
    warp = measure_warping_error(folder / "inputs", out / "frames").value
    ref_warp = measure_warping_error(folder / "inputs", folder / "optimize-working").value
    figures = {
        "tag": args.tag, "steps": config.train_steps, "lr": args.lr, "clip": args.clip, "seed": args.seed, "temporal": args.temporal,
        "full_every": args.full_every, "train_cpu_seconds": round(train_cpu, 1),
        "style": style, "content": content, "warping": warp, "style_x": style / ref_style, "content_x": content / ref_content,
        "warping_x": warp / ref_warp, "grid": grid(frames), "grid_optimize": grid(reference), "grid_inputs": grid(inputs),
        "phase_tie": args.phase_tie, "phase_spread": float(phase_spread(result.net).detach()),
        "net": config.net.to_json(), "settings": vars(args) | {"folder": str(folder), "out": str(args.out)},
    }  # fmt: skip
    print(json.dumps(figures), flush=True)
    (out / "result.json").write_text(json.dumps(figures, indent=1))
    rows = [np.concatenate([inputs[i], reference[i], frames[i]], axis=1) for i in (2 * count // 15, 6 * count // 15, 11 * count // 15)]
    cv2.imwrite(str(out / "strip.png"), cv2.resize(np.concatenate(rows, axis=0), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST))


if __name__ == "__main__":
    main()
