"""Typed progress events: the core emits them, the CLI draws them, tests collect them.

A chain (pipeline/chain.py) reports StepDone, FrameStylized and
SegmentEncoded; the run passes them on, turning each FrameStylized into a
FrameDone with run-wide counts, rate and ETA.
"""

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
class CutScan:
    """Progress of the pass that looks for cuts before the first frame is stylized."""

    frames_done: int
    total_frames: int


@dataclass(frozen=True)
class ShotsPlanned:
    """The run's shots, found before the first frame (or read back from the manifest)."""

    shots: int
    cuts: tuple[int, ...]  # plan positions where shots after the first begin
    summary: str  # "3 shots; cuts at 0:01.0, 0:06.0" (times in the input)
    detected: bool  # True when the cuts were found by this run's detection pass
    seconds: float  # spent looking for them (0 when read back or listed)


@dataclass(frozen=True)
class StepDone:
    frame: int  # 0-based position in the plan
    step: int
    budget: int
    loss: float


@dataclass(frozen=True)
class FrameRecord:
    """What one frame cost: written to the work dir's per-frame log and returned in RunResult.records."""

    position: int
    source_index: int
    steps: int
    stopped_early: bool
    loss: float
    content_loss: float
    style_loss: float
    temporal_loss: float
    seconds: float
    flow_seconds: float

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FrameStylized:
    """A chain finished a frame (chain-level; the run turns it into FrameDone)."""

    chain: int
    record: FrameRecord


@dataclass(frozen=True)
class FrameDone:
    frame: int
    total_frames: int
    frames_done: int  # frames of the run finished so far, by this process or earlier ones
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
    shots: str = ""  # "3 shots; cuts at 0:01.0, 0:06.0"; empty for an image


Event = CutScan | ShotsPlanned | RunStarted | StepDone | FrameDone | SegmentEncoded | Notice | RunFinished
EventHandler = Callable[[Event], None]
ChainEvent = StepDone | FrameStylized | SegmentEncoded
ChainEventHandler = Callable[[ChainEvent], None]


def ignore(_event: Event) -> None:
    """The default handler: drop events."""
