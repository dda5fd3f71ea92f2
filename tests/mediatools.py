"""Shared test helpers: generate small clips and frame folders, inspect outputs.

Import as ``from tests.mediatools import make_clip, ...`` (pyproject sets
``pythonpath = ["."]`` for pytest).

Everything uses the ffmpeg binary bundled with imageio-ffmpeg; arguments are
argv lists, never shell strings.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidstyle.video.probe import MediaFacts, count_video_frames, probe_media
from vidstyle.video.ffmpeg import ffmpeg_exe as _ffmpeg_exe

__all__ = [
    "REPO_ROOT",
    "assemble_clip",
    "panning",
    "read_frames",
    "write_frames",
    "SHARED_DATA",
    "count_video_frames",
    "decode_all",
    "ffmpeg_exe",
    "frame_image",
    "frame_number",
    "make_clip",
    "make_frames_folder",
    "optional_tool",
    "shared_data",
    "stream_facts",
    "vfr_timestamps",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
# The shared real media and weights: ../shared/data beside the repository, or VIDSTYLE_SHARED_DATA
# (the benchmarks read the same variable). Every test that needs them goes through shared_data(),
# so the rule for a missing file (skip here, fail in CI) is in one place.
SHARED_DATA = Path(os.environ.get("VIDSTYLE_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data").resolve()
REQUIRE_SHARED = "VIDSTYLE_REQUIRE_SHARED"
REQUIRE_TOOLS = "VIDSTYLE_REQUIRE_TOOLS"


def _required(variable: str) -> bool:
    return os.environ.get(variable, "").strip() not in ("", "0")


def shared_data(*parts: str) -> Path:
    """Path under the shared data folder; skips the test when it is absent, or fails it under VIDSTYLE_REQUIRE_SHARED=1."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        import pytest

        message = f"shared test data not available: {path}"
        if _required(REQUIRE_SHARED):
            pytest.fail(f"{message} ({REQUIRE_SHARED}=1: CI must have ../shared/data or VIDSTYLE_SHARED_DATA)", pytrace=False)
        pytest.skip(f"{message} (set VIDSTYLE_SHARED_DATA, or {REQUIRE_SHARED}=1 to make this a failure)")
    return path


def optional_tool(available: bool, reason: str, *, module: bool = False) -> None:
    """Skip the test (or the module), saying which optional tool is missing; fail instead under VIDSTYLE_REQUIRE_TOOLS=1, as .ci/run sets."""
    if available:
        return
    import pytest

    message = f"optional tool missing: {reason}"
    if _required(REQUIRE_TOOLS):
        pytest.fail(f"{message} ({REQUIRE_TOOLS}=1: .ci/run installs it)", pytrace=False)
    pytest.skip(message, allow_module_level=module)


def ffmpeg_exe() -> str:
    return _ffmpeg_exe()


def _run(args: list[str]) -> None:
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({result.returncode}): {' '.join(args)}\n{result.stderr}")


def vfr_timestamps(frames: int, fps: str | Fraction = "24") -> list[float]:
    """The presentation times make_clip(vfr=True) gives: frame i at (i + i // 4) / fps."""
    rate = Fraction(str(fps))
    return [float((i + i // 4) / rate) for i in range(frames)]


_AUDIO_CODEC = {".webm": "libopus", ".avi": "pcm_s16le", ".mpg": "mp2", ".mpeg": "mp2", ".ts": "aac"}


def make_clip(
    path: Path | str,
    *,
    width: int = 64,
    height: int = 48,
    frames: int = 24,
    fps: str = "24",
    audio: bool = True,
    audio_streams: int = 1,
    vfr: bool = False,
    codec: str = "libx264",
) -> Path:
    """Write a small testsrc2 clip (+ sine audio tracks) and return its path.

    ``fps`` is an ffmpeg rate string ("24", "25", "30000/1001"). Odd sizes use
    yuv444p with libx264/ffv1 (mpeg4 accepts odd 4:2:0). ``vfr=True`` gives frame i
    the time (i + i // 4) / fps (a one-frame gap after every 4th frame), see
    :func:`vfr_timestamps`. The container follows the file extension.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps)
    seconds = float((frames + frames // 4 + 1) / rate) if vfr else float((frames + 1) / rate)
    odd = width % 2 or height % 2
    # testsrc2 rounds odd sizes down unless it is asked for an unsubsampled format.
    source = f"testsrc2=size={width}x{height}:rate={fps}" + (",format=yuv444p" if odd else "")
    args = ["-f", "lavfi", "-i", source]
    n_audio = audio_streams if audio else 0
    for k in range(n_audio):
        args += ["-f", "lavfi", "-i", f"sine=frequency={440 + 110 * k}:sample_rate=48000:duration={seconds:.3f}"]
    args += ["-map", "0:v"]
    for k in range(n_audio):
        args += ["-map", f"{k + 1}:a"]
    if vfr:
        args += ["-vf", f"setpts=(N+floor(N/4))/({fps}*TB)", "-fps_mode", "vfr"]
    args += ["-frames:v", str(frames), "-c:v", codec]
    if codec in ("libx264", "libx264rgb"):
        args += ["-preset", "ultrafast", "-pix_fmt", "yuv444p" if odd else "yuv420p"]
    elif codec == "ffv1":
        args += ["-pix_fmt", "yuv444p"]
    elif codec in ("mpeg4", "mjpeg"):
        args += ["-q:v", "3"]
    if n_audio:
        args += ["-c:a", _AUDIO_CODEC.get(path.suffix.lower(), "aac")]
    args.append(str(path))
    _run(args)
    return path


def panning(photo: np.ndarray, frames: int, size: tuple[int, int], step: int) -> list[np.ndarray]:
    """The photo seen through a window of ``size`` (width, height) that moves ``step`` px to the right per frame."""
    width, height = size
    wide = width + step * frames + 8
    tall = max(height + 8, round(photo.shape[0] * wide / photo.shape[1]))
    scene = cv2.resize(photo, (wide, tall), interpolation=cv2.INTER_AREA)
    top = (tall - height) // 2
    return [np.ascontiguousarray(scene[top : top + height, 4 + i * step : 4 + i * step + width]) for i in range(frames)]


def write_frames(folder: Path | str, frames: Sequence[np.ndarray]) -> Path:
    """Write BGR frames as in_0000.png, in_0001.png, ... into a new folder (a lossless frame-folder input)."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"in_{index:04d}.png"), frame)
    return folder


def hard_cut_folder(folder: Path | str, length: int = 16, size: tuple[int, int] = (64, 48)) -> Path:
    """A 24 fps frame folder with one hard cut at frame ``length``: a slow pan over each of the two sample paintings.

    Real pictures moving 1 px a frame, so the cut detector and the photometric check see one cut and nothing else.
    """
    first, second = (cv2.imread(str(REPO_ROOT / "samples" / name)) for name in ("style_swirls.jpg", "style_mosaic.jpg"))
    return write_frames(folder, panning(first, length, size, 1) + panning(second, length, size, 1))


def read_frames(folder: Path | str) -> list[np.ndarray]:
    """The frames of a folder output (frame_000001.png, ...), in order."""
    return [cv2.imread(str(path), cv2.IMREAD_COLOR) for path in sorted(Path(folder).glob("frame_*.png"))]


def assemble_clip(
    path: Path | str,
    pieces: Sequence[tuple[Path | str, int, int]],
    *,
    size: tuple[int, int] = (192, 256),
    fps: int = 25,
) -> Path:
    """Concatenate frames [start, end) of each (video, start, end) into one silent clip; return its path.

    Every piece is scaled to ``size`` (width, height; aspect not kept) and its
    frames are retimed to ``fps`` one for one, so piece k starts at output frame
    sum of the earlier pieces' lengths: the hard cuts sit exactly there.
    High-quality x264 (crf 12), so the cut positions are not blurred by the codec.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    args: list[str] = []
    chains = []
    for k, (video, start, end) in enumerate(pieces):
        args += ["-i", str(video)]
        chains.append(
            f"[{k}:v]trim=start_frame={start}:end_frame={end},setpts=N/({fps}*TB),"
            f"scale={width}:{height},setsar=1,format=yuv420p[p{k}]"
        )
    inputs = "".join(f"[p{k}]" for k in range(len(pieces)))
    graph = ";".join(chains) + f";{inputs}concat=n={len(pieces)}:v=1:a=0,setpts=N/({fps}*TB)[v]"
    args += ["-filter_complex", graph, "-map", "[v]", "-r", str(fps)]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p", str(path)]
    _run(args)
    return path


def frame_image(index: int, size: tuple[int, int]) -> np.ndarray:
    """Distinct BGR frame for ``index``: R = index % 256, G = index // 256, B = moving texture."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[:, :, 0] = ((x * 7 + y * 3 + index * 5) % 256).astype(np.uint8)
    image[:, :, 1] = index // 256
    image[:, :, 2] = index % 256
    return image


def frame_number(image: np.ndarray) -> int:
    """Inverse of :func:`frame_image` (robust to mild compression)."""
    return int(round(float(np.median(image[:, :, 2])))) + 256 * int(round(float(np.median(image[:, :, 1]))))


def make_frames_folder(
    directory: Path | str,
    n: int,
    size: tuple[int, int] = (32, 24),
    names: Sequence[str] | str | None = None,
) -> list[Path]:
    """Write ``n`` PNGs made by :func:`frame_image` (frame k has number k) and return their paths.

    ``names`` is a list of file names (one per frame) or a format string with
    ``{i}`` (default ``"frame{i:05d}.png"``). Extensions other than .png are
    written in that format by OpenCV (use lossless ones to check content).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if names is None:
        names = "frame{i:05d}.png"
    file_names = [names.format(i=i) for i in range(n)] if isinstance(names, str) else list(names)
    if len(file_names) != n:
        raise ValueError(f"{len(file_names)} names for {n} frames")
    paths = []
    for i, name in enumerate(file_names):
        path = directory / name
        if not cv2.imwrite(str(path), frame_image(i, size)):
            raise RuntimeError(f"could not write {path}")
        paths.append(path)
    return paths


def stream_facts(path: Path | str) -> MediaFacts:
    """probe_media() of a file (codec, size, rotation, fps, audio streams, start times)."""
    return probe_media(Path(path))


def decode_all(path: Path | str) -> list[np.ndarray]:
    """Every frame of the first video stream as BGR uint8, upright (ffmpeg autorotates). Small files only."""
    path = Path(path)
    facts = probe_media(path)
    size = facts.display_size
    if size is None:
        raise ValueError(f"{path} has no video stream")
    width, height = size
    result = subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
            "-map", f"0:{facts.video_index}", "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-",
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode {path}: {result.stderr.decode(errors='replace')}")
    frame_bytes = width * height * 3
    data = result.stdout
    if len(data) % frame_bytes:
        raise RuntimeError(f"decoded {len(data)} bytes from {path}, not a multiple of {width}x{height}x3")
    array = np.frombuffer(data, np.uint8).reshape(-1, height, width, 3)
    return [np.array(frame) for frame in array]


@dataclass
class Packets:
    """Exact packet timing of one stream, read without decoding."""

    time_base: Fraction
    pts: list[int]  # presentation timestamps in display order
    end: int  # max(pts + duration)

    @property
    def frames(self) -> int:
        return len(self.pts)

    @property
    def duration(self) -> Fraction:
        return (self.end - self.pts[0]) * self.time_base

    @property
    def start(self) -> Fraction:
        return self.pts[0] * self.time_base


def packets(path: Path, stream: str = "v:0") -> Packets:
    """Exact packet timestamps of one stream (framecrc muxer, stream copy, no decoding)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", f"0:{stream}", "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-500:]
    time_base = None
    pts: list[int] = []
    ends: list[int] = []
    for line in proc.stdout.decode().splitlines():
        if line.startswith("#tb 0:"):
            num, den = line.split(":", 1)[1].strip().split("/")
            time_base = Fraction(int(num), int(den))
        elif line.startswith("0,"):
            fields = [f.strip() for f in line.split(",")]
            pts.append(int(fields[2]))
            ends.append(int(fields[2]) + int(fields[3]))
    assert time_base is not None and pts, f"no packets in {path} stream {stream}"
    return Packets(time_base, sorted(pts), max(ends))
