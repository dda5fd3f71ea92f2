"""Tiled against whole-frame optimization of one real frame: seams, distance to the untiled result, time, peak memory.

    nice -n 10 uv run python benchmarks/tiles.py --size 512 --steps 50 --tiles 0,0+,128:32,128:64,256:64
    nice -n 10 uv run python benchmarks/tiles.py --memory --size 1920 --steps 1 --tiles 512:64

Each configuration (``0``: whole; ``0+``: whole, from a start nudged by less than a uint8
level, which says how far L-BFGS wanders on its own; ``T:O``: tiles of T px
overlapping by O)
optimizes the same frame of a real clip from its content, with the same
settings and budget, in a process of its own (peak RSS is a high-water mark).
For each tiled result it prints:

* ``seam``: at every tile edge (each tile's first and last row and column
  inside the frame), the mean absolute difference between the two pixel rows
  (columns) across it, over the median of that difference for the rows
  (columns) within 16 px: the worst edge, leaving out edges where the input
  frame has an edge of its own there (its figure over 1.5). The issue's bar
  is 1.5. The same figure for the whole-frame result at the same places says
  what the picture itself gives there; ``seam / whole's`` is the worst edge's
  figure over the whole result's at that edge, every edge included.
* ``off``: mean |tiled - whole| over mean |whole - content| (how far tiling
  moves the picture, against how far the optimizer moved it);
* the judge's style and content distances (vidstyle/model/measure.py, VGG16
  ImageNet weights) as tiled/whole ratios, the loss, the wall time and peak RSS.

PNGs of every result are written to --out for a look at 100%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import peak_rss_mib, video_frame  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def frame(video: Path, index: int, size: int):  # noqa: ANN201
    from vidstyle.model.measure import resize_long_side

    image = video_frame(video, index)
    picture = resize_long_side(image, size)
    height, width = picture.shape[:2]
    return picture[: height // 16 * 16, : width // 16 * 16]


def one(args: argparse.Namespace, config: str) -> None:
    import cv2
    import torch

    from vidstyle.config import ModelConfig, OptimizeConfig, StyleConfig
    from vidstyle.model.build import build_core
    from vidstyle.video.pixels import bgr_to_tensor, tensor_to_bgr

    torch.set_num_threads(args.threads)
    from vidstyle.model.memory import frame_bytes

    nudged = config.endswith("+")  # the whole frame from an invisibly nudged start: how far L-BFGS itself wanders
    tile, overlap = (None, 64) if config.rstrip("+") == "0" else tuple(int(v) for v in config.split(":"))
    photo = frame(args.video, args.frame, args.size)
    height, width = photo.shape[:2]
    optimize = OptimizeConfig(iterations=args.steps, tolerance=0)
    core = build_core(ModelConfig(weights=args.weights, tile_overlap=overlap), StyleConfig(images=(args.style,)), optimize,
                      content_size=(width, height), cache_dir=None, device=torch.device("cpu"), tile=tile)  # fmt: skip
    stylizer = core.stylizer
    content = bgr_to_tensor(photo)
    init = content.clone()
    if nudged:  # +-0.4 of a uint8 level: the same picture once quantised
        init = (init + (torch.rand(init.shape, generator=torch.Generator().manual_seed(1)) - 0.5) * 0.8 / 255).clamp(0, 1)
    started = time.perf_counter()
    result = stylizer.stylize(content, init=init, budget=args.steps)
    seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out / f"tiles_{config.replace(':', '_')}.png"), tensor_to_bgr(result.image))
    cv2.imwrite(str(args.out / "content.png"), photo)
    row = {"config": config, "seconds": seconds, "peak_mib": peak_rss_mib(), "loss": result.final.total,
           "size": [width, height], "model_mib": frame_bytes((width, height), tile=tile) / 2**20}  # fmt: skip
    (args.out / f"run_{config.replace(':', '_')}.json").write_text(json.dumps(row))
    print(json.dumps(row))


def tile_edges(config: str, size: tuple[int, int]) -> list[tuple[str, int]]:
    """Where the tiles of ``config`` begin and end inside a frame of ``size``: ("row" or "col", index)."""
    from vidstyle.model.tiles import tile_grid

    tile, overlap = (int(v) for v in config.split(":"))
    edges = []
    for part in tile_grid(size, tile=tile, overlap=overlap):
        edges += [("row", part.rows.start), ("row", part.rows.stop), ("col", part.cols.start), ("col", part.cols.stop)]
    return sorted({(axis, at) for axis, at in edges if 0 < at < (size[1] if axis == "row" else size[0])})


def seam(image, edges: list[tuple[str, int]]) -> float:  # noqa: ANN001
    """The worst tile edge: the step across it over the median step within 16 px (1.0: like its neighbours)."""
    import numpy as np

    picture = image.astype(np.float64)
    rows = np.abs(np.diff(picture, axis=0)).mean(axis=(1, 2))  # rows[i]: between row i and i+1
    cols = np.abs(np.diff(picture, axis=1)).mean(axis=(0, 2))
    worst = 0.0
    for axis, at in edges:
        steps = rows if axis == "row" else cols
        here = steps[at - 1]  # between the last row before the edge and the first after it
        around = [steps[i] for i in range(max(0, at - 17), min(len(steps), at + 16)) if i != at - 1]
        worst = max(worst, here / statistics.median(around))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DATA / "weights" / "vgg19_imagenet_features.pth")
    parser.add_argument("--judge", type=Path, default=DATA / "weights" / "vgg16_imagenet_features.pth")
    parser.add_argument("--style", type=Path, default=DATA / "styles" / "starry_night.jpg")
    parser.add_argument("--video", type=Path, default=DATA / "videos" / "issue-134-rotate.mp4")
    parser.add_argument("--frame", type=int, default=30)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiles", default="0,192:32,192:64", help="comma-separated: 0 (whole) or TILE:OVERLAP")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vidstyle-tiles")
    parser.add_argument("--reuse", action="store_true", help="take the runs already in --out (run_*.json, PNGs) instead of running them again")
    parser.add_argument("--memory", action="store_true", help="only run --tiles (no whole frame, no judge): peak RSS against the model")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args, args.one)
        return
    if args.memory:
        for config in args.tiles.split(","):
            command = [sys.executable, __file__, "--one", config] + sys.argv[1:]
            row = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            print(f"{config} at {row['size'][0]}x{row['size'][1]}, {args.steps} steps: peak RSS {row['peak_mib']:.0f} MiB, "
                  f"model {row['model_mib']:.0f} MiB, {row['seconds']:.0f} s")
        return
    import cv2
    import numpy as np

    from vidstyle.model.measure import Judge, distances

    configs = args.tiles.split(",")
    if configs[0] != "0":
        configs.insert(0, "0")
    runs = {}
    for config in configs:
        stored = args.out / f"run_{config.replace(':', '_')}.json"
        if args.reuse and stored.is_file():
            runs[config] = json.loads(stored.read_text())
            continue
        command = [sys.executable, __file__, "--one", config] + sys.argv[1:]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        runs[config] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"ran {config}: {runs[config]['seconds']:.0f} s", file=sys.stderr)
    judge = Judge.load(args.judge)
    photo = cv2.imread(str(args.out / "content.png"))
    painting = cv2.imread(str(args.style))
    images = {c: cv2.imread(str(args.out / f"tiles_{c.replace(':', '_')}.png")) for c in configs}
    whole = images["0"]
    base = distances(judge, whole, photo, painting)
    moved = np.abs(whole.astype(np.float64) - photo).mean()
    width, height = runs["0"]["size"]
    print(f"frame {args.frame} of {args.video.name}, {width}x{height}, {args.steps} L-BFGS steps from the content, style {args.style.name}")
    print("| run | seam (whole at same edges) | seam / whole's, worst edge | off | style ratio | content ratio | loss | time s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for config in configs:
        run, image = runs[config], images[config]
        mine = distances(judge, image, photo, painting)
        tiled = [c for c in configs if ":" in c]
        edges = tile_edges(config if ":" in config else tiled[0], (width, height)) if tiled else []
        # Edges where the input itself has an edge (its own step over 1.5x its neighbours') would measure the picture, not the tiles.
        plain = [e for e in edges if seam(photo, [e]) <= 1.5]
        tiled_seam = seam(image, plain) if plain else float("nan")
        whole_seam = seam(whole, plain) if plain else float("nan")
        worst_relative = max((seam(image, [e]) / seam(whole, [e]) for e in edges), default=float("nan"))
        off = np.abs(image.astype(np.float64) - whole).mean() / moved
        name = {"0": "whole", "0+": "whole, nudged start"}.get(config, f"tiles {config.replace(':', ', overlap ')}")
        print(f"| {name} | {tiled_seam:.2f} ({whole_seam:.2f}) | {worst_relative:.2f} | {off:.3f} | {mine.style_mean / base.style_mean:.3f} | "
              f"{mine.content / base.content:.3f} | {run['loss']:.4g} | {run['seconds']:.0f} | {run['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
