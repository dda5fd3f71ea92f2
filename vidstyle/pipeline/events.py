"""Typed progress events: the core emits them, the CLI draws them, tests collect them.

A chain (pipeline/chain.py) reports StepDone, FrameStylized and
SegmentEncoded; the run passes them on, turning each FrameStylized into a
FrameDone with run-wide counts, rate and ETA.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vidstyle.methods.base import FrameOutcome
from vidstyle.methods.feedforward import TrainingStep
from vidstyle.model.stylizer import StepReport
from vidstyle.pipeline.eta import EtaEstimator, WorkLeft
from vidstyle.video.sinks import SegmentEncoded  # the video layer's event, passed on with the run's


@dataclass(frozen=True)
class RunStarted:
    total_frames: int
    already_done: int  # frames finished by an earlier, interrupted run
    working_size: tuple[int, int]
    output: Path
    work_dir: Path | None
    size_choice: str = ""  # --max-size auto: the size chosen and why (model/autosize.py); "" for a size in pixels


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


# One optimizer step of a frame: the optimizer's own record (model/stylizer.py), its frame set by the method.
StepDone = StepReport


# The run's per-frame record is the method's own (methods/base.py), passed on unchanged;
# FrameRecord is its earlier name, kept for ``vidstyle.pipeline.run``'s export.
FrameRecord = FrameOutcome


@dataclass(frozen=True)
class FrameStylized:
    """A chain finished a frame (chain-level; the run turns it into FrameDone)."""

    chain: int
    record: FrameOutcome


@dataclass(frozen=True)
class FrameDone:
    """A frame of the run finished: its record as the method made it, with the run-wide counts, rate and ETA."""

    record: FrameOutcome
    total_frames: int
    frames_done: int  # frames of the run finished so far, by this process or earlier ones
    frames_per_second: float  # over the frames stylized by this process
    eta_seconds: float | None  # cold starts and warm frames left, each at its observed cost (pipeline/eta.py)

    @property
    def frame(self) -> int:
        return self.record.position

    @property
    def steps(self) -> int:
        return self.record.steps

    @property
    def stopped_early(self) -> bool:
        return self.record.stopped_early

    @property
    def loss(self) -> float:
        return self.record.loss

    @property
    def terms(self) -> Mapping[str, float]:
        return self.record.terms

    @property
    def style_loss(self) -> float:
        return self.record.style_loss

    @property
    def content_loss(self) -> float:
        return self.record.content_loss

    @property
    def seconds(self) -> float:
        return self.record.seconds


@dataclass(frozen=True)
class Notice:
    """Something the user should read (resuming, skipping, what was chosen)."""

    message: str


@dataclass(frozen=True)
class KeyframeDone:
    """Fast mode: one keyframe stylized by the optimizer (or found done by an earlier, interrupted run)."""

    done: int  # keyframes finished so far
    total: int
    position: int  # in the plan
    seconds: float  # this keyframe's time (0 when it was found done)


# Fast mode: one training step of the network done. The one training-progress record is
# the trainer's own (methods/feedforward.py TrainingStep, with every term by name), passed on unchanged.
TrainingProgress = TrainingStep


@dataclass(frozen=True)
class RunFinished:
    output: Path
    frames: int
    seconds: float
    shots: str = ""  # "3 shots; cuts at 0:01.0, 0:06.0"; empty for an image


Event = (
    CutScan | ShotsPlanned | KeyframeDone | TrainingProgress | RunStarted | StepDone | FrameDone | SegmentEncoded | Notice
    | RunFinished
)
EventHandler = Callable[[Event], None]
ChainEvent = StepDone | FrameStylized | SegmentEncoded | Notice
ChainEventHandler = Callable[[ChainEvent], None]


def ignore(_event: Event) -> None:
    """The default handler: drop events."""


class RunProgress:
    """Turns the chains' FrameStylized into run-wide FrameDone events (done/total, rate, ETA); passes the rest on.

    The ETA comes from an :class:`~vidstyle.pipeline.eta.EtaEstimator` over
    the frames left of each kind (``left``); ``warmups`` are the frames a chain
    stylizes and discards before its first output frame (pipeline/chains.py),
    counted as done when that frame arrives. Without ``left`` the ETA is the
    plain rate-based one.
    """

    def __init__(
        self,
        total: int,
        already_done: int,
        on_event: EventHandler,
        *,
        left: WorkLeft | None = None,
        estimator: EtaEstimator | None = None,
        warmups: dict[int, WorkLeft] | None = None,
        todo_by_chain: dict[int, int] | None = None,
    ) -> None:
        self.total = total
        self.done = already_done
        self.stylized = 0
        self.on_event = on_event
        self.started = time.perf_counter()
        self.left = left
        self.estimator = estimator
        self.warmups = dict(warmups or {})
        self.todo_by_chain = dict(todo_by_chain or {})

    def _eta(self, record: FrameOutcome, chain: int, rate: float) -> float | None:
        if self.left is None or self.estimator is None:
            remaining = self.total - self.done
            return remaining / rate if rate > 0 else None
        warmup = self.warmups.pop(chain, WorkLeft(0, 0))
        cold = self.left.cold - warmup.cold - (1 if record.cold else 0)
        warm = self.left.warm - warmup.warm - (0 if record.cold else 1)
        if chain in self.todo_by_chain:
            self.todo_by_chain[chain] -= 1
        chains = sum(1 for frames in self.todo_by_chain.values() if frames > 0) if self.todo_by_chain else self.left.chains
        self.left = WorkLeft(cold=max(0, cold), warm=max(0, warm), chains=chains)
        self.estimator.observe(cold=record.cold, seconds=record.seconds, steps=record.steps)
        return self.estimator.seconds_left(self.left)

    def __call__(self, event: ChainEvent) -> None:
        if not isinstance(event, FrameStylized):
            self.on_event(event)
            return
        self.done += 1
        self.stylized += 1
        record = event.record
        elapsed = time.perf_counter() - self.started
        rate = self.stylized / elapsed if elapsed > 0 else 0.0
        self.on_event(
            FrameDone(
                record=record,
                total_frames=self.total,
                frames_done=self.done,
                frames_per_second=rate,
                eta_seconds=self._eta(record, event.chain, rate),
            )
        )
