"""Tests for vidstyle.video.encode and vidstyle.video.mux: segments, assembly, audio muxing, atomicity."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.mediatools import packets
from vidstyle.errors import EncodeError, OutputError
from vidstyle.video.encode import (
    VIDEO_OUTPUT_EXTENSIONS,
    VideoContainer,
    container_for,
    encode_segment,
    segment_suffix,
    temp_path,
    unlink_quietly,
)
from vidstyle.video.ffmpeg import ffmpeg_exe
from vidstyle.video.mux import assemble

NTSC = Fraction(30000, 1001)


# --------------------------------------------------------------------------- local helpers


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
    """The product's path for a short run: one segment (encode_segment), then assemble; the container follows the suffix."""
    output = Path(output)
    container = container_for(output)
    segment = temp_path(output, "segment").with_suffix(segment_suffix(container))
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
        unlink_quietly(segment)



def _ffmpeg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True)


def make_frames(folder: Path, count: int, width: int = 64, height: int = 48, *, start: int = 0) -> list[Path]:
    """Smooth gradients whose offset changes per frame (distinct, compressible)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(start, start + count):
        image = np.stack(
            [
                40 + 150 * x / width + 2 * i,
                30 + 160 * y / height + i,
                200 - 100 * (x + y) / (width + height) - i,
            ],
            axis=-1,
        )
        path = folder / f"frame_{i:05d}.png"
        assert cv2.imwrite(str(path), np.clip(image, 0, 255).round().astype(np.uint8))
        paths.append(path)
    return paths


def stream_lines(path: Path) -> list[str]:
    """The 'Stream #0:N...' lines that `ffmpeg -i` prints for an input file."""
    proc = _ffmpeg("-i", str(path))
    return [line.strip() for line in proc.stderr.decode().splitlines() if re.match(r"\s*Stream #0:\d+", line)]


def audio_codecs(path: Path) -> list[str]:
    return [re.search(r"Audio: (\w+)", line).group(1) for line in stream_lines(path) if "Audio:" in line]


def video_size(path: Path) -> tuple[int, int]:
    line = next(line for line in stream_lines(path) if "Video:" in line)
    width, height = re.search(r", (\d{2,5})x(\d{2,5})", line).groups()
    return int(width), int(height)


def decode(path: Path) -> list[np.ndarray]:
    """Decode every frame as BGR uint8 with ffmpeg (honours the BT.709 tags)."""
    width, height = video_size(path)
    proc = _ffmpeg("-i", str(path), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "bgr24", "-")
    assert proc.returncode == 0
    data = np.frombuffer(proc.stdout, np.uint8)
    return list(data.reshape(-1, height, width, 3))


def make_source(path: Path, *, audio_tracks: int = 1, seconds: float = 2.0, audio_seconds: float | None = None) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size=64x48:rate=24:duration={seconds}"]
    for k in range(audio_tracks):
        audio_len = seconds if audio_seconds is None else audio_seconds
        args += ["-f", "lavfi", "-i", f"sine=frequency={440 * (k + 1)}:sample_rate=44100:duration={audio_len}"]
    args += ["-map", "0:v"]
    for k in range(audio_tracks):
        args += ["-map", f"{k + 1}:a"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-y", str(path)]
    proc = _ffmpeg(*args)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    return path


def leftovers(folder: Path) -> list[str]:
    """Hidden temp files (partial outputs, ffconcat lists) left in a folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def encode_in_segments(frames: list[Path], folder: Path, sizes: list[int], **kwargs) -> list[Path]:
    segments, start = [], 0
    container = kwargs.get("container", VideoContainer.MP4)
    durations = kwargs.pop("durations", None)
    for index, size in enumerate(sizes):
        segment = folder / f"segment_{index:04d}{segment_suffix(container)}"
        part = None if durations is None else durations[start : start + size]
        encode_segment(frames[start : start + size], segment, durations=part, **kwargs)
        segments.append(segment)
        start += size
    assert start == len(frames)
    return segments


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    return {
        "one": make_source(folder / "one.mp4", audio_tracks=1),
        "two": make_source(folder / "two.mp4", audio_tracks=2),
        "none": make_source(folder / "none.mp4", audio_tracks=0),
        "short": make_source(folder / "short.mp4", audio_tracks=1, audio_seconds=0.3),
    }


@pytest.fixture(scope="module")
def frames25(tmp_path_factory) -> list[Path]:
    return make_frames(tmp_path_factory.mktemp("frames"), 25)


# --------------------------------------------------------------------------- container_for


def test_container_for_suffixes():
    assert container_for(Path("a.mp4")) is VideoContainer.MP4
    assert container_for(Path("a.MKV")) is VideoContainer.MKV
    assert container_for(Path("dir/a.b.mov")) is VideoContainer.MOV
    assert container_for(Path("a.webm")) is VideoContainer.WEBM
    assert {f".{c.value}" for c in VideoContainer} == VIDEO_OUTPUT_EXTENSIONS
    for bad in ("a.avi", "a", "a.png"):
        with pytest.raises(OutputError):
            container_for(Path(bad))


# --------------------------------------------------------------------------- constant rate


def test_segments_concat_exact_frames_and_ntsc_timestamps(tmp_path, frames25):
    segments = encode_in_segments(frames25, tmp_path, [10, 10, 5], fps=NTSC)
    out = tmp_path / "out.mp4"
    assemble(segments, out)

    facts = packets(out)
    assert facts.frames == 25
    # Exact rational rate: every timestamp is k * 1001/30000 s, no rounding.
    assert [p * facts.time_base for p in facts.pts] == [k * Fraction(1001, 30000) for k in range(25)]
    assert facts.duration == 25 * Fraction(1001, 30000)
    assert re.search(r"29\.97 fps", next(line for line in stream_lines(out) if "Video:" in line))
    assert "bt709" in stream_lines(out)[0]
    assert audio_codecs(out) == []
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("container", [VideoContainer.MP4, VideoContainer.WEBM])
def test_short_segments_anywhere_join_in_order(tmp_path, frames25, container):
    """Segments end where chains end, so 1- and 2-frame segments sit between long ones."""
    sizes = [3, 2, 4, 1, 1, 5, 2, 7]
    segments = encode_in_segments(frames25, tmp_path, sizes, fps=Fraction(24), container=container)
    out = tmp_path / f"out.{container.value}"
    assemble(segments, out, container=container)
    facts = packets(out)
    assert facts.frames == 25
    shown = [p * facts.time_base for p in facts.pts]
    slack = Fraction(1, 1000) if container is VideoContainer.WEBM else 0  # WebM stores milliseconds
    assert all(abs(t - Fraction(k, 24)) <= slack for k, t in enumerate(shown)), shown
    decoded = decode(out)
    for path, frame in zip(frames25, decoded):
        assert np.abs(frame.astype(np.int16) - cv2.imread(str(path))).mean() < 3, path.name


def test_integer_rate_and_pixels_close(tmp_path, frames25):
    out = tmp_path / "out.mp4"
    encode_frames_to_video(frames25, out, fps=Fraction(24), crf=18)
    facts = packets(out)
    assert facts.frames == 25
    assert facts.duration == Fraction(25, 24)
    decoded = decode(out)
    assert len(decoded) == 25
    for path, frame in zip(frames25, decoded):
        original = cv2.imread(str(path))
        assert np.abs(frame.astype(np.int16) - original).mean() < 3
    assert leftovers(tmp_path) == []


def test_odd_size_padded_by_edge_copy(tmp_path):
    frames = make_frames(tmp_path / "png", 6, width=65, height=49)
    out = tmp_path / "odd.mp4"
    encode_frames_to_video(frames, out, fps=Fraction(25))
    assert video_size(out) == (66, 50)
    decoded = decode(out)
    assert len(decoded) == 6
    for path, frame in zip(frames, decoded):
        original = cv2.imread(str(path)).astype(np.int16)
        frame = frame.astype(np.int16)
        assert np.abs(frame[:49, :65] - original).mean() < 3
        # The added column/row repeat the edge (not black padding).
        assert np.abs(frame[:49, 65] - original[:, 64]).mean() < 4
        assert np.abs(frame[49, :65] - original[48, :]).mean() < 4


# --------------------------------------------------------------------------- variable rate


def test_vfr_durations_follow_timestamps(tmp_path, frames25):
    durations = [0.02 + 0.01 * (i % 4) + (0.05 if i == 12 else 0.0) for i in range(25)]
    segments = encode_in_segments(frames25, tmp_path, [10, 10, 5], fps=Fraction(30), durations=durations)
    out = tmp_path / "vfr.mp4"
    assemble(segments, out)

    facts = packets(out)
    assert facts.frames == 25
    tick = facts.time_base
    assert tick <= Fraction(1, 1000)
    expected_starts = np.cumsum([0.0, *durations[:-1]])
    actual_starts = np.array([float(p * tick) for p in facts.pts])
    assert np.abs(actual_starts - expected_starts).max() <= float(tick)
    # Total duration = sum of durations (to one tick; the spec allows one frame).
    assert abs(float(facts.duration) - sum(durations)) <= float(tick)
    assert leftovers(tmp_path) == []


def test_vfr_with_ntsc_durations_is_exact(tmp_path, frames25):
    durations = [1001 / 30000] * 12
    segments = encode_in_segments(frames25[:12], tmp_path, [7, 5], fps=NTSC, durations=durations)
    out = tmp_path / "vfr_ntsc.mp4"
    assemble(segments, out)
    facts = packets(out)
    assert [p * facts.time_base for p in facts.pts] == [k * Fraction(1001, 30000) for k in range(12)]
    assert facts.duration == 12 * Fraction(1001, 30000)


def test_vfr_duration_count_mismatch_is_rejected(tmp_path, frames25):
    with pytest.raises(ValueError):
        encode_segment(frames25[:3], tmp_path / "s.mp4", fps=NTSC, durations=[0.1, 0.1])
    with pytest.raises(ValueError):
        encode_segment(frames25[:2], tmp_path / "s.mp4", fps=NTSC, durations=[0.1, 0.0])


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("container", [VideoContainer.MP4, VideoContainer.WEBM])
def test_encoding_is_deterministic(tmp_path, frames25, container):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    encode_segment(frames25[:12], first, fps=NTSC, container=container)
    encode_segment(frames25[:12], second, fps=NTSC, container=container)
    assert first.read_bytes() == second.read_bytes()

    durations = [0.03, 0.05] * 6
    encode_segment(frames25[:12], first, fps=NTSC, durations=durations, container=container)
    encode_segment(frames25[:12], second, fps=NTSC, durations=durations, container=container)
    assert first.read_bytes() == second.read_bytes()

    suffix = f".{container.value}"
    out1, out2 = tmp_path / f"o1{suffix}", tmp_path / f"o2{suffix}"
    assemble([first, second], out1, container=container)
    assemble([first, second], out2, container=container)
    assert out1.read_bytes() == out2.read_bytes()


# --------------------------------------------------------------------------- audio


def test_audio_is_muxed_and_trimmed_to_video(tmp_path, frames25, media):
    segments = encode_in_segments(frames25, tmp_path, [10, 10, 5], fps=Fraction(24))
    out = tmp_path / "with_audio.mp4"
    assemble(segments, out, audio_from=media["one"])
    assert audio_codecs(out) == ["aac"]
    video = packets(out, "v:0")
    assert video.frames == 25 and video.duration == Fraction(25, 24)
    audio = packets(out, "a:0")
    # Source audio is 2 s; it stops with the video (copied: to one AAC frame).
    audio_end = audio.end * audio.time_base
    assert abs(float(audio_end) - 25 / 24) <= 1024 / 44100 + 1e-3


def test_two_audio_tracks_are_kept(tmp_path, frames25, media):
    out = tmp_path / "two.mkv"
    segment = tmp_path / "seg.mp4"
    encode_segment(frames25[:10], segment, fps=Fraction(24), container=VideoContainer.MKV)
    assemble([segment], out, audio_from=media["two"], container=VideoContainer.MKV)
    assert audio_codecs(out) == ["aac", "aac"]
    assert packets(out).frames == 10


def test_no_audio_when_not_asked_or_absent(tmp_path, frames25, media):
    segment = tmp_path / "seg.mp4"
    encode_segment(frames25[:8], segment, fps=Fraction(24))
    silent = tmp_path / "silent.mp4"
    assemble([segment], silent, audio_from=media["none"])
    assert audio_codecs(silent) == []
    assert packets(silent).frames == 8


def test_short_audio_never_cuts_video(tmp_path, frames25, media):
    out = tmp_path / "short.mp4"
    encode_frames_to_video(frames25, out, fps=Fraction(24), audio_from=media["short"])
    assert packets(out).frames == 25
    assert audio_codecs(out) == ["aac"]
    audio = packets(out, "a:0")
    assert float(audio.end * audio.time_base) < 0.4


def test_audio_start_and_duration_reencode(tmp_path, frames25, media):
    out = tmp_path / "trim.mov"
    encode_frames_to_video(
        frames25, out, fps=Fraction(24), audio_from=media["one"], audio_start=0.5, audio_duration=0.5
    )
    assert packets(out).frames == 25
    assert audio_codecs(out) == ["aac"]
    audio = packets(out, "a:0")
    assert abs(float(audio.end * audio.time_base) - 0.5) < 0.03


def test_webm_vp9_opus(tmp_path, frames25, media):
    out = tmp_path / "out.webm"
    encode_frames_to_video(frames25[:12], out, fps=NTSC, audio_from=media["one"])
    lines = stream_lines(out)
    assert any("Video: vp9" in line for line in lines)
    assert audio_codecs(out) == ["opus"]
    assert len(decode(out)) == 12
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- failures and atomicity


def test_missing_png_raises_and_leaves_nothing(tmp_path, frames25):
    frames = list(frames25[:5]) + [tmp_path / "missing.png"]
    out = tmp_path / "seg.mp4"
    with pytest.raises(EncodeError) as info:
        encode_segment(frames, out, fps=NTSC)
    assert "missing.png" in str(info.value) and "\n" not in str(info.value)
    assert not out.exists() and leftovers(tmp_path) == []
    with pytest.raises(EncodeError):
        encode_segment(frames, out, fps=NTSC, durations=[0.04] * 6)
    assert not out.exists() and leftovers(tmp_path) == []


def test_corrupt_png_raises_and_leaves_nothing(tmp_path, frames25):
    bad = tmp_path / "bad.png"
    data = frames25[0].read_bytes()
    bad.write_bytes(data[:40] + b"\0" * (len(data) - 40))  # valid header, garbage pixels
    out = tmp_path / "seg.mp4"
    for durations in (None, [0.04] * 4):
        with pytest.raises(EncodeError) as info:
            encode_segment([frames25[0], bad, frames25[1], frames25[2]], out, fps=NTSC, durations=durations)
        assert "\n" not in str(info.value)
        assert not out.exists() and leftovers(tmp_path) == []


def test_unwritable_destination_raises(tmp_path, frames25):
    out = tmp_path / "no_such_dir" / "seg.mp4"
    with pytest.raises(EncodeError):
        encode_segment(frames25[:3], out, fps=NTSC)
    with pytest.raises(EncodeError):
        encode_frames_to_video(frames25[:3], out, fps=NTSC)
    assert not out.parent.exists()


def test_assemble_bad_segment_raises_and_keeps_previous_output(tmp_path, frames25, media):
    good = tmp_path / "good.mp4"
    encode_segment(frames25[:5], good, fps=NTSC)
    out = tmp_path / "final.mp4"
    assemble([good], out)
    before = out.read_bytes()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(EncodeError) as info:
        assemble([good, junk], out, audio_from=media["one"])
    assert "\n" not in str(info.value)
    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []
    with pytest.raises(EncodeError):
        assemble([good, tmp_path / "gone.mp4"], out)
    assert leftovers(tmp_path) == []
