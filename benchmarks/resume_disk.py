"""Bounded disk: how many PNG frames does the work dir of a long run hold at most?

    uv run python benchmarks/resume_disk.py [--frames 2000] [--segment-frames 100] [--size 32x24]

Stylizes a long tiny clip into an .mp4 with the cheap stand-in core of
tests/pipeline/resume_worker.py (the disk behaviour does not depend on the
core) and counts the PNGs in <work>/frames/ after every event the run emits
(every optimizer step, frame, segment); it peaks at a segment's last
FrameDone, right before that segment is encoded. Prints the maximum and exits 1 if it ever
exceeded --segment-frames.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tests.pipeline.resume_worker import fake_method, make_settings  # noqa: E402
from vidstyle.pipeline.events import FrameDone, SegmentEncoded  # noqa: E402
from vidstyle.video.ffmpeg import ffmpeg_exe  # noqa: E402
from vidstyle.pipeline.run import stylize  # noqa: E402
from vidstyle.video.probe import count_video_frames  # noqa: E402


def make_clip(path: Path, frames: int, size: str) -> None:
    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size={size}:rate=24", "-frames:v", str(frames),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
        ],
        check=True,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--segment-frames", type=int, default=100)
    parser.add_argument("--size", default="32x24")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vidstyle-disk-") as tmp:
        root = Path(tmp)
        clip = root / "clip.mp4"
        make_clip(clip, args.frames, args.size)
        style = root / "style.png"
        cv2.imwrite(str(style), (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
        output = root / "out.mp4"
        frames_dir = root / "out.mp4.vidstyle" / "frames"

        def count() -> int:
            return sum(1 for _ in frames_dir.glob("*.png")) if frames_dir.is_dir() else 0

        polled = {"events": 0, "max_at_events": 0, "max_before_encode": 0, "segments": 0}

        def on_event(event) -> None:  # noqa: ANN001
            polled["events"] += 1
            polled["max_at_events"] = max(polled["max_at_events"], count())
            if isinstance(event, FrameDone) and (event.frame + 1) % args.segment_frames == 0:
                polled["max_before_encode"] = max(polled["max_before_encode"], count())
            if isinstance(event, SegmentEncoded):
                polled["segments"] += 1
            if isinstance(event, FrameDone) and (event.frame + 1) % 500 == 0:
                print(f"  {event.frame + 1} frames, {count()} PNGs in frames/", file=sys.stderr)

        settings = make_settings(style=style, max_size=48, segment_frames=args.segment_frames)
        started = time.perf_counter()
        result = stylize(clip, output, settings=settings, on_event=on_event, method_factory=fake_method())
        seconds = time.perf_counter() - started
        peak = max(polled["max_at_events"], polled["max_before_encode"])
        report = {
            "frames": result.frames,
            "frames_in_output": count_video_frames(output),
            "segment_frames": args.segment_frames,
            "segments_encoded": polled["segments"],
            "events_polled": polled["events"],
            "max_pngs_at_events": polled["max_at_events"],
            "max_pngs_before_encode": polled["max_before_encode"],
            "max_pngs": peak,
            "work_dir_removed": not frames_dir.parent.exists(),
            "seconds": round(seconds, 1),
        }
        print(json.dumps(report, indent=1))
        return 0 if peak <= args.segment_frames and report["frames_in_output"] == args.frames else 1


if __name__ == "__main__":
    sys.exit(main())
