"""Fast mode's budget that follows the clip, and --method auto (pipeline/budget.py).

The rules are checked on stated costs (a short clip gets a short training, a
long one the full; auto picks fast only where its full training pays off),
and through the CLI on a tiny clip with random weights: at 4 optimizer steps
a cold start and 2 a warm frame, the optimizer's estimate for 12 frames is 26
steps; half of that, less two keyframes of 4 steps, leaves room for a few
training steps at most (a batch of crops costs more than one frame's step),
far under the floor on any machine, so the budget is the floor,
MIN_TRAIN_STEPS, wherever it runs; the budget is recorded in the work dir and
a resume reads it instead of timing again; auto chooses the optimizer there,
and fast where the optimizer's estimate is made large (20 steps a warm frame)
and the training small (--train-steps 1), its choice read back on resume.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.mediatools import frame_image, make_frames_folder, read_frames
from vidstyle.cli import app
from vidstyle.config import FULL_TRAIN_STEPS, MethodConfig, MethodKind
from vidstyle.faults import ENV as FAULT_ENV
from vidstyle.methods.feedforward import load_model
from vidstyle.pipeline.budget import BUDGET_NAME, FRACTION, MIN_TRAIN_STEPS, Costs, choose_kind, training_steps
from vidstyle.pipeline.events import Notice, TrainingProgress
from vidstyle.pipeline import budget as budget_module
from vidstyle.pipeline.fast import FAST_DIR, MODEL_NAME, run_optimizer_step_seconds
from vidstyle.pipeline.run import resume
from vidstyle.pipeline.workdir import WorkDir

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAMES = 12


def costs(frames: int, *, shots: int = 1, workers: int = 1) -> Costs:
    """Costs shaped like the CPU benchmark's (docs/fast-mode.md): a training step about 3 optimizer steps."""
    keyframes = max(shots, round(frames / 100))
    return Costs(
        frames=frames, shots=shots, workers=workers, step_seconds=0.18, cold_steps=240, warm_steps=20, keyframes=keyframes,
        keyframe_seconds=keyframes * 240 * 0.18, train_step_seconds=0.53, apply_seconds=0.024,
    )  # fmt: skip


def test_a_short_clip_gets_a_short_training_and_a_long_clip_the_full_one() -> None:
    assert training_steps(costs(20)) == MIN_TRAIN_STEPS  # too short to pay off: the floor
    middle = training_steps(costs(300))
    assert MIN_TRAIN_STEPS < middle < FULL_TRAIN_STEPS
    assert costs(300).fast_seconds(middle) <= FRACTION * costs(300).optimizer_seconds  # the stated bound holds
    assert costs(300).fast_seconds(middle + 1) > FRACTION * costs(300).optimizer_seconds  # and is the most it allows
    assert training_steps(costs(500)) < training_steps(costs(2000)) == FULL_TRAIN_STEPS == training_steps(costs(100_000))
    # Workers share the optimizer's time but not the training: the same clip gets less of it.
    assert training_steps(costs(2000, workers=4)) < training_steps(costs(2000))


def test_cheap_and_full_training_steps_are_priced_apart() -> None:
    """Distillation-heavy training: one full step in four at its probe price, the others at the cheap steps' price."""
    mixed = replace(costs(150), cheap_step_seconds=0.1, full_every=4)
    assert mixed.training_seconds(8) == pytest.approx(2 * 0.53 + 6 * 0.1)  # steps 1 and 5 are full
    assert mixed.training_seconds(9) == pytest.approx(3 * 0.53 + 6 * 0.1)
    steps = training_steps(mixed)
    bound = FRACTION * mixed.optimizer_seconds
    assert mixed.fast_seconds(steps) <= bound < mixed.fast_seconds(steps + 1)  # the most the exact price allows
    assert steps > 2 * training_steps(costs(150))  # the same seconds buy more steps
    # A record written before cheap steps prices every step as full.
    assert costs(300).training_seconds(8) == pytest.approx(8 * 0.53)


def test_auto_picks_fast_only_where_its_full_training_pays_off() -> None:
    short, long = choose_kind(costs(300)), choose_kind(costs(3000))
    assert short.kind is MethodKind.OPTIMIZE and "too short" in short.reason and "300 frames" in short.reason
    assert long.kind is MethodKind.FAST and "3000 frames" in long.reason
    assert long.kind is MethodKind.FAST and costs(3000).fast_seconds(FULL_TRAIN_STEPS) <= FRACTION * costs(3000).optimizer_seconds
    # An explicit --train-steps is the budget auto weighs.
    assert choose_kind(costs(300), full=100).kind is MethodKind.FAST


class SteppingClock:
    """A perf_counter that moves only when a stand-in method takes a step (no wall time in the test)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class PricedMethod:
    """An optimizer stand-in whose every step costs ``step`` seconds on the clock."""

    identity, style_passes, uses_previous = "priced", 0, False

    def __init__(self, clock: SteppingClock, step: float) -> None:
        self.clock, self.step = clock, step

    def stylize(self, task: object, *, on_step: object) -> None:
        for _ in range(50):
            self.clock.now += self.step
            on_step(None)  # type: ignore[operator]  # the probe raises FrameAbandoned after its steps


def test_bf16_keyframes_price_the_optimizer_at_the_runs_own_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyframes in bf16 underpriced the fp32 optimizer (0.115 s against 701 s for the whole run, docs/fast-mode.md):
    the budget scales their mean step by how much slower the run's optimizer steps on the same frame."""
    clock = SteppingClock()
    monkeypatch.setattr(budget_module.time, "perf_counter", clock)
    timings = {45: (30.0, 250), 120: (28.0, 254)}  # keyframe seconds and steps, as recorded beside their PNGs
    keyframe_step = 58.0 / 504
    frame = np.zeros((8, 8, 3), np.uint8)
    keyframer, run_optimizer = PricedMethod(clock, 0.1), PricedMethod(clock, 0.17)
    assert run_optimizer_step_seconds(timings, keyframer, lambda: run_optimizer, frame) == pytest.approx(keyframe_step * 1.7)
    # Keyframes already in the run's precision (a GPU, or --precision fp32) are the price as they are.
    assert run_optimizer_step_seconds(timings, keyframer, None, frame) == pytest.approx(keyframe_step)


def test_explicit_train_steps_still_win() -> None:
    assert MethodConfig(kind=MethodKind.FAST).train_steps is None  # the default follows the clip
    assert MethodConfig(kind=MethodKind.FAST, train_steps=7).train_steps == 7


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("budget")
    make_frames_folder(folder / "frames", FRAMES, size=(48, 32))
    style = folder / "style.png"
    cv2.imwrite(str(style), frame_image(7, (40, 40)))
    return {"clip": folder / "frames", "style": style}


def args(media: dict[str, Path], output: Path, weights: Path, *extra: str, method: str = "fast", warm: int = 2) -> list[str]:
    return [
        "stylize", str(media["clip"]), "-s", str(media["style"]), "-o", str(output), "--weights", str(weights), "--method", method,
        "--keyframes", "6", "--iterations", "4", "--iterations-next", str(warm), "--cuts", "off", "-q", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def budgeted(media: dict[str, Path], random_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An uninterrupted fast run without --train-steps (folder output, work dir kept)."""
    folder = tmp_path_factory.mktemp("budgeted")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before conftest's one-thread fixture
    try:
        result = CliRunner().invoke(app, args(media, folder / "out", random_weights, "--keep-work"))
    finally:
        torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    return {"out": folder / "out", "work": folder / "out.vidstyle"}


def test_a_short_clip_is_trained_with_the_floor_budget_recorded_in_the_work_dir(budgeted: dict[str, Path]) -> None:
    record = json.loads((budgeted["work"] / FAST_DIR / BUDGET_NAME).read_text())
    assert record["train_steps"] == MIN_TRAIN_STEPS < FULL_TRAIN_STEPS
    assert record["costs"]["frames"] == FRAMES and record["costs"]["step_seconds"] > 0 and record["costs"]["train_step_seconds"] > 0
    trained = load_model(budgeted["work"] / FAST_DIR / MODEL_NAME)
    assert trained.settings["training"]["train_steps"] == MIN_TRAIN_STEPS  # type: ignore[index]
    assert len(read_frames(budgeted["out"])) == FRAMES
    method = WorkDir.read_manifest(budgeted["work"]).fingerprint["settings"]["method"]  # type: ignore[index]
    assert method["train_steps"] is None  # the rule, not a number, is the setting


def _child(arguments: list[str], fault: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", **{FAULT_ENV: fault})
    env.pop("VIDSTYLE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "vidstyle", *arguments], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_a_budgeted_run_killed_in_training_resumes_to_identical_frames(
    media: dict[str, Path], budgeted: dict[str, Path], random_weights: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    killed = _child(args(media, output, random_weights), "train:30")
    assert killed.returncode == -9, killed.stderr
    work = tmp_path / "out.vidstyle"
    assert json.loads((work / FAST_DIR / BUDGET_NAME).read_text())["train_steps"] == MIN_TRAIN_STEPS
    events: list[object] = []
    resume(work, on_event=events.append)
    steps = [e.step for e in events if isinstance(e, TrainingProgress)]
    assert steps[0] == 31 and steps[-1] == MIN_TRAIN_STEPS  # from the checkpoint at step 30, to the recorded budget
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(budgeted["out"]), read_frames(output), strict=True))


def test_a_resume_reads_the_recorded_budget_instead_of_timing_again(
    media: dict[str, Path], random_weights: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    killed = _child(args(media, output, random_weights), "train:10")
    assert killed.returncode == -9, killed.stderr
    record = tmp_path / "out.vidstyle" / FAST_DIR / BUDGET_NAME
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "train_steps": 12}))  # what another machine's timing might have decided
    events: list[object] = []
    resume(tmp_path / "out.vidstyle", on_event=events.append, overrides=lambda s: s.replace(run=s.run.__class__(**{**s.run.__dict__, "keep_work": True})))
    assert [e.step for e in events if isinstance(e, TrainingProgress)][-1] == 12
    assert load_model(tmp_path / "out.vidstyle" / FAST_DIR / MODEL_NAME).settings["training"]["train_steps"] == 12  # type: ignore[index]


def test_auto_on_a_short_clip_chooses_the_optimizer_and_says_why(
    media: dict[str, Path], random_weights: Path, runner: CliRunner, tmp_path: Path
) -> None:
    arguments = [a for a in args(media, tmp_path / "out", random_weights, "--keep-work", method="auto") if a != "-q"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Method auto: optimize." in said and "too short for fast mode to pay off" in said
    fingerprint = WorkDir.read_manifest(tmp_path / "out.vidstyle").fingerprint
    assert fingerprint["auto"]["kind"] == "optimize"  # type: ignore[index]  # the choice, kept for a resume
    assert fingerprint["settings"]["method"]["kind"] == "auto"  # type: ignore[index]
    assert not (tmp_path / "out.vidstyle" / FAST_DIR).exists() and len(read_frames(tmp_path / "out")) == FRAMES


def test_auto_chooses_fast_where_it_pays_off_and_a_resume_reads_the_choice_back(
    media: dict[str, Path], random_weights: Path, tmp_path: Path
) -> None:
    """With --train-steps 1 (the training auto weighs) and 20 optimizer steps a warm frame, fast pays off on 12 frames."""
    output = tmp_path / "out"
    killed = _child(args(media, output, random_weights, "--train-steps", "1", method="auto", warm=20), "frame:5")  # killed while applying
    assert killed.returncode == -9, killed.stderr
    work = tmp_path / "out.vidstyle"
    stored = WorkDir.read_manifest(work).fingerprint["auto"]
    assert stored["kind"] == "fast", stored  # type: ignore[index]
    events: list[object] = []
    resume(work, on_event=events.append)
    said = [e.message for e in events if isinstance(e, Notice) and e.message.startswith("Method auto")]
    assert said == [f"Method auto: fast. {stored['reason']}."]  # type: ignore[index]  # read back, not measured again
    assert len(read_frames(output)) == FRAMES
