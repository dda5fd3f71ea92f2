"""--protect-overlays auto: what the detector protects, shot by shot, on ordinary footage and on the HUD sample.

    uv run python benchmarks/overlays.py                 # every shared clip + samples/clip.mp4 + samples/hud.mp4
    uv run python benchmarks/overlays.py INPUT [INPUT ...]

Each input is planned as a run plans it (default settings: 256 px working
size, --cuts auto), its shots are found with the run's cut detection, and the
detector (vidstyle/video/overlays.py) runs on each shot exactly as a run's
does. A shot of ordinary footage that protects anything is a false positive;
the default stays ``off`` unless there are none on every shared clip. For an
input with a known HUD (samples/hud.mp4, whose boxes samples/make_samples.py
knows) the IoU of the protected area with the HUD's boxes is printed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from samples.make_samples import hud_boxes  # noqa: E402
from vidstyle.config import SelectConfig, ShotsConfig  # noqa: E402
from vidstyle.pipeline.chains import make_run_plan  # noqa: E402
from vidstyle.pipeline.plan import input_times, make_plan  # noqa: E402
from vidstyle.pipeline.shots import scan_for_cuts  # noqa: E402
from vidstyle.video.overlays import detect_in_shots  # noqa: E402
from vidstyle.video.sources import open_source  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def default_inputs() -> list[Path]:
    videos = sorted((SHARED / "videos").glob("*.mp4"))
    return [*videos, SHARED / "frames" / "marple8", ROOT / "samples" / "clip.mp4", ROOT / "samples" / "hud.mp4"]


def measure(path: Path) -> tuple[int, int, float, float | None]:
    select = SelectConfig(max_size=256)
    with open_source(path) as source:
        frames = make_plan(source.info, select)
        stamps = input_times(source.info, select)
        times = [stamps[i] for i in frames.source_indices]
        cuts = scan_for_cuts(source, frames, times, config=ShotsConfig())
        plan = make_run_plan(frames, cuts, segment_frames=240)
        started = time.perf_counter()
        found = detect_in_shots(source, frames.source_indices, [(s.start, s.stop) for s in plan.shots])
        seconds = time.perf_counter() - started
        width, height = source.info.width, source.info.height
    flagged = 0
    iou = None
    for shot, detection in zip(plan.shots, found):
        print(f"  shot {shot.index} [{shot.start}, {shot.stop}): {detection.reason}")
        flagged += detection.found
        if path.name == "hud.mp4":
            truth = np.zeros((height, width), np.uint8)
            for x0, y0, x1, y1 in hud_boxes(width, height).values():
                truth[y0 : y1 + 1, x0 : x1 + 1] = 1
            got = cv2.resize(detection.mask, (width, height), interpolation=cv2.INTER_NEAREST) > 0
            iou = float((got & (truth > 0)).sum() / max(1, (got | (truth > 0)).sum()))
    protected = float(np.mean([d.protected for d in found]))
    return len(found), flagged, protected, iou if iou is None else round(iou, 3), seconds  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", type=Path)
    args = parser.parse_args()
    rows = []
    for path in args.inputs or default_inputs():
        print(path)
        shots, flagged, protected, iou, seconds = measure(path)
        rows.append((path.name, shots, flagged, protected, iou, seconds))
    print("\n| input | shots | shots with anything protected | mean protected fraction | IoU with the HUD | detection s |")
    print("|---|---|---|---|---|---|")
    for name, shots, flagged, protected, iou, seconds in rows:
        print(f"| {name} | {shots} | {flagged} | {protected:.4f} | {'' if iou is None else iou} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
