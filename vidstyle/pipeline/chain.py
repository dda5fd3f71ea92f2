"""Running one chain: stylize its frames in order into its sink, resumably.

:func:`run_chain` is the unit of work an executor (pipeline/executor.py)
hands to a worker. Everything it needs arrives in a picklable
:class:`ChainJob` (the plan, which chain, how to reopen the input and the
sink, the injected fault) plus the worker's method, a stop token and an
event callback; it keeps no module-level state, opens its own reader and
reads only its own frames, and returns a small :class:`ChainOutcome`.

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
    plan = job.plan
    chain = plan.chains[job.chain]
    ledger = WorkDir(job.sink.work).log(plan) if job.sink.work is not None else None
    sink = open_sink(job.sink, plan, ledger=ledger, faults=job.faults, on_event=on_event)
    records: list[FrameRecord] = []

    def outcome(stopped: bool) -> ChainOutcome:
        return ChainOutcome(chain=chain.index, records=tuple(records), stopped=stopped)

    done = sink.done(chain)
    first = next((p for p in chain.positions if p not in done), chain.stop)
    try:
        sink.settle(chain, first)
    except EncodeError:
        if stop.requested:
            return outcome(True)
        raise
    if first == chain.stop:
        return outcome(False)

    uses_previous = method.uses_previous
    if first == chain.start:
        begin = chain.warmup_start  # from cold, through the warmup if there is one
    else:
        begin = first - 1 if uses_previous else first
    previous_content: np.ndarray | None = None
    previous_stylized: np.ndarray | None = None
    with contextlib.ExitStack() as stack:
        if reader is None:
            reader = stack.enter_context(open_reader(job.source))
        for position, content in _working_frames(reader, plan, begin, chain.stop):
            if position >= chain.start and position in done:
                # Finished earlier (folder outputs may have gaps): only its pixels matter, to go on from.
                if uses_previous:
                    previous_content, previous_stylized = content, sink.stored(position)
                continue
            started = time.perf_counter()
            task = FrameTask(
                position=position,
                shot_offset=position - chain.shot_start,
                content=content,
                cold=position == chain.warmup_start,
                previous_content=previous_content,
                previous_stylized=previous_stylized,
            )
            try:
                result = method.stylize(task, on_step=_step_reporter(position, stop, job.faults, on_event))
            except _Abandoned:
                return outcome(True)
            if uses_previous:
                previous_content, previous_stylized = content, result.image
            if position < chain.start:
                continue  # a warmup frame: it only starts the chain warm
            record = _record(position, plan.frames.source_indices[position], result, time.perf_counter() - started)
            sink.write(position, result.image, record.to_json())
            records.append(record)
            on_event(FrameStylized(chain=chain.index, record=record))
            job.faults.at(FaultPoint.FRAME, position)
            try:
                sink.advance(chain, position)
            except EncodeError:
                if stop.requested:
                    return outcome(True)
                raise
            if stop.requested and position + 1 < chain.stop:
                return outcome(True)
    return outcome(False)


def _step_reporter(position: int, stop: StopToken, faults: Faults, on_event: ChainEventHandler) -> StepCallback:
    def on_step(step: int, budget: int, loss: float) -> None:
        if stop.requested:
            raise _Abandoned
        on_event(StepDone(frame=position, step=step, budget=budget, loss=loss))
        faults.at(FaultPoint.STEP, position, step)

    return on_step


def _working_frames(reader: FrameReader, plan: RunPlan, begin: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
    indices = plan.frames.source_indices[begin:stop]
    for offset, (_, frame) in enumerate(reader.read(indices)):
        yield begin + offset, resize(frame, plan.working_size)


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

