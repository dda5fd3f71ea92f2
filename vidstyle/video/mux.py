"""Assembling the output video: join the encoded segments without re-encoding and mux the audio in.

Segments are MP4 files (video/encode.py says why); the concat demuxer offsets
each by its exact duration, so frame counts and timestamps after the join are
exact. The result is written to a temporary beside the output and published
atomically, like every encoder output.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from vidstyle.errors import EncodeError
from vidstyle.video.encode import (
    BITEXACT,
    VideoContainer,
    container_for,
    encode_segment,
    ffconcat_quote,
    publish_encoded,
    run_encoder,
    segment_suffix,
    temp_path,
    unlink_quietly,
)
from vidstyle.video.ffmpeg import FfmpegError, last_error_line, run_ffmpeg

__all__ = ["assemble"]

# ffmpeg muxer name per output container.
_MUXERS = {
    VideoContainer.MP4: "mp4",
    VideoContainer.MKV: "matroska",
    VideoContainer.MOV: "mov",
    VideoContainer.WEBM: "webm",
}


def _write_segment_listing(listing: Path, segments: Sequence[Path], *, what: str) -> None:
    lines = ["ffconcat version 1.0"] + [f"file {ffconcat_quote(Path(s).resolve())}" for s in segments]
    try:
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise EncodeError(f"{what}: cannot write in {listing.parent}: {exc.strerror or exc}") from exc


def _video_duration(listing: Path, *, what: str) -> Fraction:
    """Exact duration of the concatenated video: max(pts + duration) of its packets."""
    with tempfile.TemporaryFile() as out:
        args = [
            # -xerror: a segment that cannot be read must fail, not end the video early.
            "-v", "error", "-xerror",
            "-f", "concat", "-safe", "0", "-i", str(listing),
            "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-",
        ]  # fmt: skip
        try:
            run = run_ffmpeg(args, stdout=out, stoppable=True)  # part of the assembly: a stop ends it
        except FfmpegError as exc:
            raise EncodeError(f"{what}: {exc}") from exc
        if run.returncode != 0:
            raise EncodeError(f"{what}: cannot read the segments: {last_error_line(run.stderr)}")
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
    while_running: Callable[[Path], None] | None = None,
) -> None:
    """Join ``segments`` (no re-encode) into ``output``, muxing in ``audio_from``'s audio.

    Every audio stream of ``audio_from`` is kept (none is fine), starting at
    ``audio_start`` s of its timeline, for ``audio_duration`` s or until the
    video ends, whichever comes first; the video is never cut. Audio is copied
    when the container accepts the codec and ``audio_start`` is 0 (a copied
    stream can only be cut at packet boundaries), else re-encoded (AAC 192k;
    Opus for WebM), which makes the start sample-accurate. ``while_running``
    is called with ffmpeg's temporary output while it joins (the
    fault-injection seam, vidstyle/faults.py).
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

    temp = temp_path(output)
    listing = temp_path(output, "segments").with_suffix(".ffconcat")
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
        tail = [*maps, "-c:v", "copy", "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn", *BITEXACT]
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
                watch = (lambda: while_running(temp)) if while_running is not None else None
                run_encoder([*inputs, *audio_args, *tail], what=what, while_running=watch)
                break
            except EncodeError:
                unlink_quietly(temp)
                if i == len(attempts) - 1:
                    raise
        publish_encoded(temp, output, what=what)
        success = True
    finally:
        unlink_quietly(listing)
        if not success:
            unlink_quietly(temp)
