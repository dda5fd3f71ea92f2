"""The run plan: frames, then shots, then chains and their segments.

A *shot* is a stretch of the plan between two cuts (pipeline/shots.py finds
them, or the user lists them). A *chain* is the unit of
work: consecutive frames of one shot, each started from the previous
stylized frame, stylized by one worker from its first frame to its last. Its
first stylized frame starts cold (it has no previous frame), like the clip's
first frame. A shot is one chain, unless it is split (``chain_frames``): a
chain that starts inside a shot first stylizes its ``warmup`` frames (the
ones just before it, which belong to the previous chain), throws them away
and so starts its own first frame warm, hiding the seam.

A chain's frames are written in *segments* of at most ``segment_frames``
frames; segments end at chain boundaries, so every segment is written by one
chain only and chains can run in any order or in parallel.

Everything here is a frozen dataclass: picklable (another process can run a
chain) and stored in the manifest before the first frame, so a resumed run
follows exactly the same plan.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from vidstyle.config import json_adapter
from vidstyle.pipeline.plan import FramePlan
from vidstyle.pipeline.shots import Cut, CutReason


@dataclass(frozen=True)
class Segment:
    index: int  # in the whole run: names segments/NNNNN.mp4 and log/NNNNN.json
    start: int  # plan positions, stop exclusive
    stop: int

    @property
    def positions(self) -> range:
        return range(self.start, self.stop)


@dataclass(frozen=True)
class Shot:
    index: int
    start: int
    stop: int
    reason: CutReason | None = None  # why a new shot starts here; None for the first shot
    score: float | None = None  # the cut's score (see pipeline/shots.py Cut); None when it has none

    @property
    def frame_count(self) -> int:
        return self.stop - self.start

    @property
    def cut(self) -> Cut | None:
        """The cut that opens this shot (None for the first)."""
        if self.reason is None:
            return None
        return Cut(position=self.start, reason=self.reason, score=math.nan if self.score is None else self.score)


@dataclass(frozen=True)
class Chain:
    index: int
    shot: int  # index of its shot
    shot_start: int  # plan position of its shot's first frame
    start: int  # first output position
    stop: int  # exclusive
    warmup_start: int  # == start: no warmup; < start: frames warmup_start..start-1 are stylized and discarded
    segments: tuple[Segment, ...]

    @property
    def positions(self) -> range:
        """The plan positions this chain writes."""
        return range(self.start, self.stop)

    @property
    def warmup(self) -> range:
        """Positions stylized before ``start`` only to start it warm (they belong to the previous chain)."""
        return range(self.warmup_start, self.start)

    @property
    def opens_shot(self) -> bool:
        """True when its first output frame is its shot's first frame (a cut or the clip's start)."""
        return self.start == self.shot_start

    def segment_at(self, position: int) -> Segment:
        for segment in self.segments:
            if segment.start <= position < segment.stop:
                return segment
        raise ValueError(f"position {position} is not in chain {self.index} ({self.start}..{self.stop - 1})")


@dataclass(frozen=True)
class RunPlan:
    frames: FramePlan
    shots: tuple[Shot, ...]
    chains: tuple[Chain, ...]

    @property
    def frame_count(self) -> int:
        return self.frames.frame_count

    @property
    def working_size(self) -> tuple[int, int]:
        return self.frames.working_size

    @property
    def output_size(self) -> tuple[int, int]:
        return self.frames.output_size

    @property
    def margin(self) -> int:
        return self.frames.margin

    @property
    def canvas_size(self) -> tuple[int, int]:
        return self.frames.canvas_size

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(segment for chain in self.chains for segment in chain.segments)

    @property
    def cuts(self) -> tuple[Cut, ...]:
        """The cuts: where each shot after the first begins, and why."""
        return tuple(shot.cut for shot in self.shots[1:] if shot.cut is not None)

    def fade_of(self, chain: Chain) -> range:
        """The frames where ``chain`` cross-fades into the next chain of its shot (empty when none does)."""
        following = self.chains[chain.index + 1] if chain.index + 1 < len(self.chains) else None
        if following is None or following.shot != chain.shot or following.warmup_start == following.start:
            return range(chain.stop, chain.stop)
        return range(following.warmup_start, chain.stop)

    @cached_property
    def _segment_starts(self) -> list[int]:
        return [segment.start for segment in self.segments]

    def segment_of(self, position: int) -> Segment:
        if not 0 <= position < self.frame_count:
            raise ValueError(f"position {position} is outside the plan (0..{self.frame_count - 1})")
        return self.segments[bisect.bisect_right(self._segment_starts, position) - 1]

    def to_json(self) -> dict[str, object]:
        return json_adapter(RunPlan).dump_python(self, mode="json")

    @classmethod
    def from_json(cls, data: object) -> RunPlan:
        plan = json_adapter(RunPlan).validate_python(data)
        plan.check()
        return plan

    def check(self) -> None:
        """ValueError unless shots, chains and segments tile the frames exactly, in order."""
        n = self.frame_count
        _check_tiling("shots", [(s.start, s.stop) for s in self.shots], n)
        _check_tiling("chains", [(c.start, c.stop) for c in self.chains], n)
        _check_tiling("segments", [(s.start, s.stop) for s in self.segments], n)
        if [s.index for s in self.segments] != list(range(len(self.segments))):
            raise ValueError("segments are not numbered in order")
        for chain in self.chains:
            shot = self.shots[chain.shot]
            if not (shot.start == chain.shot_start <= chain.warmup_start <= chain.start < chain.stop <= shot.stop):
                raise ValueError(f"chain {chain.index} does not lie inside shot {shot.index}")
            if chain.segments[0].start != chain.start or chain.segments[-1].stop != chain.stop:
                raise ValueError(f"the segments of chain {chain.index} do not cover it")
            fade = self.fade_of(chain)
            if fade and not chain.start < fade.start:
                raise ValueError(f"the fade of chain {chain.index} must start after its first frame")


def fade_weight(fade: range, position: int) -> float:
    """Weight of the next chain's warmup frame in the cross-fade at ``position`` of ``fade``: (i+1)/(K+1)."""
    return (position - fade.start + 1) / (len(fade) + 1)


def _check_tiling(what: str, spans: list[tuple[int, int]], total: int) -> None:
    edge = 0
    for start, stop in spans:
        if start != edge or stop <= start:
            raise ValueError(f"{what} do not tile the {total} planned frames")
        edge = stop
    if edge != total:
        raise ValueError(f"{what} do not tile the {total} planned frames")


def make_run_plan(
    frames: FramePlan,
    cuts: Sequence[Cut] = (),
    *,
    segment_frames: int,
    chain_frames: int | None = None,
    overlap: int = 0,
) -> RunPlan:
    """Shots from the cut positions, chains from the shots, segments from the chains.

    ``cuts``: where new shots begin (pipeline/shots.py find_cuts; a cut at
    position 0 is ignored, one cut per position). ``chain_frames``: split shots longer than this into chains of
    near-equal length (None: one chain per shot). ``overlap``: warmup frames
    before a chain that starts inside a shot, which are also the previous
    chain's fade (never reaching its first frame or before its shot).

    A chain that fades into the next one ends with one segment that holds its
    whole fade and the frame before it: a chain interrupted inside its fade
    redoes the fade from that frame, which is still stored then (see
    pipeline/chain.py), so the segment is encoded only once the fade is complete.
    """
    total = frames.frame_count
    if segment_frames < 1:
        raise ValueError("segment_frames must be at least 1")
    if chain_frames is not None and chain_frames < 1:
        raise ValueError("chain_frames must be at least 1")
    if overlap < 0:
        raise ValueError("overlap must not be negative")
    by_position = {cut.position: cut for cut in cuts if cut.position != 0}
    positions = sorted(by_position)
    outside = [p for p in positions if not 0 < p < total]
    if outside:
        raise ValueError(f"cut at {outside[0]} is outside the {total} planned frames")
    edges = [0, *positions, total]
    shots = []
    for index, (start, stop) in enumerate(zip(edges, edges[1:])):
        cut = by_position.get(start)
        score = None if cut is None or math.isnan(cut.score) else float(cut.score)
        shots.append(Shot(index=index, start=start, stop=stop, reason=cut.reason if cut else None, score=score))

    spans: list[tuple[Shot, int, int, int]] = []  # shot, warmup_start, start, stop
    for shot in shots:
        previous_start: int | None = None
        for start, stop in _split(shot.start, shot.stop, chain_frames):
            # Inside a shot the warmup (= the previous chain's fade) starts after that chain's first frame.
            warmup_start = start if previous_start is None else max(previous_start + 1, start - overlap)
            spans.append((shot, warmup_start, start, stop))
            previous_start = start
    chains: list[Chain] = []
    segment_index = 0
    for k, (shot, warmup_start, start, stop) in enumerate(spans):
        following = spans[k + 1] if k + 1 < len(spans) else None
        tail = stop
        if following is not None and following[0] is shot and following[1] < following[2]:
            tail = max(start, following[1] - 1)  # the fade and the frame before it: one segment
        edges = [*range(start, tail, segment_frames), tail] if tail > start else [start]
        if edges[-1] != stop:
            edges.append(stop)
        segments = []
        for seg_start, seg_stop in zip(edges, edges[1:]):
            segments.append(Segment(index=segment_index, start=seg_start, stop=seg_stop))
            segment_index += 1
        chains.append(
            Chain(
                index=len(chains),
                shot=shot.index,
                shot_start=shot.start,
                start=start,
                stop=stop,
                warmup_start=warmup_start,
                segments=tuple(segments),
            )
        )
    plan = RunPlan(frames=frames, shots=tuple(shots), chains=tuple(chains))
    plan.check()
    return plan


def _split(start: int, stop: int, chain_frames: int | None) -> list[tuple[int, int]]:
    length = stop - start
    if chain_frames is None or length <= chain_frames:
        return [(start, stop)]
    count = -(-length // chain_frames)  # ceil: every chain at most chain_frames long
    edges = [start + (length * k) // count for k in range(count + 1)]
    return list(zip(edges, edges[1:]))
