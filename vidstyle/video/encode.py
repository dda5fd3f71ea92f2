"""Writing stylized frames back to video with ffmpeg.

The pipeline encodes one *segment* of PNG frames at a time
(:func:`encode_segment`), deletes the PNGs, and at the end joins the segments
without re-encoding and muxes the source's audio in (:func:`assemble`).

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
* **Atomicity**: every output is written to ``.<name>.partial<suffix>`` in the
  same folder, fsynced, then ``os.replace``d into place; on any failure the
  temporary file is removed and :class:`~vidstyle.errors.EncodeError` raised.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from enum import Enum
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from vidstyle.errors import EncodeError, OutputError
from vidstyle.video.probe import ffmpeg_exe

__all__ = [
    "VIDEO_OUTPUT_EXTENSIONS",
    "VideoContainer",
    "assemble",
    "container_for",
    "encode_frames_to_video",
    "encode_segment",
    "ffmpeg_exe",
    "segment_suffix",
]


class VideoContainer(str, Enum):
    MP4 = "mp4"
    MKV = "mkv"
    MOV = "mov"
    WEBM = "webm"


VIDEO_OUTPUT_EXTENSIONS = {".mp4", ".mkv", ".mov", ".webm"}

# ffmpeg muxer name per output container.
_MUXERS = {
    VideoContainer.MP4: "mp4",
    VideoContainer.MKV: "matroska",
    VideoContainer.MOV: "mov",
    VideoContainer.WEBM: "webm",
}
_SEGMENT_MUXER = "mp4"
_SEGMENT_SUFFIX = ".mp4"
# Encoder threads are fixed (not "auto") because x264/libvpx output depends on
# the thread count; encoding speed is irrelevant next to stylization.
_ENCODER_THREADS = 4
# Time base of VFR segments: the MPEG-TS clock, exact for 1/24, 1/25,
# 1001/30000, 1001/60000, 1/50, 1/60 ... s frame durations.
_VFR_TIMEBASE = 90000
_SWS_FLAGS = "bicubic+accurate_rnd+full_chroma_int+bitexact"
_BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
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


def _temp_path(output: Path, tag: str = "partial") -> Path:
    # The process id keeps a resumed run from sharing a temporary with a
    # killed run's encoder; the real suffix stays last for ffmpeg's sake.
    return output.with_name(f".{output.name}.{tag}-{os.getpid()}{output.suffix}")


def _die_with_parent() -> None:
    """Linux: ffmpeg is killed when vidstyle dies, even by SIGKILL, so no orphan keeps writing."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


_PREEXEC = _die_with_parent if sys.platform.startswith("linux") else None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - nothing better to do while failing
        pass


def _publish(temp: Path, output: Path, *, what: str) -> None:
    """Move a finished temporary under its final name, durably; EncodeError if the disk refuses."""
    try:
        _fsync_and_replace(temp, output)
    except OSError as exc:
        raise EncodeError(f"{what}: {exc.strerror or exc}") from exc


def _fsync_and_replace(temp: Path, output: Path) -> None:
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, output)
    try:  # make the rename itself durable (best effort; not possible everywhere)
        fd = os.open(output.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


_NOISE = re.compile(
    r"^(frame=|size=|video:|\[out#\d+/\w+ @ \w+\] video:|Press \[q\]|Conversion failed|Exiting normally"
    r"|Stream mapping|Stream #|Metadata|Duration)"
    r"|Terminating thread with return code|Task finished with error code|Error during demuxing"
)


def _last_error_line(stderr: str) -> str:
    """The last line of ffmpeg's stderr that says something about the failure."""
    lines = [line.strip() for line in re.split(r"[\r\n]+", stderr) if line.strip()]
    meaningful = [line for line in lines if not _NOISE.search(line)] or lines
    if not meaningful:
        return "no output from ffmpeg"
    # "[in#0/concat @ 0x55d0c1] Impossible to open 'x'" -> "[in#0/concat] Impossible to open 'x'"
    return re.sub(r" @ 0x[0-9a-f]+\]", "]", meaningful[-1])


def _frames_encoded(stderr: str) -> int | None:
    found = re.findall(r"frame=\s*(\d+)", stderr)
    return int(found[-1]) if found else None


def _run_ffmpeg(args: list[str], *, feed: Sequence[Path] | None = None, what: str) -> str:
    """Run ffmpeg with ``args``; return its stderr, raise EncodeError on failure.

    ``feed``: files whose bytes are written to ffmpeg's stdin, in order.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-y", *([] if feed is not None else ["-nostdin"]), *args]
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                # Its own session: a Ctrl-C in the terminal reaches only vidstyle,
                # which lets the encode finish and then stops cleanly.
                start_new_session=True,
                preexec_fn=_PREEXEC,
            )
        except OSError as exc:
            raise EncodeError(f"{what}: cannot run ffmpeg ({exc.strerror or exc})") from exc
        feed_error: str | None = None
        try:
            if feed is not None:
                assert proc.stdin is not None
                try:
                    for path in feed:
                        try:
                            data = Path(path).read_bytes()
                        except OSError as exc:
                            feed_error = f"cannot read frame {path}: {exc.strerror or exc}"
                            proc.kill()
                            break
                        proc.stdin.write(data)
                except BrokenPipeError:
                    pass  # ffmpeg died; its stderr says why
                finally:
                    try:
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    if feed_error is not None:
        raise EncodeError(f"{what}: {feed_error}")
    if returncode != 0:
        raise EncodeError(f"{what}: ffmpeg failed: {_last_error_line(stderr)}")
    return stderr


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


def _ffconcat_quote(path: Path) -> str:
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
) -> None:
    """Encode PNG ``frames`` (in order, same size) into the video-only segment ``output``.

    ``container`` is the final output's container; it picks the codec (VP9 for
    WebM, H.264 otherwise). The segment itself is always an MP4 file.
    Constant rate when ``durations`` is None, else each frame is shown for its
    duration in seconds. Atomic: ``output`` appears only once complete.
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

    temp = _temp_path(output)
    listing = _temp_path(output, "frames").with_suffix(".ffconcat")
    what = f"cannot encode video segment {output.name}"
    common_out = [
        "-vf", _video_filter(width, height),
        *_codec_args(container, crf, b_frames=durations is None),
        *_BT709,
        "-map_metadata", "-1", "-map_chapters", "-1", "-an", "-sn", "-dn",
        *_BITEXACT,
    ]  # fmt: skip
    success = False
    try:
        if durations is None:
            args = [
                "-f", "image2pipe", "-framerate", f"{fps.numerator}/{fps.denominator}", "-c:v", "png", "-i", "pipe:0",
                *common_out, "-fps_mode", "passthrough", "-f", _SEGMENT_MUXER, str(temp),
            ]  # fmt: skip
            stderr = _run_ffmpeg(args, feed=frames, what=what)
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
            stderr = _run_ffmpeg(args, what=what)
        encoded = _frames_encoded(stderr)
        if encoded is not None and encoded != len(frames):
            raise EncodeError(f"{what}: ffmpeg encoded {encoded} of {len(frames)} frames (unreadable PNG?)")
        _publish(temp, output, what=what)
        success = True
    finally:
        _unlink(listing)
        if not success:
            _unlink(temp)


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
        lines.append(f"file {_ffconcat_quote(path.resolve())}")
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


# --------------------------------------------------------------------------- assembly


def _write_segment_listing(listing: Path, segments: Sequence[Path], *, what: str) -> None:
    lines = ["ffconcat version 1.0"] + [f"file {_ffconcat_quote(Path(s).resolve())}" for s in segments]
    try:
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise EncodeError(f"{what}: cannot write in {listing.parent}: {exc.strerror or exc}") from exc


def _video_duration(listing: Path, *, what: str) -> Fraction:
    """Exact duration of the concatenated video: max(pts + duration) of its packets."""
    with tempfile.TemporaryFile() as out:
        cmd = [
            # -xerror: a segment that cannot be read must fail, not end the video early.
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-xerror",
            "-f", "concat", "-safe", "0", "-i", str(listing),
            "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-",
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_PREEXEC,
        )
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", errors="replace")
            raise EncodeError(f"{what}: cannot read the segments: {_last_error_line(stderr)}")
        out.seek(0)
        time_base = None
        start = end = None
        for raw in out:
            line = raw.decode("ascii", errors="replace")
            if line.startswith("#tb 0:"):
                num, den = line.split(":", 1)[1].strip().split("/")
                time_base = Fraction(int(num), int(den))
            elif line.startswith("0,"):
                fields = [f.strip() for f in line.split(",")]
                pts, duration = int(fields[2]), int(fields[3])
                start = pts if start is None else min(start, pts)
                end = pts + duration if end is None else max(end, pts + duration)
    if time_base is None or start is None or end is None:
        raise EncodeError(f"{what}: the segments contain no video")
    return (end - start) * time_base


def assemble(
    segments: Sequence[Path],
    output: Path,
    *,
    audio_from: Path | None = None,
    audio_start: float = 0.0,
    audio_duration: float | None = None,
    container: VideoContainer = VideoContainer.MP4,
) -> None:
    """Join ``segments`` (no re-encode) into ``output``, muxing in ``audio_from``'s audio.

    Every audio stream of ``audio_from`` is kept (none is fine), starting at
    ``audio_start`` s of its timeline, for ``audio_duration`` s or until the
    video ends, whichever comes first; the video is never cut. Audio is copied
    when the container accepts the codec and ``audio_start`` is 0 (a copied
    stream can only be cut at packet boundaries), else re-encoded (AAC 192k;
    Opus for WebM), which makes the start sample-accurate.
    """
    segments = [Path(s) for s in segments]
    output = Path(output)
    container = VideoContainer(container)
    if not segments:
        raise ValueError("no segments to assemble")
    what = f"cannot write {output.name}"
    for segment in segments:
        if not segment.is_file():
            raise EncodeError(f"{what}: segment {segment} is missing")
    if audio_from is not None and not Path(audio_from).is_file():
        raise EncodeError(f"{what}: audio source {audio_from} is missing")
    if audio_start < 0 or not math.isfinite(audio_start):
        raise ValueError(f"audio_start must be >= 0, got {audio_start}")
    if audio_duration is not None and not (audio_duration > 0 and math.isfinite(audio_duration)):
        raise ValueError(f"audio_duration must be positive, got {audio_duration}")

    temp = _temp_path(output)
    listing = _temp_path(output, "segments").with_suffix(".ffconcat")
    success = False
    try:
        _write_segment_listing(listing, segments, what=what)
        # Reads every segment once (stream copy, cheap): validates them and
        # gives the exact video duration that bounds the audio.
        video_seconds = _video_duration(listing, what=what)
        inputs = ["-f", "concat", "-safe", "0", "-i", str(listing)]
        maps = ["-map", "0:v:0"]
        if audio_from is not None:
            length = float(video_seconds)
            if audio_duration is not None:
                length = min(length, audio_duration)
            audio_in = []
            if audio_start > 0:
                audio_in += ["-ss", f"{audio_start:.6f}"]
            audio_in += ["-t", f"{length:.6f}", "-i", str(audio_from)]
            inputs += audio_in
            maps += ["-map", "1:a?"]
        tail = [*maps, "-c:v", "copy", "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn", *_BITEXACT]
        if container in (VideoContainer.MP4, VideoContainer.MOV):
            tail += ["-movflags", "+faststart"]
        tail += ["-f", _MUXERS[container], str(temp)]

        attempts: list[list[str]] = []
        if audio_from is None:
            attempts.append([])
        else:
            if audio_start == 0:
                attempts.append(["-c:a", "copy"])
            if container is VideoContainer.WEBM:
                attempts.append(["-c:a", "libopus", "-b:a", "160k"])
            else:
                attempts.append(["-c:a", "aac", "-b:a", "192k"])
        for i, audio_args in enumerate(attempts):
            try:
                _run_ffmpeg([*inputs, *audio_args, *tail], what=what)
                break
            except EncodeError:
                _unlink(temp)
                if i == len(attempts) - 1:
                    raise
        _publish(temp, output, what=what)
        success = True
    finally:
        _unlink(listing)
        if not success:
            _unlink(temp)


def encode_frames_to_video(
    frames: Sequence[Path],
    output: Path,
    *,
    fps: Fraction,
    durations: Sequence[float] | None = None,
    crf: int = 18,
    audio_from: Path | None = None,
    audio_start: float = 0.0,
    audio_duration: float | None = None,
) -> None:
    """One segment + :func:`assemble`, for short runs; the container follows ``output``'s suffix."""
    output = Path(output)
    container = container_for(output)
    segment = _temp_path(output, "segment").with_suffix(segment_suffix(container))
    try:
        encode_segment(frames, segment, fps=fps, durations=durations, crf=crf, container=container)
        assemble(
            [segment],
            output,
            audio_from=audio_from,
            audio_start=audio_start,
            audio_duration=audio_duration,
            container=container,
        )
    finally:
        _unlink(segment)
