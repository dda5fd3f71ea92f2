"""--mask: white stylizes, black keeps the input, in every output form (issue 24).

A stand-in stylizer paints every frame as its negative, so a pixel that kept
its source is plain to see; one test runs the real optimizer (random weights)
to show a white mask changes nothing.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.mediatools import decode_all, ffmpeg_exe, read_frames, write_frames
from vidstyle.cli import app
from vidstyle.config import (
    DeviceChoice,
    ModelConfig,
    OptimizeConfig,
    OutputSize,
    RunConfig,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
    TemporalConfig,
    TemporalMode,
)
from vidstyle.errors import InputChanged, InputError, UsageError
from vidstyle.methods.base import MethodFactory
from vidstyle.methods.optimize import OptimizeMethod
from vidstyle.model.stylizer import LossBreakdown, StylizeResult
from vidstyle.pipeline.events import FrameDone
from vidstyle.pipeline.run import resume, stylize
from vidstyle.video.masks import to_weights
from vidstyle.video.pixels import resize

SIZE = (48, 32)  # input frames (width, height)
WORKING = (32, 20)  # --max-size 32: what the stand-in sees


class NegativeStylizer:
    """Stand-in for the optimizer: every frame comes out as its negative."""

    def stylize(self, content, *, init, budget, temporal=None, on_step=None, cold=False) -> StylizeResult:  # noqa: ANN001
        breakdown = LossBreakdown(content=0.0, style=0.0, tv=0.0, temporal=0.0, total=0.0)
        return StylizeResult(image=1.0 - content, steps=1, stopped_early=False, initial=breakdown, final=breakdown, history=(0.0,))


def negative() -> MethodFactory:
    def factory(settings: Settings, working_size: tuple[int, int]) -> OptimizeMethod:
        return OptimizeMethod(NegativeStylizer(), settings=settings, working_size=working_size, device=torch.device("cpu"), identity="negative")

    return factory


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    y, x = np.mgrid[0:40, 0:40]
    assert cv2.imwrite(str(path), np.stack([(x * 6) % 256, (y * 6) % 256, ((x + y) * 3) % 256], axis=-1).astype(np.uint8))
    return path


def scene(count: int) -> list[np.ndarray]:
    """Smooth ramps (what H.264 keeps well), each frame a little different, none close to its own negative."""
    y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    return [np.stack([x * 4 + 20 + k * 3, y * 5 + 20, np.full_like(x, 40 + k)], axis=-1).astype(np.uint8) for k in range(count)]


def half_black(size: tuple[int, int], *, black_until: float = 0.5) -> np.ndarray:
    """A BGR mask: black (keep the source) left of ``black_until`` of the width, white right of it."""
    width, height = size
    image = np.full((height, width, 3), 255, np.uint8)
    image[:, : round(width * black_until)] = 0
    return image


def settings_for(style: Path, mask: Path | None, *, output_size: OutputSize = OutputSize.SOURCE, invert: bool = False, feather: int = 0, weights: Path | None = None) -> Settings:
    return Settings(
        model=ModelConfig(weights=weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations=3, iterations_next=2),
        temporal=TemporalConfig(mode=TemporalMode.FLOW),
        select=SelectConfig(max_size=32, output_size=output_size, mask=mask, mask_invert=invert, mask_feather=feather),
        shots=ShotsConfig(cuts="off"),
        run=RunConfig(segment_frames=2),
    )


def write_mask(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


@pytest.mark.parametrize("output_size", [OutputSize.SOURCE, OutputSize.WORKING])
def test_a_half_black_mask_keeps_the_left_half_of_every_frame(tmp_path: Path, style: Path, output_size: OutputSize) -> None:
    frames = scene(4)
    source = write_frames(tmp_path / "in", frames)
    mask = write_mask(tmp_path / "mask.png", half_black(SIZE))
    out = tmp_path / "out"
    stylize(source, out, settings=settings_for(style, mask, output_size=output_size), method_factory=negative())
    written = read_frames(out)
    assert len(written) == 4
    for frame, result in zip(frames, written):
        expected = frame if output_size is OutputSize.SOURCE else resize(frame, WORKING)
        half = expected.shape[1] // 2
        assert result.shape == expected.shape
        assert np.array_equal(result[:, :half], expected[:, :half]), "a masked-out pixel is the input's"
        right = np.abs(result[:, half:].astype(int) - expected[:, half:].astype(int)).mean()
        assert right > 40, "the white half is stylized (here: the stand-in's negative)"


def test_a_white_mask_is_the_same_as_none(tmp_path: Path, style: Path, random_weights: Path) -> None:
    source = write_frames(tmp_path / "in", scene(3))
    white = write_mask(tmp_path / "white.png", np.full((SIZE[1], SIZE[0], 3), 255, np.uint8))
    stylize(source, tmp_path / "plain", settings=settings_for(style, None, weights=random_weights))
    stylize(source, tmp_path / "masked", settings=settings_for(style, white, weights=random_weights))
    plain, masked = read_frames(tmp_path / "plain"), read_frames(tmp_path / "masked")
    assert len(plain) == len(masked) == 3
    for a, b in zip(plain, masked):
        assert np.array_equal(a, b)


def test_invert_keeps_the_white_side(tmp_path: Path, style: Path) -> None:
    frames = scene(2)
    source = write_frames(tmp_path / "in", frames)
    mask = write_mask(tmp_path / "mask.png", half_black(SIZE))
    stylize(source, tmp_path / "out", settings=settings_for(style, mask, invert=True), method_factory=negative())
    for frame, result in zip(frames, read_frames(tmp_path / "out")):
        assert np.array_equal(result[:, 24:], frame[:, 24:])
        assert np.abs(result[:, :24].astype(int) - frame[:, :24].astype(int)).mean() > 40


def test_a_mask_of_another_size_is_resized(tmp_path: Path, style: Path) -> None:
    frames = scene(2)
    source = write_frames(tmp_path / "in", frames)
    mask = write_mask(tmp_path / "small.png", half_black((16, 40)))  # another size and shape
    stylize(source, tmp_path / "out", settings=settings_for(style, mask), method_factory=negative())
    for frame, result in zip(frames, read_frames(tmp_path / "out")):
        assert np.array_equal(result[:, :22], frame[:, :22]), "away from the resized edge, the black side is the input's"
        assert np.abs(result[:, 26:].astype(int) - frame[:, 26:].astype(int)).mean() > 40


def moving_masks(count: int) -> list[np.ndarray]:
    """Mask k is black over the left (k + 1) / (count + 1) of the frame: each frame has its own."""
    return [half_black(SIZE, black_until=(k + 1) / (count + 1)) for k in range(count)]


def check_moving(frames: list[np.ndarray], written: list[np.ndarray], *, tolerance: int = 0) -> None:
    assert len(written) == len(frames)
    for k, (frame, result) in enumerate(zip(frames, written)):
        edge = round(SIZE[0] * (k + 1) / (len(frames) + 1))
        kept = np.abs(result[:, : edge - 2].astype(int) - frame[:, : edge - 2].astype(int)).max()
        assert kept <= tolerance, f"frame {k}: the masked-out part is the input's (off by {kept})"
        assert np.abs(result[:, edge + 2 :].astype(int) - frame[:, edge + 2 :].astype(int)).mean() > 40


def test_a_folder_of_masks_gives_each_frame_its_own(tmp_path: Path, style: Path) -> None:
    frames = scene(3)
    source = write_frames(tmp_path / "in", frames)
    masks = write_frames(tmp_path / "masks", moving_masks(3))
    stylize(source, tmp_path / "out", settings=settings_for(style, masks), method_factory=negative())
    check_moving(frames, read_frames(tmp_path / "out"))


def lossless_video(folder: Path, path: Path) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-framerate", "24", "-i", str(folder / "in_%04d.png"),
         "-c:v", "ffv1", "-pix_fmt", "bgr0", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_a_video_mask_and_a_video_output(tmp_path: Path, style: Path) -> None:
    frames = scene(3)
    source = write_frames(tmp_path / "in", frames)
    mask = lossless_video(write_frames(tmp_path / "masks", moving_masks(3)), tmp_path / "mask.mkv")
    out = tmp_path / "out.mp4"
    stylize(source, out, settings=settings_for(style, mask), method_factory=negative())
    # H.264 yuv420p at CRF 18: the kept part is the input within encoding. Measured on these frames:
    # an all-black mask (the input re-encoded) is off by 11 levels at most, 2-4 on average; the kept part
    # here by 17 at most (next to the edge), 2-3 on average.
    written = decode_all(out)
    check_moving(frames, written, tolerance=24)
    for k, (frame, result) in enumerate(zip(frames, written)):
        edge = round(SIZE[0] * (k + 1) / 4)
        assert np.abs(result[:, : edge - 2].astype(int) - frame[:, : edge - 2].astype(int)).mean() < 4


def test_too_few_mask_frames_is_refused_before_any_work(tmp_path: Path, style: Path) -> None:
    source = write_frames(tmp_path / "in", scene(4))
    masks = write_frames(tmp_path / "masks", moving_masks(3))
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(
        app, ["stylize", str(source), "-s", str(style), "-o", str(out), "--mask", str(masks), "--max-size", "32", "--device", "cpu"]
    )
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "has 3 frames" in line and "4" in line
    assert not out.exists() and not (tmp_path / "out.mp4.vidstyle").exists()


def test_an_unreadable_mask_is_one_line(tmp_path: Path, style: Path) -> None:
    source = write_frames(tmp_path / "in", scene(2))
    broken = tmp_path / "mask.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(InputError, match="^--mask: "):
        stylize(source, tmp_path / "out", settings=settings_for(style, broken), method_factory=negative())
    with pytest.raises(UsageError, match="--mask-feather"):
        SelectConfig(mask_feather=-1)
    assert not (tmp_path / "out").exists()


def test_feather_makes_the_edge_a_ramp(tmp_path: Path, style: Path) -> None:
    hard = to_weights(half_black((64, 8)), (64, 8), feather=0, invert=False)[4]
    soft = to_weights(half_black((64, 8)), (64, 8), feather=6, invert=False)[4]
    assert set(np.unique(hard)) == {0.0, 1.0}
    between = np.flatnonzero((soft > 0.02) & (soft < 0.98))
    assert len(between) >= 6, "the edge spreads over several pixels"
    assert np.all(np.diff(soft) >= -1e-6), "from black to white without a dip"
    assert soft[0] == 0.0 and soft[-1] == 1.0, "far from the edge the mask is as drawn"
    # End to end: pixels at the edge are blends of input and stylized, not one or the other.
    frames = scene(1)
    source = write_frames(tmp_path / "in", frames)
    mask = write_mask(tmp_path / "mask.png", half_black(SIZE))
    stylize(source, tmp_path / "out", settings=settings_for(style, mask, feather=6), method_factory=negative())
    result = read_frames(tmp_path / "out")[0].astype(int)
    frame = frames[0].astype(int)
    assert np.array_equal(result[:, :12], frame[:, :12])
    differs = np.abs(result - frame).mean(axis=(0, 2))
    assert 5 < differs[24] < differs[30], "the change grows across the edge"


def _crash_after_first_frame(event: object) -> None:
    if isinstance(event, FrameDone):
        raise RuntimeError("stands in for a crash after the first frame")


def test_a_resume_with_another_mask_is_refused(tmp_path: Path, style: Path) -> None:
    source = write_frames(tmp_path / "in", scene(4))
    mask = write_mask(tmp_path / "mask.png", half_black(SIZE))
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="stands in for a crash"):
        stylize(source, out, settings=settings_for(style, mask), on_event=_crash_after_first_frame, method_factory=negative())
    work = tmp_path / "out.mp4.vidstyle"
    assert (work / "manifest.json").is_file()
    write_mask(mask, half_black(SIZE, black_until=0.25))  # same path, other content
    with pytest.raises(InputChanged, match="The mask changed"):
        resume(work, method_factory=negative())
    with pytest.raises(InputChanged, match="The mask changed"):
        stylize(source, out, settings=settings_for(style, mask), method_factory=negative())
    # The same mask moved to another folder resumes: its path may change, its content may not.
    write_mask(mask, half_black(SIZE))
    (tmp_path / "elsewhere").mkdir()
    moved = mask.rename(tmp_path / "elsewhere" / "mask.png")
    result = stylize(source, out, settings=settings_for(style, moved), method_factory=negative())
    assert result.frames == 4


def test_mask_settings_round_trip_through_the_manifest() -> None:
    # The mask's settings sit with the frame selection and round-trip through the manifest's JSON.
    from vidstyle.config import settings_from_json, settings_to_json

    settings = dataclasses.replace(Settings(), select=SelectConfig(mask=Path("/m.png"), mask_feather=3, mask_invert=True))
    assert settings_from_json(settings_to_json(settings)) == settings


def test_an_image_input_and_output(tmp_path: Path, style: Path) -> None:
    frame = scene(1)[0]
    source = write_mask(tmp_path / "in.png", frame)
    mask = write_mask(tmp_path / "mask.png", half_black(SIZE))
    out = tmp_path / "out.png"
    stylize(source, out, settings=settings_for(style, mask), method_factory=negative())
    result = cv2.imread(str(out))
    assert np.array_equal(result[:, :24], frame[:, :24])
    assert np.abs(result[:, 24:].astype(int) - frame[:, 24:].astype(int)).mean() > 40
