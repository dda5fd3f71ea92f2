"""The run: stylize a video, folder, pattern or image into a video, a folder or an image, resumably.

    stylize(input, output, settings=...)   validate, plan, fingerprint, open the work dir,
                                           run the chains, assemble, publish, clean up
    resume(work_dir)                        the same, with the settings read from the manifest and the
                                           output taken from where the work dir is

This module only orchestrates: the plan is pipeline/plan.py (frames) and
pipeline/chains.py (shots, chains, segments); the method is chosen once,
optimize or fast (pipeline/fast.py choose_method); the frames are stylized by
pipeline/chain.py on the run's workers, here or on Ray (pipeline/workers.py,
pipeline/executor.py); they go into a sink (video/sinks.py) and are assembled
by video/mux.py. An image output is a one-frame run through the same machinery,
without a work dir. What it may write and remove is pipeline/ownership.py's
call; the work dir is locked for the whole run (pipeline/worklock.py). It
never prints and never exits; progress goes out as typed events.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidstyle.config import TILE_AUTO, TILE_OFF, CutsMode, MethodKind, OverlayMode, Settings, TemporalMode
from vidstyle.errors import EncodeError, InputChanged, Interrupted, NumericalError, OutOfSpace, OutputError, ResumeError, UsageError
from vidstyle import written as written_files
from vidstyle.faults import FaultPoint, Faults
from vidstyle.methods.base import Method, MethodFactory
from vidstyle.methods.optimize import check_init_image, optimize_method
from vidstyle.pipeline.chain import ChainJob, InbetweenSpec, finished_positions
from vidstyle.pipeline.chains import RunPlan, make_run_plan
from vidstyle.pipeline.events import (
    CutScan,
    EventHandler,
    FrameRecord,
    Notice,
    RunFinished,
    RunProgress,
    RunStarted,
    ShotsPlanned,
    ignore,
)
from vidstyle.pipeline.eta import EtaEstimator, work_left
from vidstyle.pipeline.budget import Choice
from vidstyle.pipeline.fast import RunMethod, auto_choice, check_fast_settings, check_save_model, choose_method
from vidstyle.invocation import resume_command
from vidstyle.model.autosize import CPU_SIZE, SizeChoice
from vidstyle.pipeline.autosize import settle_max_size
from vidstyle.pipeline.fingerprint import FILE_KEYS, changed_files, differences, run_fingerprint
from vidstyle.pipeline.interrupt import StopFlag, stop_on_signals
from vidstyle.pipeline.plan import FramePlan, input_times, make_plan
from vidstyle.pipeline.shots import Cut, describe_shots, scan_for_cuts
from vidstyle.pipeline.overlays import protect_overlays
from vidstyle.pipeline.ownership import check_layout, check_output_parent, guarded_paths, settle_existing
from vidstyle.pipeline.workdir import Manifest, WorkDir, default_work_dir, output_beside, resume_command_for
from vidstyle.pipeline.workers import LOCAL, Workers, open_workers
from vidstyle.video.mux import assemble
from vidstyle.video.probe import count_video_frames
from vidstyle.video.masks import MaskSpec, open_mask
from vidstyle.video.overlays import OverlaySpec
from vidstyle.video.sinks import Output, OutputKind, SinkSpec, open_sink, output_kind, segment_path
from vidstyle.video.pixels import add_margin, resize
from vidstyle.video.sources import FrameSource, SourceInfo, SourceKind, SourceSpec, open_reader, open_source

__all__ = ["FrameRecord", "OutputKind", "RunResult", "resume", "resume_command", "stylize"]


def check_inbetween(settings: Settings) -> None:
    """Refuse --inbetween where it cannot work, before any work starts."""
    if settings.temporal.inbetween <= 1:
        return
    if settings.method.kind is MethodKind.FAST:
        raise UsageError("--inbetween works with --method optimize only; leave it out with --method fast (it stylizes every frame in one pass).")
    if settings.temporal.mode is not TemporalMode.FLOW:
        raise UsageError("--inbetween needs --temporal flow: the frames between key frames are made along the optical flow.")


@dataclass(frozen=True)
class RunResult:
    output: Path
    kind: OutputKind
    frames: int  # frames in the output
    stylized: int  # frames stylized by this call (the rest were done before)
    cuts: tuple[int, ...]  # plan positions where shots after the first begin
    shots: str  # "3 shots; cuts at 0:01.0, 0:06.0" (empty for an image)
    fps: Fraction | None
    duration: float | None
    seconds: float
    style_passes: int
    records: tuple[FrameRecord, ...]  # frames stylized by this call, in plan order
    work_dir: Path | None
    max_size: int | None = None  # --max-size as the run used it: with auto, the size chosen (a preview of the run needs it)


# ------------------------------------------------------------------ entry points


def stylize(
    input: str | Path,
    output: str | Path,
    *,
    settings: Settings,
    on_event: EventHandler = ignore,
    method_factory: MethodFactory = optimize_method,
) -> RunResult:
    """Stylize ``input`` (video, folder, pattern or image) into ``output`` (video, folder or image).

    ``method_factory`` builds the stylization method once the working size is
    known (methods/base.py); the default is the per-frame optimizer.
    """
    output = Path(output).expanduser()
    kind = output_kind(output)
    check_init_image(settings.optimize.init)  # before any work dir exists (it is otherwise read once the run has started)
    check_fast_settings(settings, image_output=kind is OutputKind.IMAGE)
    check_inbetween(settings)
    faults = Faults.from_env()
    with open_source(input) as source:
        _check_kinds(source.info, kind, output)
        with stop_on_signals() as stop:
            run = _Run(source, Output(kind, output.resolve()), settings, on_event, method_factory, stop, faults)
            result = run.run()
    if not run.fault_spent:
        faults.check_reached(redone={record.position for record in result.records if record.redone})
    return result


def resume(
    work_dir: str | Path,
    *,
    output: str | Path | None = None,
    on_event: EventHandler = ignore,
    overrides: Callable[[Settings], Settings] | None = None,
    method_factory: MethodFactory = optimize_method,
    restart: bool = False,
) -> RunResult:
    """Continue the run whose manifest is in ``work_dir``, with the settings stored there.

    A work dir is data, not instructions: the output is where the work dir
    says (``x.mp4`` for ``x.mp4.vidstyle``) or ``output``, never the
    manifest's word alone, and every other path it holds is checked as a
    command line's would be (pipeline/ownership.py). ``restart``: discard its
    finished frames and run it again from its first frame, with the same
    stored settings (the way on when its input changed).
    """
    root = Path(work_dir).expanduser().resolve()
    manifest = WorkDir.read_manifest(root)
    target = _resume_output(root, manifest, output)
    # Resuming never discards anything unless asked: whatever --restart/--overwrite
    # the original command had, they were acted on when it started.
    run = replace(manifest.settings.run, work_dir=root, restart=restart, overwrite=False)
    settings = manifest.settings.replace(run=run)
    if overrides is not None:
        settings = overrides(settings)
    return stylize(manifest.input, target, settings=settings, on_event=on_event, method_factory=method_factory)


def _resume_output(root: Path, manifest: Manifest, output: str | Path | None) -> Path:
    """Where a resume writes: ``output`` when given, else the output the work dir sits beside.

    A manifest naming another output is refused rather than followed: an
    edited (or planted) manifest must not make vidstyle write elsewhere. A
    given ``output`` that is not the stored run's is refused by the fingerprint.
    """
    if output is not None:
        return Path(output).expanduser().resolve()
    beside = output_beside(root)
    if beside is not None and str(beside) == manifest.output:
        return beside
    raise ResumeError(
        f"{root} is not beside the output its manifest names ({manifest.output}), and vidstyle does not write where a "
        f"work dir alone says; if that is this run's output, resume with: {resume_command_for(root, Path(manifest.output))}"
    )


def _shot_ranges(cuts: list[int], total: int) -> list[tuple[int, int]]:
    """(first, end) of each shot between the cuts."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < total}), total]
    return list(zip(bounds, bounds[1:]))


def _check_kinds(info: SourceInfo, kind: OutputKind, output: Path) -> None:
    if kind is OutputKind.IMAGE and info.kind is not SourceKind.IMAGE:
        raise UsageError(
            f"{output.name} is an image, but the input has {info.frame_count} frames; pass a video file or a folder as --output."
        )
    if info.kind is SourceKind.IMAGE and kind is OutputKind.VIDEO:
        raise UsageError("A single image cannot make a video; pass an image file as --output.")


class _Run:
    """One run, in the order it happens: each method is one step of the orchestration."""

    def __init__(
        self,
        source: FrameSource,
        output: Output,
        settings: Settings,
        on_event: EventHandler,
        method_factory: MethodFactory,
        stop: StopFlag,
        faults: Faults,
    ) -> None:
        self.source = source
        self.output = output
        # ``given``: as asked, stored in the manifest and fingerprinted (--max-size auto stays "auto");
        # ``settings``: what the run uses, with auto settled into pixels once the run holds its work dir.
        self.given = self.settings = settings.with_absolute_paths()
        self.size_choice: SizeChoice | None = None
        self.on_event = on_event
        self.method_factory = method_factory
        self.stop = stop
        self.faults = faults
        self.shots = ""  # the shots in a line, once planned
        self.fault_spent = False  # the injected fault killed a worker (pipeline/ray_executor.py)
        self.workers: Workers = LOCAL  # where the chains run (pipeline/workers.py); Ray's once a run with workers holds them
        self.work: WorkDir | None = None
        self.mask: MaskSpec | None = None  # --mask, checked by run()
        self.overlays: OverlaySpec | None = None  # --protect-overlays auto: each shot's detected mask, once planned
        self.run_id = ""  # the work dir's (its marker's), once held
        if output.kind is not OutputKind.IMAGE:
            self.work = WorkDir(self.settings.run.work_dir or default_work_dir(output.path))

    def run(self) -> RunResult:
        started = time.perf_counter()
        work_root = self.work.root if self.work is not None else None
        check_output_parent(self.output, work_root)
        # Before anything is touched: no path the run writes or removes is one it must keep.
        guarded = guarded_paths(self.source.info, self.settings)
        check_layout(self.output, work_root, guarded)
        check_save_model(self.settings, guarded=guarded, output=self.output, work=work_root)
        self.mask = self._open_mask()  # a mask that cannot serve is refused before the work dir is touched
        if self.work is None:  # an image: one frame, one shot, nothing to resume
            settle_existing(self.output, None, self.settings.run, notice=self._notice)
            self._settle_size(None)
            frames = make_plan(self.source.info, self.settings.select)
            # Fast mode makes an image only with --model (check_fast_settings): no training.
            method = choose_method(self.settings, frames.canvas_size, method_factory=self.method_factory).method
            plan = make_run_plan(frames, segment_frames=self.settings.run.segment_frames)
            return self._execute(plan, self.source.spec, method, started)
        # The work dir is this run's alone from here to the end (a second run is
        # refused and touches nothing), Ray workers' time included.
        with self.work.hold() as self.run_id:
            settle_existing(self.output, self.work, self.settings.run, notice=self._notice)
            self._settle_size(self.work)
            frames = make_plan(self.source.info, self.settings.select)
            fingerprint = run_fingerprint(self.source.info, self.given, output=self.output.path, frame_count=frames.frame_count)
            # Damaged manifests and changed settings are refused before the (slow)
            # method is built; the weights' identity is known only after.
            old = self._read_old_manifest(fingerprint)
            with open_workers(self.settings, on_notice=self._notice) as self.workers:
                return self._run_chains(frames, fingerprint, old, started)

    def _settle_size(self, work: WorkDir | None) -> None:
        """--max-size auto: the size an interrupted run in ``work`` chose, else chosen now (once per run; pipeline/autosize.py)."""
        if not self.given.select.auto_size:
            return
        recorded = None
        if work is not None and work.exists():
            # A stored run without a choice had a --max-size in pixels: the fingerprint refuses the change; nothing to measure for it.
            recorded = WorkDir.read_manifest(work.root).size_choice or SizeChoice(CPU_SIZE, f"{CPU_SIZE} (auto: not measured)")
        self.settings, self.size_choice = settle_max_size(self.given, self.source, recorded=recorded)

    def _open_mask(self) -> MaskSpec | None:
        select = self.settings.select
        if select.mask is None:
            return None
        # Which frames (not their size) is all the mask needs: --max-size auto is settled later, once the work dir is held.
        frames = make_plan(self.source.info, replace(select, max_size=None) if select.auto_size else select)
        return open_mask(select.mask, feather=select.mask_feather, invert=select.mask_invert, source_indices=frames.source_indices)

    def _notice(self, text: str) -> None:
        self.on_event(Notice(text))

    def _resume_command(self) -> str:
        assert self.work is not None
        return resume_command_for(self.work.root, self.output.path)

    def _run_chains(self, frames: FramePlan, fingerprint: dict[str, object], old: Manifest | None, started: float) -> RunResult:
        assert self.work is not None
        settings, scanned, chosen = self.settings, None, None
        if old is not None and settings.model.tile_size == TILE_AUTO:
            # --tile-size auto's choice was made from the memory free when the run began: keep it, so a
            # resumed run never mixes tiled and whole frames (a run begun without "tiles" was whole).
            kept = old.fingerprint.get("tiles", TILE_OFF)
            settings = settings.replace(model=replace(settings.model, tile_size=kept))  # type: ignore[arg-type]
        if settings.method.kind is MethodKind.AUTO:
            # Decided once, from costs measured now, and kept in the fingerprint: a resume does not time again.
            choice = Choice.from_json(old.fingerprint.get("auto")) if old is not None else None
            if choice is None:
                if old is None:
                    scanned = self._scan_cuts(frames)
                    shots = _shot_ranges([cut.position for cut in scanned[0]], frames.frame_count)
                else:
                    shots = [(shot.start, shot.stop) for shot in old.plan.shots]
                choice, optimizer = auto_choice(
                    settings, self._first_frames(frames), shots=shots, frame_count=frames.frame_count,
                    workers=self.workers.count, working_size=frames.canvas_size, method_factory=self.method_factory,
                )  # fmt: skip
                if choice.kind is MethodKind.OPTIMIZE and optimizer is not None:
                    chosen = RunMethod(optimizer, trains=False)
            fingerprint["auto"] = choice.to_json()
            self.on_event(Notice(f"Method auto: {choice.kind.value}. {choice.reason}."))
            # The manifest keeps "auto" (a resume reads the choice back); the method is built from the choice.
            settings = settings.replace(method=replace(settings.method, kind=choice.kind))
        if chosen is None:
            chosen = choose_method(settings, frames.canvas_size, method_factory=self.method_factory)
        fingerprint["weights"] = chosen.identity
        if chosen.tile is not None:
            fingerprint["tiles"] = chosen.tile  # tiles change pixels slightly; absent: whole frames
        if settings.model.tile_size == TILE_AUTO:
            # Every worker builds its method with the choice made here, not with its own free memory.
            settings = settings.replace(model=replace(settings.model, tile_size=chosen.tile or TILE_OFF))
        if old is not None:
            self._refuse_changes(old.fingerprint, fingerprint)
            self.work.prepare_existing()
            self.work.clear_finished()  # repairing a finished folder output may be interrupted too
            manifest = old
            self.output.prepare(run_id=self.run_id, frames=manifest.plan.frame_count)  # in case a kill beat its record
            self._announce_shots(manifest.plan, detected=False, seconds=0.0)  # found when the run began
        else:
            manifest = self._create_work_dir(self._plan_shots(frames, independent=chosen.independent, scanned=scanned), fingerprint)
        self.output.sweep_leftovers()
        self.overlays = self._protect_overlays(manifest.plan)
        method = chosen.ready(
            settings=settings,
            plan=manifest.plan,
            source=manifest.source,
            work_root=self.work.root,
            resume=self._resume_command(),
            faults=self.faults,
            stop=self.stop,
            on_event=self.on_event,
            workers=self.workers.count,
        )
        factory = chosen.worker_factory(settings, self.work.root, self.method_factory)
        return self._execute(manifest.plan, manifest.source, method, started, factory=factory)

    # -- before any frame -------------------------------------------------------
    def _times(self, plan: FramePlan) -> list[float]:
        """Input time (seconds) of every planned frame."""
        stamps = input_times(self.source.info, self.settings.select)
        return [stamps[i] for i in plan.source_indices]

    def _scan_cuts(self, frames: FramePlan) -> tuple[list[Cut], float]:
        """The cuts (one pass over the selected frames when --cuts auto), and the seconds the pass took."""
        started = time.perf_counter()
        cuts = scan_for_cuts(
            self.source,
            frames,
            self._times(frames),
            config=self.settings.shots,
            flow_preset=self.settings.temporal.flow_preset,
            on_progress=lambda done, total: self.on_event(CutScan(frames_done=done, total_frames=total)),
            before_frame=self._stop_scan,
        )
        return cuts, time.perf_counter() - started

    def _first_frames(self, frames: FramePlan) -> list[np.ndarray]:
        """The plan's first two frames on their canvas, as the method sees them (what --method auto times its steps on)."""
        indices = list(frames.source_indices[:2])
        with open_reader(self.source.spec) as reader:
            found = [add_margin(resize(frame, frames.working_size), frames.margin) for _, frame in reader.read(indices)]
        return found or [np.zeros((frames.canvas_size[1], frames.canvas_size[0], 3), np.uint8)]

    def _plan_shots(self, frames: FramePlan, *, independent: bool, scanned: tuple[list[Cut], float] | None = None) -> RunPlan:
        """Find the cuts (unless ``scanned`` already holds them) and plan shots and chains."""
        detecting = self.settings.shots.mode is CutsMode.AUTO
        cuts, seconds = scanned if scanned is not None else self._scan_cuts(frames)
        scale = self.settings.scale
        workers = self.workers.count
        if independent:
            # Fast mode: a shot splits into chains at no cost to the picture,
            # so --batch-chains K then has K chains to put through each network pass, on each worker.
            workers *= self.settings.model.batch_chains
        # A chain inside a shot is warmed up and cross-faded; frames that are not tied together need neither.
        tied = self.settings.temporal.mode is not TemporalMode.NONE and not independent
        overlap = scale.overlap if tied else 0
        plan = make_run_plan(
            frames,
            cuts,
            segment_frames=self.settings.run.segment_frames,
            # --inbetween: one chain per shot (its key frames are tied along the whole shot); workers spread shots.
            chain_frames=None if self._inbetween() is not None else scale.chain_frames_for(frames.frame_count, workers),
            overlap=overlap,
        )
        self._announce_shots(plan, detected=detecting, seconds=seconds if detecting else 0.0)
        return plan

    def _inbetween(self) -> InbetweenSpec | None:
        """--inbetween N (N > 1): how the chains make the frames between their key frames."""
        temporal, shots = self.settings.temporal, self.settings.shots
        if temporal.inbetween <= 1:
            return None
        return InbetweenSpec(
            every=temporal.inbetween,
            flow_preset=temporal.flow_preset,
            soft_mask=temporal.soft_mask,
            photometric=shots.photometric_threshold if shots.mode is not CutsMode.OFF else None,
        )

    def _protect_overlays(self, plan: RunPlan) -> OverlaySpec | None:
        """--protect-overlays auto: each shot's overlay mask, found once and kept in the work dir (pipeline/overlays.py)."""
        if self.settings.select.protect_overlays is not OverlayMode.AUTO or self.work is None:
            return None  # an image output is one frame: nothing moves, nothing to protect
        found = protect_overlays(self.source, plan, self.work.root, before_frame=self._stop_overlays)
        self._notice(found.summary())
        return found.spec

    def _stop_overlays(self) -> None:
        if self.stop.requested:
            raise Interrupted(f"Stopped while looking for overlays, before any frame was stylized. Resume with: {self._resume_command()}")

    def _stop_scan(self) -> None:
        """A stop during the cut-detection pass ends it (nothing is stylized yet)."""
        if self.stop.requested:
            raise Interrupted("Stopped while looking for cuts, before any frame was stylized; rerun the command to start again.")

    def _announce_shots(self, plan: RunPlan, *, detected: bool, seconds: float) -> None:
        self.shots = describe_shots(plan.cuts, self._times(plan.frames), plan.frame_count)
        cuts = tuple(cut.position for cut in plan.cuts)
        self.on_event(ShotsPlanned(shots=len(plan.shots), cuts=cuts, summary=self.shots, detected=detected, seconds=seconds))

    def _read_old_manifest(self, fingerprint: dict[str, object]) -> Manifest | None:
        """The manifest of an earlier run in the work dir, checked against ours; None for a fresh start."""
        assert self.work is not None
        if self.work.exists():
            old = WorkDir.read_manifest(self.work.root)
            # The weights' identity is not known yet: compare it after the method is built.
            known = {"weights": old.fingerprint.get("weights")}
            if "tiles" in old.fingerprint:  # --tile-size auto's choice, made once (kept in _run_chains)
                known["tiles"] = old.fingerprint["tiles"]
            if "auto" in old.fingerprint:  # --method auto's choice, made once (read back in _run_chains)
                known["auto"] = old.fingerprint["auto"]
            self._refuse_changes(old.fingerprint, {**fingerprint, **known})
            return old
        # Held and marked, without a manifest: new, or a run killed before it wrote one; what that left is ours.
        self.work.remove()
        return None

    def _refuse_changes(self, old: dict[str, object], new: dict[str, object]) -> None:
        assert self.work is not None
        changed = differences(old, new)
        if not changed:
            return
        files = changed_files(old, new, style_images=self.settings.style.images, input=self.source.info.path)
        settings = [line for line in changed if not line.split(":", 1)[0].split(".", 1)[0] in FILE_KEYS]
        if files:
            # Resuming cannot help: the stored run would read the changed files too.
            also = f" The settings differ too ({'; '.join(settings)})." if settings else ""
            raise InputChanged(
                f"{files} changed since the interrupted run in {self.work.root} began, so its finished frames "
                f"cannot be reused.{also}"
            )
        raise ResumeError(
            f"{self.work.root} holds an interrupted run made with other settings: "
            + "; ".join(changed)
            + f". Either rerun with the same settings ({self._resume_command()}), "
            "or pass --restart to discard the old work and start over."
        )

    def _create_work_dir(self, plan: RunPlan, fingerprint: dict[str, object]) -> Manifest:
        """Write the manifest, with the whole plan (shots and chains included), before the first frame."""
        assert self.work is not None
        manifest = Manifest(
            input=str(Path(self.source.info.path).resolve()),
            output=str(self.output.path),
            settings=self.given,
            fingerprint=fingerprint,
            plan=plan,
            source=self.source.spec,
            output_kind=self.output.kind.value,
            run_id=self.run_id,
            size_choice=self.size_choice,
        )
        self.work.create(manifest)
        self.output.prepare(run_id=self.run_id, frames=plan.frame_count)
        return manifest

    # -- the frames -----------------------------------------------------------
    def _sink_spec(self) -> SinkSpec:
        return SinkSpec(
            kind=self.output.kind,
            output=self.output.path,
            work=self.work.root if self.work is not None else None,
            crf=self.settings.encode.crf,
            keep_frames=self.settings.run.keep_frames,
            source=self.source.spec,
            device=self.settings.model.device.value,
            mask=self.mask,
            overlays=self.overlays,
        )

    def _done_by_chain(self, plan: RunPlan, spec: SinkSpec) -> dict[int, set[int]]:
        ledger = self.work.log(plan) if self.work is not None else None
        sink = open_sink(spec, plan, ledger=ledger, faults=Faults(), on_event=ignore)
        return {chain.index: finished_positions(plan, chain, sink) for chain in plan.chains}

    def _execute(self, plan: RunPlan, source: SourceSpec, method: Method, started: float, *, factory: MethodFactory | None = None) -> RunResult:
        spec = self._sink_spec()
        total = plan.frame_count
        done_by_chain = self._done_by_chain(plan, spec)
        done = sum(len(positions) for positions in done_by_chain.values())
        work_root = self.work.root if self.work is not None else None
        self.on_event(
            RunStarted(
                total_frames=total, already_done=done, working_size=plan.working_size, output=self.output.path, work_dir=work_root,
                size_choice=self.size_choice.reason if self.size_choice is not None else "",
            )
        )
        if done:
            self.on_event(Notice(f"Resuming: {done} of {total} frames were already done."))
        inbetween = self._inbetween()
        jobs = [
            ChainJob(plan=plan, chain=chain.index, source=source, sink=spec, faults=self.faults, inbetween=inbetween)
            for chain in plan.chains
        ]
        left, warmups, todo_by_chain = work_left(plan, done_by_chain, uses_previous=method.uses_previous)
        optimize = self.settings.optimize
        estimator = EtaEstimator(cold_budget=optimize.iterations, warm_budget=optimize.iterations_next, workers=self.workers.count)
        progress = RunProgress(
            total, done, self.on_event, left=left, estimator=estimator, warmups=warmups, todo_by_chain=todo_by_chain
        )
        with self._resumable(progress):
            execution = self.workers.run(
                jobs, method=method, method_factory=factory or self.method_factory, settings=self.settings,
                working_size=plan.canvas_size, stop=self.stop, on_event=progress,
            )  # fmt: skip
            self.fault_spent = execution.fault_spent
            if execution.stopped:
                raise self._interrupted(progress.done, total)
            records = sorted((r for outcome in execution.outcomes for r in outcome.records), key=lambda r: r.position)
            self._publish(plan)
        if self.work is not None:
            self.work.mark_finished()
        seconds = time.perf_counter() - started
        self._cleanup()
        self.on_event(RunFinished(output=self.output.path, frames=total, seconds=seconds, shots=self.shots))
        frames = plan.frames
        sequence = self.output.kind is not OutputKind.IMAGE
        return RunResult(
            output=self.output.path,
            kind=self.output.kind,
            frames=total,
            stylized=len(records),
            cuts=tuple(cut.position for cut in plan.cuts),
            shots=self.shots,
            fps=frames.fps if sequence and frames.durations is None else None,
            duration=frames.duration if sequence else None,
            seconds=seconds,
            style_passes=method.style_passes,
            records=tuple(records),
            work_dir=work_root,
            max_size=self.settings.select.max_size,  # type: ignore[arg-type]  # settled: never "auto" here
        )

    @contextlib.contextmanager
    def _resumable(self, progress: RunProgress) -> Iterator[None]:
        """Failures that leave a resumable run (ffmpeg, a full disk, a numerical fault) end with how to go on."""
        try:
            yield
        except (EncodeError, OutOfSpace, NumericalError) as error:
            if self.work is None or not self.work.exists():
                raise
            kept = f"The {progress.done} finished frames are kept" if progress.done else "The run's plan is kept"
            command = self._resume_command()
            if isinstance(error, NumericalError):
                how = (
                    f"resume with: {command} (a passing fault, such as a failing GPU, then goes away); if the frame "
                    "fails again, start over with another --optimizer or a lower --learning-rate and --restart."
                )
            elif isinstance(error, OutOfSpace):
                how = f"free some space, then resume with: {command}"
            else:
                how = f"fix what ffmpeg reports (a full disk, say), then resume with: {command}"
            raise type(error)(f"{str(error).rstrip('.')}. {kept}; {how}") from error

    # -- the end -------------------------------------------------------------------
    def _publish(self, plan: RunPlan) -> None:
        """Check that every planned frame was written, then make the output (video: assemble the segments)."""
        total = plan.frame_count
        if self.work is None:
            if not self.output.path.is_file():
                raise OutputError(f"{self.output.path} was not written; rerun the command.")
            written_files.record(self.output.path)  # so a later --overwrite may replace it (vidstyle/written.py)
            return
        log = self.work.log(plan)
        unrecorded = [p for p in range(total) if not log.is_recorded(p)]
        if unrecorded:
            raise OutputError(f"{len(unrecorded)} of {total} frames were not stylized (first: {unrecorded[0]}); rerun to redo them.")
        if self.output.kind is OutputKind.FOLDER:
            missing = self.output.missing_frames(plan)
            if missing:
                raise OutputError(f"{len(missing)} of {total} frames are missing in {self.output.path}; rerun to redo them.")
            return
        segments = [segment_path(self.work.segments, s.index) for s in plan.segments]
        absent = [s for s in segments if not s.is_file()]
        if absent:
            raise OutputError(f"{len(absent)} of {len(segments)} segments are missing in {self.work.segments}; rerun to redo them.")
        info = self.source.info
        with_audio = self.settings.encode.audio and info.kind is SourceKind.VIDEO and info.audio_streams > 0
        self.on_event(Notice(f"Assembling {len(segments)} segment(s) into {self.output.path.name}."))
        try:
            assemble(
                segments,
                self.output.path,
                audio_from=Path(info.path) if with_audio else None,
                audio_start=plan.frames.audio_start,
                audio_duration=plan.frames.duration,
                container=self.output.container,
                while_running=self.faults.watch(FaultPoint.ASSEMBLE),
            )
        except EncodeError:
            if self.stop.requested:
                raise self._interrupted(total, total) from None
            raise
        written = count_video_frames(self.output.path)
        if written != total:
            bad = self.output.path.with_name(self.output.path.name + ".incomplete")
            number = 1
            while bad.exists() or bad.is_symlink():  # never over a file already there (a user's, or an earlier one)
                bad = self.output.path.with_name(f"{self.output.path.name}.incomplete-{number}")
                number += 1
            self.output.path.replace(bad)
            raise EncodeError(
                f"The encoder wrote {written} frames but {total} were planned; kept as {bad.name}. "
                "Please report this with the input file's details."
            )
        written_files.record(self.output.path)  # so a later --overwrite may replace it (vidstyle/written.py)

    def _cleanup(self) -> None:
        run = self.settings.run
        if self.work is None or run.keep_work or run.keep_frames:
            return
        self.work.remove()

    def _interrupted(self, done: int, total: int) -> Interrupted:
        if self.work is None:
            return Interrupted(f"Stopped before {self.output.path.name} was written; rerun the command to start again.")
        return Interrupted(
            f"Stopped after {done} of {total} frames (state saved). Resume with: {self._resume_command()}"
        )
