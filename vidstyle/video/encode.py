"""Encoding stylized frames into video segments with ffmpeg: codec choices and segment files.

The video sink (video/sinks.py) encodes one *segment* of PNG frames at a time
(:func:`encode_segment`) and deletes the PNGs; video/mux.py joins the segments
without re-encoding and muxes the source's audio in.

Design decisions:

* **Segment format: MP4** (forced with ``-f mp4`` whatever the segment's file
  name says; :func:`segment_suffix` gives the conventional ``.mp4``). MP4 stores
  exact rational timestamps (timescale 30000 for 30000/1001, 90000 for VFR) and
  per-sample durations, so the concat demuxer offsets each segment by its exact
  duration: frame counts and timestamps after the concat are exact (tested).
  It also carries both H.264 and VP9, so every output container uses the same
  segment format. MPEG-TS was rejected: it cannot carry VP9 and stores no frame
  durations, so the duration of the last frame of a segment would be guessed.
* **Odd sizes** are padded by one pixel on the right and/or bottom, replicating
  the edge pixels (``pad`` + ``fillborders=mode=smear``); never rescaled.
* **Colour**: RGB -> YUV uses the BT.709 matrix, limited range, and the stream
  is tagged BT.709 accordingly (players then decode the colours we encoded).
* **Constant frame rate**: the PNG bytes are piped to ffmpeg (``image2pipe``
  with ``-framerate num/den``), so any file names work and the rate is exact.
* **Decode timestamps** of every constant-rate H.264 segment start two frames
  early (x264's B-frame delay), short ones included (see ``_H264_DTS_DELAY``),
  so segments of any length join in any order with increasing timestamps.
* **Variable frame rate** (``durations``): an ffconcat list of the PNGs with a
  ``duration`` per file (image timestamps at 1/90000 s via ``option
  framerate 90000``), ``-fps_mode passthrough``, encoder time base 1/90000.
  B-frames are disabled for VFR segments so that the last packet is the last
  frame, and its duration is set with the ``setts`` bitstream filter; the
  segment's duration is then exactly the sum of ``durations`` (to 1/90000 s)
  and consecutive VFR segments don't drift.
* **Determinism**: fixed encoder thread counts (x264/libvpx output depends on
  the number of threads, which otherwise follows the CPU count), bit-exact
  swscale flags, ``-fflags +bitexact``, ``-flags +bitexact``, no metadata.
  The same PNGs give the same bytes on any machine with the same ffmpeg.
* **Atomicity**: every output is written to ``.<name>.partial-<pid><suffix>`` in
  the same folder, then published with vidstyle/files.py (fsync, rename, fsync
  the folder); on any failure the temporary file is removed and
  :class:`~vidstyle.errors.EncodeError` raised. mux.py does the same.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Sequence
from enum import Enum
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from vidstyle.errors import EncodeError, OutputError
from vidstyle.files import publish
from vidstyle.video.ffmpeg import FfmpegError, frames_reported, last_error_lines, run_ffmpeg

__all__ = [
    "VIDEO_OUTPUT_EXTENSIONS",
    "VideoContainer",
    "container_for",
    "encode_segment",
    "segment_suffix",
]


class VideoContainer(str, Enum):
    MP4 = "mp4"
    MKV = "mkv"
    MOV = "mov"
    WEBM = "webm"


VIDEO_OUTPUT_EXTENSIONS = {".mp4", ".mkv", ".mov", ".webm"}

_SEGMENT_MUXER = "mp4"
_SEGMENT_SUFFIX = ".mp4"
# Encoder threads are fixed (not "auto") because x264/libvpx output depends on
# the thread count; encoding speed is irrelevant next to stylization.
_ENCODER_THREADS = 4
# x264 (preset medium: 3 B-frames, pyramid) starts a segment's decode
# timestamps this many frames before its first presentation time, so that
# reordered frames decode in time: but only once it has seen that many frames
# plus one. A segment of 1 or 2 frames would start at 0, and the next segment's
# first timestamps would then go back in time where the segments are joined
# (a chain of 1-2 frames, a shot between two close cuts, sits in the middle of a
# run). Such short segments get the same shift (tests/video/test_encode.py).
_H264_DTS_DELAY = 2
# Time base of VFR segments: the MPEG-TS clock, exact for 1/24, 1/25,
# 1001/30000, 1001/60000, 1/50, 1/60 ... s frame durations.
_VFR_TIMEBASE = 90000
_SWS_FLAGS = "bicubic+accurate_rnd+full_chroma_int+bitexact"
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
_BT709 = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@lru_cache(maxsize=1)
def container_for(path: Path) -> VideoContainer:
    """The output container implied by ``path``'s suffix (case-insensitive)."""
    suffix = Path(path).suffix.lower()
    if suffix not in VIDEO_OUTPUT_EXTENSIONS:
        allowed = ", ".join(sorted(VIDEO_OUTPUT_EXTENSIONS))
        raise OutputError(f"cannot write video {path}: unsupported extension {suffix or '(none)'!r}; use one of {allowed}")
    return VideoContainer(suffix[1:])


def segment_suffix(container: VideoContainer = VideoContainer.MP4) -> str:
    """File suffix to give segment files (they are MP4 files for every container)."""
    return _SEGMENT_SUFFIX


# --------------------------------------------------------------------------- helpers


def temp_path(output: Path, tag: str = "partial") -> Path:
    """Where ffmpeg writes before the file is published under ``output``.

    The process id keeps a resumed run from sharing a temporary with a killed
    run's encoder; the real suffix stays last for ffmpeg's sake. Every name
    starts with ``.<output name>.``, which is how leftovers are swept.
    """
    return output.with_name(f".{output.name}.{tag}-{os.getpid()}{output.suffix}")


def unlink_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # pragma: no cover - nothing better to do while failing
        pass


def publish_encoded(temp: Path, output: Path, *, what: str) -> None:
    """Move a finished temporary under its final name, durably; EncodeError if the disk refuses."""
    try:
        publish(temp, output)
    except OSError as exc:
        raise EncodeError(f"{what}: {exc.strerror or exc}") from exc


def run_encoder(
    args: list[str],
    *,
    what: str,
    feed: Sequence[Path] | None = None,
    while_running: Callable[[], None] | None = None,
) -> str:
    """Run ffmpeg (overwriting its output); return its stderr, raise EncodeError on failure.

    Stoppable (video/ffmpeg.py): a stop requested meanwhile kills ffmpeg at
    once and raises EncodeError, which the run reads as its stop (the segment
    or the assembly is redone on resume).
    """
    try:
        run = run_ffmpeg(["-y", *args], feed=feed, while_running=while_running, stoppable=True)
    except FfmpegError as exc:
        raise EncodeError(f"{what}: {exc}") from exc
    if run.returncode != 0:
        # The last few lines: ffmpeg's final line is often a generic "Conversion failed" after the cause.
        status = f"exit {run.returncode}" if run.returncode > 0 else f"killed by signal {-run.returncode}"
        raise EncodeError(f"{what}: ffmpeg failed ({status}): {last_error_lines(run.stderr)}")
    return run.stderr


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG header; EncodeError if missing or not a PNG."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError as exc:
        raise EncodeError(f"cannot read frame {path}: {exc.strerror or exc}") from exc
    if len(head) < 24 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise EncodeError(f"frame {path} is not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _check_frames(frames: Sequence[Path]) -> tuple[int, int]:
    if not frames:
        raise ValueError("no frames to encode")
    size = _png_size(frames[0])
    for path in frames[1:]:
        other = _png_size(path)
        if other != size:
            raise EncodeError(
                f"frame {path} is {other[0]}x{other[1]} but the segment's frames are {size[0]}x{size[1]}"
            )
    return size


def _video_filter(width: int, height: int) -> str:
    filters = []
    pad_w, pad_h = width % 2, height % 2
    if pad_w or pad_h:
        # yuv420p needs even sizes: add one column/row that copies the edge
        # (pad, then smear the border from the last real pixels); never rescale.
        sides = []
        if pad_w:
            sides.append(f"right={pad_w}")
        if pad_h:
            sides.append(f"bottom={pad_h}")
        filters.append(f"pad={width + pad_w}:{height + pad_h}:0:0")
        filters.append(f"fillborders={':'.join(sides)}:mode=smear")
    filters.append(f"scale=flags={_SWS_FLAGS}:out_color_matrix=bt709:out_range=tv")
    filters.append("format=yuv420p")
    # Tag the frames too: with ffmpeg >= 7 the frame properties win over -color_* options.
    filters.append("setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709")
    return ",".join(filters)


def _codec_args(container: VideoContainer, crf: int, *, b_frames: bool) -> list[str]:
    if container is VideoContainer.WEBM:
        return [
            "-c:v", "libvpx-vp9", "-crf", str(crf), "-b:v", "0",
            "-deadline", "good", "-cpu-used", "4", "-row-mt", "1",
            "-threads", str(_ENCODER_THREADS), "-g", "250",
        ]  # fmt: skip
    args = [
        "-c:v", "libx264", "-preset", "medium", "-crf", str(crf),
        "-threads", str(_ENCODER_THREADS),
    ]  # fmt: skip
    if not b_frames:
        args += ["-bf", "0"]
    return args


def ffconcat_quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def _fraction(value: Fraction | int | float | str) -> Fraction:
    fps = Fraction(value)
    if fps <= 0:
        raise ValueError(f"frame rate must be positive, got {value}")
    return fps


# --------------------------------------------------------------------------- segments


def encode_segment(
    frames: Sequence[Path],
    output: Path,
    *,
    fps: Fraction,
    durations: Sequence[float] | None = None,
    crf: int = 18,
    container: VideoContainer = VideoContainer.MP4,
    while_running: Callable[[Path], None] | None = None,
) -> None:
    """Encode PNG ``frames`` (in order, same size) into the video-only segment ``output``.

    ``container`` is the final output's container; it picks the codec (VP9 for
    WebM, H.264 otherwise). The segment itself is always an MP4 file.
    Constant rate when ``durations`` is None, else each frame is shown for its
    duration in seconds. Atomic: ``output`` appears only once complete.
    ``while_running`` is called with ffmpeg's temporary output while it runs
    (the fault-injection seam, vidstyle/faults.py).
    """
    frames = [Path(f) for f in frames]
    output = Path(output)
    container = VideoContainer(container)
    fps = _fraction(fps)
    max_crf = 63 if container is VideoContainer.WEBM else 51
    if not 0 <= int(crf) <= max_crf:
        raise ValueError(f"crf must be between 0 and {max_crf} for {container.value}, got {crf}")
    if durations is not None:
        durations = [float(d) for d in durations]
        if len(durations) != len(frames):
            raise ValueError(f"{len(durations)} durations for {len(frames)} frames")
        if not all(math.isfinite(d) and d > 0 for d in durations):
            raise ValueError("frame durations must be positive and finite")
    width, height = _check_frames(frames)

    temp = temp_path(output)
    listing = temp_path(output, "frames").with_suffix(".ffconcat")
    watch = (lambda: while_running(temp)) if while_running is not None else None
    what = f"cannot encode video segment {output.name}"
    common_out = [
        "-vf", _video_filter(width, height),
        *_codec_args(container, crf, b_frames=durations is None),
        *_BT709,
        "-map_metadata", "-1", "-map_chapters", "-1", "-an", "-sn", "-dn",
        *BITEXACT,
    ]  # fmt: skip
    success = False
    try:
        if durations is None:
            delay = []
            if container is not VideoContainer.WEBM and len(frames) <= _H264_DTS_DELAY:
                delay = ["-bsf:v", f"setts=dts=DTS-{_H264_DTS_DELAY}*DURATION"]
            args = [
                "-f", "image2pipe", "-framerate", f"{fps.numerator}/{fps.denominator}", "-c:v", "png", "-i", "pipe:0",
                *common_out, "-fps_mode", "passthrough", *delay, "-f", _SEGMENT_MUXER, str(temp),
            ]  # fmt: skip
            stderr = run_encoder(args, feed=frames, what=what, while_running=watch)
        else:
            last_pts, end = _write_vfr_listing(listing, frames, durations, what=what)
            # The last frame lasts until `end`. Robust to a tick of rounding in
            # its pts: only the last packet's duration matters to the mp4 muxer
            # (the others come from the dts differences; no B-frames here).
            setts = f"setts=duration=if(gte(PTS\\,{last_pts - 2})\\,max(1\\,{end}-PTS)\\,DURATION)"
            args = [
                "-f", "concat", "-safe", "0", "-i", str(listing),
                *common_out, "-fps_mode", "passthrough", "-enc_time_base:v", f"1/{_VFR_TIMEBASE}",
                "-bsf:v", setts, "-f", _SEGMENT_MUXER, str(temp),
            ]  # fmt: skip
            stderr = run_encoder(args, what=what, while_running=watch)
        encoded = frames_reported(stderr)
        if encoded is not None and encoded != len(frames):
            raise EncodeError(f"{what}: ffmpeg encoded {encoded} of {len(frames)} frames (unreadable PNG?)")
        publish_encoded(temp, output, what=what)
        success = True
    finally:
        unlink_quietly(listing)
        if not success:
            unlink_quietly(temp)


def _write_vfr_listing(
    listing: Path, frames: Sequence[Path], durations: Sequence[float], *, what: str
) -> tuple[int, int]:
    """Write the ffconcat list; return (pts of the last frame, end of the segment) in 1/90000 s.

    Start times are rounded from the exact running sum (no drift); the concat
    demuxer parses durations in microseconds, so each timestamp lands within
    one 1/90000 s tick of the exact value.
    """
    starts = [0.0]
    for d in durations:
        starts.append(starts[-1] + d)
    micros = [round(t * 1_000_000) for t in starts]
    lines = ["ffconcat version 1.0"]
    for i, path in enumerate(frames):
        step = micros[i + 1] - micros[i]
        if step <= 0:
            raise ValueError(f"frame duration {durations[i]} s is shorter than a microsecond")
        lines.append(f"file {ffconcat_quote(path.resolve())}")
        lines.append(f"option framerate {_VFR_TIMEBASE}")
        lines.append(f"duration {step // 1_000_000}.{step % 1_000_000:06d}")
    try:
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise EncodeError(f"{what}: cannot write in {listing.parent}: {exc.strerror or exc}") from exc
    # Same rounding as av_rescale_q (to nearest) from microseconds to ticks.
    last_pts = (micros[-2] * _VFR_TIMEBASE + 500_000) // 1_000_000
    end = round(starts[-1] * _VFR_TIMEBASE)
    return last_pts, max(end, last_pts + 1)


