"""--max-size auto in a run (pipeline/autosize.py): 256 on a CPU, said in the run's first lines, kept in the manifest for resume."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

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
)
from vidstyle.errors import ResumeError
from vidstyle.pipeline import autosize
from vidstyle.pipeline.events import RunStarted
from vidstyle.pipeline.run import resume, stylize
from vidstyle.pipeline.workdir import MANIFEST
from tests.mediatools import make_clip, read_frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", width=96, height=64, frames=3, audio=False)


def settings(style: Path, weights: Path, **select: object) -> Settings:
    """Fast settings on the CPU: random weights, 2 + 1 steps, no cut pass, frames written at the working size, work kept."""
    return Settings(
        model=ModelConfig(weights=weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations=2, iterations_next=1),
        select=SelectConfig(output_size=OutputSize.WORKING, **select),  # type: ignore[arg-type]
        shots=ShotsConfig(cuts="off"),
        run=RunConfig(keep_work=True),
    )


class _Crash(Exception):
    """Raised from the event handler after the first frame: the work dir is left as a kill would leave it."""


def _events(into: list[object], *, crash_after_frames: int | None = None):  # noqa: ANN202
    def on_event(event: object) -> None:
        into.append(event)
        if crash_after_frames is not None and type(event).__name__ == "FrameDone" and event.frames_done >= crash_after_frames:  # type: ignore[attr-defined]
            raise _Crash

    return on_event


def _started(events: list[object]) -> RunStarted:
    return next(e for e in events if isinstance(e, RunStarted))


def test_auto_on_a_cpu_makes_the_frames_of_max_size_256_and_says_why(clip: Path, style: Path, random_weights: Path, tmp_path: Path) -> None:
    assert SelectConfig().max_size == "auto"  # the default
    auto_events: list[object] = []
    stylize(clip, tmp_path / "auto", settings=settings(style, random_weights), on_event=_events(auto_events))
    fixed_events: list[object] = []
    stylize(clip, tmp_path / "fixed", settings=settings(style, random_weights, max_size=256), on_event=_events(fixed_events))

    auto, fixed = read_frames(tmp_path / "auto"), read_frames(tmp_path / "fixed")
    assert len(auto) == 3 and all(np.array_equal(a, b) for a, b in zip(auto, fixed, strict=True))
    assert _started(auto_events).working_size == _started(fixed_events).working_size == (96, 64)
    assert _started(auto_events).size_choice == "256 (auto: a CPU; --max-size N for another size)"
    assert _started(fixed_events).size_choice == ""
    manifest = json.loads((tmp_path / "auto.vidstyle" / MANIFEST).read_text())
    assert manifest["size_choice"] == {"max_size": 256, "reason": "256 (auto: a CPU; --max-size N for another size)"}
    assert manifest["settings"]["select"]["max_size"] == "auto"  # as asked: rerunning the command resumes
    assert "size_choice" not in json.loads((tmp_path / "fixed.vidstyle" / MANIFEST).read_text())


def test_a_resumed_auto_run_keeps_the_recorded_size_and_measures_nothing(
    clip: Path, style: Path, random_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    stylize(clip, reference, settings=settings(style, random_weights))
    output, work = tmp_path / "out", tmp_path / "out.vidstyle"
    with pytest.raises(_Crash):
        stylize(clip, output, settings=settings(style, random_weights), on_event=_events([], crash_after_frames=1))
    # The record is what a resume reads: mark its reason to see it come back.
    data = json.loads((work / MANIFEST).read_text())
    data["size_choice"]["reason"] = "256 (auto: as recorded)"
    (work / MANIFEST).write_text(json.dumps(data))

    def measure_again(*_: object, **__: object) -> object:
        raise AssertionError("--max-size auto was chosen again on resume")

    monkeypatch.setattr(autosize, "choose_max_size", measure_again)
    events: list[object] = []
    result = resume(work, on_event=_events(events))
    assert result.stylized == 2 and _started(events).size_choice == "256 (auto: as recorded)"
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(output), read_frames(reference), strict=True))
    monkeypatch.undo()

    # On an auto run's work dir an explicit size is a change of settings, refused before anything is measured.
    again = tmp_path / "again"
    with pytest.raises(_Crash):
        stylize(clip, again, settings=settings(style, random_weights), on_event=_events([], crash_after_frames=1))
    with pytest.raises(ResumeError, match=r"select.max_size: 'auto' -> 256"):
        stylize(clip, again, settings=settings(style, random_weights, max_size=256))


def test_a_manifest_with_auto_but_no_recorded_size_is_damaged(clip: Path, style: Path, random_weights: Path, tmp_path: Path) -> None:
    output, work = tmp_path / "out", tmp_path / "out.vidstyle"
    with pytest.raises(_Crash):
        stylize(clip, output, settings=settings(style, random_weights), on_event=_events([], crash_after_frames=1))
    data = json.loads((work / MANIFEST).read_text())
    del data["size_choice"]
    (work / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(ResumeError, match="is damaged .*--max-size auto without the size it chose.*--restart"):
        resume(work)


def test_the_cli_takes_auto_or_pixels_and_refuses_anything_else(runner, clip: Path, style: Path, random_weights: Path, tmp_path: Path) -> None:  # noqa: ANN001
    help_text = " ".join(runner.invoke(app, ["stylize", "--help"]).output.split())
    assert "--max-size" in help_text and "<px|auto>" in help_text and "[default: auto]" in help_text
    base = ["stylize", str(clip), "-s", str(style), "--weights", str(random_weights), "--iterations", "2", "--iterations-next", "1",
            "--device", "cpu", "--cuts", "off", "--output-size", "working"]  # fmt: skip
    bad = runner.invoke(app, [*base, "-o", str(tmp_path / "bad.mp4"), "--max-size", "big"])
    assert bad.exit_code == 2 and "--max-size 'big' is not a size; give a number of pixels (e.g. 512) or auto." in bad.stderr
    done = runner.invoke(app, [*base, "-o", str(tmp_path / "small"), "--max-size", "48"])
    assert done.exit_code == 0, done.stderr
    assert read_frames(tmp_path / "small")[0].shape[:2] == (32, 48) and "Working size" not in done.stderr
    done = runner.invoke(app, [*base, "-o", str(tmp_path / "auto"), "--max-size", "AUTO"])
    assert done.exit_code == 0, done.stderr
    assert "Working size 96x64: --max-size 256 (auto: a CPU" in done.stderr


def test_the_web_form_takes_auto_or_pixels(style: Path) -> None:
    from vidstyle.web.worker import settings_from_form

    assert settings_from_form({"styles": [str(style)]}).select.max_size == "auto"
    assert settings_from_form({"styles": [str(style)], "max_size": " auto "}).select.max_size == "auto"
    assert settings_from_form({"styles": [str(style)], "max_size": "384"}).select.max_size == 384


def test_an_image_input_with_auto_is_256_on_a_cpu(style: Path, random_weights: Path, tmp_path: Path) -> None:
    image = tmp_path / "in.png"
    cv2.imwrite(str(image), (np.random.default_rng(1).random((40, 60, 3)) * 255).astype(np.uint8))
    events: list[object] = []
    stylize(image, tmp_path / "out.png", settings=settings(style, random_weights), on_event=_events(events))
    assert _started(events).size_choice.startswith("256 (auto: a CPU") and cv2.imread(str(tmp_path / "out.png")).shape == (40, 60, 3)


def test_the_measuring_path_reads_the_first_frame_and_chooses_among_sizes_up_to_the_source(clip: Path, style: Path, random_weights: Path) -> None:
    """What a CUDA GPU runs (pipeline/autosize.py measure_max_size), here on the CPU: the 96x64 clip's one candidate is its own size."""
    import torch

    from vidstyle.video.sources import open_source

    with open_source(clip) as source:
        choice = autosize.measure_max_size(settings(style, random_weights), source, device=torch.device("cpu"))
    # Whether a step at 96 px fits the budget depends on this CPU; either way the size is the clip's own and the reason says why.
    assert choice.max_size == 96
    assert choice.reason.startswith("96 (auto: a warm frame (1 step) takes") or choice.reason.startswith("96 (auto: the smallest size; 96 would take")
