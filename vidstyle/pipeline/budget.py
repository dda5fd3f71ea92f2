"""Fast mode's training budget and ``--method auto``'s choice: rules over costs measured in the run, decided once.

Both compare fast mode's whole cost with what the optimizer would take on the
same clip, estimated from one measured optimizer step::

    optimizer  = step_s x (shots x cold_steps + (frames - shots) x warm_steps) / workers
    fast       = keyframes_s + full_steps x full_step_s + cheap_steps x cheap_step_s + frames x apply_s / workers

(``cold_steps``: a cold start's steps, the keyframes' own mean once they are
done; ``warm_steps``: --iterations-next; full and cheap training steps, see
methods/feedforward.py FastConfig.full_every, each priced by its own probe
steps: with every step full, as by default, the cheap term is empty.
``step_s`` is the keyframes' mean step; where they run in bf16 and the run's
optimizer would not (a CPU), it is scaled by how much slower that optimizer's
step is on the same frame (pipeline/fast.py run_optimizer_step_seconds): the
bf16 step alone had priced a 150-frame optimizer run at 399 s that took 701 s,
and fast mode stopped at 0.31x of it with its picture still short.)

Cut detection, flow, encoding and writing frames are left out of both sides.
Both runs do most of that work, and a fixed amount added to both raises the
cheaper one's share, so the rule aims at :data:`FRACTION` (0.45x) to hold the
whole fast run under the 0.5x it promises.

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

FRACTION = 0.45  # the rule aims here, under the promised 0.5x: the estimates leave out work both runs do (see above)
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
    train_step_seconds: float  # a full training step (the feature network's terms)
    apply_seconds: float  # one frame through the network
    # Distillation-heavy training (methods/feedforward.py FastConfig.full_every): every
    # `full_every`-th step is full, the others cheap (the network's own pass), each
    # priced by its own probe steps. A record written before cheap steps has neither.
    cheap_step_seconds: float | None = None  # None: every step is full
    full_every: int = 1

    def training_seconds(self, steps: int) -> float:
        """Seconds of ``steps`` training steps: the full ones at the full step's price, the cheap ones at theirs."""
        full = -(-max(0, steps) // max(1, self.full_every))  # steps 1, 1 + full_every, ... (feedforward.is_full_step)
        cheap = self.train_step_seconds if self.cheap_step_seconds is None else self.cheap_step_seconds
        return full * self.train_step_seconds + (steps - full) * cheap

    @property
    def mean_step_seconds(self) -> float:
        """A training step's mean price over one period of the schedule."""
        return self.training_seconds(max(1, self.full_every)) / max(1, self.full_every)

    @property
    def optimizer_seconds(self) -> float:
        steps = self.shots * self.cold_steps + max(0, self.frames - self.shots) * self.warm_steps
        return self.step_seconds * steps / max(1, self.workers)

    def fast_seconds(self, steps: int) -> float:
        return self.keyframe_seconds + self.training_seconds(steps) + self.frames * self.apply_seconds / max(1, self.workers)


def training_steps(costs: Costs, *, full: int = FULL_TRAIN_STEPS, fraction: float = FRACTION) -> int:
    """The budget: the most steps with ``fast <= fraction x optimizer``, within [MIN_TRAIN_STEPS, full]."""
    bound = fraction * costs.optimizer_seconds
    mean = costs.mean_step_seconds
    steps = math.floor((bound - costs.fast_seconds(0)) / mean) + costs.full_every if mean > 0 else full
    steps = min(full, steps)
    while steps > 0 and costs.fast_seconds(steps) > bound:  # the schedule's last period may not fit: the exact price decides
        steps -= 1
    return max(steps, min(MIN_TRAIN_STEPS, full))


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
        f"estimated {optimizer:.0f} s at {costs.step_seconds:.3f} s a step; {_step_prices(costs)})"
    )
    if ratio > fraction:
        return head + f". The clip is too short for fast mode to pay off (over {fraction}x); --method optimize would not be slower."
    if steps < full:
        # Measured on 150 frames at 128 px (docs/fast-mode.md, 2026-12-07): 534-591 steps, style loss 1.21-1.32x the optimizer's.
        return head + f". Shorter than the full {full}, so the picture comes out softer; --method optimize suits a clip this short."
    return head + "."


def _step_prices(costs: Costs) -> str:
    if costs.cheap_step_seconds is None or costs.full_every <= 1:
        return f"a training step {costs.train_step_seconds:.3f} s"
    return (
        f"a training step {costs.mean_step_seconds:.3f} s on average: one full step in {costs.full_every} at "
        f"{costs.train_step_seconds:.3f} s, the others {costs.cheap_step_seconds:.3f} s"
    )


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
