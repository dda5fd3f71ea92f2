"""The run: stylize an image, or a video/folder/pattern into a video or a folder, resumably.

    stylize(input, output, settings=...)   plan -> work dir -> frames -> segments -> output
    resume(work_dir)                        the same, with everything read from the manifest

One direction of flow: this module calls the sources, the core and the
encoder; it never prints and never exits. Progress goes out as typed events.
"""

from __future__ import annotations

import glob
import shlex
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vidstyle.config import Settings, TemporalMode, settings_to_json
from vidstyle.errors import EncodeError, Interrupted, OutputError, ResumeError, UsageError
from vidstyle.model.build import build_core
from vidstyle.model.device import resolve_device
from vidstyle.files import file_sha256, remove_files, sweep_temporaries, write_image_atomic
from vidstyle.model.style import default_cache_dir, read_style_image
from vidstyle.model.stylizer import StepReport, StylizeResult, TemporalTarget
from vidstyle.pipeline.events import EventHandler, FrameDone, Notice, RunFinished, RunStarted, SegmentEncoded, StepDone, ignore
from vidstyle.pipeline.frames import FrameStarter, check_init_image
from vidstyle.pipeline.interrupt import FrameAbandoned, StopFlag, stop_on_signals
from vidstyle.pipeline.plan import FramePlan, make_plan
from vidstyle.files import png_is_complete
from vidstyle.pipeline.workdir import Manifest, WorkDir, default_work_dir, differences, input_fingerprint
from vidstyle.video.encode import VIDEO_OUTPUT_EXTENSIONS, container_for, encode_segment
from vidstyle.video.mux import assemble
from vidstyle.video.pixels import bgr_to_tensor, resize, tensor_to_bgr
from vidstyle.video.probe import count_video_frames
from vidstyle.video.sources import IMAGE_EXTENSIONS, FrameSource, SourceKind, open_source, read_image


class OutputKind(str, Enum):
    VIDEO = "video"
    FOLDER = "folder"
    IMAGE = "image"


def output_kind(output: Path) -> OutputKind:
    suffix = output.suffix.lower()
    if suffix in VIDEO_OUTPUT_EXTENSIONS:
        return OutputKind.VIDEO
    if suffix in IMAGE_EXTENSIONS and not output.is_dir():
        return OutputKind.IMAGE
    if suffix and not output.is_dir():
        raise UsageError(
            f"Cannot tell what to write for {output.name}: use a video (.mp4 .mkv .mov .webm), "
            "an image (.png .jpg .webp .tif) or a folder name without an extension."
        )
    return OutputKind.FOLDER


class FrameStylizer(Protocol):
    """What the pipeline needs of the core; tests may pass a cheap stand-in."""

    def stylize(
        self,
        content: torch.Tensor,
        *,
        init: torch.Tensor,
        budget: int,
        temporal: TemporalTarget | None = None,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> StylizeResult: ...


@dataclass(frozen=True)
class PreparedCore:
    stylizer: FrameStylizer
    device: torch.device
    weights_identity: str
    style_passes: int  # images that went through the network to build the style targets


# (settings, working size) -> core. The default builds the real VGG19 core.
CoreFactory = Callable[[Settings, tuple[int, int]], PreparedCore]


def real_core(settings: Settings, working_size: tuple[int, int]) -> PreparedCore:
    device = resolve_device(settings.model.device)
    core = build_core(
        settings.model,
        settings.style,
        settings.optimize,
        content_size=working_size,
        cache_dir=default_cache_dir(),
        device=device,
    )
    return PreparedCore(
        stylizer=core.stylizer,
        device=device,
        weights_identity=core.weights.identity,
        style_passes=0 if core.style.from_cache else core.extractor.passes,
    )


@dataclass(frozen=True)
class FrameRecord:
    position: int
    source_index: int
    steps: int
    stopped_early: bool
    loss: float
    content_loss: float
    style_loss: float
    temporal_loss: float
    seconds: float
    flow_seconds: float

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunResult:
    output: Path
    kind: OutputKind
    frames: int  # frames in the output
    stylized: int  # frames stylized by this call (the rest were done before)
    fps: Fraction | None
    duration: float | None
    seconds: float
    style_passes: int
    records: tuple[FrameRecord, ...]  # frames stylized by this call
    work_dir: Path | None


# ------------------------------------------------------------------ entry points


def stylize(
    input: str | Path,
    output: str | Path,
    *,
    settings: Settings,
    on_event: EventHandler = ignore,
    core_factory: CoreFactory = real_core,
) -> RunResult:
    """Stylize ``input`` (video, folder, pattern or image) into ``output`` (video, folder or image)."""
    output = Path(output).expanduser()
    kind = output_kind(output)
    check_init_image(settings.optimize.init)  # before any work dir exists (it is otherwise read once the run has started)
    with open_source(input) as source:
        if kind is OutputKind.IMAGE:
            if source.info.kind is not SourceKind.IMAGE:
                raise UsageError(
                    f"{output.name} is an image, but the input has {source.info.frame_count} frames; "
                    "pass a video file or a folder as --output."
                )
            return _stylize_image(source, output, settings, on_event, core_factory)
        if source.info.kind is SourceKind.IMAGE and kind is OutputKind.VIDEO:
            raise UsageError("A single image cannot make a video; pass an image file as --output.")
        with stop_on_signals() as stop:
            return _Sequence(source, output, kind, settings, on_event, core_factory, stop).run()


def resume(
    work_dir: str | Path,
    *,
    on_event: EventHandler = ignore,
    overrides: Callable[[Settings], Settings] | None = None,
    core_factory: CoreFactory = real_core,
) -> RunResult:
    """Continue the run whose manifest is in ``work_dir``, with the settings stored there."""
    root = Path(work_dir).expanduser().resolve()
    manifest = WorkDir.read_manifest(root)
    # Resuming never discards anything: whatever --restart/--overwrite the
    # original command had, they were acted on when it started.
    run = replace(manifest.settings.run, work_dir=root, restart=False, overwrite=False)
    settings = manifest.settings.replace(run=run)
    if overrides is not None:
        settings = overrides(settings)
    return stylize(manifest.input, manifest.output, settings=settings, on_event=on_event, core_factory=core_factory)


def _absolute_paths(settings: Settings) -> Settings:
    """The settings with every path made absolute.

    The manifest stores them, and `vidstyle resume` may run from another
    folder; fingerprints then do not depend on the current folder either.
    """
    optimize = settings.optimize
    if optimize.init not in ("content", "noise"):
        optimize = replace(optimize, init=str(Path(optimize.init).expanduser().resolve()))
    weights = settings.model.weights
    return settings.replace(
        model=replace(settings.model, weights=Path(weights).expanduser().resolve() if weights is not None else None),
        style=replace(settings.style, images=tuple(Path(p).expanduser().resolve() for p in settings.style.images)),
        optimize=optimize,
        run=replace(
            settings.run,
            work_dir=Path(settings.run.work_dir).expanduser().resolve() if settings.run.work_dir is not None else None,
        ),
    )


def resume_command(work_dir: Path) -> str:
    return f"vidstyle resume {shlex.quote(str(work_dir))}"


# ------------------------------------------------------------------ single image


def _check_output_free(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists; pass --overwrite to replace it, or choose another --output.")


def _stylize_image(
    source: FrameSource, output: Path, settings: Settings, on_event: EventHandler, core_factory: CoreFactory
) -> RunResult:
    _check_output_free(output, settings.run.overwrite)
    if not output.parent.is_dir():
        raise OutputError(f"The folder of {output} does not exist; create it first.")
    plan = make_plan(source.info, settings.select)
    started = time.perf_counter()
    core = core_factory(settings, plan.working_size)
    starter = FrameStarter(settings.optimize, settings.temporal, working_size=plan.working_size, device=core.device)
    on_event(RunStarted(total_frames=1, already_done=0, working_size=plan.working_size, output=output, work_dir=None))
    _, frame = next(source.read([0]))
    content = resize(frame, plan.working_size)
    begin = starter.start(0, content, None, None)

    def on_step(report: StepReport) -> None:
        on_event(StepDone(frame=0, step=report.step, budget=report.budget, loss=report.loss))

    result = core.stylizer.stylize(bgr_to_tensor(content, device=core.device), init=begin.init, budget=begin.budget, on_step=on_step)
    image = resize(tensor_to_bgr(result.image), plan.output_size)
    write_image_atomic(output, image)
    seconds = time.perf_counter() - started
    record = _record(0, 0, result, seconds, 0.0)
    on_event(_frame_done(record, 1, seconds, 1))
    on_event(RunFinished(output=output, frames=1, seconds=seconds))
    return RunResult(
        output=output,
        kind=OutputKind.IMAGE,
        frames=1,
        stylized=1,
        fps=None,
        duration=None,
        seconds=seconds,
        style_passes=core.style_passes,
        records=(record,),
        work_dir=None,
    )


def _record(position: int, source_index: int, result: StylizeResult, seconds: float, flow_seconds: float) -> FrameRecord:
    return FrameRecord(
        position=position,
        source_index=source_index,
        steps=result.steps,
        stopped_early=result.stopped_early,
        loss=result.final.total,
        content_loss=result.final.content,
        style_loss=result.final.style,
        temporal_loss=result.final.temporal,
        seconds=seconds,
        flow_seconds=flow_seconds,
    )


def _frame_done(record: FrameRecord, total: int, elapsed: float, stylized_here: int) -> FrameDone:
    rate = stylized_here / elapsed if elapsed > 0 else 0.0
    remaining = total - record.position - 1
    return FrameDone(
        frame=record.position,
        total_frames=total,
        steps=record.steps,
        stopped_early=record.stopped_early,
        loss=record.loss,
        style_loss=record.style_loss,
        content_loss=record.content_loss,
        seconds=record.seconds,
        frames_per_second=rate,
        eta_seconds=remaining / rate if rate > 0 else None,
    )


# ------------------------------------------------------------------ sequences


def output_frame_name(position: int) -> str:
    return f"frame_{position + 1:06d}.png"


class _Sequence:
    """One video/folder run. Split into steps so each can be read on its own."""

    def __init__(
        self,
        source: FrameSource,
        output: Path,
        kind: OutputKind,
        settings: Settings,
        on_event: EventHandler,
        core_factory: CoreFactory,
        stop: StopFlag,
    ) -> None:
        self.source = source
        self.output = output.resolve()
        self.kind = kind
        self.settings = _absolute_paths(settings)
        self.on_event = on_event
        self.core_factory = core_factory
        self.stop = stop
        root = self.settings.run.work_dir or default_work_dir(self.output)
        self.work = WorkDir(root, segment_frames=self.settings.run.segment_frames)
        self.container = container_for(self.output) if kind is OutputKind.VIDEO else None

    # -- orchestration --------------------------------------------------------
    def run(self) -> RunResult:
        started = time.perf_counter()
        self._check_output_parent()
        self._handle_existing_output()
        plan = make_plan(self.source.info, self.settings.select)
        fingerprint = self._fingerprint(plan)
        # Damaged manifests and changed settings are refused before the
        # (slow) core is built; the weights' identity is known only after.
        old = self._read_old_manifest(fingerprint)
        core = self.core_factory(self.settings, plan.working_size)
        fingerprint["weights"] = core.weights_identity
        if old is not None:
            self._refuse_changes(old.fingerprint, fingerprint)
        manifest = self._open_work_dir(plan, fingerprint, old)
        plan = manifest.plan
        self._sweep_output_leftovers()
        done = self._done_positions(plan)
        self.on_event(
            RunStarted(
                total_frames=plan.frame_count,
                already_done=len(done),
                working_size=plan.working_size,
                output=self.output,
                work_dir=self.work.root,
            )
        )
        if done:
            self.on_event(Notice(f"Resuming: {len(done)} of {plan.frame_count} frames were already done."))
        first = next((p for p in range(plan.frame_count) if p not in done), plan.frame_count)
        self._finish_pending_segments(plan, first)
        records = self._stylize_frames(plan, core, done, started)
        self._publish(plan)
        self.work.mark_finished()
        seconds = time.perf_counter() - started
        self._cleanup()
        self.on_event(RunFinished(output=self.output, frames=plan.frame_count, seconds=seconds))
        return RunResult(
            output=self.output,
            kind=self.kind,
            frames=plan.frame_count,
            stylized=len(records),
            fps=plan.fps if plan.durations is None else None,
            duration=plan.duration,
            seconds=seconds,
            style_passes=core.style_passes,
            records=tuple(records),
            work_dir=self.work.root,
        )

    def _check_output_parent(self) -> None:
        parent = self.output.parent
        if not parent.is_dir():
            raise OutputError(f"The folder {parent} does not exist; create it first or choose another --output.")

    def _output_exists(self) -> bool:
        if self.kind is OutputKind.FOLDER:
            return self.output.is_dir() and any(self.output.iterdir())
        return self.output.exists()

    def _remove_output(self) -> None:
        if self.kind is OutputKind.VIDEO:
            self.output.unlink(missing_ok=True)
        elif self.output.is_dir():
            remove_files(self.output.glob("frame_*.png"))

    def _handle_existing_output(self) -> None:
        """Refuse to clobber a finished output; --overwrite and --restart discard old work.

        --restart discards an interrupted run (its work dir, and for a folder
        output the frames it wrote there). --overwrite replaces a *finished*
        output only: rerunning the very command that was interrupted, --overwrite
        included, must resume, not throw the progress away.
        """
        run = self.settings.run
        if run.restart and self.work.root.exists():
            if self.kind is OutputKind.FOLDER:
                self._remove_output()  # the interrupted run's frames
            self.work.remove()
        interrupted = self.work.exists() and not self.work.is_finished()
        if not self._output_exists():
            return
        if self.kind is OutputKind.FOLDER and self.work.exists():
            # The output folder is the result: an interrupted run resumes into
            # it; a finished one kept with --keep-work has torn or deleted
            # frames redone, unless --overwrite asks to redo everything.
            if interrupted or not run.overwrite:
                if interrupted and run.overwrite:
                    self.on_event(Notice("Resuming the interrupted run into the output folder; pass --restart to start over."))
                return
        if run.overwrite:
            self.work.remove()
            self._remove_output()
            return
        raise OutputError(f"{self.output} already exists; pass --overwrite to redo it, or choose another --output.")

    def _fingerprint(self, plan: FramePlan) -> dict[str, object]:
        """Everything that decides the output's pixels and frames (the weights are added once known)."""
        settings_json = settings_to_json(self.settings)
        settings_json["style"]["images"] = "(compared by content)"  # paths may move, contents may not
        info = self.source.info
        return {
            "input": input_fingerprint(list(info.files) if info.files else [Path(info.path)]),
            "styles": [self._style_hash(Path(p)) for p in self.settings.style.images],
            "output": str(self.output),
            "frames": plan.frame_count,
            "settings": settings_json,
        }

    @staticmethod
    def _style_hash(path: Path) -> str:
        read_style_image(path)  # fingerprints come before the core: give its clear error for a bad style image
        return file_sha256(path)

    def _read_old_manifest(self, fingerprint: dict[str, object]) -> Manifest | None:
        """The manifest of an earlier run in the work dir, checked against ours; None for a fresh start."""
        if self.work.exists():
            old = WorkDir.read_manifest(self.work.root)
            # The weights' identity is not known yet: compare it after the core is built.
            self._refuse_changes(old.fingerprint, {**fingerprint, "weights": old.fingerprint.get("weights")})
            return old
        if not self.work.holds_nothing():
            raise ResumeError(
                f"{self.work.root} exists but holds no manifest; remove it, pass --restart, or choose --work-dir."
            )
        return None

    def _refuse_changes(self, old: dict[str, object], new: dict[str, object]) -> None:
        changed = differences(old, new)
        if changed:
            raise ResumeError(
                f"{self.work.root} holds an interrupted run made with other settings: "
                + "; ".join(changed)
                + f". Either rerun with the same settings ({resume_command(self.work.root)}), "
                "or pass --restart to discard the old work and start over."
            )

    def _open_work_dir(self, plan: FramePlan, fingerprint: dict[str, object], old: Manifest | None) -> Manifest:
        if old is not None:
            self.work.prepare_existing()
            self.work.clear_finished()  # repairing a finished folder output may be interrupted too
            return old
        manifest = Manifest(
            input=str(Path(self.source.info.path).resolve()),
            output=str(self.output),
            settings=self.settings,
            fingerprint=fingerprint,
            plan=plan,
            output_kind=self.kind.value,
        )
        self.work.create(manifest)
        if self.kind is OutputKind.FOLDER:
            self.output.mkdir(exist_ok=True)
        return manifest

    def _sweep_output_leftovers(self) -> None:
        """Remove what a killed run left beside the output.

        Video: the encoder's partial output and segment list (``.<name>.*``,
        see vidstyle/video/encode.py); unlinking also detaches an orphaned
        ffmpeg still writing there. Folder: temporaries of frame files.
        """
        if self.kind is OutputKind.VIDEO:
            remove_files(self.output.parent.glob(f".{glob.escape(self.output.name)}.*"))
        else:
            sweep_temporaries(self.output, "frame_*.png")

    # -- what is already done -----------------------------------------------------
    def _frame_done(self, plan: FramePlan, position: int) -> bool:
        """Done means its file is complete and its record is in the log (or its segment is encoded)."""
        if self.kind is OutputKind.VIDEO:
            if self.work.segment_path(self.work.segment_of(position)).is_file():
                return True
            return self.work.frame_is_complete(position, plan.working_size) and self.work.is_recorded(position)
        output_frame = self.output / output_frame_name(position)
        return png_is_complete(output_frame, plan.output_size) and self.work.is_recorded(position)

    def _done_positions(self, plan: FramePlan) -> set[int]:
        """Frames an earlier run finished.

        A video is written in order, so only the unbroken run of done frames
        from the start counts. In a folder every frame file stands alone: a
        deleted or torn one is redone and the others are kept.
        """
        done: set[int] = set()
        for position in range(plan.frame_count):
            if self._frame_done(plan, position):
                done.add(position)
            elif self.kind is OutputKind.VIDEO:
                break
        return done

    def _previous_stylized(self, plan: FramePlan, position: int) -> np.ndarray:
        """The stored working-size stylized frame at ``position`` (continuity for the next frame)."""
        path = self.work.frame_path(position)
        if png_is_complete(path, plan.working_size):
            return read_image(path)
        if self.kind is OutputKind.FOLDER:
            # Only the latest working copy is kept in a folder run; a frame redone
            # in the middle starts from the output frame instead (the same pixels
            # unless --output-size source resized it).
            return resize(read_image(self.output / output_frame_name(position)), plan.working_size)
        raise ResumeError(
            f"{path} is needed to continue but is missing; pass --restart to start over."
        )

    # -- frames ----------------------------------------------------------------
    def _stylize_frames(self, plan: FramePlan, core: PreparedCore, done: set[int], started: float) -> list[FrameRecord]:
        total = plan.frame_count
        first = next((p for p in range(total) if p not in done), total)
        if first >= total:
            return []
        starter = FrameStarter(self.settings.optimize, self.settings.temporal, working_size=plan.working_size, device=core.device)
        needs_previous = self.settings.temporal.mode is not TemporalMode.NONE
        begin = first - 1 if (first > 0 and needs_previous) else first
        frames = self._read_working(plan, begin)
        previous_content: np.ndarray | None = None
        previous_stylized: np.ndarray | None = None
        if begin < first:
            previous_content = next(frames)[1]
            previous_stylized = self._previous_stylized(plan, first - 1)
        records: list[FrameRecord] = []
        loop_started = time.perf_counter()
        for position, content in frames:
            if position in done:
                # Folder runs: frames written and recorded earlier are kept.
                previous_content = content
                previous_stylized = self._previous_stylized(plan, position) if needs_previous else None
                continue
            record, stylized = self._stylize_one(plan, core, starter, position, content, previous_content, previous_stylized)
            records.append(record)
            self.on_event(_frame_done(record, total, time.perf_counter() - loop_started, len(records)))
            previous_content, previous_stylized = content, stylized
            if self.stop.requested and position + 1 < total:
                raise self._interrupted(position + 1, total)
        return records

    def _read_working(self, plan: FramePlan, begin: int) -> Iterator[tuple[int, np.ndarray]]:
        indices = plan.source_indices[begin:]
        for offset, (_, frame) in enumerate(self.source.read(indices)):
            yield begin + offset, resize(frame, plan.working_size)

    def _stylize_one(
        self,
        plan: FramePlan,
        core: PreparedCore,
        starter: FrameStarter,
        position: int,
        content: np.ndarray,
        previous_content: np.ndarray | None,
        previous_stylized: np.ndarray | None,
    ) -> tuple[FrameRecord, np.ndarray]:
        frame_started = time.perf_counter()
        begin = starter.start(position, content, previous_content, previous_stylized)

        def on_step(report: StepReport) -> None:
            if self.stop.requested:
                raise FrameAbandoned
            self.on_event(StepDone(frame=position, step=report.step, budget=report.budget, loss=report.loss))

        try:
            result = core.stylizer.stylize(
                bgr_to_tensor(content, device=core.device),
                init=begin.init,
                budget=begin.budget,
                temporal=begin.temporal,
                on_step=on_step,
            )
        except FrameAbandoned:
            raise self._interrupted(position, plan.frame_count) from None
        stylized = tensor_to_bgr(result.image)
        record = _record(position, plan.source_indices[position], result, time.perf_counter() - frame_started, begin.flow_seconds)
        self._store_frame(plan, position, stylized, record)
        return record, stylized

    def _store_frame(self, plan: FramePlan, position: int, stylized: np.ndarray, record: FrameRecord) -> None:
        """Write the frame, then its record; then drop PNGs no longer needed (bounded disk).

        The order is what makes a kill anywhere safe: a record is only written
        for a complete file, and a PNG is only removed once nothing needs it
        (its segment is encoded, and the next frame, which starts from it, is
        written and recorded).
        """
        write_image_atomic(self.work.frame_path(position), stylized)
        if self.kind is OutputKind.FOLDER:
            write_image_atomic(self.output / output_frame_name(position), resize(stylized, plan.output_size))
        self.work.record(position, record.to_json())
        keep = self.settings.run.keep_frames
        if self.kind is OutputKind.FOLDER:
            # The output frames are the result; the working copy is kept only
            # for the latest frame, which the next one starts from.
            if position > 0 and not keep:
                self.work.frame_path(position - 1).unlink(missing_ok=True)
            return
        segment = self.work.segment_of(position)
        span = self.work.segment_range(segment, plan.frame_count)
        if position == span.start and position > 0 and not keep:
            # The previous segment's last frame was kept only to start this one.
            self.work.frame_path(position - 1).unlink(missing_ok=True)
        if position == span[-1]:
            self._encode_segment(plan, segment)

    # -- segments ------------------------------------------------------------------
    def _encode_segment(self, plan: FramePlan, segment: int) -> None:
        span = self.work.segment_range(segment, plan.frame_count)
        frames = [self.work.frame_path(p) for p in span]
        durations = plan.durations[span.start : span.stop] if plan.durations is not None else None
        scaled_dir: Path | None = None
        if plan.output_size != plan.working_size:
            # The encoder takes files: the output-size copies live only while
            # this segment is encoded (resume re-makes them from frames/).
            scaled_dir = self.work.scaled
            scaled_dir.mkdir(exist_ok=True)
            scaled = []
            for path in frames:
                target = scaled_dir / path.name
                write_image_atomic(target, resize(read_image(path), plan.output_size))
                scaled.append(target)
            frames = scaled
        try:
            encode_segment(
                frames,
                self.work.segment_path(segment),
                fps=plan.fps,
                durations=durations,
                crf=self.settings.encode.crf,
                container=self.container,
            )
        except EncodeError:
            if self.stop.requested:
                raise self._interrupted(span.stop, plan.frame_count) from None
            raise
        finally:
            if scaled_dir is not None:
                shutil.rmtree(scaled_dir, ignore_errors=True)
        if not self.settings.run.keep_frames:
            for position in span[:-1]:  # the last one starts the next segment
                self.work.frame_path(position).unlink(missing_ok=True)
        self.on_event(SegmentEncoded(segment=segment, frames=len(span)))

    def _finish_pending_segments(self, plan: FramePlan, first: int) -> None:
        """After a crash: encode segments whose frames are all done, and drop PNGs of encoded ones.

        A kill can land between a segment's last frame and its encode, during
        the encode, or between the encode and the removal of its PNGs. Frame
        ``first - 1`` stays: the next frame starts from it.
        """
        if self.kind is not OutputKind.VIDEO:
            return
        for segment in range(self.work.segment_of(max(first - 1, 0)) + 1):
            span = self.work.segment_range(segment, plan.frame_count)
            if span.stop > first:
                break
            if not self.work.segment_path(segment).is_file():
                self._encode_segment(plan, segment)
            if not self.settings.run.keep_frames:
                remove_files(self.work.frame_path(p) for p in span if p != first - 1)

    # -- the end -------------------------------------------------------------------
    def _publish(self, plan: FramePlan) -> None:
        if self.kind is OutputKind.FOLDER:
            missing = [p for p in range(plan.frame_count) if not png_is_complete(self.output / output_frame_name(p), plan.output_size)]
            if missing:
                raise OutputError(f"{len(missing)} of {plan.frame_count} frames are missing in {self.output}; rerun to redo them.")
            return
        segments = [self.work.segment_path(s) for s in range(self.work.segment_of(plan.frame_count - 1) + 1)]
        info = self.source.info
        with_audio = self.settings.encode.audio and info.kind is SourceKind.VIDEO and info.audio_streams > 0
        self.on_event(Notice(f"Assembling {len(segments)} segment(s) into {self.output.name}."))
        try:
            assemble(
                segments,
                self.output,
                audio_from=Path(info.path) if with_audio else None,
                audio_start=plan.audio_start,
                audio_duration=plan.duration,
                container=self.container,
            )
        except EncodeError:
            if self.stop.requested:
                raise self._interrupted(plan.frame_count, plan.frame_count) from None
            raise
        written = count_video_frames(self.output)
        if written != plan.frame_count:
            bad = self.output.with_name(self.output.name + ".incomplete")
            self.output.replace(bad)
            raise EncodeError(
                f"The encoder wrote {written} frames but {plan.frame_count} were planned; kept as {bad.name}. "
                "Please report this with the input file's details."
            )

    def _cleanup(self) -> None:
        run = self.settings.run
        if run.keep_work or run.keep_frames:
            return
        self.work.remove()

    def _interrupted(self, done: int, total: int) -> Interrupted:
        return Interrupted(
            f"Stopped after {done} of {total} frames (state saved). Resume with: {resume_command(self.work.root)}"
        )
