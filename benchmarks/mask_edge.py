"""Does the edge of a --mask flicker? Warping error in a band along the edge vs the whole frame's.

    uv run python benchmarks/mask_edge.py --weights ../shared/data/weights/vgg16_imagenet_features.pth
    uv run python benchmarks/mask_edge.py --weights ../shared/data/weights/vgg16_imagenet_features.pth \
        --input ../shared/data/videos/issue-134-rotate.mp4 --start 2 --max-size 192

(marple8's 5 frames by default; VGG16, 100/20 steps, 128 px, feather 8.)

The same frames of a real clip are stylized (folder output, working size)
without a mask, and with a mask whose left half is black, hard and feathered.
For each output the warping error (Lai et al. 2018, flow on the input,
vidstyle.temporal.metric's reliability mask) is taken over the whole frame and
over a band of BAND pixels either side of the mask's edge. Issue 24's bar: the
band's error at most 1.2x the frame's. The mask is applied to the written
frames only, so the stylized frames under it are those of the unmasked run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidstyle.config import (  # noqa: E402
    DeviceChoice,
    ModelConfig,
    Network,
    OptimizeConfig,
    OutputSize,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
)
from vidstyle.pipeline.plan import make_plan  # noqa: E402
from vidstyle.pipeline.run import stylize  # noqa: E402
from vidstyle.temporal.flow import FlowEstimator  # noqa: E402
from vidstyle.temporal.masks import reliability_mask  # noqa: E402
from vidstyle.temporal.warp import warp_image  # noqa: E402
from vidstyle.video.pixels import resize  # noqa: E402
from vidstyle.video.sources import open_source  # noqa: E402


def errors(inputs: list[np.ndarray], outputs: list[np.ndarray], band: np.ndarray) -> tuple[float, float]:
    """(frame, band) warping error, each the mean over consecutive pairs."""
    estimator = FlowEstimator()
    frame_errors, band_errors = [], []
    for k in range(len(outputs) - 1):
        flows = estimator.pair(inputs[k], inputs[k + 1])
        reliable = reliability_mask(flows.forward, flows.backward)
        a = outputs[k][:, :, ::-1].astype(np.float32) / 255.0
        b = warp_image(outputs[k + 1][:, :, ::-1].astype(np.float32) / 255.0, flows.forward)
        squared = np.sum((a - b) ** 2, axis=2, dtype=np.float64) / 3.0
        frame_errors.append(float(np.sum(reliable * squared) / max(np.sum(reliable), 1e-9)))
        inside = reliable * band
        band_errors.append(float(np.sum(inside * squared) / max(np.sum(inside), 1e-9)))
    return float(np.mean(frame_errors)), float(np.mean(band_errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT.parent / "shared" / "data" / "frames" / "marple8"))
    parser.add_argument("--start", default=None)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--style", type=Path, default=ROOT.parent / "shared" / "data" / "styles" / "starry_night.jpg")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--network", default="vgg16")
    parser.add_argument("--max-size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--iterations-next", type=int, default=20)
    parser.add_argument("--feather", type=int, default=8)
    parser.add_argument("--band", type=int, default=4)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mask-edge-"))
    with open_source(args.input) as source:
        width, height = source.info.width, source.info.height
    mask = np.full((height, width, 3), 255, np.uint8)
    mask[:, : width // 2] = 0
    mask_path = tmp / "mask.png"
    cv2.imwrite(str(mask_path), mask)

    def run(name: str, **select: object) -> tuple[list[np.ndarray], float]:
        settings = Settings(
            model=ModelConfig(network=Network(args.network), weights=args.weights, device=DeviceChoice.CPU),
            style=StyleConfig(images=(args.style,)),
            optimize=OptimizeConfig(iterations=args.iterations, iterations_next=args.iterations_next),
            select=SelectConfig(start=args.start, max_frames=args.frames, max_size=args.max_size, output_size=OutputSize.WORKING, **select),  # type: ignore[arg-type]
            shots=ShotsConfig(cuts="off"),
        )
        started = time.perf_counter()
        stylize(args.input, tmp / name, settings=settings)
        seconds = time.perf_counter() - started
        return [cv2.imread(str(p)) for p in sorted((tmp / name).glob("frame_*.png"))], seconds

    plain, seconds = run("plain")
    out_h, out_w = plain[0].shape[:2]
    with open_source(args.input) as source:  # the frames the run read
        plan = make_plan(source.info, SelectConfig(start=args.start, max_frames=args.frames, max_size=args.max_size))
        inputs = [resize(frame, (out_w, out_h)) for _, frame in source.read(plan.source_indices)]
    x = np.arange(out_w)[None, :].repeat(out_h, axis=0)
    band = (np.abs(x + 0.5 - out_w / 2) <= args.band).astype(np.float32)
    print(f"{args.input} from {args.start}, {len(plain)} frames at {out_w}x{out_h}, {args.network}, "
          f"{args.iterations}/{args.iterations_next} steps; band: {args.band} px either side of the edge; "
          f"{seconds:.0f} s a run on this CPU")  # fmt: skip
    print("| output | frame | band | band / frame |")
    print("|---|---|---|---|")
    rows = [("no mask", plain)]
    rows.append(("mask, hard edge", run("hard", mask=mask_path)[0]))
    rows.append((f"mask, --mask-feather {args.feather}", run("soft", mask=mask_path, mask_feather=args.feather)[0]))
    rows.append(("the input itself", inputs))
    for name, outputs in rows:
        frame, edge = errors(inputs, outputs, band)
        print(f"| {name} | {frame:.5f} | {edge:.5f} | {edge / frame:.2f} |")


if __name__ == "__main__":
    main()
