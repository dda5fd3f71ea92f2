"""Media facts from ffmpeg's own description of a file.

imageio-ffmpeg ships an ``ffmpeg`` binary but no ``ffprobe``, so we run
``ffmpeg -hide_banner -i PATH`` (through video/ffmpeg.py) and parse the stream listing it prints on
stderr (it then exits non-zero with "At least one output file must be
specified"; that is expected). Everything is parsed with regexes; nothing that
ffmpeg prints is ever evaluated.

Frame rates are exact rationals (:class:`fractions.Fraction`). ffmpeg prints
them rounded ("23.98 fps"), so :func:`snap_fps` maps the printed value back to
the rational it stands for, preferring ``n/1`` and ``n*1000/1001``.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vidstyle.errors import InputError
from vidstyle.video.ffmpeg import FfmpegError, frames_reported, last_error_line, run_ffmpeg

__all__ = [
    "AudioStreamFacts",
    "MediaFacts",
    "check_not_truncated",
    "count_video_frames",
    "probe_media",
    "snap_fps",
]

_PROBE_TIMEOUT_S = 60
_COUNT_TIMEOUT_S = 600


@dataclass(frozen=True)
class AudioStreamFacts:
    index: int  # stream index in the container (the N of "Stream #0:N")
    codec: str  # ffmpeg codec name, e.g. "aac"


@dataclass(frozen=True)
class MediaFacts:
    path: Path
    duration: float | None  # container duration in seconds (None when ffmpeg prints N/A)
    start_time: float  # container start time in seconds
    video_codec: str | None  # first real video stream (cover art skipped); None when there is none
    video_index: int | None  # its stream index in the container
    width: int | None  # coded size, before rotation
    height: int | None
    rotation: int  # 0/90/180/270: clockwise turn a player applies to show the frames upright
    fps: Fraction | None  # exact rational, see snap_fps
    video_start: float  # start time of the video stream (per-stream "start", else the container's)
    audio_streams: tuple[AudioStreamFacts, ...]

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def display_size(self) -> tuple[int, int] | None:
        """(width, height) as a player shows the frames (rotation applied)."""
        if self.width is None or self.height is None:
            return None
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height


# --------------------------------------------------------------------------- fps


def _nice_candidate(value: float, tolerance: float) -> Fraction | None:
    """n/1 or n*1000/1001 within ``tolerance`` (absolute) of ``value``, else None."""
    if not math.isfinite(value) or value <= 0:
        return None
    n = round(value)
    if n >= 1 and abs(value - n) <= tolerance:
        return Fraction(n, 1)
    n = round(value * 1001 / 1000)
    if n >= 1:
        candidate = Fraction(n * 1000, 1001)
        if abs(value - float(candidate)) <= tolerance:
            return candidate
    return None


def snap_fps(value: float, *, abs_tolerance: float = 0.0) -> Fraction:
    """The exact frame rate a (rounded) float stands for.

    Prefers denominator 1, then 1001 (NTSC rates), when within ``1e-4``
    relative or ``abs_tolerance`` (half a unit of the printed precision, e.g.
    0.005 for "23.98"); otherwise ``Fraction(value).limit_denominator(1000)``.
    """
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"invalid frame rate {value!r}")
    nice = _nice_candidate(value, max(abs_tolerance, value * 1e-4))
    if nice is not None:
        return nice
    return Fraction(value).limit_denominator(1000)


def _printed_rate(text: str) -> tuple[float, float] | None:
    """ffmpeg's rate text ("23.98", "25", "24k", "1.2k") -> (value, half-precision)."""
    m = re.fullmatch(r"(\d+(?:\.(\d+))?)(k?)", text)
    if not m:
        return None
    value = float(m.group(1))
    decimals = len(m.group(2) or "")
    half = 0.5 * 10.0 ** (-decimals)
    if m.group(3):
        value *= 1000.0
        half *= 1000.0
    if value <= 0:
        return None
    return value, half


def _fps_from_stream(line: str) -> Fraction | None:
    rates: list[tuple[float, float]] = []
    for key in ("fps", "tbr"):
        m = re.search(rf"(?:^|[ ,])([\d.]+k?) {key}(?=[ ,(]|$)", line)
        if m:
            parsed = _printed_rate(m.group(1))
            if parsed is not None:
                rates.append(parsed)
    # A rate that snaps to n/1 or n/1.001 wins (fps first, then tbr); else the raw fps.
    for value, half in rates:
        nice = _nice_candidate(value, max(half, value * 1e-4))
        if nice is not None:
            return nice
    if rates:
        return snap_fps(rates[0][0])
    return None


# ------------------------------------------------------------------------- probe

_TIME_RE = re.compile(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM_RE = re.compile(r"^\s*Stream #0:(\d+)[^:]*:\s*(Video|Audio|Subtitle|Data|Attachment):\s*(\S+)(.*)$")


def _hms(text: str) -> float | None:
    m = _TIME_RE.fullmatch(text.strip())
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _normalise_rotation(display_matrix_degrees: float) -> int:
    """ffmpeg's display-matrix angle is counter-clockwise; players turn the other way."""
    clockwise = (-display_matrix_degrees) % 360.0
    return int(round(clockwise / 90.0)) % 4 * 90


def parse_ffmpeg_info(text: str, path: Path) -> MediaFacts | None:
    """Parse the stderr of ``ffmpeg -i PATH``; None when it lists no input."""
    if not re.search(r"^Input #0,", text, flags=re.MULTILINE):
        return None
    duration: float | None = None
    start_time = 0.0
    video: dict[str, object] | None = None
    audio: list[AudioStreamFacts] = []
    current_is_chosen_video = False

    for line in text.splitlines():
        m = re.match(r"^\s*Duration:\s*([^,]+),\s*start:\s*(-?[\d.]+)", line)
        if m:
            duration = _hms(m.group(1))
            start_time = float(m.group(2))
            continue
        m = re.match(r"^\s*Duration:\s*([^,]+)", line)
        if m:
            duration = _hms(m.group(1))
            continue
        m = _STREAM_RE.match(line)
        if m:
            index, kind, codec, rest = int(m.group(1)), m.group(2), m.group(3).rstrip(","), m.group(4)
            current_is_chosen_video = False
            if kind == "Audio":
                audio.append(AudioStreamFacts(index=index, codec=codec))
            elif kind == "Video" and video is None and "(attached pic)" not in rest:
                size = re.search(r"(?:^|[ ,])(\d{1,5})x(\d{1,5})(?=[ ,\]]|$)", rest)
                stream_start = re.search(r", start (-?\d+(?:\.\d+)?)", rest)
                video = {
                    "index": index,
                    "codec": codec,
                    "width": int(size.group(1)) if size else None,
                    "height": int(size.group(2)) if size else None,
                    "fps": _fps_from_stream(rest),
                    "start": float(stream_start.group(1)) if stream_start else None,
                    "rotation": 0,
                }
                current_is_chosen_video = True
            continue
        if re.match(r"^\s*(Input|Output) #", line) or re.match(r"^\s*Stream #[1-9]", line):
            current_is_chosen_video = False
            continue
        m = re.search(r"Display Matrix: rotation of (-?\d+(?:\.\d+)?) degrees", line)
        if m and current_is_chosen_video and video is not None:
            video["rotation"] = _normalise_rotation(float(m.group(1)))

    if video is None:
        return MediaFacts(
            path=path,
            duration=duration,
            start_time=start_time,
            video_codec=None,
            video_index=None,
            width=None,
            height=None,
            rotation=0,
            fps=None,
            video_start=start_time,
            audio_streams=tuple(audio),
        )
    return MediaFacts(
        path=path,
        duration=duration,
        start_time=start_time,
        video_codec=str(video["codec"]),
        video_index=int(video["index"]),  # type: ignore[call-overload]
        width=video["width"],  # type: ignore[arg-type]
        height=video["height"],  # type: ignore[arg-type]
        rotation=int(video["rotation"]),  # type: ignore[call-overload]
        fps=video["fps"],  # type: ignore[arg-type]
        video_start=float(video["start"]) if video["start"] is not None else start_time,  # type: ignore[arg-type]
        audio_streams=tuple(audio),
    )


def probe_media(path: Path | str) -> MediaFacts:
    """Container and stream facts of a media file (video, audio, or image)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a media file; give a video file instead")
    try:
        result = run_ffmpeg(["-i", str(path)], timeout=_PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InputError(f"ffmpeg took too long to read {path}; check that it is a local, readable media file") from None
    except FfmpegError as exc:
        raise InputError(f"could not run ffmpeg to read {path}: {exc}") from None
    facts = parse_ffmpeg_info(result.stderr, path)
    if facts is None:
        reason = last_error_line(result.stderr)
        raise InputError(f"{path} is not a readable video or image ({reason}); give a video file, an image, or a frame folder")
    return facts


def check_not_truncated(path: Path, facts: MediaFacts) -> None:
    """InputError when the container's packets stop before its index says they should.

    A cut-off MP4 whose index (moov) comes first probes fine and decodes a few
    frames, then OpenCV just stops: without this the run would silently
    stylize a fraction of the clip. A stream copy reads packets without
    decoding (cheap), and the demuxer reports "partial file" for exactly this.
    """
    if facts.video_index is None:
        return
    try:
        result = run_ffmpeg(
            ["-v", "error", "-i", str(path), "-map", f"0:{facts.video_index}", "-c", "copy", "-f", "null", "-"],
            timeout=_COUNT_TIMEOUT_S,
        )
    except (subprocess.TimeoutExpired, FfmpegError):
        return  # not a verdict on the file; decoding will tell
    if "partial file" in result.stderr:
        raise InputError(f"{path} is truncated (its data ends before its index says it should); re-download or re-encode it")


def count_video_frames(path: Path | str) -> int:
    """Exact number of frames of the first video stream, without decoding (stream copy)."""
    path = Path(path)
    facts = probe_media(path)
    if facts.video_index is None:
        raise InputError(f"{path} has no video stream")
    result = run_ffmpeg(
        ["-i", str(path), "-map", f"0:{facts.video_index}", "-c", "copy", "-f", "null", "-"],
        timeout=_COUNT_TIMEOUT_S,
    )
    count = frames_reported(result.stderr)
    if result.returncode != 0 or count is None:
        raise InputError(f"could not count the frames of {path} ({last_error_line(result.stderr)})")
    return count
