"""Peak memory does not grow with clip length: the same run at 50 and at 500 frames.

Each run happens in a fresh subprocess so its peak RSS is its own. Frames are
streamed from the decoder and written per segment, so the two peaks should
match within noise (a few MiB of per-frame records are all that grows).

    uv run python benchmarks/memory.py [--frames 50,500] [--size 32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import make_clip, peak_rss_mib, random_weights  # noqa: E402


def one_run(clip: Path, weights: Path, frames: int, size: int, out_dir: Path) -> dict[str, float]:
    from vidstyle.config import ModelConfig, OptimizeConfig, RunConfig, SelectConfig, Settings, StyleConfig
    from vidstyle.pipeline.run import stylize

    settings = Settings(
        model=ModelConfig(weights=weights),
        style=StyleConfig(images=(Path(__file__).resolve().parent.parent / "samples" / "style_swirls.jpg",)),
        optimize=OptimizeConfig(iterations=2, iterations_next=1),
        select=SelectConfig(max_frames=frames, max_size=size),
        run=RunConfig(segment_frames=100),
    )
    started = time.perf_counter()
    result = stylize(clip, out_dir / f"out_{frames}.mp4", settings=settings)
    return {"frames": result.frames, "seconds": time.perf_counter() - started, "peak_rss_mib": peak_rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="50,500", help="comma-separated clip lengths")
    parser.add_argument("--size", type=int, default=32, help="working size (long side)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        clip, weights, frames, out_dir = args.child
        print(json.dumps(one_run(Path(clip), Path(weights), int(frames), args.size, Path(out_dir))))
        return

    lengths = [int(n) for n in args.frames.split(",")]
    with tempfile.TemporaryDirectory(prefix="vidstyle-memory-") as tmp:
        folder = Path(tmp)
        weights = random_weights(folder)
        clip = make_clip(folder / "clip.mp4", frames=max(lengths))
        rows = []
        for frames in lengths:
            done = subprocess.run(
                [sys.executable, __file__, "--size", str(args.size), "--child", str(clip), str(weights), str(frames), str(folder)],
                check=True, capture_output=True, text=True,
            )
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| frames | seconds | peak RSS (MiB) |\n|---:|---:|---:|")
    for row in rows:
        print(f"| {row['frames']} | {row['seconds']:.1f} | {row['peak_rss_mib']:.0f} |")
    ratio = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    print(f"\npeak RSS ratio {rows[-1]['frames']} vs {rows[0]['frames']} frames: {ratio:.3f}x")


if __name__ == "__main__":
    main()
