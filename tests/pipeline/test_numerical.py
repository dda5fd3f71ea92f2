"""Numerical faults: a NaN or inf during a frame's optimization never reaches a frame.

The frame is redone from its start with a safer optimizer (Adam at a low
rate); if that fails too, the run stops with a clear error and a work dir that
resumes to the frames of an uninterrupted run. Faults are injected through the
supported seam (VIDSTYLE_FAULT=nan:K, vidstyle/faults.py), with the real
optimizer and random VGG19 weights.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.mediatools import make_frames_folder, read_frames
from tests.pipeline.resume_worker import make_settings
from vidstyle.cli import app
from vidstyle.config import ModelConfig, OptimizeConfig, Optimizer, StyleConfig
from vidstyle.errors import NumericalError
from vidstyle.faults import ENV, FaultNotReached
from vidstyle.methods.optimize import safer_optimize
from vidstyle.model.build import build_core
from vidstyle.model.stylizer import NonFinite
from vidstyle.pipeline.events import Notice
from vidstyle.pipeline.run import resume, stylize
from vidstyle.pipeline.workdir import WorkDir


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    make_frames_folder(folder, 4, size=(40, 32))
    return folder


def _settings(style: Path, weights: Path):  # noqa: ANN202
    return make_settings(style=style, weights=weights, max_size=None, iterations=4, iterations_next=2, keep_work=True, cuts="off")


def test_a_nan_frame_is_redone_with_a_safer_optimizer(
    frames: Path, style: Path, random_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notices: list[str] = []
    monkeypatch.setenv(ENV, "nan:2")
    result = stylize(
        frames, tmp_path / "out", settings=_settings(style, random_weights),
        on_event=lambda e: notices.append(e.message) if isinstance(e, Notice) else None,
    )  # fmt: skip
    redone = [r for r in result.records if r.redone]
    assert [r.position for r in redone] == [2]
    assert redone[0].redone == "NaN or inf in the loss at step 1 with L-BFGS at lr 1; redone from its start with Adam at lr 0.01"
    assert f"Frame 3 of 4 was redone: {redone[0].redone}." in notices
    assert all(np.isfinite(r.loss) for r in result.records)
    written = read_frames(tmp_path / "out")
    assert len(written) == 4
    # Not garbage: the redone frame is a picture close to its neighbours, not a flat or noisy field.
    assert written[2].std() > 5 and float(np.abs(written[2].astype(int) - written[1].astype(int)).mean()) < 40


def test_a_frame_that_fails_again_stops_the_run_resumably(
    frames: Path, style: Path, random_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(style, random_weights)
    reference = stylize(frames, tmp_path / "reference", settings=settings)

    output = tmp_path / "out"
    monkeypatch.setenv(ENV, "nan:2:fail")
    with pytest.raises(NumericalError) as caught:
        stylize(frames, output, settings=settings)
    message = str(caught.value)
    assert message.startswith(
        "Frame 3 went numerically wrong (NaN or inf in the loss at step 1 with L-BFGS at lr 1), and again when redone "
        "with Adam at lr 0.01 (NaN or inf in the loss at step 1); nothing of it was written."
    ), message
    assert "The 2 finished frames are kept; resume with: " in message and "--restart" in message and "\n" not in message
    work = WorkDir(tmp_path / "out.vidstyle")
    assert [r["position"] for r in work.records()] == [0, 1], "frame 2 was not written, its neighbours were"
    assert sorted(p.name for p in output.glob("frame_*.png")) == ["frame_000001.png", "frame_000002.png"]

    monkeypatch.delenv(ENV)
    resumed = resume(work.root)
    assert resumed.stylized == 2
    for ours, theirs in zip(read_frames(output), read_frames(reference.output), strict=True):
        assert np.array_equal(ours, theirs), "the resumed run makes the frames of an uninterrupted one"


def test_the_cli_says_it_in_one_line(
    runner: CliRunner, frames: Path, style: Path, random_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "nan:0:fail")
    args = ["stylize", str(frames), "-s", str(style), "-o", str(tmp_path / "out.mp4"), "--weights", str(random_weights),
            "--max-size", "40", "--iterations", "3", "--iterations-next", "2", "--device", "cpu", "--cuts", "off"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip() and line.startswith("error:")]
    assert len(lines) == 1 and "Frame 1 went numerically wrong" in lines[0] and "resume with:" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "out.mp4").exists()


def test_a_nan_point_never_reached_is_an_error(
    frames: Path, style: Path, random_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "nan:9")
    with pytest.raises(FaultNotReached, match="nan:9"):
        stylize(frames, tmp_path / "out", settings=_settings(style, random_weights))


def test_the_stylizer_refuses_non_finite_values(style: Path, random_weights: Path) -> None:
    model = ModelConfig(weights=random_weights)
    core = build_core(model, StyleConfig(images=(style,)), OptimizeConfig(), content_size=(32, 24), cache_dir=None,
                      device=torch.device("cpu"))  # fmt: skip
    content = torch.rand(1, 3, 24, 32)
    start = content.clone()
    start[0, 1, 3, 4] = float("inf")
    with pytest.raises(NonFinite, match="starting image"):
        core.stylizer.stylize(content, init=content.clone() * start, budget=3)
    poisoned = content.clone()
    poisoned[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFinite, match="in the loss at step 1"):
        core.stylizer.stylize(poisoned, init=content.clone(), budget=3)


def test_the_safer_setting_is_a_slower_adam() -> None:
    assert safer_optimize(OptimizeConfig()).optimizer is Optimizer.ADAM
    assert safer_optimize(OptimizeConfig()).lr == pytest.approx(0.01)
    assert safer_optimize(OptimizeConfig(optimizer=Optimizer.ADAM, learning_rate=0.004)).lr == pytest.approx(0.002)


def test_all_black_frames_give_finite_losses(style: Path, random_weights: Path, tmp_path: Path) -> None:
    folder = tmp_path / "black"
    folder.mkdir()
    for i in range(3):
        assert cv2.imwrite(str(folder / f"{i}.png"), np.zeros((24, 32, 3), np.uint8))
    result = stylize(folder, tmp_path / "out", settings=_settings(style, random_weights))
    assert all(np.isfinite(r.loss) and not r.redone for r in result.records)
