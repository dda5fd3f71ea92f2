"""Fast mode's training budget and ``--method auto``'s choice: rules over costs measured in the run, decided once.

Both compare fast mode's whole cost with what the optimizer would take on the
same clip, estimated from one measured optimizer step::

    optimizer  = step_s x (shots x cold_steps + (frames - shots) x warm_steps) / workers
    fast       = keyframes_s + train_steps x train_step_s + frames x apply_s / workers

(``cold_steps``: a cold start's steps, the keyframes' own mean once they are
done; ``warm_steps``: --iterations-next. The optimizer's cut detection, flow
and encoding are left out of its estimate, and where fast mode's keyframes run
in bf16 their step prices the optimizer's fp32 step too, so the estimate
errs on the optimizer's cheap side: fast mode is held to less than the rule says.)

* **Budget** (``--method fast`` without ``--train-steps``): the most training
  steps that keep ``fast <= FRACTION x optimizer``, at most the full
  :data:`~vidstyle.config.FULL_TRAIN_STEPS` and at least
  :data:`MIN_TRAIN_STEPS` (a clip too short to pay for even those gets them,
  with a notice that says so). The step and apply times are measured on the
  clip (a few probe steps), after the keyframes, which time the optimizer step.
* **auto**: fast when its *full* training fits the same bound (the clip is
  long enough that fast mode pays off at full quality), else the optimizer.

A timing is not a resume's to measure again: the budget is recorded in the
work dir (``fast/budget.json``) before the training starts, and auto's choice
in the run's fingerprint (pipeline/run.py), so a resumed run trains to the
same weights and writes the same frames.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidstyle.config import FULL_TRAIN_STEPS, MethodKind
from vidstyle.files import write_bytes_atomic
from vidstyle.methods.base import FrameAbandoned, FrameTask, Method

FRACTION = 0.5  # fast mode's whole run costs at most this fraction of the optimizer's estimated time
MIN_TRAIN_STEPS = 100  # a budget never goes below this (then the notice says the clip is too short to pay off)
BUDGET_NAME = "budget.json"  # in the work dir's fast/ folder
_PROBE_STEPS = 3  # optimizer steps timed (after one untimed) to price a step


@dataclass(frozen=True)
class Costs:
    """What the rules weigh, in seconds measured in this run (see the module docstring)."""

    frames: int
    shots: int
    workers: int
    step_seconds: float  # one optimizer step at the working size
    cold_steps: float  # steps of a cold start (the keyframes' mean, or --iterations before they exist)
    warm_steps: int  # --iterations-next
    keyframes: int
    keyframe_seconds: float  # all keyframes: measured, or (auto) keyframes x cold_steps x step_seconds
    train_step_seconds: float
    apply_seconds: float  # one frame through the network

    @property
    def optimizer_seconds(self) -> float:
        steps = self.shots * self.cold_steps + max(0, self.frames - self.shots) * self.warm_steps
        return self.step_seconds * steps / max(1, self.workers)

    def fast_seconds(self, steps: int) -> float:
        return self.keyframe_seconds + steps * self.train_step_seconds + self.frames * self.apply_seconds / max(1, self.workers)


def training_steps(costs: Costs, *, full: int = FULL_TRAIN_STEPS, fraction: float = FRACTION) -> int:
    """The budget: the most steps with ``fast <= fraction x optimizer``, within [MIN_TRAIN_STEPS, full]."""
    left = fraction * costs.optimizer_seconds - costs.fast_seconds(0)
    steps = math.floor(left / costs.train_step_seconds) if costs.train_step_seconds > 0 else full
    return max(min(full, steps), min(MIN_TRAIN_STEPS, full))


@dataclass(frozen=True)
class Choice:
    kind: MethodKind
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "reason": self.reason}

    @classmethod
    def from_json(cls, data: object) -> Choice | None:
        if isinstance(data, dict) and isinstance(data.get("reason"), str):
            try:
                return cls(MethodKind(data.get("kind")), data["reason"])
            except ValueError:
                return None
        return None


def choose_kind(costs: Costs, *, full: int = FULL_TRAIN_STEPS, fraction: float = FRACTION) -> Choice:
    """``--method auto``: fast when its full training keeps it within ``fraction`` of the optimizer's time, else optimize."""
    optimizer, fast = costs.optimizer_seconds, costs.fast_seconds(full)
    ratio = fast / optimizer if optimizer > 0 else math.inf
    figures = (
        f"{costs.frames} frames; fast mode with its full training ({full} steps) would take about {fast:.0f} s, "
        f"{ratio:.2f}x the optimizer's estimated {optimizer:.0f} s"
    )
    if ratio <= fraction:
        return Choice(MethodKind.FAST, f"{figures} (fast where that is at most {fraction}x)")
    return Choice(MethodKind.OPTIMIZE, f"{figures}: too short for fast mode to pay off (it must be at most {fraction}x)")


def describe_budget(costs: Costs, steps: int, *, full: int = FULL_TRAIN_STEPS, fraction: float = FRACTION) -> str:
    """The budget's notice: how many steps and why."""
    optimizer = costs.optimizer_seconds
    ratio = costs.fast_seconds(steps) / optimizer if optimizer > 0 else math.inf
    head = (
        f"Training budget: {steps} of {full} steps for {costs.frames} frames (fast mode about {ratio:.2f}x the optimizer's "
        f"estimated {optimizer:.0f} s at {costs.step_seconds:.3f} s a step; a training step {costs.train_step_seconds:.3f} s)"
    )
    if ratio > fraction:
        return head + f". The clip is too short for fast mode to pay off (over {fraction}x); --method optimize would not be slower."
    if steps < full:
        # Measured on 60 frames at 128 px (docs/fast-mode.md): 174 steps, style loss 4x the optimizer's, the picture a blur.
        return head + f". Shorter than the full {full}, so the picture comes out softer; --method optimize suits a clip this short."
    return head + "."


def record_budget(folder: Path, costs: Costs, steps: int) -> None:
    """Write the budget once, before the training starts (a resume reads it instead of timing again)."""
    data = {"train_steps": steps, "fraction": FRACTION, "costs": asdict(costs), "optimizer_seconds": costs.optimizer_seconds}
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / BUDGET_NAME, json.dumps(data, indent=1).encode())


def recorded_budget(folder: Path) -> int | None:
    """The step budget this run recorded before it was interrupted, or None."""
    try:
        data = json.loads((folder / BUDGET_NAME).read_text())
        steps = data["train_steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return steps if isinstance(steps, int) and steps >= 1 else None


def optimizer_step_seconds(method: Method, frame: np.ndarray) -> float:
    """Seconds of one optimizer step on ``frame`` (a cold start cut short after a few steps; the first is not timed)."""
    marks: list[float] = []

    def on_step(_report: object) -> None:
        marks.append(time.perf_counter())
        if len(marks) > _PROBE_STEPS:
            raise FrameAbandoned

    task = FrameTask(position=0, shot_offset=0, content=frame, cold=True, previous_content=None, previous_stylized=None)
    try:
        method.stylize(task, on_step=on_step)
    except FrameAbandoned:
        pass
    if len(marks) < 2:
        return 0.0
    return (marks[-1] - marks[0]) / (len(marks) - 1)
