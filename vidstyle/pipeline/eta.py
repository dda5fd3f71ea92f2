"""Estimating the time a run has left from what its frames cost so far.

A run's frames cost two very different amounts: a *cold start* (the first
frame of a chain, or every frame with ``--temporal none``) gets the
first-frame budget (300 steps by default) and a *warm* frame, started from
the previous one, gets ``--iterations-next`` (20). A cold start costs 5-15
times a warm frame, so the plain "frames left / frames per second" estimate
made after the first frame is off by that factor. The plan knows how many
cold starts are left (one per shot or chain not yet begun), so the estimate
is

    cold starts left x cost of a cold start + warm frames left x cost of a warm frame

with each cost the mean of the frames of that kind done so far. Until a
frame of a kind has been seen, its cost is the measured cost of a step
times that kind's budget (steps cost about the same in both kinds: one
forward and backward pass at the same size). With several workers (Ray),
chains run side by side: the sum is divided by the workers that still have
a chain to run (a frame's own seconds are what it cost its worker).

Pure bookkeeping over numbers, so it is tested with recorded cost profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vidstyle.pipeline.chains import RunPlan


@dataclass(frozen=True)
class WorkLeft:
    """Frames still to stylize, by kind (warmup frames of split chains included)."""

    cold: int
    warm: int
    chains: int = 1  # chains with frames left: at most this many workers can share the work


class EtaEstimator:
    """Seconds left, from the observed costs of cold starts and warm frames.

    ``cold_budget`` and ``warm_budget`` are the step budgets of each kind
    (``--iterations`` and ``--iterations-next``); they price a kind not seen yet.
    """

    def __init__(self, *, cold_budget: int, warm_budget: int, workers: int = 1) -> None:
        self.cold_budget = max(1, cold_budget)
        self.warm_budget = max(1, warm_budget)
        self.workers = max(1, workers)
        self._seconds = {True: 0.0, False: 0.0}
        self._frames = {True: 0, False: 0}
        self._steps = 0

    def observe(self, *, cold: bool, seconds: float, steps: int) -> None:
        """A frame of that kind took ``seconds`` for ``steps`` steps."""
        self._seconds[cold] += max(0.0, seconds)
        self._frames[cold] += 1
        self._steps += max(0, steps)

    def cost(self, *, cold: bool) -> float | None:
        """Seconds one frame of that kind is expected to take; None before any frame was seen."""
        if self._frames[cold]:
            return self._seconds[cold] / self._frames[cold]
        if not self._steps:
            return None
        per_step = (self._seconds[True] + self._seconds[False]) / self._steps
        return per_step * (self.cold_budget if cold else self.warm_budget)

    def seconds_left(self, left: WorkLeft) -> float | None:
        """The estimate for ``left``; None until a frame has been seen (0 when nothing is left)."""
        if left.cold <= 0 and left.warm <= 0:
            return 0.0
        cold, warm = self.cost(cold=True), self.cost(cold=False)
        if cold is None or warm is None:
            return None
        parallel = max(1, min(self.workers, left.chains))
        return (max(0, left.cold) * cold + max(0, left.warm) * warm) / parallel


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (``0:17:25``), rounded to the second."""
    whole = max(0, int(round(seconds)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def work_left(
    plan: RunPlan, done_by_chain: dict[int, set[int]], *, uses_previous: bool
) -> tuple[WorkLeft, dict[int, WorkLeft], dict[int, int]]:
    """Frames left to stylize by kind; each fresh chain's warmup (stylized before its first output frame, never
    reported); and the output frames each chain has left.

    A chain not begun yet costs one cold start (its first frame, or the first
    of its warmup) and warm frames after it; a chain resumed in the middle
    goes on warm from its stored frame. A method that uses no previous frame
    (``--temporal none``) makes every frame a cold start.
    """
    cold = warm = 0
    warmups: dict[int, WorkLeft] = {}
    todo_by_chain: dict[int, int] = {}
    for chain in plan.chains:
        done = done_by_chain.get(chain.index, set())
        todo = sum(1 for p in chain.positions if p not in done)
        if not todo:
            continue
        todo_by_chain[chain.index] = todo
        fresh = chain.start not in done
        extra = len(chain.warmup) if fresh else 0
        if not uses_previous:
            cold += todo + extra
            if extra:
                warmups[chain.index] = WorkLeft(cold=extra, warm=0)
        elif fresh:
            cold += 1
            warm += todo - 1 + extra
            if extra:
                # The warmup's first frame is the cold start; the chain's first output frame is warm.
                warmups[chain.index] = WorkLeft(cold=1, warm=extra - 1)
        else:
            warm += todo
    return WorkLeft(cold=cold, warm=warm, chains=len(todo_by_chain)), warmups, todo_by_chain
