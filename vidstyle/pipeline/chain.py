"""Running one chain: stylize its frames in order into its sink, resumably.

:func:`run_chain` is the unit of work an executor (pipeline/executor.py)
hands to a worker. Everything it needs arrives in a picklable
:class:`ChainJob` (the plan, which chain, how to reopen the input and the
sink, the injected fault) plus the worker's method, a stop token and an
event callback; it keeps no module-level state, opens its own reader and
reads only its own frames, and returns a small :class:`ChainOutcome`.

The bookkeeping lives in :class:`ChainRun`, a cursor over one chain: it
hands out the next :class:`~vidstyle.methods.base.FrameTask` and takes its
result. run_chain drives one cursor with one method call per frame; an
executor that batches several chains on one device can drive several
cursors in lockstep, one batched call per round.

Resumable on its own: it asks its sink which of its frames an earlier run
finished, lets the sink finish what a kill interrupted (a segment to encode),
and goes on after them. A warm frame always starts from the previous
stylized frame as stored (uint8), whether it was just made or read back
after a crash, so a resumed chain gives the frames of an uninterrupted one.
A chain whose first output frame is not its shot's first stylizes its
``warmup`` frames first, from cold, and throws them away.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vidstyle.errors import EncodeError
from vidstyle.faults import FaultPoint, Faults
from vidstyle.methods.base import FrameResult, FrameTask, Method, StepCallback
from vidstyle.pipeline.chains import RunPlan
from vidstyle.pipeline.events import ChainEventHandler, FrameRecord, FrameStylized, StepDone
from vidstyle.pipeline.workdir import WorkDir
from vidstyle.video.pixels import resize
from vidstyle.video.sinks import SinkSpec, open_sink
from vidstyle.video.sources import FrameReader, SourceSpec, open_reader


class StopToken(Protocol):
    """Set when the run should stop (Ctrl-C, SIGTERM): pipeline/interrupt.py StopFlag."""

    @property
    def requested(self) -> bool: ...


@dataclass(frozen=True)
class ChainJob:
    plan: RunPlan
    chain: int  # index into plan.chains
    source: SourceSpec
    sink: SinkSpec
    faults: Faults = Faults()


@dataclass(frozen=True)
class ChainOutcome:
    chain: int
    records: tuple[FrameRecord, ...]  # frames this call stylized, in order
    stopped: bool  # stopped by the stop token before the chain was complete


class ChainRun:
    """One chain, one frame at a time: what to stylize next, and where its result goes.

    Use as a context manager (it holds a frame reader unless one is given).
    ``settle()`` first, then ``next_task()`` / ``finish()`` until
    ``next_task()`` returns None.
    """

    def __init__(self, job: ChainJob, *, uses_previous: bool, on_event: ChainEventHandler, reader: FrameReader | None = None) -> None:
        self.job = job
        self.plan = job.plan
        self.chain = job.plan.chains[job.chain]
        self.uses_previous = uses_previous
        self.on_event = on_event
        self.records: list[FrameRecord] = []
        ledger = WorkDir(job.sink.work).log(self.plan) if job.sink.work is not None else None
        self.sink = open_sink(job.sink, self.plan, ledger=ledger, faults=job.faults, on_event=on_event)
        self.done = self.sink.done(self.chain)
        self.first = next((p for p in self.chain.positions if p not in self.done), self.chain.stop)
        self._stack = contextlib.ExitStack()
        self._reader = reader
        self._frames: Iterator[tuple[int, np.ndarray]] | None = None
        self._previous_content: np.ndarray | None = None
        self._previous_stylized: np.ndarray | None = None

    def __enter__(self) -> ChainRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def settle(self) -> None:
        """Finish what a killed run left of this chain (a segment to encode); may raise EncodeError."""
        self.sink.settle(self.chain, self.first)

    def _working_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        chain = self.chain
        if self.first == chain.start:
            begin = chain.warmup_start  # from cold, through the warmup if there is one
        else:
            begin = self.first - 1 if self.uses_previous else self.first
        if self._reader is None:
            self._reader = self._stack.enter_context(open_reader(self.job.source))
        indices = self.plan.frames.source_indices[begin : chain.stop]
        for offset, (_, frame) in enumerate(self._reader.read(indices)):
            yield begin + offset, resize(frame, self.plan.working_size)

    def next_task(self) -> FrameTask | None:
        """The next frame to stylize, or None when the chain is complete."""
        if self.first == self.chain.stop:
            return None
        if self._frames is None:
            self._frames = self._working_frames()
        for position, content in self._frames:
            if position >= self.chain.start and position in self.done:
                # Finished earlier (folder outputs may have gaps): only its pixels matter, to go on from.
                if self.uses_previous:
                    self._previous_content, self._previous_stylized = content, self.sink.stored(position)
                continue
            return FrameTask(
                position=position,
                shot_offset=position - self.chain.shot_start,
                content=content,
                cold=position == self.chain.warmup_start,
                previous_content=self._previous_content,
                previous_stylized=self._previous_stylized,
            )
        return None

    def finish(self, task: FrameTask, result: FrameResult, seconds: float) -> None:
        """Keep a warmup frame's result for the next frame; write an output frame, report it, encode its segment.

        May raise EncodeError (the segment's encode).
        """
        if self.uses_previous:
            self._previous_content, self._previous_stylized = task.content, result.image
        position = task.position
        if position < self.chain.start:
            return  # a warmup frame: it only starts the chain warm
        record = _record(position, self.plan.frames.source_indices[position], result, seconds)
        self.sink.write(position, result.image, record.to_json())
        self.records.append(record)
        self.on_event(FrameStylized(chain=self.chain.index, record=record))
        self.job.faults.at(FaultPoint.FRAME, position)
        self.sink.advance(self.chain, position)

    def outcome(self, stopped: bool) -> ChainOutcome:
        return ChainOutcome(chain=self.chain.index, records=tuple(self.records), stopped=stopped)


class _Abandoned(Exception):
    """Raised from the step callback when a stop was requested: the frame in progress is dropped."""


def run_chain(
    job: ChainJob,
    *,
    method: Method,
    stop: StopToken,
    on_event: ChainEventHandler,
    reader: FrameReader | None = None,
) -> ChainOutcome:
    """Stylize the frames of ``job.chain`` that are not done yet; see the module docstring.

    ``reader``: an open reader of ``job.source`` to use (an executor running
    chains one after another passes the same one, so a video is not decoded
    again from its start for every chain); by default the chain opens its own.
    """
    with ChainRun(job, uses_previous=method.uses_previous, on_event=on_event, reader=reader) as run:
        try:
            run.settle()
            while (task := run.next_task()) is not None:
                started = time.perf_counter()
                try:
                    result = method.stylize(task, on_step=_step_reporter(task.position, stop, job.faults, on_event))
                except _Abandoned:
                    return run.outcome(True)
                run.finish(task, result, time.perf_counter() - started)
                if stop.requested and task.position >= run.chain.start and task.position + 1 < run.chain.stop:
                    return run.outcome(True)
        except EncodeError:
            if stop.requested:  # an encode cut short by the stop: the segment is encoded on resume
                return run.outcome(True)
            raise
        return run.outcome(False)


def _step_reporter(position: int, stop: StopToken, faults: Faults, on_event: ChainEventHandler) -> StepCallback:
    def on_step(step: int, budget: int, loss: float) -> None:
        if stop.requested:
            raise _Abandoned
        on_event(StepDone(frame=position, step=step, budget=budget, loss=loss))
        faults.at(FaultPoint.STEP, position, step)

    return on_step


def _record(position: int, source_index: int, result: FrameResult, seconds: float) -> FrameRecord:
    return FrameRecord(
        position=position,
        source_index=source_index,
        steps=result.steps,
        stopped_early=result.stopped_early,
        loss=result.loss,
        content_loss=result.content_loss,
        style_loss=result.style_loss,
        temporal_loss=result.temporal_loss,
        seconds=seconds,
        flow_seconds=result.flow_seconds,
    )
