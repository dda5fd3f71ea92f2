"""Frame sources and media probing, on generated clips/folders and the shared real media."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.mediatools import (
    count_video_frames,
    decode_all,
    ffmpeg_exe,
    frame_image,
    frame_number,
    make_clip,
    make_frames_folder,
    shared_data,
    stream_facts,
    vfr_timestamps,
)
from vidstyle.errors import InputError
from vidstyle.video.probe import parse_ffmpeg_info, probe_media, snap_fps
from vidstyle.video.sources import SourceKind, natural_key, open_reader, open_source


def read_all(source):
    return [frame for _, frame in source.read(range(source.info.frame_count))]


# ----------------------------------------------------------------- folders


def test_folder_natural_order_by_content(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    # frame k has content number k; natural order frame0, frame1, ..., frame9, frame10, frame11
    make_frames_folder(folder, 12, (20, 14), names=[f"frame{i}.png" for i in range(11)] + ["frame11.PNG"])
    (folder / ".frame99.png").write_bytes(b"hidden, ignored")
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    with open_source(folder) as source:
        info = source.info
        assert info.kind is SourceKind.FOLDER
        assert (info.width, info.height, info.frame_count) == (20, 14, 12)
        assert info.fps is None and info.timestamps is None and info.audio_streams == 0 and not info.is_vfr
        assert [p.name for p in info.files][:4] == ["frame0.png", "frame1.png", "frame2.png", "frame3.png"]
        assert info.files[-1].name == "frame11.PNG"
        frames = read_all(source)
    assert [frame_number(f) for f in frames] == list(range(12))
    assert all(f.dtype == np.uint8 and f.shape == (14, 20, 3) for f in frames)
    assert np.array_equal(frames[5], frame_image(5, (20, 14)))


def test_natural_key() -> None:
    names = ["frame10.png", "Frame2.png", "frame1.png", "frame002b.png"]
    assert sorted(names, key=natural_key) == ["frame1.png", "Frame2.png", "frame002b.png", "frame10.png"]


def test_printf_pattern(tmp_path: Path) -> None:
    make_frames_folder(tmp_path, 11, (16, 12), names="frame{i:05d}.png")
    make_frames_folder(tmp_path / "x", 1)  # a sub-folder is not a frame
    cv2.imwrite(str(tmp_path / "frame7.png"), frame_image(200, (16, 12)))  # not 5 digits: ignored
    cv2.imwrite(str(tmp_path / "other00003.png"), frame_image(201, (16, 12)))
    with open_source(str(tmp_path / "frame%05d.png")) as source:
        assert source.info.kind is SourceKind.PATTERN
        assert source.info.frame_count == 11
        assert [frame_number(f) for f in read_all(source)] == list(range(11))


def test_printf_pattern_unpadded(tmp_path: Path) -> None:
    make_frames_folder(tmp_path, 12, (16, 12), names="img_{i}.png")
    with open_source(tmp_path / "img_%d.png") as source:
        assert [p.name for p in source.info.files][9:] == ["img_9.png", "img_10.png", "img_11.png"]
        assert [frame_number(f) for f in read_all(source)] == list(range(12))


def test_glob_pattern(tmp_path: Path) -> None:
    make_frames_folder(tmp_path, 11, (16, 12), names="shot{i}.png")
    cv2.imwrite(str(tmp_path / "zzz.png"), frame_image(99, (16, 12)))
    with open_source(f"{tmp_path}/shot*.png") as source:
        assert source.info.kind is SourceKind.PATTERN
        assert [frame_number(f) for f in read_all(source)] == list(range(11))


def test_pattern_without_matches(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No image files match"):
        open_source(tmp_path / "frame%04d.png")
    with pytest.raises(InputError, match="No image files match"):
        open_source(f"{tmp_path}/*.jpg")


def test_mixed_size_folder_names_the_file(tmp_path: Path) -> None:
    make_frames_folder(tmp_path, 3, (16, 12), names="f{i}.png")
    cv2.imwrite(str(tmp_path / "f3.png"), frame_image(3, (18, 12)))
    # Found when the folder is opened, from the headers, not when the odd frame is reached.
    with pytest.raises(InputError, match=r"f3\.png is 18x12 but f0\.png is 16x12; all frames of a folder must share one size"):
        open_source(tmp_path)
    # A frame replaced after the folder was opened is still caught when it is read.
    cv2.imwrite(str(tmp_path / "f3.png"), frame_image(3, (16, 12)))
    with open_source(tmp_path) as source:
        frames = source.read(range(4))
        for _ in range(3):
            next(frames)
        cv2.imwrite(str(tmp_path / "f3.png"), frame_image(3, (18, 12)))
        with pytest.raises(InputError, match=r"f3\.png is 18x12 but 16x12 was expected; all frames of a folder"):
            next(frames)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no frames")
    with pytest.raises(InputError, match="contains no image files"):
        open_source(tmp_path)


def test_image_conversions(tmp_path: Path) -> None:
    gray16 = (np.arange(12 * 10, dtype=np.uint16).reshape(10, 12) * 500).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), gray16)
    with open_source(tmp_path / "a.png") as source:
        assert source.info.kind is SourceKind.IMAGE and source.info.frame_count == 1
        (index, frame), = source.read([0])
    assert index == 0 and frame.dtype == np.uint8 and frame.shape == (10, 12, 3)
    assert np.array_equal(frame[:, :, 0], (gray16 >> 8).astype(np.uint8))

    rgba = np.dstack([frame_image(4, (12, 10)), np.full((10, 12), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "b.png"), rgba)
    with open_source(tmp_path / "b.png") as source:
        (_, frame), = source.read([0])
    assert frame.shape == (10, 12, 3) and frame_number(frame) == 4


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    make_frames_folder(tmp_path, 3, (16, 12), names="f{i}.png")
    (tmp_path / "f2.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match=r"f2\.png is not a readable image"):
        open_source(tmp_path)  # up front, from the headers
    with pytest.raises(InputError, match=r"f2\.png"):
        open_source(tmp_path / "f2.png")
    make_frames_folder(tmp_path, 3, (16, 12), names="f{i}.png")
    with open_source(tmp_path) as source:
        (tmp_path / "f2.png").write_bytes(b"\x89PNG not really")  # damaged after the folder was opened
        with pytest.raises(InputError, match=r"f2\.png"):
            read_all(source)


# ------------------------------------------------------------------ videos


@pytest.mark.parametrize(
    ("fps", "audio_streams"), [("24", 1), ("25", 0), ("30000/1001", 3)]
)
def test_generated_clip_exact_facts(tmp_path: Path, fps: str, audio_streams: int) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=24, fps=fps, audio=audio_streams > 0, audio_streams=max(audio_streams, 1))
    rate = Fraction(fps)
    with open_source(clip) as source:
        info = source.info
        frames = read_all(source)
    assert info.kind is SourceKind.VIDEO
    assert (info.width, info.height) == (64, 48)
    assert info.frame_count == 24 == len(frames) == count_video_frames(clip)
    assert info.fps == rate and isinstance(info.fps, Fraction)
    assert info.timestamps[0] == 0.0
    assert np.allclose(info.timestamps, [i / float(rate) for i in range(24)], atol=1e-3)
    assert not info.is_vfr
    assert info.duration == pytest.approx(24 / float(rate), abs=1e-3)
    assert info.audio_streams == audio_streams
    assert info.start_time == pytest.approx(0.0, abs=1e-3)
    assert info.files is None
    # OpenCV's decode matches ffmpeg's bit for bit on 4:2:0 even sizes
    reference = decode_all(clip)
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference, strict=True))


def test_vfr_clip_is_flagged(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "vfr.mp4", frames=20, fps="24", vfr=True)
    with open_source(clip) as source:
        info = source.info
    assert info.frame_count == 20
    assert info.is_vfr
    assert all(b > a for a, b in zip(info.timestamps, info.timestamps[1:]))
    assert np.allclose(info.timestamps, vfr_timestamps(20, "24"), atol=1e-3)
    assert info.duration == pytest.approx(info.timestamps[-1] + 1 / float(info.fps))


@pytest.mark.parametrize(("codec", "suffix"), [("libx264", ".mp4"), ("ffv1", ".mkv"), ("mpeg4", ".avi")])
def test_odd_size_clip(tmp_path: Path, codec: str, suffix: str) -> None:
    clip = make_clip(tmp_path / f"odd{suffix}", width=65, height=49, frames=6, codec=codec)
    assert (stream_facts(clip).width, stream_facts(clip).height) == (65, 49)
    with open_source(clip) as source:
        assert (source.info.width, source.info.height) == (65, 49)
        assert all(f.shape == (49, 65, 3) for f in read_all(source))


def test_sparse_read_matches_full_read(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=30, fps="25", codec="ffv1", audio=False)
    with open_source(clip) as source:
        full = read_all(source)
        wanted = [0, 3, 4, 17, 29]
        sparse = list(source.read(iter(wanted)))
    assert [i for i, _ in sparse] == wanted
    assert all(np.array_equal(frame, full[i]) for i, frame in sparse)
    assert not np.array_equal(full[0], full[29])


def test_a_reopened_reader_reads_ranges_forward_and_back(tmp_path: Path) -> None:
    """Chains read their own ranges through one reader, or through one opened from the pickled spec elsewhere."""
    clip = make_clip(tmp_path / "clip.mkv", frames=30, fps="25", codec="ffv1", audio=False)
    with open_source(clip) as source:
        full = read_all(source)
        spec = pickle.loads(pickle.dumps(source.spec))
    with open_reader(spec) as reader:
        for first, stop in ((5, 9), (9, 12), (20, 23), (2, 6), (6, 7), (29, 30)):
            got = list(reader.read(range(first, stop)))
            assert [i for i, _ in got] == list(range(first, stop))
            assert all(np.array_equal(frame, full[i]) for i, frame in got), (first, stop)
        half = reader.read(range(10, 20))
        next(half), next(half)  # a read given up half-way (a stopped chain) ...
        assert np.array_equal(next(reader.read([12]))[1], full[12])  # ... leaves the reader usable


@pytest.mark.parametrize(
    ("name", "options"),
    [("x264.mp4", {}), ("vfr.mp4", {"vfr": True}), ("mpeg4.avi", {"codec": "mpeg4"})],
)
def test_a_far_read_seeks_exactly_without_decoding_what_lies_before(tmp_path: Path, name: str, options: dict) -> None:
    """A chain near the end of a long video seeks (a keyframe seek, then frames identified by their timestamps)."""
    clip = make_clip(tmp_path / name, frames=160, audio=False, **options)
    with open_source(clip) as source:
        full = read_all(source)
        spec = source.spec
    for first in (150, 97, 61):
        with open_reader(spec) as reader:
            got = list(reader.read(range(first, first + 5)))
            assert all(np.array_equal(frame, full[i]) for i, frame in got), (name, first)
            assert not all(np.array_equal(frame, full[i - 1]) for i, frame in got), "a read one frame off would show"
            assert reader.frames_decoded < 60, f"decoded {reader.frames_decoded} frames to read 5 from {first}"
    with open_reader(spec) as reader:  # and forward again from there, and back
        for first, stop in ((70, 72), (140, 143), (3, 5)):
            assert all(np.array_equal(frame, full[i]) for i, frame in reader.read(range(first, stop)))


def test_a_shared_video_seeks_exactly() -> None:
    """A real H.264 file (B-frames, rotation, audio) against its sequential decode."""
    clip = shared_data("videos", "issue-134-rotate.mp4")
    with open_source(clip) as source:
        spec = source.spec
        wanted = [100, 101, 200, 239]
        sequential = dict(source.read(wanted))
    with open_reader(spec) as reader:
        seeked = dict(reader.read(wanted))
        assert reader.frames_decoded < 150
    assert all(np.array_equal(seeked[i], sequential[i]) for i in wanted)


def test_read_rejects_bad_indices(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=5, audio=False)
    with open_source(clip) as source:
        with pytest.raises(ValueError, match="strictly increasing"):
            list(source.read([1, 1]))
        with pytest.raises(ValueError, match="strictly increasing"):
            list(source.read([3, 2]))
        with pytest.raises(ValueError, match="out of range"):
            list(source.read([5]))
    with pytest.raises(ValueError, match="closed"):
        source.read([0])


def test_video_ending_early_is_reported(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=5, audio=False)
    with open_source(clip) as source:
        spec = dataclasses.replace(source.spec, frame_count=8)  # as if the file shrank after it was scanned
    with open_reader(spec) as reader, pytest.raises(InputError, match=r"ended after 5 frames but frame 6 was expected; the file may be truncated"):
        list(reader.read([0, 6]))


def test_missing_and_non_media_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Input not found"):
        open_source(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="junk.mp4"):
        open_source(junk)
    text = tmp_path / "notes.cfg"
    text.write_text("[section]\nkey = value\n")
    with pytest.raises(InputError, match="notes.cfg"):
        open_source(text)
    with pytest.raises(InputError):
        probe_media(tmp_path / "nope.mp4")


def test_audio_only_file_has_no_video(tmp_path: Path) -> None:
    audio = tmp_path / "tone.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.2", "-c:a", "aac", str(audio)],
        check=True,
        capture_output=True,
    )
    assert len(probe_media(audio).audio_streams) == 1
    with pytest.raises(InputError, match="no video stream"):
        open_source(audio)


# ----------------------------------------------------------- shared media


def test_rotated_video_is_upright() -> None:
    path = shared_data("videos", "issue-134-rotate.mp4")
    facts = probe_media(path)
    assert (facts.width, facts.height, facts.rotation) == (1280, 544, 90)
    assert facts.fps == Fraction(24000, 1001)
    assert [a.codec for a in facts.audio_streams] == ["aac"]
    with open_source(path) as source:
        info = source.info
        assert (info.width, info.height) == (544, 1280)
        assert info.frame_count == 240
        assert info.fps == Fraction(24000, 1001)
        assert info.audio_streams == 1
        assert not info.is_vfr
        (_, first), (_, later) = source.read([0, 120])
    assert first.shape == (1280, 544, 3) and later.shape == (1280, 544, 3)
    # same pixels as ffmpeg's own (auto-rotating) decode: rotated once, the right way
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    reference = np.frombuffer(raw, np.uint8).reshape(1280, 544, 3)
    assert np.abs(first.astype(np.int16) - reference).mean() < 1.0


def test_delayed_start_video() -> None:
    path = shared_data("videos", "delayed_start.mp4")
    with open_source(path) as source:
        info = source.info
    assert info.start_time == pytest.approx(1.075, abs=1e-3)
    assert info.timestamps[0] == 0.0
    assert info.frame_count == 24 and info.fps == 25
    assert info.duration == pytest.approx(0.96, abs=1e-3)
    assert info.audio_streams == 0


def test_shared_frame_folder() -> None:
    folder = shared_data("frames", "marple8")
    with open_source(folder) as source:
        assert (source.info.width, source.info.height, source.info.frame_count) == (450, 350, 5)
        assert [p.name for p in source.info.files] == [f"marple8_0{i}.ppm" for i in range(1, 6)]


# ------------------------------------------------------------------- probe


def test_snap_fps() -> None:
    assert snap_fps(23.976023976023978) == Fraction(24000, 1001)
    assert snap_fps(23.98, abs_tolerance=0.005) == Fraction(24000, 1001)
    assert snap_fps(29.97, abs_tolerance=0.005) == Fraction(30000, 1001)
    assert snap_fps(59.94, abs_tolerance=0.005) == Fraction(60000, 1001)
    assert snap_fps(25.0) == 25
    assert snap_fps(12.5) == Fraction(25, 2)


def test_parse_ffmpeg_info_text() -> None:
    text = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':
  Duration: 00:01:02.50, start: 0.500000, bitrate: 1059 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 1920x1080 [SAR 1:1 DAR 16:9], 861 kb/s, 29.97 fps, 29.97 tbr, 30k tbn, start 0.533000 (default)
    Side data:
      Display Matrix: rotation of 90.00 degrees
  Stream #0:1[0x2](eng): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 192 kb/s (default)
  Stream #0:2[0x3](fra): Audio: opus, 48000 Hz, stereo, fltp
  Stream #0:3: Video: mjpeg (Baseline), yuvj420p(pc), 300x300, 90k tbr, 90k tbn (attached pic)
At least one output file must be specified
"""
    facts = parse_ffmpeg_info(text, Path("x.mp4"))
    assert facts is not None
    assert facts.duration == pytest.approx(62.5) and facts.start_time == 0.5
    assert (facts.video_codec, facts.width, facts.height) == ("h264", 1920, 1080)
    assert facts.rotation == 270 and facts.display_size == (1080, 1920)
    assert facts.fps == Fraction(30000, 1001)
    assert facts.video_start == pytest.approx(0.533)
    assert [(a.index, a.codec) for a in facts.audio_streams] == [(1, "aac"), (2, "opus")]
    assert parse_ffmpeg_info("x.mp4: Invalid data found when processing input\n", Path("x.mp4")) is None
