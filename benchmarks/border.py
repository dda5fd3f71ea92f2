"""The line along the frame's border (issue 22): each edge's outermost step against the steps inside the frame.

Stylizes the same real frames once per candidate, as a run does (the first
frame from its content with the first-frame budget, every later one from the
previous result warped along the flow), and measures each output frame:

- per edge, the mean |row 0 - row 1| (top), |last row - the one before|
  (bottom), and the same for the left and right columns, in 8-bit levels,
  averaged over colour channels, pixels and frames;
- the median neighbour difference inside the frame: the median over the
  interior row pairs (those not touching the outermost rows) of their mean
  |row i - row i+1|, and the same for columns; mean over frames.

A line shows as an edge step well above the median. The bar (issue 22) is
every edge within 1.5x its direction's median (rows for top/bottom, columns
for left/right). The input frames are measured the same way, to show the
footage itself has no line there.

Candidates are ``default`` (the product at its defaults: its own
``--edge-margin``, SelectConfig.edge_margin) and ``PADDING``
(``ModelConfig.padding``: zero, replicate-first, replicate, reflect-first,
reflect) run with ``--edge-margin 0`` (the product before the margin),
optionally ``+marginM`` (the product's ``--edge-margin M``) or ``+framesM``:
the input frames extended by M copies of their own edge pixels on every side
before the run (so the optimizer, the flow, the temporal term and the next
frame's start all work on the larger canvas), with the style scaled so its
strokes keep their size, and the output cropped back, outside the product
(how the margin was first measured; ``--edge-margin`` does the same inside
it). Beside the edge figures the table gives
the run's mean final style and content loss and steps per frame (every
candidate should paint as much), the seconds per frame, and "look": the mean
|difference| of the frame's interior (4 px in from every edge) from the first
candidate's frames (L-BFGS carries any change to a different trajectory, so
even an edge-only change moves the interior by some 15-30 levels).

    uv run python benchmarks/border.py --frames 20 --threads 1                       # VGG19, issue-134-rotate
    uv run python benchmarks/border.py --network vgg16 --candidates zero,replicate-first
    uv run python benchmarks/border.py --input ../shared/data/videos/delayed_start.mp4 --start '#0'

Results (Intel Xeon, 2 cores shared with other work, 1 thread; VGG19 with the
real ImageNet weights of ../shared/data/weights; The Starry Night; 10 frames
of issue-134-rotate.mp4 from #48, which OpenCV reads upright as 54x128; a run
at the default settings otherwise). Each edge: mean step in levels (x its
median). Seconds per frame are unreliable here (the CPU was shared):

| candidate | top | bottom | left | right | worst | style | content |
|---|---|---|---|---|---|---|---|
| input frames | 4.0 (0.88x) | 1.1 (0.25x) | 4.1 (0.82x) | 3.2 (0.65x) | 0.88x | | |
| zero (default) | 43.6 (2.99x) | 16.8 (1.15x) | 25.8 (2.00x) | 48.9 (3.79x) | 3.79x | 0.0844 | 0.295 |
| replicate-first | 45.2 (3.24x) | 13.9 (1.00x) | 23.5 (1.80x) | 39.6 (3.04x) | 3.24x | 0.0858 | 0.304 |
| reflect-first | 52.4 (3.68x) | 14.1 (0.99x) | 25.4 (1.94x) | 56.5 (4.31x) | 4.31x | 0.0858 | 0.302 |
| replicate | 53.6 (3.78x) | 23.9 (1.69x) | 35.9 (2.62x) | 61.6 (4.49x) | 4.49x | 0.1171 | 0.371 |
| reflect | 63.9 (4.45x) | 21.9 (1.52x) | 33.6 (2.50x) | 63.2 (4.71x) | 4.71x | 0.1118 | 0.390 |
| zero+frames8 | 17.4 (1.14x) | 5.9 (0.38x) | 12.2 (0.86x) | 14.2 (1.00x) | 1.14x | 0.0772 | 0.290 |
| default (--edge-margin 8) | 17.4 (1.14x) | 5.9 (0.38x) | 12.2 (0.86x) | 14.2 (1.00x) | 1.14x | 0.0772 | 0.290 |

The last row is the product at its defaults since --edge-margin (``uv run python
benchmarks/border.py --frames 10 --candidates zero,default,zero+frames8``; the
rows above it are the product with ``--edge-margin 0``, as measured before it):
the same frames, to the digit, as ``zero+frames8``, which made the canvas
outside the product, and the only candidates meeting the bar.

VGG16 (real weights, 6 frames): zero 3.97x at worst (2.94x, 1.57x, 1.74x,
3.97x), zero+frames8 1.21x (style 0.105 against 0.114, content 0.379
against 0.386); the product's default since --edge-margin the same, 1.21x
(1.21x, 0.58x, 0.61x, 0.96x; style 0.1054, content 0.379: ``--network vgg16
--frames 6 --candidates zero,default``). Only the larger canvas carried through the run meets the 1.5x bar (now the
default, --edge-margin 8). A margin
made afresh for every frame (each frame optimized on its own canvas of 4 or
8 edge pixels, cropped before the next frame is warped from it; tried inside
the optimizer, not kept) left 3.85x and 2.94x: the line forms over the warm
frames, so the margin has to travel with the run. With 3 frames instead of
10 the default's worst edge was 2.60x (margin-carried canvas 1.16x): the
line grows along a chain. On a single cold frame (marple8, 64 px, 150 steps)
it is only 1.37x (top), 1.00x with a margin; tests/pipeline/test_border.py
runs the product over 5 warm marple8 frames at 64 px, with and without it.

"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED  # noqa: E402
from vidstyle.config import DeviceChoice, ModelConfig, Network, Padding, SelectConfig, Settings, StyleConfig  # noqa: E402
from vidstyle.pipeline.run import stylize  # noqa: E402
from vidstyle.video.pixels import resize, working_size  # noqa: E402

EDGES = ("top", "bottom", "left", "right")
BAR = 1.5
LOOK_INSET = 4  # px from every edge left out of the "look" difference: the edge is what is meant to change


DEFAULT_MARGIN = SelectConfig().edge_margin


@dataclass(frozen=True)
class Candidate:
    padding: Padding
    frames_margin: int  # px of the frame's own edge added to the input frames before the run, cropped after it
    edge_margin: int  # the product's --edge-margin (0: none, as before it existed)
    default: bool = False  # the product at its defaults: "default"

    @classmethod
    def parse(cls, text: str) -> Candidate:
        if text == "default":
            return cls(ModelConfig().padding, 0, DEFAULT_MARGIN, default=True)
        padding, *options = text.split("+")
        values = {"frames": 0, "margin": 0}
        for option in options:
            key = option.rstrip("0123456789")
            if key not in values or key == option:
                raise SystemExit(f"bad candidate {text!r}: default, or PADDING[+framesM][+marginM]")
            values[key] = int(option[len(key) :])
        return cls(Padding(padding), values["frames"], values["margin"])

    @property
    def name(self) -> str:
        if self.default:
            return f"default (--edge-margin {self.edge_margin})"
        return (
            self.padding.value
            + (f"+frames{self.frames_margin}" if self.frames_margin else "")
            + (f"+margin{self.edge_margin}" if self.edge_margin else "")
        )


def edge_figures(frames: list[np.ndarray]) -> dict[str, float]:
    """Mean edge steps and interior medians over ``frames`` (BGR uint8), in levels."""
    sums: dict[str, float] = dict.fromkeys((*EDGES, "median_rows", "median_cols"), 0.0)
    for frame in frames:
        pixels = frame.astype(np.float64)
        rows = np.abs(np.diff(pixels, axis=0)).mean(axis=(1, 2))  # rows[i] = mean |row i - row i+1|
        cols = np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))
        for edge, value in zip(EDGES, (rows[0], rows[-1], cols[0], cols[-1])):
            sums[edge] += value
        sums["median_rows"] += float(np.median(rows[1:-1]))
        sums["median_cols"] += float(np.median(cols[1:-1]))
    figures = {name: value / len(frames) for name, value in sums.items()}
    for edge in EDGES:
        median = figures["median_rows" if edge in ("top", "bottom") else "median_cols"]
        figures[f"{edge}_ratio"] = figures[edge] / median
    figures["worst_ratio"] = max(figures[f"{edge}_ratio"] for edge in EDGES)
    return figures


def read_input(path: Path, *, start: int, count: int, size: int) -> list[np.ndarray]:
    """``count`` frames from ``start`` of a video (or the sorted images of a folder), at the working size."""
    frames: list[np.ndarray] = []
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".ppm", ".bmp"))
        frames = [cv2.imread(str(p)) for p in images[start : start + count]]
    else:
        capture = cv2.VideoCapture(str(path))
        capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
    if not frames:
        raise SystemExit(f"no frames read from {path}")
    height, width = frames[0].shape[:2]
    return [resize(frame, working_size(width, height, size)) for frame in frames]


def run_candidate(candidate: Candidate, frames: list[np.ndarray], args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    folder = tmp / f"in-{len(list(tmp.iterdir()))}"
    folder.mkdir()
    m = candidate.frames_margin
    for i, frame in enumerate(frames):
        canvas = cv2.copyMakeBorder(frame, m, m, m, m, cv2.BORDER_REPLICATE) if m else frame
        cv2.imwrite(str(folder / f"{i:05d}.png"), canvas)
    height, width = frames[0].shape[:2]
    settings = Settings(
        model=ModelConfig(network=Network(args.network), weights=args.weights, padding=candidate.padding, device=DeviceChoice(args.device)),
        # The style image is scaled to the working long side; a larger canvas would enlarge its strokes.
        style=StyleConfig(images=(args.style,), scale=max(width, height) / (max(width, height) + 2 * m)),
        select=SelectConfig(max_size=None, edge_margin=candidate.edge_margin),
    )
    out = tmp / f"out-{len(list(tmp.iterdir()))}"
    started = time.perf_counter()
    result = stylize(folder, out, settings=settings)
    seconds = time.perf_counter() - started
    outputs = [cv2.imread(str(p)) for p in sorted(out.glob("*.png"))]
    outputs = [image[m : image.shape[0] - m, m : image.shape[1] - m] for image in outputs]
    records = result.records
    return {
        "frames": outputs,
        "figures": edge_figures(outputs),
        "style": float(np.mean([r.style_loss for r in records])),
        "content": float(np.mean([r.content_loss for r in records])),
        "first_style": records[0].style_loss,
        "first_content": records[0].content_loss,
        "steps": float(np.mean([r.steps for r in records])),
        "seconds": seconds / len(records),
    }


def look_difference(frames: list[np.ndarray], reference: list[np.ndarray]) -> float:
    i = LOOK_INSET
    return float(np.mean([np.abs(a[i:-i, i:-i].astype(float) - b[i:-i, i:-i].astype(float)).mean() for a, b in zip(frames, reference)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=SHARED / "videos" / "issue-134-rotate.mp4", help="video or folder of frames")
    parser.add_argument("--start", default="#48", help="first frame (#N)")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", type=int, default=128, help="working long side")
    parser.add_argument("--network", default=Network.VGG19.value, choices=[n.value for n in Network])
    parser.add_argument("--weights", type=Path, default=None, help="default: the real ImageNet weights in ../shared/data/weights")
    parser.add_argument("--style", type=Path, default=SHARED / "styles" / "starry_night.jpg")
    parser.add_argument("--candidates", default="zero,default")
    parser.add_argument("--device", default="cpu", choices=[d.value for d in DeviceChoice])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.weights = args.weights or SHARED / "weights" / f"{args.network}_imagenet_features.pth"
    if not args.weights.is_file():
        raise SystemExit(f"{args.weights} is absent; pass --weights")
    candidates = [Candidate.parse(text) for text in args.candidates.split(",")]
    frames = read_input(args.input, start=int(args.start.lstrip("#")), count=args.frames, size=args.size)
    height, width = frames[0].shape[:2]
    print(f"{args.input.name} from {args.start}: {len(frames)} frames at {width}x{height}, {args.network} ({args.weights.name}), "
          f"style {args.style.stem}, {torch.get_num_threads()} thread(s), {args.device}; bar: every edge <= {BAR}x its median\n")  # fmt: skip
    results: dict[str, dict[str, object]] = {"input": {"figures": edge_figures(frames)}}
    with tempfile.TemporaryDirectory(prefix="vidstyle-border-") as tmp:
        for candidate in candidates:
            results[candidate.name] = run_candidate(candidate, frames, args, Path(tmp))
            print(f"  {candidate.name}: done", file=sys.stderr)
    reference = results[candidates[0].name]["frames"]
    print("| candidate | top | bottom | left | right | median rows / cols | worst edge / median | bar | style | content | steps/frame | s/frame | look |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        f = result["figures"]
        edges = " | ".join(f"{f[e]:.1f} ({f[e + '_ratio']:.2f}x)" for e in EDGES)  # type: ignore[index]
        line = f"| {name} | {edges} | {f['median_rows']:.1f} / {f['median_cols']:.1f} | {f['worst_ratio']:.2f}x | "  # type: ignore[index]
        line += "meets" if f["worst_ratio"] <= BAR else "misses"  # type: ignore[index]
        if name == "input":
            line += " | | | | | |"
        else:
            look = look_difference(result["frames"], reference)  # type: ignore[arg-type]
            result["look"] = look
            line += f" | {result['style']:.4f} | {result['content']:.3f} | {result['steps']:.0f} | {result['seconds']:.2f} | {look:.1f} |"
        print(line)
    if args.json:
        for result in results.values():
            result.pop("frames", None)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))


if __name__ == "__main__":
    main()
