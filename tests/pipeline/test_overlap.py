"""CPU work beside the optimizer, and several chains in one batch.

The read-ahead thread decodes and prepares (optical flow) the next frames and
the write-behind thread writes, logs and encodes the finished ones, while the
optimizer works: the frames are the same, threads are joined, and their
errors reach the caller. The batched executor runs several chains' frames in
one batch and gives the frames of one chain at a time (to rounding).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.mediatools import make_clip
from tests.pipeline.resume_worker import fake_method, make_settings
from tests.pipeline.test_chains import NeverStop, StopAfter, jobs_for, listed, pngs
from vidstyle.config import DeviceChoice, ModelConfig
from vidstyle.errors import EncodeError
from vidstyle.faults import Faults
from vidstyle.methods.optimize import optimize_method
from vidstyle.model.memory import BASE_BYTES, TILE_FILL, frame_bytes
from vidstyle.pipeline.chain import run_chain
from vidstyle.pipeline.events import FrameStylized, Notice
from vidstyle.pipeline.executor import BatchedExecutor, LocalExecutor
from vidstyle.pipeline.overlap import ReadAhead, WriteBehind


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("style") / "style.png"
    cv2.imwrite(str(path), (np.random.default_rng(3).random((32, 32, 3)) * 255).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", width=32, height=24, frames=14, audio=False)


def canvas(settings) -> tuple[int, int]:  # noqa: ANN001
    """The size of the frames the chains hand the method: the clip's 32x24 on its canvas (--edge-margin)."""
    margin = settings.select.edge_margin
    return 32 + 2 * margin, 24 + 2 * margin


# ------------------------------------------------------------------ the two threads


def test_read_ahead_stays_within_its_depth_and_hands_on_errors() -> None:
    produced: list[int] = []

    def numbers():  # noqa: ANN202
        for n in range(10):
            produced.append(n)
            yield n

    ahead = ReadAhead(numbers(), depth=2)
    assert next(ahead) == 0
    time.sleep(0.2)
    assert len(produced) <= 4  # the one taken, two queued, one waiting to be queued
    assert list(ahead) == list(range(1, 10))

    def failing():  # noqa: ANN202
        yield 1
        raise ValueError("decoder broke")

    ahead = ReadAhead(failing())
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="decoder broke"):
        next(ahead)

    endless = ReadAhead(iter(int, 1))  # never ends: close() must still stop and join the thread
    next(endless)
    endless.close()
    assert not any(t.name == "vidstyle-read-ahead" and t.is_alive() for t in threading.enumerate())


def test_write_behind_runs_jobs_in_order_and_raises_their_error_in_the_caller() -> None:
    done: list[int] = []
    writer = WriteBehind()
    for n in range(5):
        writer.submit(lambda n=n: (time.sleep(0.01), done.append(n)))
    writer.flush()
    assert done == [0, 1, 2, 3, 4]

    def fail() -> None:
        raise EncodeError("ffmpeg failed")

    writer.submit(fail)
    writer.submit(lambda: done.append(99))  # dropped: a job failed before it
    with pytest.raises(EncodeError, match="ffmpeg failed"):
        writer.flush()
    writer.close()
    assert done == [0, 1, 2, 3, 4]
    assert not any(t.name == "vidstyle-write-behind" and t.is_alive() for t in threading.enumerate())


# ------------------------------------------------------------------ in a chain


class Watching:
    """The optimizer method, noting on which thread its flow is computed and how often."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner
        self.identity, self.style_passes, self.uses_previous = inner.identity, inner.style_passes, inner.uses_previous
        self.prepared_on: list[str] = []
        self.flows = 0
        starter_prepare = inner.starter.prepare

        def counted(*args):  # noqa: ANN002, ANN202
            self.flows += 1
            return starter_prepare(*args)

        inner.starter.prepare = counted

    def prepare(self, position, previous, content) -> None:  # noqa: ANN001
        self.prepared_on.append(threading.current_thread().name)
        self.inner.prepare(position, previous, content)

    def stylize(self, task, *, on_step):  # noqa: ANN001, ANN201
        return self.inner.stylize(task, on_step=on_step)


def test_flow_is_computed_ahead_once_per_frame_and_the_log_says_where_time_went(clip: Path, style: Path, tmp_path: Path) -> None:
    settings = make_settings(style=style, max_size=None)  # flow mode
    method = Watching(fake_method()(settings, canvas(settings)))
    jobs = jobs_for(clip, settings, tmp_path / "work", listed(5, 9))
    done = LocalExecutor(method).run(jobs, stop=NeverStop(), on_event=lambda event: None)
    assert set(method.prepared_on) == {"vidstyle-read-ahead"}
    # One flow per warm frame (14 frames, 3 chains: 11 warm), all of them computed ahead.
    assert method.flows == 11
    records = [r for outcome in done.outcomes for r in outcome.records]
    warm = [r for r in records if r.position not in (0, 5, 9)]
    assert all(r.flow_seconds > 0 for r in warm) and all(r.decode_seconds > 0 for r in records)
    assert all(0 < r.optimize_seconds <= r.seconds for r in records)

    # The same frames without the threads.
    plain = jobs_for(clip, settings, tmp_path / "plain", listed(5, 9))
    reference = fake_method()(settings, canvas(settings))
    for job in plain:
        from vidstyle.pipeline.chain import ChainRun

        with ChainRun(job, uses_previous=True, on_event=lambda event: None, overlap=False) as run:
            run.settle()
            while (task := run.next_task()) is not None:
                run.finish(task, reference.stylize(task, on_step=lambda *a: None), 0.0)
    assert pngs(tmp_path / "plain") == pngs(tmp_path / "work")


def test_a_failed_segment_encode_on_the_write_behind_thread_fails_the_chain(clip: Path, style: Path, tmp_path: Path) -> None:
    settings = make_settings(style=style, max_size=None)
    method = fake_method()(settings, canvas(settings))
    jobs = [j.__class__(plan=j.plan, chain=j.chain, source=j.source, sink=j.sink, faults=Faults.parse("encode:1:fail"))
            for j in jobs_for(clip, settings, tmp_path / "work", [])]  # fmt: skip
    with pytest.raises(EncodeError, match="injected"):
        run_chain(jobs[0], method=method, stop=NeverStop(), on_event=lambda event: None)
    assert not any(t.name.startswith("vidstyle-") and t.is_alive() for t in threading.enumerate())


# ------------------------------------------------------------------ chains in one batch


@pytest.fixture(scope="module")
def real_settings(style: Path, random_weights: Path):  # noqa: ANN201
    settings = make_settings(style=style, max_size=None, iterations=4, iterations_next=3)
    # A margin of 4 px on this 32x24 clip (8 px, the default, is a third of its height): batched chains
    # and one at a time then differ by rounding only, as without a margin (mean 0.05-0.94 levels per frame).
    # At 8 px (and 6, 10) an L-BFGS line search on a warm frame goes the other way in one of them (the cold
    # frames still match to 0.01 levels; with --temporal prev too) and the gap stays along the chain
    # (mean 1.4 levels, one frame's loss 9.5% off): the warm frames' 3 steps are that sensitive here.
    select = replace(settings.select, edge_margin=4)
    return settings.replace(model=ModelConfig(weights=random_weights, device=DeviceChoice.CPU), select=select)


def test_chains_in_one_batch_give_the_frames_of_one_chain_at_a_time(clip: Path, real_settings, tmp_path: Path) -> None:  # noqa: ANN001
    method = optimize_method(real_settings, canvas(real_settings))
    cuts = listed(4, 9)
    alone = LocalExecutor(method).run(jobs_for(clip, real_settings, tmp_path / "alone", cuts), stop=NeverStop(), on_event=lambda e: None)
    events: list[object] = []
    together = BatchedExecutor(method, 2).run(jobs_for(clip, real_settings, tmp_path / "batch", cuts), stop=NeverStop(), on_event=events.append)
    assert not together.stopped and sorted(o.chain for o in together.outcomes) == [0, 1, 2]
    records = {r.position: r for o in together.outcomes for r in o.records}
    reference = {r.position: r for o in alone.outcomes for r in o.records}
    assert sorted(records) == list(range(14))
    assert sum(isinstance(e, FrameStylized) for e in events) == 14
    for position, record in reference.items():
        assert records[position].steps == record.steps
        assert records[position].loss == pytest.approx(record.loss, rel=0.02), position
    ours, theirs = pngs(tmp_path / "batch"), pngs(tmp_path / "alone")
    assert ours.keys() == theirs.keys()
    differences = []
    for name in ours:
        a = cv2.imdecode(np.frombuffer(ours[name], np.uint8), cv2.IMREAD_COLOR).astype(int)
        b = cv2.imdecode(np.frombuffer(theirs[name], np.uint8), cv2.IMREAD_COLOR).astype(int)
        differences.append(np.abs(a - b).mean())
    print(f"\nbatched vs one chain at a time: mean |diff| per frame {np.round(differences, 2).tolist()} levels")
    # Rounding of batched convolutions, carried by L-BFGS and from frame to frame along a chain.
    assert max(differences) < 3.0 and np.mean(differences) < 1.0


def test_a_batch_larger_than_the_memory_holds_runs_fewer_chains_at_a_time(
    clip: Path, real_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    # --batch-chains 3 on a device whose free memory holds one frame's state and activations but not two
    # (model/memory.py's model): the run does not run out of memory, it runs the chains one at a time.
    size = canvas(real_settings)
    per_frame = frame_bytes(size) - BASE_BYTES
    monkeypatch.setattr("vidstyle.methods.optimize.available_bytes", lambda device: int((BASE_BYTES + 1.5 * per_frame) / TILE_FILL))
    method = optimize_method(real_settings, size)
    assert method.tile is None  # one frame fits whole: nothing is tiled
    batch = method.open_batch(3)
    assert batch is not None and batch.free == 1
    cuts = listed(4, 9)
    alone = LocalExecutor(method).run(jobs_for(clip, real_settings, tmp_path / "alone", cuts), stop=NeverStop(), on_event=lambda e: None)
    together = BatchedExecutor(method, 3).run(jobs_for(clip, real_settings, tmp_path / "batch", cuts), stop=NeverStop(), on_event=lambda e: None)
    assert not together.stopped and sorted(o.chain for o in together.outcomes) == [0, 1, 2]
    ours, theirs = pngs(tmp_path / "batch"), pngs(tmp_path / "alone")
    assert ours.keys() == theirs.keys() and len(ours) == 14
    for name in ours:
        a = cv2.imdecode(np.frombuffer(ours[name], np.uint8), cv2.IMREAD_COLOR).astype(int)
        b = cv2.imdecode(np.frombuffer(theirs[name], np.uint8), cv2.IMREAD_COLOR).astype(int)
        assert np.abs(a - b).mean() < 1.0, name  # a batch of one: the frames of one chain at a time, up to rounding


def test_a_nan_frame_in_a_batch_is_redone_alone_and_the_others_go_on(clip: Path, real_settings, tmp_path: Path) -> None:  # noqa: ANN001
    method = optimize_method(real_settings, canvas(real_settings))
    cuts = listed(4, 9)
    faults = Faults.parse("nan:6")  # a warm frame of the second chain: its loss turns NaN at its first step
    alone = LocalExecutor(method).run(
        [replace(j, faults=faults) for j in jobs_for(clip, real_settings, tmp_path / "alone", cuts)], stop=NeverStop(), on_event=lambda e: None
    )
    notices: list[str] = []
    together = BatchedExecutor(method, 2).run(
        [replace(j, faults=faults) for j in jobs_for(clip, real_settings, tmp_path / "batch", cuts)],
        stop=NeverStop(),
        on_event=lambda e: notices.append(e.message) if isinstance(e, Notice) else None,
    )
    records = {r.position: r for o in together.outcomes for r in o.records}
    reference = {r.position: r for o in alone.outcomes for r in o.records}
    assert sorted(records) == list(range(14))
    assert [p for p, r in sorted(records.items()) if r.redone] == [6] == [p for p, r in sorted(reference.items()) if r.redone]
    assert records[6].redone.startswith("NaN or inf in the loss at step 1 with L-BFGS")
    assert any(n.startswith("Frame 7 of 14 was redone") for n in notices)
    for position, record in reference.items():
        assert np.isfinite(records[position].loss)
        assert records[position].loss == pytest.approx(record.loss, rel=0.02), position
    ours, theirs = pngs(tmp_path / "batch"), pngs(tmp_path / "alone")
    for name in ours:
        a = cv2.imdecode(np.frombuffer(ours[name], np.uint8), cv2.IMREAD_COLOR).astype(int)
        b = cv2.imdecode(np.frombuffer(theirs[name], np.uint8), cv2.IMREAD_COLOR).astype(int)
        assert np.abs(a - b).mean() < 3.0, name


def test_a_stopped_batch_resumes_to_every_frame(clip: Path, real_settings, tmp_path: Path) -> None:  # noqa: ANN001
    method = optimize_method(real_settings, canvas(real_settings))
    jobs = jobs_for(clip, real_settings, tmp_path / "work", listed(4, 9))
    stop = StopAfter(5)
    first = BatchedExecutor(method, 2).run(jobs, stop=stop, on_event=stop)
    assert first.stopped
    written = sum(len(o.records) for o in first.outcomes)
    assert 5 <= written < 14
    rest = BatchedExecutor(method, 2).run(jobs, stop=NeverStop(), on_event=lambda e: None)
    assert not rest.stopped
    assert written + sum(len(o.records) for o in rest.outcomes) == 14
    assert len(pngs(tmp_path / "work")) == 14


def test_a_method_that_cannot_batch_runs_one_chain_at_a_time(clip: Path, style: Path, tmp_path: Path) -> None:
    settings = make_settings(style=style, max_size=None)
    method = fake_method()(settings, canvas(settings))  # its stand-in optimizer has no batch
    done = BatchedExecutor(method, 3).run(jobs_for(clip, settings, tmp_path / "work", listed(5, 9)), stop=NeverStop(), on_event=lambda e: None)
    assert [o.chain for o in done.outcomes] == [0, 1, 2]
