"""Executors run the chains of a plan and report what they did.

The interface is "run these chains, pass their events on, honour the stop
token, return their outcomes": where and how the chains run is the
executor's business. :class:`LocalExecutor` runs them here, one after
another in plan order, with one method instance. Chains share nothing but
the work dir (each writes only its own frames, segments and log files), so an
executor may also run them in parallel, on other processes or machines
(each worker builds its own method once and runs whole chains), or batch
several on one GPU; the run's frames do not depend on it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vidstyle.errors import EncodeError
from vidstyle.methods.base import Batching, FrameAbandoned, FrameTask, Method, MethodBatch, Preparing, StopToken
from vidstyle.pipeline.chain import ChainJob, ChainOutcome, ChainRun, run_chain, step_reporter
from vidstyle.pipeline.events import ChainEvent, ChainEventHandler
from vidstyle.video.sources import FrameReader, SourceSpec, open_reader


@dataclass(frozen=True)
class Execution:
    outcomes: tuple[ChainOutcome, ...]  # one per chain that ran, in the order they ended
    stopped: bool  # the stop token ended the execution before every chain was complete
    fault_spent: bool = False  # an injected kill fault ended a Ray worker (pipeline/workers.py)


class Executor(Protocol):
    def run(self, jobs: Sequence[ChainJob], *, stop: StopToken, on_event: ChainEventHandler) -> Execution: ...


class LocalExecutor:
    """Every chain in this process, in the order given (plan order from the run), with one method.

    One reader per input serves every chain: a chain that starts where the one
    before it stopped goes on decoding from there.
    """

    def __init__(self, method: Method) -> None:
        self.method = method

    def run(self, jobs: Sequence[ChainJob], *, stop: StopToken, on_event: ChainEventHandler) -> Execution:
        outcomes: list[ChainOutcome] = []
        readers: dict[SourceSpec, FrameReader] = {}
        try:
            for job in jobs:
                if stop.requested:
                    return Execution(tuple(outcomes), stopped=True)
                if job.source not in readers:
                    readers[job.source] = open_reader(job.source)
                outcome = run_chain(job, method=self.method, stop=stop, on_event=on_event, reader=readers[job.source])
                outcomes.append(outcome)
                if outcome.stopped:
                    return Execution(tuple(outcomes), stopped=True)
            return Execution(tuple(outcomes), stopped=False)
        finally:
            for reader in readers.values():
                reader.close()


class BatchedExecutor:
    """Several chains at once on one device: one frame of each in every network pass (``--batch-chains K``).

    Up to K chains are open at a time, each with its own reader and its frame
    in flight in a slot of the method's batch (methods/base.py MethodBatch).
    A frame that finishes is written by its chain, and the chain's next frame
    takes the slot while the others go on; a chain that ends hands its slot to
    the next chain of the plan. Each frame keeps its own losses, early stop and
    optimizer state, so the frames are those of :class:`LocalExecutor` up to
    the rounding of batched convolutions. A method that cannot batch is run
    by a LocalExecutor instead.
    """

    def __init__(self, method: Method, chains: int) -> None:
        self.method = method
        self.chains = chains

    def run(self, jobs: Sequence[ChainJob], *, stop: StopToken, on_event: ChainEventHandler) -> Execution:
        batch: MethodBatch | None = self.method.open_batch(self.chains) if isinstance(self.method, Batching) else None
        if batch is None:
            return LocalExecutor(self.method).run(jobs, stop=stop, on_event=on_event)
        on_event = _serialized(on_event)  # several chains' write-behind threads report at once
        pending = list(jobs)
        outcomes: list[ChainOutcome] = []
        open_lanes: list[_Lane] = []  # chains started and not complete
        in_batch: dict[int, _Lane] = {}  # slot -> the chain whose frame is in it
        prepare = self.method.prepare if isinstance(self.method, Preparing) else None

        def start(lane: _Lane) -> None:
            """Put the lane's next frame in the batch, or close the lane when its chain is complete."""
            task = lane.run.next_task()
            if task is None:
                lane.run.flush()
                outcomes.append(lane.run.outcome(False))
                open_lanes.remove(lane)
                return
            lane.task, lane.asked = task, time.perf_counter()
            on_step = step_reporter(task.position, stop, lane.run.job.faults, on_event, lane.run.flush)
            in_batch[batch.add(task, on_step=on_step)] = lane

        def stopped() -> Execution:
            for lane in open_lanes:
                lane.run.flush()
                outcomes.append(lane.run.outcome(True))
            return Execution(tuple(outcomes), stopped=True)

        with contextlib.ExitStack() as stack:
            try:
                while True:
                    while batch.free > 0 and pending and not stop.requested:
                        run = stack.enter_context(ChainRun(pending.pop(0), uses_previous=self.method.uses_previous, on_event=on_event, prepare=prepare))
                        run.settle()
                        open_lanes.append(_Lane(run))
                        start(open_lanes[-1])
                    if not in_batch:
                        break
                    for slot, result in batch.step():
                        lane = in_batch.pop(slot)
                        assert lane.task is not None
                        now = time.perf_counter()
                        if lane.run.stop_before(lane.task, stop):
                            return stopped()  # this frame is dropped, and the others in flight
                        lane.run.finish(lane.task, result, now - lane.asked)
                        start(lane)
            except FrameAbandoned:
                return stopped()
            except EncodeError:
                if stop.requested:
                    return stopped()
                raise
            return Execution(tuple(outcomes), stopped=bool(pending))


@dataclass
class _Lane:
    run: ChainRun
    task: FrameTask | None = None
    asked: float = 0.0


def _serialized(on_event: ChainEventHandler) -> ChainEventHandler:
    lock = threading.Lock()

    def handle(event: ChainEvent) -> None:
        with lock:
            on_event(event)

    return handle


def executor_for(method: Method, *, batch_chains: int = 1) -> Executor:
    """The executor of a run in this process: one chain at a time, or ``batch_chains`` in one batch."""
    return BatchedExecutor(method, batch_chains) if batch_chains > 1 else LocalExecutor(method)
