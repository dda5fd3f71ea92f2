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
``warmup`` frames first, from cold, and the chain before it cross-fades into
them (pipeline/chains.py says why; :class:`ChainRun` how).

The CPU work around the optimizer runs beside it (pipeline/overlap.py):
the next frames are decoded, resized and prepared by the method (optical
flow) on a read-ahead thread, and finished frames are written, logged and
their segments encoded on a write-behind thread, in order. Everything a
frame's successor needs from it (its stylized pixels) stays in memory, so
the successor does not wait for the write. The per-frame log says where the
time went (decode, flow, optimize, and what the chain waited for).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidstyle.config import FlowPreset
from vidstyle.errors import EncodeError, VidstyleError
from vidstyle.faults import FaultPoint, Faults
from vidstyle.files import png_is_complete, remove_files, write_image_atomic
from vidstyle.methods.base import (
    FrameAbandoned,
    FrameOutcome,
    FrameResult,
    FrameTask,
    GivenStart,
    Method,
    Prepare,
    Preparing,
    StepCallback,
    StopToken,
)
from vidstyle.pipeline.chains import Chain, RunPlan, fade_weight
from vidstyle.pipeline.events import ChainEventHandler, FrameStylized, Notice, StepDone
from vidstyle.pipeline.overlap import ReadAhead, WriteBehind
from vidstyle.pipeline.workdir import WorkDir
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.inbetween import composite, key_positions, make_inbetween
from vidstyle.video.pixels import working_frame
from vidstyle.video.sinks import Sink, SinkSpec, open_sink
from vidstyle.video.sources import FrameReader, SourceSpec, open_reader, read_image


@dataclass(frozen=True)
class InbetweenSpec:
    """``--inbetween N``: the chain stylizes every Nth frame (and its last); the frames between are made from those."""

    every: int
    flow_preset: FlowPreset = FlowPreset.MEDIUM
    soft_mask: bool = False
    photometric: float | None = None  # the photometric threshold (None: --cuts off, no photometric check)
    fill_steps: int = 5  # steps of the short optimization that fills what neither key frame vouches for


@dataclass(frozen=True)
class ChainJob:
    plan: RunPlan
    chain: int  # index into plan.chains
    source: SourceSpec
    sink: SinkSpec
    faults: Faults = Faults()
    inbetween: InbetweenSpec | None = None


@dataclass(frozen=True)
class ChainOutcome:
    chain: int
    records: tuple[FrameOutcome, ...]  # frames this call stylized, in order
    stopped: bool  # stopped by the stop token before the chain was complete


def finished_positions(plan: RunPlan, chain: Chain, sink: Sink) -> set[int]:
    """The positions of ``chain`` an earlier run finished, as a chain going on from them sees it.

    A chain cut short inside its fade redoes the whole fade (its frames are
    blends, and the chain's own frame before each is not stored), so those
    frames only count once the chain is complete.
    """
    done = sink.done(chain)
    fade = plan.fade_of(chain)
    if fade and not set(chain.positions) <= done:
        done -= set(fade)
    return done


def _blend(own: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    mixed = own.astype(np.float32) * np.float32(1.0 - weight) + other.astype(np.float32) * np.float32(weight)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


class ChainRun:
    """One chain, one frame at a time: what to stylize next, and where its result goes.

    Use as a context manager (it holds a frame reader unless one is given).
    ``settle()`` first, then ``next_task()`` / ``finish()`` until
    ``next_task()`` returns None.

    Besides its own frames, a chain may hand out the frames of the *next*
    chain's warmup: a chain that fades into the next one needs that chain's
    warmup frames to blend with, and computes them itself unless they are
    already stored (work dir ``warmup/``). Whichever of the two chains gets
    there first stores them for the other; they are a pure function of the
    input, so both would compute the same pixels.
    """

    def __init__(
        self,
        job: ChainJob,
        *,
        uses_previous: bool,
        on_event: ChainEventHandler,
        reader: FrameReader | None = None,
        prepare: Prepare | None = None,
        overlap: bool = True,
    ) -> None:
        """``prepare``: the method's per-frame work that needs only input frames (methods/base.py), run ahead.

        ``overlap``: read ahead and write behind on threads (False: all in the caller's thread).
        """
        self.job = job
        self.plan = job.plan
        self.chain = job.plan.chains[job.chain]
        self.fade = self.plan.fade_of(self.chain)
        self.uses_previous = uses_previous
        self.on_event = on_event
        self.records: list[FrameOutcome] = []
        ledger = WorkDir(job.sink.work).log(self.plan) if job.sink.work is not None else None
        self.sink = open_sink(job.sink, self.plan, ledger=ledger, faults=job.faults, on_event=on_event)
        self.done = finished_positions(self.plan, self.chain, self.sink)
        self.first = next((p for p in self.chain.positions if p not in self.done), self.chain.stop)
        self._warmups = job.sink.work / "warmup" if job.sink.work is not None else None
        self._stack = contextlib.ExitStack()
        self._reader = reader
        self._tasks: Iterator[FrameTask] | None = None
        self._previous_content: np.ndarray | None = None
        self._previous_stylized: np.ndarray | None = None
        self._prepare = prepare
        self._overlap = overlap
        self._ahead: ReadAhead[tuple[int, np.ndarray]] | None = None
        self._writer: WriteBehind | None = None
        self._decode_seconds: dict[int, float] = {}  # position -> seconds spent decoding and resizing it
        self._last_output: int | None = None  # the last output frame handed to the sink
        self._blend_with: dict[int, np.ndarray] | None = None  # the next chain's warmup frames, over this chain's fade
        self._for_next = False  # the task handed out belongs to the next chain's warmup
        self._next_result: np.ndarray | None = None
        self._previous_needs: bool | None = None  # the previous chain still needs this chain's warmup frames
        # Full-size source frames of positions decoded and not yet written, kept
        # when the output is larger than the working size: the sink upsamples
        # guided by them. At most the read-ahead, a fade and the frames waiting
        # to be written (a handful, even at 4K).
        self._keep_sources = job.sink.needs_source(self.plan)
        self._sources: dict[int, np.ndarray] = {}
        self._sources_lock = threading.Lock()
        # --inbetween: the key frames, and what finish() hands back to the script for a key or a fill.
        self._between = job.inbetween if job.inbetween is not None and job.inbetween.every > 1 else None
        self._keys: list[int] | None = None
        if self._between is not None:
            if self.chain.warmup or self.fade:
                raise ValueError("--inbetween runs one chain per shot (no warmup, no fade)")
            self._keys = key_positions(self.chain.start, self.chain.stop, self._between.every)
        self._keyset = set(self._keys or ())
        self._keydir = job.sink.work / "keys" if job.sink.work is not None else None
        self._handed: tuple[np.ndarray, FrameOutcome, str] | None = None

    def __enter__(self) -> ChainRun:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._ahead is not None:
                self._ahead.close()
            if self._writer is not None:
                self._writer.close()
        finally:
            self._stack.close()

    def flush(self) -> None:
        """Wait until every finished frame is written, logged and encoded; raise what that raised."""
        if self._writer is not None:
            self._writer.flush()

    def stop_before(self, task: FrameTask, stop: StopToken) -> bool:
        """Before ``task``'s result is kept: wait for the frame before it to be written; True to stop here.

        The previous frame's write ran beside this frame's optimization. A stop
        asked for by then (Ctrl-C, or an observer of the previous frame's
        event) drops this frame, as a stop during its steps would, so a chain
        stops right after the last frame whose event was seen, with or without
        the write-behind thread.
        """
        self.flush()
        return stop.requested and self._last_output is not None and task.position > self._last_output

    @property
    def waited(self) -> float:
        """Seconds this chain's caller spent waiting for the read-ahead and write-behind threads."""
        return (self._ahead.waited if self._ahead is not None else 0.0) + (self._writer.waited if self._writer is not None else 0.0)

    def settle(self) -> None:
        """Finish what a killed run left of this chain (a segment to encode); may raise EncodeError."""
        self.sink.settle(self.chain, self.first)

    def _working_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        chain = self.chain
        if self._keys is not None:
            # From the last key frame before the first frame to make: the next key starts from it.
            earlier = [k for k in self._keys if k < self.first]
            begin = earlier[-1] if earlier else chain.start
        elif self.first == chain.start:
            begin = chain.warmup_start  # from cold, through the warmup if there is one
        else:
            begin = self.first - 1 if self.uses_previous else self.first
        if self._reader is None:
            self._reader = self._stack.enter_context(open_reader(self.job.source))
        indices = self.plan.frames.source_indices[begin : chain.stop]
        frames = self._decoded(begin, self._reader.read(indices))
        if not self._overlap:
            return frames
        self._ahead = ReadAhead(frames)
        return self._ahead

    def _decoded(self, begin: int, frames: Iterator[tuple[int, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
        """Working frames (working size, on their canvas: --edge-margin) from ``begin`` on, each prepared for the
        method once its predecessor is known."""
        previous: np.ndarray | None = None
        previous_key: np.ndarray | None = None
        position = begin
        while True:
            started = time.perf_counter()
            item = next(frames, None)
            if item is None:
                return
            content = working_frame(item[1], self.plan.working_size, self.plan.margin)
            if self._keep_sources:
                with self._sources_lock:
                    self._sources[position] = item[1]
            self._decode_seconds[position] = time.perf_counter() - started
            if self._prepare is not None:
                if self._keys is None:
                    self._prepare(position, previous, content)
                elif position in self._keyset:  # a key frame starts from the previous key frame
                    self._prepare(position, previous_key, content)
            if position in self._keyset:
                previous_key = content
            yield position, content
            previous = content
            position += 1

    # -- stored warmup frames -------------------------------------------------
    def _warmup_path(self, position: int) -> Path:
        assert self._warmups is not None
        return self._warmups / f"{position:06d}.png"

    def _load_warmup(self, positions: range) -> dict[int, np.ndarray] | None:
        """Stored warmup frames at ``positions``, or None unless every one is there and complete."""
        if self._warmups is None or not positions:
            return None
        images = {}
        for position in positions:
            path = self._warmup_path(position)
            if not png_is_complete(path, self.plan.canvas_size):
                return None
            try:
                images[position] = read_image(path)
            except VidstyleError:  # removed by the other chain meanwhile: compute them
                return None
        return images

    def _store_warmup(self, position: int, image: np.ndarray) -> None:
        if self._warmups is not None:
            self._warmups.mkdir(parents=True, exist_ok=True)
            write_image_atomic(self._warmup_path(position), image)

    def _drop_warmup(self, positions: range, *, once_done: Chain) -> None:
        """Remove stored warmup frames once ``once_done``, the other chain that uses them, no longer needs them."""
        if self._warmups is None or self.job.sink.keep_frames or not positions:
            return
        other = self.sink.done(once_done)
        needed = set(self.plan.fade_of(once_done)) if once_done.index < self.chain.index else {once_done.start}
        if needed <= other:
            remove_files(self._warmup_path(p) for p in positions)

    # -- the tasks ----------------------------------------------------------------
    def _task(self, position: int, content: np.ndarray) -> FrameTask:
        return FrameTask(
            position=position,
            shot_offset=position - self.chain.shot_start,
            content=content,
            cold=position == self.chain.warmup_start,
            previous_content=self._previous_content,
            previous_stylized=self._previous_stylized,
            faults=self.job.faults,
        )

    def _next_warmup(self, frames: list[tuple[int, np.ndarray]]) -> Generator[FrameTask, None, dict[int, np.ndarray]]:
        """The next chain's warmup over this chain's fade, as that chain computes it: cold, then warm."""
        images: dict[int, np.ndarray] = {}
        previous: tuple[np.ndarray, np.ndarray] | None = None
        for position, content in frames:
            self._for_next = True
            yield FrameTask(
                position=position,
                shot_offset=position - self.chain.shot_start,
                content=content,
                cold=previous is None,
                previous_content=previous[0] if previous is not None and self.uses_previous else None,
                previous_stylized=previous[1] if previous is not None and self.uses_previous else None,
                faults=self.job.faults,
            )
            self._for_next = False
            assert self._next_result is not None
            images[position] = self._next_result
            previous = (content, self._next_result)
        return images

    def _script(self) -> Iterator[FrameTask]:
        chain = self.chain
        frames = self._working_frames()
        pending: list[tuple[int, np.ndarray]] = []
        stored_warmup: dict[int, np.ndarray] | None = None
        if self.first == chain.start and chain.warmup:
            # The frame before this chain's first, stylized by whichever chain got there first.
            stored_warmup = self._load_warmup(range(chain.start - 1, chain.start))
        while True:
            if pending:
                position, content = pending.pop(0)
            else:
                item = next(frames, None)
                if item is None:
                    return
                position, content = item
            if position < chain.start:  # this chain's warmup
                if stored_warmup is not None:
                    if position == chain.start - 1:
                        self._previous_content, self._previous_stylized = content, stored_warmup[position]
                    continue
                yield self._task(position, content)
                continue
            if self.fade and position == self.fade.start and self._blend_with is None:
                pending = [(position, content), *itertools.islice(frames, len(self.fade) - 1)]
                self._blend_with = self._load_warmup(self.fade)
                if self._blend_with is None:
                    self._blend_with = yield from self._next_warmup(pending)
                position, content = pending.pop(0)
            if position in self.done:
                # Finished earlier (folder outputs may have gaps): only its pixels matter, to go on from.
                if self.uses_previous:
                    self._previous_content, self._previous_stylized = content, self.sink.stored(position)
                continue
            yield self._task(position, content)

    def next_task(self) -> FrameTask | None:
        """The next frame to stylize, or None when the chain is complete."""
        if self.first == self.chain.stop:
            return None
        if self._tasks is None:
            self._tasks = self._script() if self._keys is None else self._script_inbetween()
        return next(self._tasks, None)

    def finish(self, task: FrameTask, result: FrameResult, seconds: float) -> None:
        """Keep a warmup frame's result for the next frame; write an output frame, report it, encode its segment.

        May raise EncodeError (the segment's encode).
        """
        position = task.position
        if self._keys is not None:  # a key frame or an in-between's fill: the script writes it, in order
            record = result.outcome.placed(
                source_index=self.plan.frames.source_indices[position],
                seconds=seconds,
                cold=task.cold and task.given is None,
                decode_seconds=self._decode_seconds.pop(position, 0.0),
            )
            self._handed = (result.image, record, result.redone)
            return
        if self._for_next:  # the next chain's warmup, to blend this chain's fade with
            self._next_result = result.image
            self._store_warmup(position, result.image)
            return
        if self.uses_previous:
            self._previous_content, self._previous_stylized = task.content, result.image
        if position < self.chain.start:  # a warmup frame: it only starts the chain warm
            if self._needs_storing():
                self._store_warmup(position, result.image)
            return
        image = result.image
        if position in self.fade:
            assert self._blend_with is not None
            image = _blend(result.image, self._blend_with[position], fade_weight(self.fade, position))
        # Cold: started without a previous frame (every frame when the method uses none), so given the first-frame budget.
        cold = task.cold or not self.uses_previous
        record = result.outcome.placed(
            source_index=self.plan.frames.source_indices[position],
            seconds=seconds,
            cold=cold,
            decode_seconds=self._decode_seconds.pop(position, 0.0),
        )
        self._emit(position, image, record, result.redone)

    def _emit(self, position: int, image: np.ndarray, record: FrameOutcome, redone: str) -> None:
        """Hand a finished output frame to the writer (in order)."""
        self._last_output = position
        source = self._take_source(position)
        if self._overlap:
            if self._writer is None:
                self._writer = WriteBehind()
            self._writer.submit(lambda: self._output(position, image, record, redone, source))
        else:
            self._output(position, image, record, redone, source)

    # -- in-betweens (--inbetween) ----------------------------------------------------
    def _key_path(self, position: int) -> Path:
        assert self._keydir is not None
        return self._keydir / f"{position:06d}.png"

    def _store_key(self, position: int, image: np.ndarray) -> None:
        """Keep a key frame until the next one is written: the in-betweens after a resume are made from it
        (a video sink drops a frame's PNG once its segment is encoded)."""
        if self._keydir is not None:
            self._keydir.mkdir(parents=True, exist_ok=True)
            write_image_atomic(self._key_path(position), image)

    def _stored_key(self, position: int) -> np.ndarray:
        if self._keydir is not None and png_is_complete(self._key_path(position), self.plan.canvas_size):
            try:
                return read_image(self._key_path(position))
            except VidstyleError:
                pass
        return self.sink.stored(position)

    def _drop_key(self, position: int) -> None:
        if self._keydir is not None and not self.job.sink.keep_frames:
            remove_files([self._key_path(position)])

    def _script_inbetween(self) -> Iterator[FrameTask]:
        """Key frames in order, each warm from the previous key; after each, the frames since the previous key, then it.

        Frames are written in order: the in-betweens between keys a and b once b
        is made, then b. A key started from key a as stored (uint8), in an
        uninterrupted and a resumed run alike.
        """
        assert self._between is not None
        spec = self._between
        flow = FlowEstimator(spec.flow_preset)
        before: tuple[int, np.ndarray, np.ndarray] | None = None  # the last key: position, content, stylized
        between: list[tuple[int, np.ndarray]] = []
        for position, content in self._working_frames():
            if position not in self._keyset:
                between.append((position, content))
                continue
            key_record: tuple[FrameOutcome, str] | None = None
            if position in self.done:
                stylized = self._stored_key(position)
            else:
                yield FrameTask(
                    position=position,
                    shot_offset=position - self.chain.shot_start,
                    content=content,
                    cold=before is None,
                    previous_content=before[1] if before is not None else None,
                    previous_stylized=before[2] if before is not None else None,
                    faults=self.job.faults,
                )
                assert self._handed is not None
                stylized, record, redone = self._handed
                self._handed = None
                key_record = (record, redone)
                self._store_key(position, stylized)
            for middle, middle_content in between:
                if middle in self.done:
                    continue
                assert before is not None
                asked = time.perf_counter()
                weight = (middle - before[0]) / (position - before[0])
                made = make_inbetween(
                    middle_content, (before[1], before[2]), (content, stylized), weight,
                    flow=flow, soft=spec.soft_mask, photometric=spec.photometric,
                )  # fmt: skip
                if made.holes_inside(self.plan.margin) and spec.fill_steps > 0:
                    yield FrameTask(
                        position=middle,
                        shot_offset=middle - self.chain.shot_start,
                        content=middle_content,
                        cold=False,
                        previous_content=None,
                        previous_stylized=None,
                        faults=self.job.faults,
                        given=GivenStart(init=made.init, target=made.blend, mask=made.reliable, budget=spec.fill_steps),
                    )
                    assert self._handed is not None
                    filled, record, redone = self._handed
                    self._handed = None
                    record = replace(record, seconds=time.perf_counter() - asked)
                    self._emit(middle, composite(made, filled), record, redone)
                else:
                    record = FrameOutcome(position=middle, steps=0, stopped_early=False, loss=0.0).placed(
                        source_index=self.plan.frames.source_indices[middle],
                        seconds=time.perf_counter() - asked,
                        cold=False,
                        decode_seconds=self._decode_seconds.pop(middle, 0.0),
                    )
                    self._emit(middle, composite(made, None), record, "")
            between = []
            if key_record is not None:
                last = position == self.chain.stop - 1
                self._emit(position, stylized, *key_record)
                if before is not None:
                    self._drop_key_after(position, before[0])
                if last:
                    self._drop_key_after(position, position)
            before = (position, content, stylized)

    def _drop_key_after(self, written: int, key: int) -> None:
        """Drop stored key ``key`` once frame ``written`` is written (in order, on the writer)."""
        if self._overlap and self._writer is not None:
            self._writer.submit(lambda: self._drop_key(key))
        else:
            self._drop_key(key)

    def _take_source(self, position: int) -> np.ndarray | None:
        """The full-size source frame of ``position``; those before it (warmup, done) are no longer needed."""
        if not self._keep_sources:
            return None
        with self._sources_lock:
            for earlier in [p for p in self._sources if p < position]:
                del self._sources[earlier]
            return self._sources.pop(position, None)

    def _output(
        self, position: int, image: np.ndarray, record: FrameOutcome, redone: str, source: np.ndarray | None = None
    ) -> None:
        """Write a finished frame and its record, report it, encode its segment (on the write-behind thread)."""
        if redone:
            self.on_event(Notice(f"Frame {position + 1} of {self.plan.frame_count} was redone: {redone}."))
        self.sink.write(position, image, record.to_json(), source)
        self.records.append(record)
        self.on_event(FrameStylized(chain=self.chain.index, record=record))
        self.job.faults.at(FaultPoint.FRAME, position)
        self.sink.advance(self.chain, position)
        chains = self.plan.chains
        if position == self.chain.start and self.chain.warmup:
            self._drop_warmup(self.chain.warmup, once_done=chains[self.chain.index - 1])
        if position == self.chain.stop - 1 and self.fade:
            self._drop_warmup(self.fade, once_done=chains[self.chain.index + 1])

    def _needs_storing(self) -> bool:
        """Whether the previous chain still needs this chain's warmup frames (its fade is not done yet)."""
        if self._previous_needs is None:
            previous = self.plan.chains[self.chain.index - 1]
            self._previous_needs = not set(self.plan.fade_of(previous)) <= self.sink.done(previous)
        return bool(self._previous_needs)

    def outcome(self, stopped: bool) -> ChainOutcome:
        return ChainOutcome(chain=self.chain.index, records=tuple(self.records), stopped=stopped)


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
    prepare = method.prepare if isinstance(method, Preparing) else None
    with ChainRun(job, uses_previous=method.uses_previous, on_event=on_event, reader=reader, prepare=prepare) as run:
        try:
            run.settle()
            asked = time.perf_counter()
            while (task := run.next_task()) is not None:
                try:
                    result = method.stylize(task, on_step=step_reporter(task.position, stop, job.faults, on_event, run.flush))
                except FrameAbandoned:
                    run.flush()
                    return run.outcome(True)
                # The frame's time on the chain's critical path: from asking for it
                # (decoding it, if the read-ahead had not) to its result.
                now = time.perf_counter()
                if run.stop_before(task, stop):
                    return run.outcome(True)
                run.finish(task, result, now - asked)
                asked = now
            run.flush()
        except EncodeError:
            if stop.requested:  # an encode cut short by the stop: the segment is encoded on resume
                return run.outcome(True)
            raise
        return run.outcome(False)


def step_reporter(
    position: int, stop: StopToken, faults: Faults, on_event: ChainEventHandler, flush: Callable[[], None]
) -> StepCallback:
    """A frame's step callback: reports each step, raises FrameAbandoned once a stop is requested, hits the step fault point."""

    def on_step(report: StepDone) -> None:
        if stop.requested:
            raise FrameAbandoned
        on_event(report)
        if faults.hit(FaultPoint.STEP, position, report.step):
            flush()  # a kill during a frame finds every frame before it written, as without write-behind
            faults.trigger()

    return on_step

