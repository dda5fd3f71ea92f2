"""Preview sheets: N frames spread over the input's shots, inputs above their stylized frames, labels and a caption.

The layout tests use a stand-in method that inverts each frame, so every
result tile can be checked pixel for pixel against its input tile; the CLI
tests run the real optimizer on random VGG19 weights at a tiny size.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.mediatools import decode_all, frame_number, hard_cut_folder, make_clip, make_frames_folder
from vidstyle.cli import app
from vidstyle.config import ModelConfig, OptimizeConfig, PreviewConfig, SelectConfig, Settings, ShotsConfig, StyleConfig
from vidstyle.errors import UsageError
from vidstyle.methods.base import FrameOutcome, FrameResult, FrameTask, StepCallback
from vidstyle.pipeline.events import CutScan, FrameDone, RunFinished, RunStarted, ShotsPlanned, StepDone
from vidstyle.pipeline.preview import pick_positions, preview
from vidstyle.video.pixels import resize
from vidstyle.video.sheet import BACKGROUND, Box


class _Invert:
    """A method that paints the negative of each frame, and checks that every preview frame starts cold."""

    identity = "invert"
    style_passes = 0
    uses_previous = False

    def __init__(self) -> None:
        self.tasks: list[FrameTask] = []

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult:
        assert task.cold and task.previous_stylized is None
        self.tasks.append(task)
        on_step(StepDone(frame=task.position, step=1, budget=1, loss=0.5))
        return FrameResult(255 - task.content, FrameOutcome(task.position, 1, False, 0.5, {"content": 0.1, "style": 0.4, "temporal": 0.0}))


def _factory(method: _Invert):  # noqa: ANN202
    def factory(settings: Settings, size: tuple[int, int]) -> _Invert:
        assert settings.temporal.mode.value == "none"  # previews never tie frames together
        return method

    return factory


def _settings(style: Path, max_size: int | None = 48, cuts: str = "off") -> Settings:
    # The layout tests' frames (frame_image: a texture jumping 5 px a frame, wrapping around) fail the
    # photometric check frame after frame, as no real footage does: they are one shot by --cuts off.
    return Settings(style=StyleConfig(images=(style,)), select=SelectConfig(max_size=max_size), shots=ShotsConfig(cuts=cuts))


def _has_text(image: np.ndarray, box: Box) -> bool:
    """Light text pixels on the sheet's dark background."""
    return int((box.crop(image) > 150).any(axis=2).sum()) >= 5


def _is_background(image: np.ndarray, box: Box) -> bool:
    return bool((box.crop(image) == np.array(BACKGROUND, np.uint8)).all())


def test_positions_are_the_middles_of_equal_parts() -> None:
    assert pick_positions(12, 3) == [2, 6, 10]
    assert pick_positions(100, 4) == [12, 37, 62, 87]
    assert pick_positions(3, 8) == [0, 1, 2]  # never more frames than there are
    assert pick_positions(1, 4) == [0]
    assert pick_positions(12, 3, cuts=[]) == [2, 6, 10]


def test_positions_are_spread_over_the_shots() -> None:
    # Shots [0, 10) and [10, 30): one frame each, in its shot's middle.
    assert pick_positions(30, 2, cuts=[10]) == [5, 20]
    # More frames than shots: the extra ones go to the longer shot.
    assert pick_positions(30, 4, cuts=[10]) == [5, 13, 20, 26]
    # Fewer frames than shots: the longest shots, a 2-frame flash is skipped.
    assert pick_positions(30, 2, cuts=[10, 12]) == [5, 21]
    assert pick_positions(30, 3, cuts=[10, 12]) == [5, 11, 21]
    assert pick_positions(4, 8, cuts=[2]) == [0, 1, 2, 3]  # never more frames than there are


def test_folder_sheet_has_inputs_above_results_with_labels(tmp_path: Path, style: Path) -> None:
    folder = tmp_path / "frames"
    make_frames_folder(folder, 12, size=(64, 48))
    method = _Invert()
    events: list[object] = []
    result = preview(
        folder, tmp_path / "sheet.png", settings=_settings(style), config=PreviewConfig(frames=3),
        on_event=events.append, method_factory=_factory(method),
    )  # fmt: skip

    sheet = cv2.imread(str(result.sheet))
    assert (sheet.shape[1], sheet.shape[0]) == result.size
    assert result.tile_size == (48, 36)
    assert [f.position for f in result.frames] == [2, 6, 10]
    assert [t.position for t in method.tasks] == [2, 6, 10]
    # One row of inputs, the results right under them, left to right in time.
    assert [b.y for b in result.inputs] == [result.inputs[0].y] * 3
    assert [b.x for b in result.inputs] == sorted(b.x for b in result.inputs)
    for label, inp, out in zip(result.labels, result.inputs, result.results):
        assert (inp.width, inp.height) == (out.width, out.height) == (48, 36)
        assert out.x == inp.x and out.y > inp.y + inp.height
        assert label.y + label.height == inp.y  # the label band sits right above its input
    for number, inp, out in zip([2, 6, 10], result.inputs, result.results):
        tile = inp.crop(sheet)
        assert frame_number(tile) == number
        assert np.array_equal(out.crop(sheet), 255 - tile)
    # Labels carry the times (24 fps for a folder): drawn text in each band, background between tiles.
    assert all(_has_text(sheet, label) for label in result.labels)
    assert [round(f.time, 4) for f in result.frames] == [round(n / 24, 4) for n in (2, 6, 10)]
    assert _has_text(sheet, result.caption)
    gap = Box(result.inputs[0].x + 48, result.inputs[0].y, result.inputs[1].x - result.inputs[0].x - 48, 36)
    assert gap.width > 0 and _is_background(sheet, gap)
    kinds = [type(e) for e in events]
    assert kinds[:2] == [ShotsPlanned, RunStarted] and kinds[-1] is RunFinished
    assert events[0].summary == "1 shot"  # --cuts off: one shot, and no frame looked at for cuts
    assert CutScan not in kinds
    assert kinds.count(FrameDone) == 3 and kinds.count(StepDone) == 3
    assert [e.frames_done for e in events if isinstance(e, FrameDone)] == [1, 2, 3]


def test_video_sheet_shows_the_decoded_frames_and_wraps_into_blocks(tmp_path: Path, style: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=20, audio=False)
    decoded = decode_all(clip)
    result = preview(
        clip, tmp_path / "sheet.png", settings=_settings(style, max_size=None), config=PreviewConfig(frames=5, columns=3),
        method_factory=_factory(_Invert()),
    )  # fmt: skip
    sheet = cv2.imread(str(result.sheet))
    positions = [2, 6, 10, 14, 18]
    assert [f.position for f in result.frames] == positions
    # Three frames in the first block, two in the second, each block's results under its inputs.
    assert len({b.y for b in result.inputs}) == 2 and len({b.y for b in result.results}) == 2
    assert result.inputs[3].y > result.results[0].y
    assert result.inputs[3].x == result.inputs[0].x
    for position, box in zip(positions, result.inputs):
        assert np.array_equal(box.crop(sheet), decoded[position]), position
    assert (sheet.shape[1], sheet.shape[0]) == result.size


def test_single_image_gives_one_frame_labelled_with_its_name(tmp_path: Path, style: Path) -> None:
    make_frames_folder(tmp_path, 1, size=(40, 30), names=["photo.png"])
    result = preview(
        tmp_path / "photo.png", tmp_path / "sheet.jpg", settings=_settings(style), method_factory=_factory(_Invert())
    )
    sheet = cv2.imread(str(result.sheet))
    assert len(result.frames) == 1 and result.frames[0].time is None
    assert len(result.inputs) == len(result.results) == 1
    photo = cv2.imread(str(tmp_path / "photo.png"))
    assert np.abs(result.inputs[0].crop(sheet).astype(int) - photo).mean() < 6  # a JPEG sheet
    assert np.abs(result.results[0].crop(sheet).astype(int) - (255 - photo)).mean() < 6
    assert _has_text(sheet, result.labels[0])


def test_a_sheet_path_without_an_image_extension_is_refused_before_any_work(tmp_path: Path, style: Path) -> None:
    make_frames_folder(tmp_path / "f", 3)
    method = _Invert()
    with pytest.raises(UsageError, match="image extension"):
        preview(tmp_path / "f", tmp_path / "sheet.mp4", settings=_settings(style), method_factory=_factory(method))
    assert method.tasks == []


# ------------------------------------------------------------------ shots


def test_a_clip_with_a_hard_cut_shows_its_two_shots_one_frame_each(tmp_path: Path, style: Path) -> None:
    clip = hard_cut_folder(tmp_path / "clip")
    method = _Invert()
    events: list[object] = []
    result = preview(
        clip, tmp_path / "sheet.png", settings=_settings(style, cuts="auto"), config=PreviewConfig(frames=2),
        on_event=events.append, method_factory=_factory(method),
    )  # fmt: skip
    # The run's detection, on the same frames: the cut at frame 16, 16/24 s in.
    assert result.cuts == (16,)
    assert result.shots == "2 shots; cuts at 0:00.7"
    planned = [e for e in events if isinstance(e, ShotsPlanned)]
    assert [(e.shots, e.cuts, e.summary, e.detected) for e in planned] == [(2, (16,), "2 shots; cuts at 0:00.7", True)]
    scans = [e for e in events if isinstance(e, CutScan)]
    assert scans[-1].frames_done == scans[-1].total_frames == 32
    # The shots come before the first frame is stylized; one frame from the middle of each shot.
    assert events.index(planned[0]) < next(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    assert [(f.position, f.shot) for f in result.frames] == [(8, 0), (24, 1)]
    sheet = cv2.imread(str(result.sheet))
    frames = sorted((tmp_path / "clip").glob("*.png"))
    for position, box in zip((8, 24), result.inputs):
        assert np.array_equal(box.crop(sheet), resize(cv2.imread(str(frames[position])), (48, 36)))


def test_cuts_off_or_listed_cuts_decide_the_shots_as_in_a_run(tmp_path: Path, style: Path) -> None:
    clip = hard_cut_folder(tmp_path / "clip")

    def shots(cuts: str) -> tuple[object, list[object]]:
        events: list[object] = []
        settings = _settings(style, cuts=cuts)
        result = preview(clip, tmp_path / f"sheet-{cuts}.png", settings=settings, config=PreviewConfig(frames=2),
                         on_event=events.append, method_factory=_factory(_Invert()))  # fmt: skip
        return result, events

    result, events = shots("off")
    assert (result.shots, result.cuts) == ("1 shot", ())
    assert not any(isinstance(e, CutScan) for e in events)  # no frame looked at
    assert [f.position for f in result.frames] == [8, 24]
    result, events = shots("10f")
    assert (result.shots, result.cuts) == ("2 shots; cuts at 0:00.4", (10,))
    assert [(f.position, f.shot) for f in result.frames] == [(5, 0), (21, 1)]


# ------------------------------------------------------------------ CLI, real optimizer (random weights)


def _invoke(*args: object):  # noqa: ANN202
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_preview_of_a_video(tmp_path: Path, style: Path, random_weights: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=12, audio=False)
    sheet = tmp_path / "sheet.png"
    result = _invoke(
        "preview", clip, "--style", style, "--output", sheet, "--frames", 2, "--weights", random_weights,
        "--max-size", 32, "--iterations", 2, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.strip() == str(sheet)
    image = cv2.imread(str(sheet))
    # Two 32x24 tiles side by side, two rows of them, and a caption naming the settings.
    assert image.shape[1] == 8 + 2 * (32 + 8)
    assert image.shape[0] > 2 * (18 + 24 + 8)


def test_cli_preview_prints_the_shots(tmp_path: Path, style: Path, random_weights: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=16, audio=False)
    result = _invoke(
        "preview", clip, "--style", style, "--output", tmp_path / "sheet.png", "--frames", 2, "--weights", random_weights,
        "--max-size", 32, "--iterations", 1, "--cuts", "0.5",
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert "2 shots; cuts at 0:00.5" in result.stderr


def test_cli_preview_refuses_bad_options_in_one_line(tmp_path: Path, style: Path) -> None:
    make_frames_folder(tmp_path / "f", 3)
    result = _invoke("preview", tmp_path / "f", "--style", style, "--output", tmp_path / "s.png", "--frames", 0)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error:") and "--frames" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_stylize_preview_writes_a_sheet_from_the_finished_run(tmp_path: Path, style: Path, random_weights: Path) -> None:
    folder = tmp_path / "frames"
    make_frames_folder(folder, 6, size=(32, 24))
    out = tmp_path / "out"
    sheet = tmp_path / "run.png"
    result = _invoke(
        "stylize", folder, "--style", style, "--output", out, "--weights", random_weights, "--iterations", 2,
        "--iterations-next", 1, "--cuts", "off", "--preview", sheet, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.split() == [str(out), str(sheet)]
    image = cv2.imread(str(sheet))
    assert image is not None
    # Four frames of the six (positions 0, 2, 3, 5): inputs at the top, the run's own frames under them.
    outputs = sorted(out.glob("*.png"))
    first_result = image[8 + 18 + 24 + 8 + 18 : 8 + 18 + 24 + 8 + 18 + 24, 8 : 8 + 32]
    assert np.array_equal(first_result, cv2.imread(str(outputs[0])))
    assert frame_number(image[8 + 18 : 8 + 18 + 24, 8 : 8 + 32]) == 0
    assert image.shape[1] == 8 + 4 * (32 + 8)


def test_stylize_refuses_a_bad_preview_path_before_the_run(tmp_path: Path, style: Path) -> None:
    make_frames_folder(tmp_path / "f", 3)
    result = _invoke("stylize", tmp_path / "f", "--style", style, "--output", tmp_path / "out", "--preview", tmp_path / "sheet.txt")
    assert result.exit_code == 2 and "image extension" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.vidstyle").exists()


def test_frames_are_resized_like_the_run(tmp_path: Path, style: Path) -> None:
    """The input tiles are the frames at the run's working size, as the optimizer saw them."""
    folder = tmp_path / "frames"
    paths = make_frames_folder(folder, 4, size=(80, 60))
    result = preview(folder, tmp_path / "s.png", settings=_settings(style, max_size=40), config=PreviewConfig(frames=1),
                     method_factory=_factory(_Invert()))  # fmt: skip
    sheet = cv2.imread(str(result.sheet))
    expected = resize(cv2.imread(str(paths[2])), (40, 30))
    assert np.array_equal(result.inputs[0].crop(sheet), expected)
