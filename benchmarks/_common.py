"""Helpers shared by the benchmark scripts: random weights, generated clips, peak memory."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torchvision

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"


def random_weights(folder: Path | None = None, network: str = "vgg19") -> Path:
    """A randomly initialised VGG19 (or VGG16) features state dict, loaded later through the real --weights path."""
    folder = folder or Path(tempfile.mkdtemp(prefix="vidstyle-bench-"))
    path = folder / f"{network}_random_features.pth"
    if not path.is_file():
        torch.manual_seed(0)
        model = getattr(torchvision.models, network)(weights=None)
        state = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
        torch.save(state, path)
    return path


def make_clip(path: Path, *, frames: int, width: int = 320, height: int = 180, fps: int = 25) -> Path:
    """A lavfi test clip with a sine audio track, made with the bundled ffmpeg."""
    import imageio_ffmpeg

    seconds = frames / fps
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-t", f"{seconds}", "-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
    )
    return path


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)
