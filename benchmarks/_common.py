"""Helpers shared by the benchmark scripts: random weights, generated clips, peak memory, a VGG step's FLOPs."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torchvision

if TYPE_CHECKING:
    import numpy as np
    from vidstyle.config import Network

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


def video_frame(path: Path, index: int) -> "np.ndarray":
    """Frame ``index`` of a video as vidstyle decodes it (rotation metadata applied), BGR uint8; exits if unreadable."""
    from vidstyle.video.sources import open_source

    for _, frame in open_source(path).read([index]):
        return frame
    raise SystemExit(f"could not read frame {index} of {path}")


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)


def vgg_step_flops(network: "Network", size: tuple[int, int], deepest: str) -> float:
    """FLOPs of one optimizer step from the layer shapes: 2 x the multiply-adds of every convolution up to
    ``deepest`` (forward), times 2 for the input-gradient backward, which costs the same; ``size`` is (w, h)."""
    from vidstyle.networks import CHANNELS, architecture

    vgg = architecture(network)
    width, height = size
    flops, in_channels, scale = 0.0, 3, 1
    for name, index in vgg.plan:
        if index > vgg.index(deepest):
            break
        if name.startswith("conv"):
            out_channels = CHANNELS[int(name[4]) - 1]
            flops += 2 * in_channels * out_channels * 9 * (width // scale) * (height // scale)
            in_channels = out_channels
        elif name.startswith("pool"):
            scale *= 2
    return 2 * flops
