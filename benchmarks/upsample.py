"""Guided upsampling against bicubic, at the source's size, on real stylized frames.

    uv run python benchmarks/upsample.py                      # 6 frames of issue-134-rotate.mp4 (1280x544), The Scream
    uv run python benchmarks/upsample.py --frames 8 --iterations 100 --crop docs/img/upsample.jpg

Stylizes a few consecutive frames of a real clip with the real VGG19
(../shared/data/weights) twice through the product: once with
``--output-size working`` (today's output, 256 px) and once at the default
output size (the source's, guided upsampling). Prints the two runs' wall times,
then, for bicubic (what ``--output-size source`` did before) and for guided
upsampling of the same working-size frames at a few settings:

* edges: Pearson correlation of the Sobel gradient magnitude of the output's
  luminance with the source's, at source size, mean over frames;
* style: the output shrunk back to the working size, mean over the style
  layers of ||G_out - G_style|| / ||G_style|| (VGG19 Grams), mean over frames;
* warping error at source size (Lai et al., vidstyle.temporal.metric), flow
  on the source frames;
* milliseconds per frame for the upsampling alone (this process's threads).

--crop writes a sheet of 100% crops (source | bicubic | guided) of one frame.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED  # noqa: E402
from vidstyle.config import (  # noqa: E402
    DeviceChoice,
    ModelConfig,
    OptimizeConfig,
    OutputSize,
    SelectConfig,
    Settings,
    StyleConfig,
)
from vidstyle.model.build import load_extractor  # noqa: E402
from vidstyle.model.losses import gram_matrix  # noqa: E402
from vidstyle.model.style import read_style_image, style_working_size  # noqa: E402
from vidstyle.pipeline.run import stylize  # noqa: E402
from vidstyle.temporal.metric import warping_error  # noqa: E402
from vidstyle.video.pixels import bgr_to_tensor, resize, tensor_to_bgr  # noqa: E402
from vidstyle.video.sources import open_source, read_image  # noqa: E402
from vidstyle.video.upsample import guided_upsample  # noqa: E402

WEIGHTS = SHARED / "weights" / "vgg19_imagenet_features.pth"


def edge_correlation(output: np.ndarray, source: np.ndarray) -> float:
    def magnitude(image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)).ravel()

    return float(np.corrcoef(magnitude(output), magnitude(source))[0, 1])


class StyleDistance:
    def __init__(self, model: ModelConfig, style: Path, working: tuple[int, int]) -> None:
        self.extractor, _ = load_extractor(model, device=torch.device("cpu"))
        self.layers = model.style_layers
        image = read_style_image(style)
        size = style_working_size(image.shape, working, 1.0)
        self.target = self._grams(resize(image, size))
        self.working = working

    def _grams(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            features = self.extractor(bgr_to_tensor(image), self.layers)
        return {name: gram_matrix(f) for name, f in features.items()}

    def __call__(self, output: np.ndarray) -> float:
        grams = self._grams(resize(output, self.working))
        return float(np.mean([(grams[n] - self.target[n]).norm().item() / self.target[n].norm().item() for n in self.layers]))


def run(clip: Path, out: Path, settings: Settings) -> float:
    started = time.perf_counter()
    stylize(clip, out, settings=settings)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=SHARED / "videos" / "issue-134-rotate.mp4")
    parser.add_argument("--start", default="#220", help="first frame (--start syntax); 220 on: two faces, a slow pan")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--style", type=Path, default=SHARED / "styles" / "the_scream.jpg")
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--iterations", type=int, default=100, help="first frame's steps (the default 300 costs minutes on a CPU)")
    parser.add_argument("--iterations-next", type=int, default=20)
    parser.add_argument("--crop", type=Path, help="write a 100%% crop sheet (source | bicubic | guided) here")
    parser.add_argument("--crop-at", default="40,300", help="x,y of the crop's top left in the source frame (the glasses)")
    args = parser.parse_args()
    if not args.weights.is_file():
        sys.exit(f"{args.weights} not found: these measurements need the shared VGG19 ImageNet weights (see ../shared/data/README.md).")

    model = ModelConfig(weights=args.weights, device=DeviceChoice.CPU)
    base = dict(
        model=model,
        style=StyleConfig(images=(args.style,)),
        optimize=OptimizeConfig(iterations=args.iterations, iterations_next=args.iterations_next),
    )
    select = SelectConfig(start=args.start, max_frames=args.frames)
    work = Path(tempfile.mkdtemp(prefix="vidstyle-upsample-"))
    working_run = run(args.clip, work / "working", Settings(**base, select=replace(select, output_size=OutputSize.WORKING)))
    source_run = run(args.clip, work / "source", Settings(**base, select=select))
    print(f"{args.clip.name} from {args.start}, {args.frames} frames, {torch.get_num_threads()} thread(s), "
          f"{args.iterations}/{args.iterations_next} steps, style {args.style.stem}")
    print(f"run wall time: --output-size working {working_run:.1f} s, default (source, guided) {source_run:.1f} s, "
          f"ratio {source_run / working_run:.3f}")

    stylized = [read_image(p) for p in sorted((work / "working").glob("frame_*.png"))]
    product = [read_image(p) for p in sorted((work / "source").glob("frame_*.png"))]
    with open_source(args.clip) as source:
        first = int(args.start.lstrip("#"))
        sources = [frame for _, frame in source.read(range(first, first + args.frames))]
    size = (sources[0].shape[1], sources[0].shape[0])
    working = (stylized[0].shape[1], stylized[0].shape[0])
    print(f"working {working[0]}x{working[1]} -> source {size[0]}x{size[1]}")

    def guided(detail: float = 1.0, radius: int = 2, eps: float = 1e-3):
        def upsample(image: np.ndarray, src: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return tensor_to_bgr(guided_upsample(bgr_to_tensor(image), bgr_to_tensor(src), detail=detail, radius=radius, eps=eps))

        return upsample

    variants = {
        "bicubic (before)": lambda image, src: resize(image, size),
        "guided r2 eps1e-3 (default)": guided(),
        "guided r1 eps1e-3": guided(radius=1),
        "guided r2 eps1e-4": guided(eps=1e-4),
        "guided r2 eps1e-2": guided(eps=1e-2),
        "guided detail 0.75": guided(detail=0.75),
        "guided detail 0.5": guided(detail=0.5),
        "guided eps1e-2 detail 0.5": guided(eps=1e-2, detail=0.5),
    }
    distance = StyleDistance(model, args.style, working)
    print(f"style distance of the working-size frames themselves: {np.mean([distance(s) for s in stylized]):.4f}")
    print()
    print("| upsampling | edge correlation | vs bicubic | style distance at working size | vs bicubic | warping error | vs bicubic | ms / frame |")
    print("|---|---|---|---|---|---|---|---|")
    base_row: tuple[float, float, float] | None = None
    outputs: dict[str, list[np.ndarray]] = {}
    for name, upsample in variants.items():
        started = time.perf_counter()
        frames = [upsample(image, src) for image, src in zip(stylized, sources)]
        ms = 1000 * (time.perf_counter() - started) / len(frames)
        outputs[name] = frames
        edges = float(np.mean([edge_correlation(f, s) for f, s in zip(frames, sources)]))
        style = float(np.mean([distance(f) for f in frames]))
        flicker = warping_error(sources, frames).value
        if base_row is None:
            base_row = (edges, style, flicker)
        # "closer to the source's edges": the share of bicubic's gap to a perfect correlation that is closed
        closer = (edges - base_row[0]) / (1 - base_row[0])
        print(f"| {name} | {edges:.3f} | {closer:+.0%} of the gap | {style:.4f} | {style / base_row[1]:.3f}x | {flicker:.5f} | "
              f"{flicker / base_row[2]:.3f}x | {ms:.0f} |")
    default = outputs["guided r2 eps1e-3 (default)"]
    worst = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(default, product))
    print(f"\nthe default run's frames against the default guided upsampling here: at most {worst} levels apart")

    if args.crop:
        index = len(sources) // 2
        h, w = 300, 360
        x, y = (int(v) for v in args.crop_at.split(","))
        tiles = [frames[index][y : y + h, x : x + w] for frames in (sources, outputs["bicubic (before)"], default)]
        sheet = np.concatenate([np.pad(t, ((0, 0), (0, 6), (0, 0)), constant_values=255) for t in tiles], axis=1)[:, :-6]
        args.crop.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.crop), sheet, [cv2.IMWRITE_JPEG_QUALITY, 90])
        print(f"crop sheet (source | bicubic | guided, 100%, frame {first + index}, x {x} y {y}): {args.crop}")


if __name__ == "__main__":
    main()
