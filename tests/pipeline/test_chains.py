"""The chain as the unit of work: the plan of shots, chains and segments, and running chains on their own.

Chains run through the public seams an executor uses (ChainJob, run_chain,
LocalExecutor), with the cheap stand-in optimizer of resume_worker.py: its
result depends on where a frame starts, so a broken or leaking chain shows.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.mediatools import make_clip, make_frames_folder
from tests.pipeline.resume_worker import fake_method, make_settings
from vidstyle.config import Settings
from vidstyle.methods.base import FrameResult, FrameTask, StepCallback
from vidstyle.pipeline.chain import ChainJob, ChainOutcome, run_chain
from vidstyle.pipeline.chains import RunPlan, make_run_plan
from vidstyle.pipeline.events import FrameStylized, SegmentEncoded
from vidstyle.pipeline.executor import LocalExecutor
from vidstyle.pipeline.plan import FramePlan, make_plan
from vidstyle.pipeline.shots import Cut, CutReason
from vidstyle.pipeline.workdir import WorkDir
from vidstyle.video.sinks import OutputKind, SinkSpec
from vidstyle.video.sources import open_source


def listed(*positions: int) -> list[Cut]:
    return [Cut(position, CutReason.LISTED, math.nan) for position in positions]


def frame_plan(count: int) -> FramePlan:
    return FramePlan(
        source_indices=tuple(range(count)),
        fps=Fraction(24),
        durations=None,
        working_size=(32, 24),
        output_size=(32, 24),
        audio_start=0.0,
        duration=count / 24,
    )


# ------------------------------------------------------------------ the plan


def test_one_shot_is_one_chain_cut_into_segments() -> None:
    plan = make_run_plan(frame_plan(10), segment_frames=4)
    assert len(plan.shots) == 1 and len(plan.chains) == 1
    chain = plan.chains[0]
    assert (chain.start, chain.stop, list(chain.warmup), chain.opens_shot) == (0, 10, [], True)
    assert [(s.index, s.start, s.stop) for s in plan.segments] == [(0, 0, 4), (1, 4, 8), (2, 8, 10)]
    assert plan.cuts == ()


def test_cuts_start_shots_and_segments_end_at_chain_boundaries() -> None:
    plan = make_run_plan(frame_plan(12), [*listed(9, 5), Cut(5, CutReason.DETECTED, 20.0)], segment_frames=4)
    assert [(s.start, s.stop) for s in plan.shots] == [(0, 5), (5, 9), (9, 12)]
    assert [(c.start, c.stop, c.shot) for c in plan.chains] == [(0, 5, 0), (5, 9, 1), (9, 12, 2)]
    assert [(s.index, s.start, s.stop) for s in plan.segments] == [(0, 0, 4), (1, 4, 5), (2, 5, 9), (3, 9, 12)]
    # One cut per position: the later one given wins, and it keeps its reason and score.
    assert [(c.position, c.reason, c.score) for c in plan.cuts][0] == (5, CutReason.DETECTED, 20.0)
    assert plan.segment_of(4).index == 1 and plan.segment_of(5).index == 2


def test_long_shots_split_into_chains_with_warmup_inside_the_shot() -> None:
    plan = make_run_plan(frame_plan(14), listed(4), segment_frames=3, chain_frames=4, overlap=2)
    spans = [(c.shot, c.warmup_start, c.start, c.stop) for c in plan.chains]
    # Shot 0 (4 frames) stays whole; shot 1 (10 frames) gives three chains of 3-4 frames, each but the
    # first warmed up by 2 frames of its own shot, never reaching back into shot 0.
    assert spans == [(0, 0, 0, 4), (1, 4, 4, 7), (1, 5, 7, 10), (1, 8, 10, 14)]
    assert [c.opens_shot for c in plan.chains] == [True, True, False, False]
    assert all(seg.stop <= c.stop and seg.start >= c.start for c in plan.chains for seg in c.segments)


def test_the_plan_survives_json_and_pickle_and_refuses_bad_input() -> None:
    plan = make_run_plan(frame_plan(12), [*listed(3), Cut(7, CutReason.PHOTOMETRIC, 0.01)], segment_frames=5)
    assert RunPlan.from_json(json.loads(json.dumps(plan.to_json(), allow_nan=False))) == plan
    assert pickle.loads(pickle.dumps(plan)) == plan
    broken = plan.to_json()
    broken["chains"][1]["stop"] = 6  # type: ignore[index]
    with pytest.raises(ValueError, match="tile"):
        RunPlan.from_json(broken)
    with pytest.raises(ValueError, match="outside"):
        make_run_plan(frame_plan(12), listed(12), segment_frames=5)


# ------------------------------------------------------------------ running chains


@dataclass
class NeverStop:
    requested: bool = False


class StopAfter:
    """A stop token that is set once ``frames`` frames are done (as Ctrl-C would be)."""

    def __init__(self, frames: int) -> None:
        self.left = frames
        self.requested = False

    def __call__(self, event: object) -> None:
        if isinstance(event, FrameStylized):
            self.left -= 1
            self.requested = self.left <= 0


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("style") / "style.png"
    cv2.imwrite(str(path), (np.random.default_rng(3).random((32, 32, 3)) * 255).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", width=32, height=24, frames=14, audio=False)


def jobs_for(source_path: Path, settings: Settings, work: Path, plan_cuts: list[Cut], **split: int) -> list[ChainJob]:
    with open_source(source_path) as source:
        plan = make_run_plan(make_plan(source.info, settings.select), plan_cuts, segment_frames=3, **split)
        spec = source.spec
    sink = SinkSpec(kind=OutputKind.VIDEO, output=work.with_suffix(".mp4"), work=work, crf=18, keep_frames=True)
    return [ChainJob(plan=plan, chain=chain.index, source=spec, sink=sink) for chain in plan.chains]


def pngs(work: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((work / "frames").glob("*.png"))}


def _run_elsewhere(job: ChainJob, settings: Settings) -> ChainOutcome:
    """In a fresh process: build the method there and run one chain from its pickled job."""
    method = fake_method()(settings, job.plan.working_size)
    return run_chain(job, method=method, stop=NeverStop(), on_event=lambda event: None)


def test_chains_give_the_same_frames_in_any_order_and_in_another_process(clip: Path, style: Path, tmp_path: Path) -> None:
    settings = make_settings(style=style, max_size=None)
    method = fake_method()(settings, (32, 24))
    cuts = listed(5, 9)

    forward = jobs_for(clip, settings, tmp_path / "forward", cuts)
    done = LocalExecutor(method).run(forward, stop=NeverStop(), on_event=lambda event: None)
    assert not done.stopped and [len(o.records) for o in done.outcomes] == [5, 4, 5]
    reference = pngs(tmp_path / "forward")
    assert len(reference) == 14
    segments = sorted(p.name for p in (tmp_path / "forward" / "segments").glob("*.mp4"))
    assert segments == [f"{i:05d}.mp4" for i in range(6)]  # 3+2, 3+1, 3+2: segments end at chain ends

    backward = jobs_for(clip, settings, tmp_path / "backward", cuts)
    LocalExecutor(method).run(backward[::-1], stop=NeverStop(), on_event=lambda event: None)
    assert pngs(tmp_path / "backward") == reference

    # The middle chain in a fresh process: it gets only its pickled job, reopens the input from the
    # spec in it and reads its own frames; the others run here.
    split = jobs_for(clip, settings, tmp_path / "split", cuts)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = pool.submit(_run_elsewhere, split[1], settings).result(timeout=240)
    assert [r.position for r in remote.records] == [5, 6, 7, 8] and not remote.stopped
    LocalExecutor(method).run([split[0], split[2]], stop=NeverStop(), on_event=lambda event: None)
    assert pngs(tmp_path / "split") == reference


def test_a_chain_resumes_on_its_own_after_its_last_finished_frame(clip: Path, style: Path, tmp_path: Path) -> None:
    settings = make_settings(style=style, max_size=None)
    method = fake_method()(settings, (32, 24))
    cuts = listed(5, 9)
    reference_jobs = jobs_for(clip, settings, tmp_path / "reference", cuts)
    LocalExecutor(method).run(reference_jobs, stop=NeverStop(), on_event=lambda event: None)

    jobs = jobs_for(clip, settings, tmp_path / "work", cuts)
    # The last chain runs to its end, the first is stopped after 2 of its 5 frames, the middle never starts.
    LocalExecutor(method).run([jobs[2]], stop=NeverStop(), on_event=lambda event: None)
    stop = StopAfter(2)
    first = run_chain(jobs[0], method=method, stop=stop, on_event=stop)
    assert first.stopped and [r.position for r in first.records] == [0, 1]
    # Whatever runs next finds every finished frame in every chain.
    events: list[object] = []
    rest = LocalExecutor(method).run(jobs, stop=NeverStop(), on_event=events.append)
    assert [[r.position for r in o.records] for o in rest.outcomes] == [[2, 3, 4], [5, 6, 7, 8], []]
    assert pngs(tmp_path / "work") == pngs(tmp_path / "reference")
    encoded = [e.segment for e in events if isinstance(e, SegmentEncoded)]
    assert encoded == [0, 1, 2, 3], "only the segments of the chains that had work left"


class Recording:
    """Wraps a method and records every task it is given (position, cold?)."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner
        self.identity = inner.identity
        self.style_passes = inner.style_passes
        self.uses_previous = inner.uses_previous
        self.tasks: list[tuple[int, bool]] = []

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult:
        self.tasks.append((task.position, task.cold))
        return self.inner.stylize(task, on_step=on_step)


def test_a_chain_inside_a_shot_starts_warm_after_its_warmup(clip: Path, style: Path, tmp_path: Path) -> None:
    settings = make_settings(style=style, max_size=None)
    method = Recording(fake_method()(settings, (32, 24)))
    jobs = jobs_for(clip, settings, tmp_path / "work", [], chain_frames=5, overlap=2)
    plan = jobs[0].plan
    assert [(c.warmup_start, c.start, c.stop) for c in plan.chains] == [(0, 0, 4), (2, 4, 9), (7, 9, 14)]
    assert [plan.fade_of(c) for c in plan.chains] == [range(2, 4), range(7, 9), range(14, 14)]
    # The fade and the frame before it are one segment, encoded once the fade is complete.
    assert [(s.start, s.stop) for s in plan.chains[0].segments] == [(0, 1), (1, 4)]

    # The second chain first: frames 2 and 3 are stylized from cold and kept for the first chain's fade.
    stop = StopAfter(2)
    outcome = run_chain(jobs[1], method=method, stop=stop, on_event=stop)
    assert method.tasks == [(2, True), (3, False), (4, False), (5, False)]
    assert outcome.stopped and [r.position for r in outcome.records] == [4, 5]
    assert sorted(p.name for p in (tmp_path / "work" / "warmup").glob("*.png")) == ["000002.png", "000003.png"]
    assert not (tmp_path / "work" / "frames" / "000002.png").exists(), "the warmup writes no output frame"

    # The first chain blends its last two frames towards them, without stylizing them again.
    method.tasks.clear()
    run_chain(jobs[0], method=method, stop=NeverStop(), on_event=lambda event: None)
    assert method.tasks == [(0, True), (1, False), (2, False), (3, False)]

    # Resumed after its first frames, the second chain goes on from the stored frame 5, without the warmup;
    # before its own fade (7, 8) it stylizes the third chain's warmup of those frames, from cold at 7.
    method.tasks.clear()
    again = run_chain(jobs[1], method=method, stop=NeverStop(), on_event=lambda event: None)
    assert method.tasks == [(6, False), (7, True), (8, False), (7, False), (8, False)]
    assert [r.position for r in again.records] == [6, 7, 8]

    # In plan order the first chain computes the second's warmup itself (its fade needs it), and the
    # second then starts from the stored frame 3: the same frames as above, each warmup stylized once.
    method.tasks.clear()
    ordered = jobs_for(clip, settings, tmp_path / "ordered", [], chain_frames=5, overlap=2)
    LocalExecutor(method).run(ordered, stop=NeverStop(), on_event=lambda event: None)
    assert [t for t in method.tasks if t[1]] == [(0, True), (2, True), (7, True)]
    assert len(method.tasks) == 14 + 2 + 2
    out_of_order = pngs(tmp_path / "work")  # the first two chains only
    assert {name: data for name, data in pngs(tmp_path / "ordered").items() if name in out_of_order} == out_of_order
    assert len(out_of_order) == 9

    # Before the fade the frames are the unsplit shot's; inside it, blends of those and the warmup.
    whole = jobs_for(clip, settings, tmp_path / "whole", [])
    LocalExecutor(method).run(whole, stop=NeverStop(), on_event=lambda event: None)
    split, unsplit = pngs(tmp_path / "ordered"), pngs(tmp_path / "whole")
    assert [split[f"{p:06d}.png"] == unsplit[f"{p:06d}.png"] for p in range(4)] == [True, True, False, False]


def test_a_chain_stopped_inside_its_fade_redoes_the_fade_to_the_same_frames(clip: Path, style: Path, tmp_path: Path) -> None:
    settings = make_settings(style=style, max_size=None)
    method = Recording(fake_method()(settings, (32, 24)))
    reference = jobs_for(clip, settings, tmp_path / "reference", [], chain_frames=5, overlap=2)
    LocalExecutor(method).run(reference[:1], stop=NeverStop(), on_event=lambda event: None)

    jobs = jobs_for(clip, settings, tmp_path / "work", [], chain_frames=5, overlap=2)
    stop = StopAfter(3)  # frames 0, 1 and 2: stopped after the first frame of the fade (2, 3)
    assert run_chain(jobs[0], method=method, stop=stop, on_event=stop).stopped
    method.tasks.clear()
    again = run_chain(jobs[0], method=method, stop=NeverStop(), on_event=lambda event: None)
    # The fade is redone from frame 1, which is still stored; the warmup frames are read back.
    assert method.tasks == [(2, False), (3, False)] and [r.position for r in again.records] == [2, 3]
    assert pngs(tmp_path / "work") == {k: v for k, v in pngs(tmp_path / "reference").items() if k in pngs(tmp_path / "work")}
    assert sorted((tmp_path / "work" / "segments").glob("*.mp4")) != []


def test_frames_folder_chains_write_only_their_own_frames(style: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_frames_folder(folder, 9, size=(32, 24))
    settings = make_settings(style=style, max_size=None)
    method = fake_method()(settings, (32, 24))
    with open_source(folder) as source:
        plan = make_run_plan(make_plan(source.info, settings.select), listed(4), segment_frames=3)
        spec = source.spec
    out = tmp_path / "out"
    out.mkdir()
    sink = SinkSpec(kind=OutputKind.FOLDER, output=out, work=tmp_path / "work", crf=18, keep_frames=False)
    second = ChainJob(plan=plan, chain=1, source=spec, sink=sink)
    outcome = run_chain(second, method=method, stop=NeverStop(), on_event=lambda event: None)
    assert [r.position for r in outcome.records] == [4, 5, 6, 7, 8]
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{k:06d}.png" for k in range(5, 10)]
    assert list((tmp_path / "work" / "frames").glob("*.png")) == [], "a finished chain keeps no working copy"
