"""A look's warm frames: flicker and style of pooling / style-weight variants over a real clip, whole runs.

    uv run python benchmarks/look_warm.py                                  # power:20 (default) against avg:30 and max:20
    uv run python benchmarks/look_warm.py --variants avg:30,max:30,max:20 --frames 16 --max-size 128
    uv run python benchmarks/look_warm.py --variants avg:30,max:20:10000,max:20:5000:30   # temporal weight, warm steps
    uv run python benchmarks/look_warm.py --variants avg:30,power:30,power3:20   # power-mean pooling, its exponent
    uv run python benchmarks/look_warm.py --variants power3:20@1/1/1/1/0.25,power3:20   # style layer weights

A look chosen on cold first frames (benchmarks/peer.py) must also hold over a
run: each variant (``POOLING:STYLE_WEIGHT``; POOLING avg, max, power, or
powerP for power-mean pooling at exponent P) stylizes the same frames of
``videos/issue-134-rotate.mp4`` (from #48) with ``vidstyle stylize`` at
defaults otherwise (real VGG19 weights, The Starry Night, output at the
working size; a variant may add ``:TEMPORAL_WEIGHT`` and ``:ITERATIONS_NEXT``,
the default's otherwise, and ``@W1/W2/...``, its --style-layer-weights), and
the script prints one JSON line per variant: the warping error along the
input's motion (temporal/metric.py), the real-feature style distance
(model/measure.py, VGG16 judge) averaged over frames, steps and wall time. Compare the variants of one invocation only.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidstyle.config import DeviceChoice, ModelConfig, OptimizeConfig, OutputSize, Pooling, RunConfig, SelectConfig, Settings, StyleConfig, TemporalConfig  # noqa: E402
from vidstyle.model import features  # noqa: E402
from vidstyle.model.measure import Judge, distances  # noqa: E402
from vidstyle.pipeline.run import stylize  # noqa: E402
from vidstyle.temporal.metric import warping_error  # noqa: E402
from vidstyle.video.pixels import resize  # noqa: E402
from vidstyle.video.sources import open_source  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="power:20,avg:30,max:20", help="comma-separated POOLING:STYLE_WEIGHT[:TEMPORAL_WEIGHT[:ITERATIONS_NEXT]]")
    parser.add_argument("--input", type=Path, default=SHARED / "videos" / "issue-134-rotate.mp4")
    parser.add_argument("--first", type=int, default=48)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--max-size", type=int, default=128)
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "vgg19_imagenet_features.pth")
    parser.add_argument("--judge", type=Path, default=SHARED / "weights" / "vgg16_imagenet_features.pth")
    parser.add_argument("--style", type=Path, default=SHARED / "styles" / "starry_night.jpg")
    args = parser.parse_args()
    judge = Judge.load(args.judge)
    painting = cv2.imread(str(args.style))
    with tempfile.TemporaryDirectory(prefix="vidstyle-look-warm-") as scratch:
        root = Path(scratch)
        frames = root / "in"
        frames.mkdir()
        with open_source(args.input) as source:
            for index, (_, frame) in enumerate(source.read(range(args.first, args.first + args.frames))):
                cv2.imwrite(str(frames / f"{index:04d}.png"), frame)
        exponent = features.POWER_EXPONENT
        for variant in args.variants.split(","):
            spec, _, layer_weights = variant.partition("@")  # "@1/1/1/1/0.25": --style-layer-weights, the default's without
            pooling, style_weight, *more = spec.split(":")
            features.POWER_EXPONENT = exponent  # power3: --pooling power at exponent 3; power: the module's
            if pooling.startswith("power") and pooling != "power":
                features.POWER_EXPONENT = float(pooling[len("power"):])
                pooling = "power"
            temporal = TemporalConfig(weight=float(more[0])) if more else TemporalConfig()
            warm = {"iterations_next": int(more[1])} if len(more) > 1 else {}
            out = root / variant.replace(":", "-").replace("@", "-w").replace("/", "_").replace(".", "p")  # one plain folder name each
            settings = Settings(
                model=ModelConfig(weights=args.weights, device=DeviceChoice.CPU, pooling=Pooling(pooling),
                                  style_layer_weights=tuple(float(w) for w in layer_weights.split("/")) if layer_weights else None),
                style=StyleConfig(images=(args.style,)),
                optimize=OptimizeConfig(style_weight=float(style_weight), **warm),
                temporal=temporal,
                select=SelectConfig(max_size=args.max_size, output_size=OutputSize.WORKING),
                run=RunConfig(work_dir=out.with_suffix(".work")),
            )
            started = time.perf_counter()
            result = stylize(frames, out, settings=settings)
            seconds = time.perf_counter() - started
            outputs = [cv2.imread(str(p)) for p in sorted(out.glob("frame_*.png"))]
            height, width = outputs[0].shape[:2]
            inputs = [resize(cv2.imread(str(p)), (width, height)) for p in sorted(frames.glob("*.png"))]
            style = float(np.mean([distances(judge, o, i, painting).style_mean for o, i in zip(outputs, inputs)]))
            row = {
                "variant": variant, "warping_error": warping_error(inputs, outputs).value, "style": style,
                "steps": sum(r.steps for r in result.records), "first_frame_steps": result.records[0].steps, "seconds": round(seconds, 1),
            }  # fmt: skip
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
