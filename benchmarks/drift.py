"""A static shot must not creep: drift over a still clip, and how far the optimizer's iterate leaves [0, 1] (issue 22).

A still photo repeated for --frames frames, stylized by the product's own path
(flow mode, random VGG19 weights of tests/conftest.py, The Starry Night).
Every warm frame starts from the previous stored frame, which is clamped into
[0, 1] and rounded to 8 bits; if the optimizer's best iterate lies outside
[0, 1], the stored frame is not where the optimizer left it, and each frame
moves towards the out-of-gamut optimum again. Printed per run:

* drift: mean |frame 0 - frame k| in levels (0-255) at k = 1, 5, 10, 30, last;
* out of gamut: the share of the best iterate's values outside [0, 1]
  (first frame, and the mean over the warm frames), and the share of values
  more than 1/255 outside;
* clamp: the loss of the clamped iterate over the iterate's own (first frame,
  mean of the warm frames): what a warm start loses by storing the frame;
* stored loss: the first frame's loss as stored (clamped; the range penalty is
  0 there, so the figure compares across --gamut-weights).

    uv run python benchmarks/drift.py [--margins 0,8] [--gamut-weights 0,1000] [--frames 60] [--iterations 400] [--iterations-next 5] [--size 40x30]

With --weights PATH --network vgg19 (real weights) the same on real features.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED  # noqa: E402


def conftest_weights(folder: Path) -> Path:
    """The random VGG19 of tests/conftest.py (seed 1234), so the numbers match tests/pipeline/test_temporal_modes.py."""
    path = folder / "vgg19_random_1234.pth"
    if not path.is_file():
        torch.manual_seed(1234)
        model = torchvision.models.vgg19(weights=None)
        torch.save({k: v for k, v in model.state_dict().items() if k.startswith("features.")}, path)
    return path


def run(args: argparse.Namespace, weights: Path, margin: int, gamut: float, work: Path) -> dict[str, object]:
    from tests.mediatools import read_frames, write_frames
    from vidstyle.config import DeviceChoice, ModelConfig, Network, OptimizeConfig, RunConfig, SelectConfig, Settings, StyleConfig
    from vidstyle.model import stylizer as stylizer_module
    from vidstyle.pipeline.run import stylize

    width, height = (int(v) for v in args.size.split("x"))
    photo = cv2.imread(str(SHARED / "frames" / "marple8" / "marple8_01.ppm"))
    frame = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
    folder = write_frames(work / "static", [frame] * args.frames)
    settings = Settings(
        model=ModelConfig(weights=weights, network=Network(args.network), device=DeviceChoice.CPU),
        style=StyleConfig(images=(SHARED / "styles" / args.style,)),
        optimize=OptimizeConfig(iterations=args.iterations, iterations_next=args.iterations_next, gamut_weight=gamut),
        select=SelectConfig(max_size=None, edge_margin=margin),
        run=RunConfig(work_dir=work / "work"),
    )
    records: list[tuple[float, float, float, float]] = []
    original = stylizer_module.StylizeBatch._result

    def watched(self, slot: int, steps: int):  # noqa: ANN001, ANN202
        result = original(self, slot, steps)
        problem = self.problems[slot]
        raw = result.raw
        if raw is not None and raw.shape[1] == 3 and problem is not None:
            outside = ((raw < 0) | (raw > 1)).float().mean().item()
            far = ((raw < -1 / 255) | (raw > 1 + 1 / 255)).float().mean().item()
            with torch.no_grad():
                targets = self.stylizer.content_targets(problem.content.to(self.device))
                own = self.stylizer.losses(raw, targets, problem.temporal)["total"].item()
                clamped = self.stylizer.losses(raw.clamp(0, 1), targets, problem.temporal)["total"].item()
            records.append((outside, far, clamped / own - 1, clamped))
        return result

    stylizer_module.StylizeBatch._result = watched  # type: ignore[method-assign]
    try:
        stylize(folder, work / "out", settings=settings)
    finally:
        stylizer_module.StylizeBatch._result = original  # type: ignore[method-assign]
    frames = [f.astype(np.float64) for f in read_frames(work / "out")]
    at = [k for k in (1, 5, 10, 30, len(frames) - 1) if k < len(frames)]
    drift = {k: float(np.abs(frames[0] - frames[k]).mean()) for k in dict.fromkeys(at)}
    styled = float(np.abs(frames[0] - frame).mean())
    warm = records[1:] or records
    return {
        "drift": drift,
        "styled": styled,
        "outside0": records[0][0], "far0": records[0][1], "clamp0": records[0][2],
        "outside": float(np.mean([r[0] for r in warm])), "far": float(np.mean([r[1] for r in warm])),
        "clamp": float(np.mean([r[2] for r in warm])),
        "stored0": records[0][3],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--margins", default="0,8")
    parser.add_argument("--gamut-weights", default="0")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--iterations-next", type=int, default=5)
    parser.add_argument("--size", default="40x30")
    parser.add_argument("--style", default="starry_night.jpg")
    parser.add_argument("--network", default="vgg19")
    parser.add_argument("--weights", type=Path, default=None, help="default: the random VGG19 of tests/conftest.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidstyle-drift-") as tmp:
        folder = Path(tmp)
        weights = args.weights or conftest_weights(folder)
        print(f"{args.size} static clip, {args.frames} frames, {args.iterations}/{args.iterations_next} steps, "
              f"{args.network} {'random' if args.weights is None else args.weights.name}")  # fmt: skip
        print("| margin | gamut weight | drift k=1, 5, 10, 30, last (levels) | styled | out of [0,1] first / warm | >1/255 out first / warm | clamp raises loss first / warm | first frame's stored loss |")
        print("|---|---|---|---|---|---|---|---|")
        for margin in (int(v) for v in args.margins.split(",")):
            for gamut in (float(v) for v in args.gamut_weights.split(",")):
                work = folder / f"m{margin}-g{gamut:g}"
                r = run(args, weights, margin, gamut, work)
                drift = ", ".join(f"{v:.2f}" for v in r["drift"].values())  # type: ignore[union-attr]
                print(f"| {margin} | {gamut:g} | {drift} | {r['styled']:.1f} | {r['outside0']:.1%} / {r['outside']:.1%} | "
                      f"{r['far0']:.1%} / {r['far']:.1%} | {r['clamp0']:+.0%} / {r['clamp']:+.0%} | {r['stored0']:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
