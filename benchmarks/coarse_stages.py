"""What a coarse-to-fine cold start's later stages aim at: variants of their objective, judged at 256 px.

    uv run python benchmarks/resolution.py multiscale --sizes 512 --steps 100 --no-single   # the 256-px reference first
    uv run python benchmarks/coarse_stages.py 512 base sw:0.3 px:100 gram:1 sc:0.7 px:30    # docs/performance.md's 512 table

The first stage (about 256 px, ``--steps`` 100) of frame 40 of
issue-134-rotate.mp4 (real VGG19, The Starry Night) is optimized once and
kept (``--out``); each variant then runs only the later stages (17 steps
each, as the schedule gives them), in this one process:

- ``base``: the stages' own objective, no anchor (``COARSE_WEIGHT`` 0: the schedule before issue 23's fix);
- ``sw:F``: the later stages' style weight times F;
- ``px:W``: objective.Coarse with weight W (the image shrunk to the first stage's size against its result; the default is 100);
- ``gram:W``: a style term at the first stage's scale on the image shrunk to it (the first stage's Grams), W x the style weight;
- ``sc:F``: the later stages' style targets from the style image F x as large (strokes smaller against the frame).

Each output, shrunk to 256 px, is judged as benchmarks/resolution.py judges
(vidstyle.model.measure, VGG16 judge) against the 256-px run's picture
(``--reference``). Also: the later stages' seconds (the first stage's are
shared) and measure.ripple at the working size. Lines of JSON to stdout and ``--out``/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, video_frame  # noqa: E402
from vidstyle.config import CoarseToFine, DeviceChoice, ModelConfig, OptimizeConfig, StyleConfig  # noqa: E402
from vidstyle.model.build import build_core  # noqa: E402
from vidstyle.model.losses import style_loss  # noqa: E402
from vidstyle.model.measure import Judge, distances, resize_long_side, ripple  # noqa: E402
from vidstyle.model.objective import Coarse, Objective, Term  # noqa: E402
from vidstyle.model.stylizer import FrameProblem, _resize, later_stage_budget  # noqa: E402
from vidstyle.video.pixels import bgr_to_tensor, resize, tensor_to_bgr, working_size  # noqa: E402
from vidstyle.video.sources import read_image  # noqa: E402


class CoarseStyle(Term):
    """The ``gram`` variant: the style loss of the image shrunk to ``size`` (h, w) against Grams made at that size."""

    name = "coarse_style"

    def __init__(self, stylizer, grams, layer_weights, size, weight) -> None:  # noqa: ANN001
        self.stylizer, self.grams, self.layer_weights, self.size, self.weight = stylizer, grams, layer_weights, size, weight

    def value(self, image, features):  # noqa: ANN001, ANN201
        small = F.interpolate(image, size=self.size, mode="area")
        return style_loss(self.stylizer._features(small, tuple(self.grams)), self.grams, self.layer_weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int, help="working long side")
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference", default=str(Path(tempfile.gettempdir()) / "vidstyle-resolution" / "256_off_100.png"))
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "vidstyle-coarse-stages"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = video_frame(SHARED / "videos" / "issue-134-rotate.mp4", 40)
    size = working_size(frame.shape[1], frame.shape[0], args.size)
    content = bgr_to_tensor(resize(frame, size))
    core = build_core(
        ModelConfig(weights=SHARED / "weights" / "vgg19_imagenet_features.pth", device=DeviceChoice.CPU),
        StyleConfig(images=(SHARED / "styles" / "starry_night.jpg",)),
        OptimizeConfig(iterations=args.steps, coarse_to_fine=CoarseToFine.ON),
        content_size=size,
        cache_dir=None,
    )
    stylizer = core.stylizer
    sizes = stylizer.coarse_sizes(size) + [size]
    first_size = sizes[0]

    def run_stage(stage: tuple[int, int], init: torch.Tensor, budget: int, style) -> torch.Tensor:  # noqa: ANN001
        batch = stylizer.batch(1, stage, style=style)
        batch.add(FrameProblem(content=_resize(content, stage), init=_resize(init, stage), budget=budget))
        finished: list = []
        while not finished:
            finished = batch.step()
        result = finished[0][1]
        assert result.raw is not None
        return result.raw.clamp(0.0, 1.0)

    cached = out / f"first_{first_size[0]}x{first_size[1]}_{args.size}_{args.steps}.pt"
    if cached.is_file():
        first = torch.load(cached)
    else:
        first = run_stage(first_size, content, args.steps, stylizer.style_at(first_size))
        torch.save(first, cached)
    judge = Judge.load(SHARED / "weights" / "vgg16_imagenet_features.pth")
    painting = read_image(SHARED / "styles" / "starry_night.jpg")
    reference = distances(judge, cv2.imread(args.reference), frame, painting).style_mean
    plain = stylizer.objective
    for variant in args.variants:
        kind, _, number = variant.partition(":")
        value = float(number) if number else 0.0
        started = time.perf_counter()
        image = first
        for stage in sizes[1:]:
            style = stylizer.style_at(stage)
            if kind == "sc":
                style = stylizer.style_at((round(stage[0] * value), round(stage[1] * value)))

            def objective(content_targets, **options):  # noqa: ANN001, ANN202
                terms = list(plain(content_targets, **options).terms)
                if kind == "sw":
                    terms[1].weight = terms[1].weight * value
                if kind == "px":
                    terms.append(Coarse(stylizer._space(first), weight=value))
                if kind == "gram":
                    grams = stylizer.style_at(first_size).grams
                    weight = stylizer.optimize.effective_style_weight * value
                    terms.append(CoarseStyle(stylizer, grams, stylizer.style.layer_weights, (first_size[1], first_size[0]), weight))
                return Objective(terms)

            stylizer.objective = objective  # type: ignore[method-assign]
            image = run_stage(stage, image, later_stage_budget(args.steps), style)
        stylizer.objective = plain  # type: ignore[method-assign]
        seconds = time.perf_counter() - started
        picture = tensor_to_bgr(image)
        cv2.imwrite(str(out / f"{args.size}_{variant.replace(':', '')}.png"), picture)
        measured = distances(judge, resize_long_side(picture, 256), frame, painting)
        photo = cv2.resize(frame, (picture.shape[1], picture.shape[0]), interpolation=cv2.INTER_AREA)
        line = {
            "size": args.size, "variant": variant, "stages": [max(s) for s in sizes], "style_256": measured.style_mean,
            "ratio": measured.style_mean / reference, "content_256": measured.content, "later_seconds": round(seconds),
            "ripple": ripple(picture, photo, painting),
        }  # fmt: skip
        print(json.dumps(line), flush=True)
        with open(out / "results.jsonl", "a") as results:
            results.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
