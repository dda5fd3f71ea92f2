"""Typed progress events: the core emits them, the CLI draws them, tests collect them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunStarted:
    total_frames: int
    already_done: int  # frames finished by an earlier, interrupted run
    working_size: tuple[int, int]
    output: Path
    work_dir: Path | None


@dataclass(frozen=True)
class StepDone:
    frame: int  # 0-based position in the plan
    step: int
    budget: int
    loss: float


@dataclass(frozen=True)
class FrameDone:
    frame: int
    total_frames: int
    steps: int
    stopped_early: bool
    loss: float
    style_loss: float
    content_loss: float
    seconds: float
    frames_per_second: float  # over the frames stylized by this process
    eta_seconds: float | None


@dataclass(frozen=True)
class SegmentEncoded:
    segment: int
    frames: int


@dataclass(frozen=True)
class Notice:
    """Something the user should read (resuming, skipping, what was chosen)."""

    message: str


@dataclass(frozen=True)
class RunFinished:
    output: Path
    frames: int
    seconds: float


Event = RunStarted | StepDone | FrameDone | SegmentEncoded | Notice | RunFinished
EventHandler = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The default handler: drop events."""
