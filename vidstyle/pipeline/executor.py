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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vidstyle.methods.base import Method
from vidstyle.pipeline.chain import ChainJob, ChainOutcome, StopToken, run_chain
from vidstyle.pipeline.events import ChainEventHandler
from vidstyle.video.sources import FrameReader, SourceSpec, open_reader


@dataclass(frozen=True)
class Execution:
    outcomes: tuple[ChainOutcome, ...]  # one per chain that ran, in the order they ended
    stopped: bool  # the stop token ended the execution before every chain was complete


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
