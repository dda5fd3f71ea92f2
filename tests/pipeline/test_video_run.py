"""End-to-end runs of the library API on sequences: what a user sees in the output file or folder.

Most tests use a stand-in core that returns each content frame unchanged, so
they check timing, selection, audio and order in about a second each; the few
that are about the network (style computed once, no NaN on black frames) use
the real VGG19 core with random weights at a tiny size.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.mediatools import (
    count_video_frames,
    decode_all,
    ffmpeg_exe,
    frame_image,
    frame_number,
    make_clip,
    make_frames_folder,
    packets,
    read_frames,
    shared_data,
    stream_facts,
    vfr_timestamps,
    write_frames,
)
from vidstyle.config import (
    DeviceChoice,
    EncodeConfig,
    ModelConfig,
    OptimizeConfig,
    OutputSize,
    RunConfig,
    SelectConfig,
    Settings,
    StyleConfig,
    TemporalConfig,
    TemporalMode,
)
from vidstyle.errors import EncodeError, OutputError, UsageError
from vidstyle.model.stylizer import LossBreakdown, StylizeResult
from vidstyle.faults import ENV as FAULT_ENV
from vidstyle.methods.base import MethodFactory
from vidstyle.methods.optimize import OptimizeMethod, optimize_method
from vidstyle.pipeline.events import RunStarted
from vidstyle.pipeline.run import RunResult, stylize
from vidstyle.video.pixels import resize
from vidstyle.video.sources import open_source

# --------------------------------------------------------------------------- helpers



class CopyStylizer:
    """Stand-in for the optimizer: returns the content frame unchanged and records what it saw."""

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def stylize(self, content, *, init, budget, temporal=None, on_step=None, cold=False) -> StylizeResult:  # noqa: ANN001
        self.sizes.append((int(content.shape[3]), int(content.shape[2])))
        breakdown = LossBreakdown(content=0.0, style=0.0, tv=0.0, temporal=0.0, total=0.0)
        return StylizeResult(
            image=content.clone(), steps=1, stopped_early=False, initial=breakdown, final=breakdown, history=(0.0,)
        )


def copy_core(stylizer: CopyStylizer | None = None) -> MethodFactory:
    """The optimizer method with CopyStylizer in place of the optimizer."""
    stand_in = stylizer or CopyStylizer()

    def factory(settings: Settings, working_size: tuple[int, int]) -> OptimizeMethod:
        return OptimizeMethod(stand_in, settings=settings, working_size=working_size, device=torch.device("cpu"), identity="copy")

    return factory


@pytest.fixture
def style_image(tmp_path: Path) -> Path:
    """A square style image (its working size differs from any 4:3 content size)."""
    path = tmp_path / "style.png"
    y, x = np.mgrid[0:40, 0:40]
    image = np.stack([(x * 6) % 256, (y * 6) % 256, ((x + y) * 3) % 256], axis=-1).astype(np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def settings_for(
    style: Path,
    *,
    select: SelectConfig | None = None,
    encode: EncodeConfig | None = None,
    run: RunConfig | None = None,
    weights: Path | None = None,
    temporal: TemporalMode = TemporalMode.NONE,
    iterations: int = 2,
    iterations_next: int = 1,
) -> Settings:
    return Settings(
        model=ModelConfig(weights=weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations=iterations, iterations_next=iterations_next),
        temporal=TemporalConfig(mode=temporal),
        select=select or SelectConfig(max_size=64),
        encode=encode or EncodeConfig(),
        run=run or RunConfig(),
    )


def numbered_clip(path: Path, frames: int = 24, fps: str = "24", size: tuple[int, int] = (32, 24)) -> Path:
    """A lossless video whose frame k shows frame_image(k) (so frame_number(output) says which source frame it is)."""
    folder = path.parent / (path.stem + "_src")
    make_frames_folder(folder, frames, size=size, names="f{i:04d}.png")
    proc = subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-framerate", fps, "-i", str(folder / "f%04d.png"),
            "-c:v", "ffv1", "-pix_fmt", "bgr0", str(path),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return path


def folder_numbers(folder: Path) -> list[int]:
    files = sorted(folder.glob("frame_*.png"))
    return [frame_number(cv2.imread(str(p))) for p in files]


def video_numbers(path: Path, candidates: int = 64) -> list[int]:
    """For each decoded frame, the k whose frame_image(k) it is closest to (lossy codecs blur R by a level or so)."""
    frames = decode_all(path)
    height, width = frames[0].shape[:2]
    references = np.stack([frame_image(k, (width, height)) for k in range(candidates)]).astype(np.float32)
    numbers = []
    for frame in frames:
        errors = ((references - frame.astype(np.float32)) ** 2).mean(axis=(1, 2, 3))
        numbers.append(int(np.argmin(errors)))
    return numbers


def period(fps: Fraction) -> float:
    return float(1 / fps)


# --------------------------------------------------------------------------- generated clips -> video


def test_clip_keeps_frames_duration_rate_and_audio(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=12, fps="24", audio=True)
    out = tmp_path / "out.mp4"
    result = stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())

    assert result.output == out.resolve() and result.frames == 12
    assert count_video_frames(out) == 12
    facts = stream_facts(out)
    assert facts.fps == Fraction(24)
    video = packets(out)
    assert abs(float(video.duration) - 12 / 24) < 1 / 24
    assert len(facts.audio_streams) == 1
    audio = packets(out, "a:0")
    # The sound lasts as long as the picture (within a frame), starting with it.
    assert abs(float(audio.duration) - float(video.duration)) < 1 / 24
    assert abs(float(audio.start) - float(video.start)) < 1 / 24
    assert not (tmp_path / "out.mp4.vidstyle").exists(), "the work dir is removed after success"


def test_audio_can_be_dropped_and_silent_clips_work(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12, audio=True)
    muted = tmp_path / "muted.mp4"
    stylize(clip, muted, settings=settings_for(style_image, encode=EncodeConfig(audio=False)), method_factory=copy_core())
    assert stream_facts(muted).audio_streams == ()
    assert count_video_frames(muted) == 12

    silent = make_clip(tmp_path / "silent.mp4", frames=12, audio=False)
    out = tmp_path / "silent_out.mp4"
    stylize(silent, out, settings=settings_for(style_image), method_factory=copy_core())
    assert stream_facts(out).audio_streams == ()
    assert count_video_frames(out) == 12


def test_ntsc_rate_is_exact(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "ntsc.mp4", frames=12, fps="30000/1001")
    out = tmp_path / "out.mp4"
    result = stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())
    assert result.fps == Fraction(30000, 1001)
    assert stream_facts(out).fps == Fraction(30000, 1001)
    video = packets(out)
    assert abs(float(video.duration) - 12 * 1001 / 30000) < 1e-3
    steps = {b - a for a, b in zip(video.pts, video.pts[1:])}
    assert len(steps) == 1 and steps.pop() * video.time_base == Fraction(1001, 30000)


def test_vfr_clip_keeps_its_timing(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "vfr.mp4", frames=12, fps="24", vfr=True)
    expected = vfr_timestamps(12, "24")
    source_duration = expected[-1] + 1 / 24
    out = tmp_path / "out.mp4"
    result = stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())
    assert count_video_frames(out) == 12
    video = packets(out)
    assert abs(float(video.duration) - source_duration) < 1 / 24
    assert result.duration is not None and abs(result.duration - source_duration) < 1 / 24
    # Each frame is shown when it was in the input (the gaps are kept, not evened out).
    shown = [float((p - video.pts[0]) * video.time_base) for p in video.pts]
    assert max(abs(a - b) for a, b in zip(shown, expected)) < 0.5 / 24

    # Every other frame: half the frames, same length, each shown when it was.
    half = tmp_path / "half.mp4"
    select = SelectConfig(every=2, max_size=64)
    stylize(clip, half, settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert count_video_frames(half) == 6
    video = packets(half)
    assert abs(float(video.duration) - source_duration) < 1 / 24
    shown = [float((p - video.pts[0]) * video.time_base) for p in video.pts]
    assert max(abs(a - b) for a, b in zip(shown, expected[::2])) < 0.5 / 24


def test_odd_size_is_padded_to_even(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "odd.mp4", width=65, height=49, frames=12)
    out = tmp_path / "out.mp4"
    stylize(clip, out, settings=settings_for(style_image, select=SelectConfig(max_size=None)), method_factory=copy_core())
    assert stream_facts(out).display_size == (66, 50)
    assert count_video_frames(out) == 12


def test_two_audio_tracks_are_both_kept(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "two.mp4", frames=12, audio_streams=2)
    out = tmp_path / "out.mp4"
    stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())
    assert len(stream_facts(out).audio_streams) == 2
    for stream in ("a:0", "a:1"):
        assert abs(float(packets(out, stream).duration) - 0.5) < 1 / 24


def test_other_containers(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    for name in ("out.mkv", "out.mov"):
        out = tmp_path / name
        stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())
        assert count_video_frames(out) == 6
        assert len(stream_facts(out).audio_streams) == 1


# --------------------------------------------------------------------------- real media


def test_rotated_phone_clip_with_audio(tmp_path: Path, style_image: Path) -> None:
    source = shared_data("videos", "issue-134-rotate.mp4")
    out = tmp_path / "rot.mp4"
    select = SelectConfig(max_frames=48, max_size=64, output_size=OutputSize.WORKING)  # about rotation and sync, not size
    result = stylize(source, out, settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert result.frames == 48 and count_video_frames(out) == 48
    facts = stream_facts(out)
    assert facts.fps == Fraction(24000, 1001)
    video = packets(out)
    assert abs(float(video.duration) - 48 * 1001 / 24000) < 1001 / 24000
    assert [a.codec for a in facts.audio_streams] == ["aac"]
    audio = packets(out, "a:0")
    assert abs(float(audio.duration) - float(video.duration)) < 1001 / 24000
    width, height = facts.display_size
    assert height > width, f"output is {width}x{height}; the input plays upright (portrait)"
    assert height == 64


def test_delayed_start_clip_starts_at_zero(tmp_path: Path, style_image: Path) -> None:
    source = shared_data("videos", "delayed_start.mp4")
    with open_source(source) as opened:
        frames_in = opened.info.frame_count
        brightness_in = [float(f.mean()) for _, f in opened.read(range(frames_in))]
    out = tmp_path / "out.mp4"
    stylize(source, out, settings=settings_for(style_image), method_factory=copy_core())
    assert count_video_frames(out) == frames_in
    video = packets(out)
    assert abs(float(video.start)) < 1 / 25
    assert abs(float(video.duration) - frames_in / 25) < 1 / 25
    frames = decode_all(out)
    assert len(frames) == frames_in
    # The clip is a fade from black: the output plays the same fade from its first frame on.
    brightness_out = [float(f.mean()) for f in frames]
    assert max(abs(a - b) for a, b in zip(brightness_in, brightness_out)) < 4


def _mean_brightness(source: Path, indices: range) -> list[float]:
    with open_source(source) as opened:
        return [float(frame.mean()) for _, frame in opened.read(indices)]


def test_fade_to_black_gives_finite_output(tmp_path: Path, style_image: Path, random_weights: Path) -> None:
    source = shared_data("videos", "fades.mp4")
    # Find the first fade to black after the start: the darkest frame in 1..5 s.
    means = _mean_brightness(source, range(25, 125))
    darkest = 25 + int(np.argmin(means))
    assert means[darkest - 25] < 2, "fades.mp4 should reach black"
    first = darkest - 5
    frames_wanted = 10
    seen: list[bool] = []

    def finite_core(settings: Settings, working_size: tuple[int, int]) -> OptimizeMethod:
        method = optimize_method(settings, working_size)
        inner = method.stylizer

        class Checked:
            def stylize(self, content, **kwargs):  # noqa: ANN001, ANN202
                result = inner.stylize(content, **kwargs)
                seen.append(bool(torch.isfinite(result.image).all()) and bool(np.isfinite(result.final.total)))
                return result

        method.stylizer = Checked()
        return method

    select = SelectConfig(start=f"#{first}", max_frames=frames_wanted, max_size=32, output_size=OutputSize.WORKING)
    settings = settings_for(
        style_image, select=select, weights=random_weights, temporal=TemporalMode.FLOW, iterations=3, iterations_next=2
    )
    out = tmp_path / "frames"
    result = stylize(source, out, settings=settings, method_factory=finite_core)
    assert result.frames == frames_wanted
    assert seen == [True] * frames_wanted
    assert all(np.isfinite([r.loss, r.content_loss, r.style_loss, r.temporal_loss]).all() for r in result.records)
    written = sorted(out.glob("frame_*.png"))
    assert len(written) == frames_wanted
    black = darkest - first
    image = cv2.imread(str(written[black]))
    assert image is not None and image.shape[:2] == (20, 32)


# --------------------------------------------------------------------------- folders and patterns


def test_folder_to_video_default_and_given_rate(tmp_path: Path, style_image: Path) -> None:
    folder = tmp_path / "frames"
    make_frames_folder(folder, 12, size=(32, 24), names=[f"frame{i + 1}.png" for i in range(12)])
    out = tmp_path / "out.mp4"
    result = stylize(folder, out, settings=settings_for(style_image), method_factory=copy_core())
    assert result.fps == Fraction(24)
    assert count_video_frames(out) == 12
    assert stream_facts(out).fps == Fraction(24)
    assert stream_facts(out).audio_streams == ()
    assert video_numbers(out) == list(range(12)), "frame10..12 must come after frame9"

    slow = tmp_path / "slow.mp4"
    stylize(
        folder, slow, settings=settings_for(style_image, select=SelectConfig(fps=Fraction(12), max_size=64)), method_factory=copy_core()
    )
    assert stream_facts(slow).fps == Fraction(12)
    assert abs(float(packets(slow).duration) - 1.0) < 1 / 12


def test_video_to_folder_keeps_count_and_order(tmp_path: Path, style_image: Path) -> None:
    clip = numbered_clip(tmp_path / "num.mkv", frames=12)
    out = tmp_path / "out"
    result = stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())
    names = sorted(p.name for p in out.iterdir())
    assert names == [".vidstyle-output.json"] + [f"frame_{k:06d}.png" for k in range(1, 13)]  # the frames and their record
    assert result.frames == 12
    assert folder_numbers(out) == list(range(12))


def test_folder_to_folder_natural_order(tmp_path: Path, style_image: Path) -> None:
    folder = tmp_path / "frames"
    make_frames_folder(folder, 12, size=(32, 24), names=[f"frame{i + 1}.png" for i in range(12)])
    out = tmp_path / "out"
    stylize(folder, out, settings=settings_for(style_image), method_factory=copy_core())
    assert folder_numbers(out) == list(range(12))


def test_printf_pattern_and_glob_inputs(tmp_path: Path, style_image: Path) -> None:
    folder = tmp_path / "frames"
    make_frames_folder(folder, 8, size=(32, 24), names="img_{i:03d}.png")
    cv2.imwrite(str(folder / "unrelated.png"), frame_image(99, (32, 24)))
    out = tmp_path / "pattern_out"
    result = stylize(str(folder / "img_%03d.png"), out, settings=settings_for(style_image), method_factory=copy_core())
    assert result.frames == 8
    assert folder_numbers(out) == list(range(8))

    shots = tmp_path / "shots"
    make_frames_folder(shots, 11, size=(32, 24), names=[f"shot{i + 1}.png" for i in range(11)])
    out_glob = tmp_path / "glob_out.mp4"
    result = stylize(str(shots / "shot*.png"), out_glob, settings=settings_for(style_image), method_factory=copy_core())
    assert result.frames == 11
    assert video_numbers(out_glob) == list(range(11))


# --------------------------------------------------------------------------- selection


@pytest.fixture
def numbered(tmp_path: Path) -> Path:
    return numbered_clip(tmp_path / "numbered.mkv", frames=24, fps="24")


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (SelectConfig(start="0.5", end="0.75", max_size=64), list(range(12, 18))),
        (SelectConfig(start="0:00.25", max_frames=3, max_size=64), [6, 7, 8]),
        (SelectConfig(start="#3", end="#9", max_size=64), list(range(3, 9))),
        (SelectConfig(every=2, max_size=64), list(range(0, 24, 2))),
        (SelectConfig(max_frames=5, max_size=64), list(range(5))),
        (SelectConfig(fps=Fraction(8), max_size=64), list(range(0, 24, 3))),
        (SelectConfig(start="#10", every=3, max_frames=4, max_size=64), [10, 13, 16, 19]),
    ],
    ids=["seconds", "timecode", "frames", "every", "max-frames", "fps", "combined"],
)
def test_selection_picks_the_right_frames(tmp_path: Path, style_image: Path, numbered: Path, select, expected) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    result = stylize(numbered, out, settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert result.frames == len(expected)
    assert folder_numbers(out) == expected


def test_every_halves_frames_and_rate(tmp_path: Path, style_image: Path, numbered: Path) -> None:
    out = tmp_path / "half.mp4"
    select = SelectConfig(every=2, max_size=64)
    stylize(numbered, out, settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert count_video_frames(out) == 12
    assert stream_facts(out).fps == Fraction(12)
    assert abs(float(packets(out).duration) - 1.0) < 1 / 12
    assert video_numbers(out) == list(range(0, 24, 2))


def test_lower_fps_for_a_video_keeps_duration(tmp_path: Path, style_image: Path, numbered: Path) -> None:
    out = tmp_path / "eight.mp4"
    select = SelectConfig(fps=Fraction(8), max_size=64)
    stylize(numbered, out, settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert count_video_frames(out) == 8
    assert stream_facts(out).fps == Fraction(8)
    assert abs(float(packets(out).duration) - 1.0) < 1 / 8


def test_selection_with_audio_stays_in_sync(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=24, fps="24")
    out = tmp_path / "out.mp4"
    select = SelectConfig(start="0.25", end="0.75", max_size=64)
    stylize(clip, out, settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert count_video_frames(out) == 12
    video, audio = packets(out), packets(out, "a:0")
    assert abs(float(video.duration) - 0.5) < 1 / 24
    assert abs(float(audio.duration) - 0.5) < 1 / 24


def test_empty_or_impossible_selection_is_a_usage_error(tmp_path: Path, style_image: Path, numbered: Path) -> None:
    with pytest.raises(UsageError, match="holds no frames"):
        stylize(numbered, tmp_path / "a", settings=settings_for(style_image, select=SelectConfig(start="5", max_size=64)), method_factory=copy_core())
    with pytest.raises(UsageError, match="--fps"):
        stylize(numbered, tmp_path / "b", settings=settings_for(style_image, select=SelectConfig(fps=Fraction(60), max_size=64)), method_factory=copy_core())
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_default_output_size_is_the_sources(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=65, height=47, frames=4, audio=False)  # odd sizes
    stand_in = CopyStylizer()
    started: list[RunStarted] = []
    select = SelectConfig(max_size=32)  # output size left at its default

    out = tmp_path / "out.mp4"
    stylize(
        clip,
        out,
        settings=settings_for(style_image, select=select),
        method_factory=copy_core(stand_in),
        on_event=lambda e: started.append(e) if isinstance(e, RunStarted) else None,
    )
    assert started[0].working_size == (32, 22)
    margin = select.edge_margin
    assert set(stand_in.sizes) == {(32 + 2 * margin, 22 + 2 * margin)}, "the optimization runs at the working size, on its canvas"
    assert stream_facts(out).display_size == (66, 48), "the source's size, padded to even for yuv420p as without scaling"
    assert count_video_frames(out) == 4

    folder = tmp_path / "frames"
    stylize(clip, folder, settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert {cv2.imread(str(p)).shape[:2] for p in folder.glob("frame_*.png")} == {(47, 65)}

    image = tmp_path / "still.png"
    cv2.imwrite(str(image), decode_all(clip)[0])
    stylize(image, tmp_path / "still-out.png", settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert cv2.imread(str(tmp_path / "still-out.png")).shape[:2] == (47, 65)

    working = tmp_path / "small.mp4"
    select = SelectConfig(max_size=32, output_size=OutputSize.WORKING)
    stylize(clip, working, settings=settings_for(style_image, select=select), method_factory=copy_core())
    assert stream_facts(working).display_size == (32, 22)


def test_source_size_frames_take_the_sources_edges(tmp_path: Path, style_image: Path) -> None:
    """An identity 'stylization' at a quarter of the size comes back near the source, far nearer than bicubic."""
    y, x = np.mgrid[0:96, 0:128]
    frames = []
    for k in range(3):
        frame = np.zeros((96, 128, 3), np.uint8)
        frame[:, :, 0] = np.where((x - 40 - 4 * k) ** 2 + (y - 48) ** 2 < 600, 220, 40)
        frame[:, :, 1] = (128 + 100 * np.sin(y / 3.0)).astype(np.uint8)
        frame[:, :, 2] = np.where((x > 90 + k) & (x < 100 + k), 250, 30)
        frames.append(frame)
    source = write_frames(tmp_path / "src", frames)
    out = tmp_path / "out"
    stylize(source, out, settings=settings_for(style_image, select=SelectConfig(max_size=32)), method_factory=copy_core())
    written = read_frames(out)
    assert len(written) == 3
    for frame, result in zip(frames, written):
        bicubic = resize(resize(frame, (32, 24)), (128, 96))
        guided_error = np.abs(result.astype(int) - frame.astype(int)).mean()
        bicubic_error = np.abs(bicubic.astype(int) - frame.astype(int)).mean()
        assert guided_error < 0.5 * bicubic_error, (guided_error, bicubic_error)


# --------------------------------------------------------------------------- the network


def _count_style_passes(monkeypatch: pytest.MonkeyPatch, style_size: tuple[int, int]) -> list[int]:
    """Count images of the style image's working size that go through the feature network."""
    from vidstyle.model.features import FeatureExtractor

    calls: list[int] = []
    original = FeatureExtractor.forward

    def forward(self, image, layers=None):  # noqa: ANN001, ANN202
        if (int(image.shape[3]), int(image.shape[2])) == style_size:
            calls.append(int(image.shape[0]))
        return original(self, image, layers)

    monkeypatch.setattr(FeatureExtractor, "forward", forward)
    return calls


def test_style_goes_through_the_network_once_per_run(
    tmp_path: Path, style_image: Path, random_weights: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=6, audio=False)
    select = SelectConfig(max_size=32)  # content 32x24; the square style image is 32x32
    calls = _count_style_passes(monkeypatch, (32, 32))
    settings = settings_for(style_image, select=select, weights=random_weights, temporal=TemporalMode.PREV, iterations=2, iterations_next=1)

    monkeypatch.setenv("VIDSTYLE_CACHE_DIR", "")
    uncached = stylize(clip, tmp_path / "a.mp4", settings=settings)
    assert uncached.frames == 6
    assert uncached.style_passes == 1
    assert sum(calls) == 1, f"style image went through the network {sum(calls)} times for 6 frames"

    monkeypatch.setenv("VIDSTYLE_CACHE_DIR", str(isolated_cache))
    calls.clear()
    first = stylize(clip, tmp_path / "b.mp4", settings=settings)
    assert first.style_passes == 1 and sum(calls) == 1
    calls.clear()
    second = stylize(clip, tmp_path / "c.mp4", settings=settings)
    assert second.style_passes == 0 and sum(calls) == 0
    assert count_video_frames(tmp_path / "c.mp4") == 6


# --------------------------------------------------------------------------- output safety


def test_failed_encode_leaves_no_output(tmp_path: Path, style_image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    # ffmpeg fails while it joins the segments (it is killed with its partial output written).
    monkeypatch.setenv(FAULT_ENV, "assemble:fail")
    out = tmp_path / "out.mp4"
    with pytest.raises(EncodeError, match="ffmpeg failed"):
        stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out.mp4") and p.is_file()] == []

    # The stylized frames are kept: a rerun after fixing the problem finishes without redoing them.
    monkeypatch.undo()
    stand_in = CopyStylizer()
    result = stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core(stand_in))
    assert count_video_frames(out) == 6
    assert result.stylized == 0 and stand_in.sizes == []


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    # A file vidstyle did not write is refused whatever the flags (vidstyle/written.py).
    for run in (RunConfig(), RunConfig(overwrite=True)):
        with pytest.raises(OutputError, match="vidstyle did not write it"):
            stylize(clip, out, settings=settings_for(style_image, run=run), method_factory=copy_core())
    assert out.read_bytes() == b"precious"

    out.unlink()
    stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())
    with pytest.raises(OutputError, match="pass --overwrite"):  # vidstyle's own output: --overwrite may replace it
        stylize(clip, out, settings=settings_for(style_image), method_factory=copy_core())
    settings = settings_for(style_image, run=RunConfig(overwrite=True))
    stylize(clip, out, settings=settings, method_factory=copy_core())
    assert count_video_frames(out) == 6

    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    # A folder vidstyle did not write is refused whatever the flags (tests/test_data_safety.py has every case).
    for run in (RunConfig(), RunConfig(overwrite=True)):
        with pytest.raises(OutputError, match="did not write"):
            stylize(clip, folder, settings=settings_for(style_image, run=run), method_factory=copy_core())
    assert (folder / "keep.txt").read_text() == "mine"


def test_an_image_is_a_one_frame_run_through_the_same_machinery(tmp_path: Path, style_image: Path) -> None:
    from tests.pipeline.resume_worker import fake_method

    photo = tmp_path / "photo.png"
    assert cv2.imwrite(str(photo), frame_image(5, (40, 30)))
    settings = settings_for(style_image, temporal=TemporalMode.FLOW, iterations=4)
    image = stylize(photo, tmp_path / "styled.png", settings=settings, method_factory=fake_method())
    folder = stylize(photo, tmp_path / "frames", settings=settings, method_factory=fake_method())
    assert image.kind.value == "image" and image.work_dir is None and image.frames == image.stylized == 1
    assert [r.steps for r in image.records] == [4] == [r.steps for r in folder.records]
    assert np.array_equal(cv2.imread(str(tmp_path / "styled.png")), cv2.imread(str(tmp_path / "frames" / "frame_000001.png")))
    assert not (tmp_path / "styled.png.vidstyle").exists()


def test_image_output_for_a_video_is_a_usage_error(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    with pytest.raises(UsageError, match="image"):
        stylize(clip, tmp_path / "out.png", settings=settings_for(style_image), method_factory=copy_core())
    assert not (tmp_path / "out.png").exists()


def test_result_reports_what_was_written(tmp_path: Path, style_image: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    result: RunResult = stylize(clip, tmp_path / "out.mp4", settings=settings_for(style_image), method_factory=copy_core())
    assert result.frames == 12 and result.stylized == 12
    assert result.fps == Fraction(24) and result.duration == pytest.approx(0.5)
    assert [r.source_index for r in result.records] == list(range(12))
