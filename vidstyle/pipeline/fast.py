"""Fast mode in a run: keyframes by the optimizer, a network trained on the clip, then the network as the method.

run.py asks :func:`choose_method` for the run's method once (the optimizer, a
saved network, or fast mode's keyframer), and calls :meth:`RunMethod.ready`
once the plan (shots) is known and the work dir holds the manifest; in fast
mode that runs :func:`prepare_fast_method`, and the executor gets the
network it returns: the frames then go through the same chains, sinks, segments and
resume as the optimizer's. Every stage is resumable from the work dir::

    fast/keyframes/000123.png   the optimizer's cold-start stylization of plan position 123
    fast/fast-checkpoint.pt     the training state, every few steps (methods/feedforward.py)
    fast/model.pt               the trained network (the --save-model format), once training ends

A run killed while stylizing keyframes redoes only the missing ones; killed
while training, it goes on from the last checkpoint to the same weights; killed
while applying, it loads fast/model.pt and goes on with the frames not done.
With ``--model`` none of this happens: the saved network is the method.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidstyle import __version__
from vidstyle import written as written_files
from vidstyle.config import FULL_TRAIN_STEPS, MethodKind, Precision, Settings, TemporalMode, settings_to_json
from vidstyle.errors import Interrupted, ModelError, NumericalError, UsageError
from vidstyle.faults import FaultPoint, Faults
from vidstyle.files import file_sha256, png_is_complete, write_bytes_atomic, write_image_atomic
from vidstyle.invocation import resume_command
from vidstyle.methods.base import FrameAbandoned, FrameTask, Method, MethodFactory, SharingCore, StopToken
from vidstyle.methods.feedforward import (
    CHECKPOINT_NAME,
    STYLE_EMPHASIS,
    TEMPORAL_EMPHASIS,
    FastConfig,
    FastMethod,
    LossWeights,
    TrainingClip,
    TrainingEvent,
    TrainingStep,
    TrainingStopped,
    load_model,
    plan_keyframes,
    save_model,
    time_training,
    train_network,
)
from vidstyle.pipeline.budget import (
    Choice,
    Costs,
    choose_kind,
    describe_budget,
    optimizer_step_seconds,
    record_budget,
    recorded_budget,
    training_steps,
)
from vidstyle.model.device import resolve_device
from vidstyle.model.runtime import native_bf16
from vidstyle.pipeline.chains import RunPlan
from vidstyle.pipeline.events import EventHandler, KeyframeDone, Notice
from vidstyle.pipeline.ownership import Guarded, check_target
from vidstyle.video.sinks import Output
from vidstyle.video.pixels import working_frame
from vidstyle.video.sources import SourceSpec, open_reader, read_image

FAST_DIR = "fast"
MODEL_NAME = "model.pt"
# The training set of a long clip is a sample of it, so memory stays bounded:
# the keyframes plus evenly spread consecutive pairs (the temporal term needs
# pairs), at most this many frames and this many bytes of them.
MAX_TRAINING_FRAMES = 600
MAX_TRAINING_BYTES = 2 << 30


def check_fast_settings(settings: Settings, *, image_output: bool) -> None:
    """Refuse what fast mode cannot do, before any work starts."""
    method = settings.method
    if method.kind is not MethodKind.FAST:
        return
    if method.model is None:
        if settings.style.preserve_colors:
            raise UsageError("--preserve-colors does not work with --method fast yet; leave one of them out.")
        if image_output:
            raise UsageError(
                "--method fast learns from a clip; for one image use --method optimize, or apply a saved network with --model."
            )


def fast_model_method(settings: Settings) -> FastMethod:
    """The method of ``--model PATH``: the saved network, read without unpickling anything (ModelError if unusable)."""
    assert settings.method.model is not None
    path = Path(settings.method.model)
    device = resolve_device(settings.model.device)
    loaded = load_model(path, device=device)
    return FastMethod(loaded.net, identity="fast-model:" + file_sha256(path), device=device)


@dataclass(frozen=True)
class SavedNetwork:
    """The method factory of fast mode's Ray workers: the network saved at ``path``, loaded once on each worker.

    A trained run's network is its work dir's fast/model.pt, which every worker
    sees (the work dir is on a filesystem they share, docs/workers.md), so the
    network is trained once, on the driver, and crosses to the workers as a
    file, never through Ray's object store.
    """

    path: Path
    identity: str

    def __call__(self, settings: Settings, working_size: tuple[int, int]) -> Method:
        device = resolve_device(settings.model.device)
        return FastMethod(load_model(self.path, device=device).net, identity=self.identity, device=device)


@dataclass(frozen=True)
class RunMethod:
    """The method a run chose: ``method`` stylizes the frames, unless the run trains a network first."""

    method: Method  # the optimizer, or the saved network of --model; in training runs, the keyframer
    trains: bool  # fast mode without --model: keyframes, training, then the trained network (ready())
    # Fast mode (trained or --model) stylizes every frame on its own: no chain depends on another's frames.
    independent: bool = False
    # Training runs whose keyframes run in another precision than the run's optimizer would (bf16 on a CPU,
    # keyframer_settings): builds that optimizer, so the budget prices the step the user would have waited for.
    run_optimizer: Callable[[], Method] | None = None

    @property
    def identity(self) -> str:
        """What the output depends on besides settings and inputs (the run's fingerprint)."""
        return self.method.identity

    @property
    def tile(self) -> int | None:
        """The tile side the optimizer's frames are optimized in (None: whole); only the optimizer tiles (methods/optimize.py)."""
        return getattr(self.method, "tile", None)  # test stand-ins and saved networks have none

    def worker_factory(self, settings: Settings, work_root: Path | None, fallback: MethodFactory) -> MethodFactory:
        """What each Ray worker builds its method with: the saved network in fast mode, else ``fallback`` (the optimizer)."""
        if not self.independent:
            return fallback
        if settings.method.model is not None:
            return SavedNetwork(Path(settings.method.model), self.identity)
        assert work_root is not None
        return SavedNetwork(work_root / FAST_DIR / MODEL_NAME, self.identity)

    def ready(
        self,
        *,
        settings: Settings,
        plan: RunPlan,
        source: SourceSpec,
        work_root: Path,
        resume: str,
        faults: Faults,
        stop: StopToken,
        on_event: EventHandler,
        workers: int = 1,
    ) -> Method:
        """The method the chains use: ``method``, or the network this run trains (or trained before a kill)."""
        if not self.trains:
            return self.method
        return prepare_fast_method(
            settings=settings, plan=plan, source=source, work_root=work_root, resume=resume,
            keyframer=self.method, faults=faults, stop=stop, on_event=on_event, workers=workers,
            run_optimizer=self.run_optimizer,
        )  # fmt: skip


def choose_method(settings: Settings, working_size: tuple[int, int], *, method_factory: MethodFactory) -> RunMethod:
    """Optimize or fast: the run's method, built once the working size is known.

    ``--method fast --model PATH``: the saved network (read, and a pickled file
    refused, before the work dir exists). ``--method fast``: ``method_factory``'s
    optimizer, in bf16 wherever the training is (:func:`keyframer_settings`), to
    stylize the keyframes and lend the training its losses. Otherwise the
    optimizer ``method_factory`` builds.
    """
    config = settings.method
    if config.kind is MethodKind.FAST and config.model is not None:
        return RunMethod(fast_model_method(settings), trains=False, independent=True)
    trains = config.kind is MethodKind.FAST
    built = keyframer_settings(settings) if trains else settings
    run_optimizer = (lambda: method_factory(settings, working_size)) if built is not settings else None
    return RunMethod(method_factory(built, working_size), trains=trains, independent=trains, run_optimizer=run_optimizer)


def auto_choice(
    settings: Settings,
    frames: Sequence[np.ndarray],
    *,
    shots: Sequence[tuple[int, int]],
    frame_count: int,
    workers: int,
    working_size: tuple[int, int],
    method_factory: MethodFactory,
) -> tuple[Choice, Method | None]:
    """``--method auto``: optimize or fast for this clip, from costs measured here (pipeline/budget.py), and why.

    ``frames``: the clip's first frames (two, at the working size) to time an
    optimizer step and a few training steps on. Returns the optimizer it built
    to measure, for the run to use when it chose the optimizer.
    """
    if settings.style.preserve_colors:
        return Choice(MethodKind.OPTIMIZE, "fast mode cannot keep the input's colours (--preserve-colors)"), None
    optimizer = method_factory(settings, working_size)
    core = optimizer.core if isinstance(optimizer, SharingCore) else None
    if core is None:
        return Choice(MethodKind.OPTIMIZE, "this method factory cannot train a fast network"), optimizer
    step = optimizer_step_seconds(optimizer, frames[0])
    config = fast_config(settings)
    clip = TrainingClip(frames=list(frames), keyframes={0: frames[0]})  # the keyframe's look does not change a step's cost
    times = time_training(
        clip, features=core.extractor, style=core.style, content_layers=core.stylizer.content_layers, config=config, device=core.device
    )
    keys = len(plan_keyframes(shots, every=settings.method.keyframes))
    cold = settings.optimize.iterations  # the budget: keyframes and the optimizer's cold starts alike
    costs = Costs(
        frames=frame_count, shots=len(shots), workers=workers, step_seconds=step, cold_steps=cold,
        warm_steps=settings.optimize.iterations_next, keyframes=keys, keyframe_seconds=keys * cold * step,
        train_step_seconds=times.full_step, apply_seconds=times.apply, cheap_step_seconds=times.cheap_step,
        full_every=config.full_every,
    )  # fmt: skip
    choice = choose_kind(costs, full=settings.method.train_steps or FULL_TRAIN_STEPS)
    return choice, optimizer


def check_save_model(settings: Settings, *, guarded: Guarded, output: Output, work: Path | None) -> None:
    """--save-model never clobbers: not a file the run reads, not in the work dir, not an existing file unless --overwrite.

    The copy an interrupted run of this work dir already wrote (the same
    bytes as its fast/model.pt) is written again by its resume.
    """
    target = settings.method.save_model
    if target is None:
        return
    trained = work / FAST_DIR / MODEL_NAME if work is not None else None

    def written_by_this_run(path: Path) -> bool:
        if trained is None or trained.is_symlink() or not trained.is_file() or not path.is_file():
            return False
        return path.stat().st_size == trained.stat().st_size and file_sha256(path) == file_sha256(trained)

    check_target(
        Path(target), option="--save-model", guarded=guarded, overwrite=settings.run.overwrite,
        output=output, work=work, replaceable=written_by_this_run,
    )  # fmt: skip


def fast_config(settings: Settings, *, steps: int | None = None) -> FastConfig:
    """The training settings of a run: its step budget, keyframe spacing, seed, flow preset and loss weights.

    ``steps``: the budget the run decided (pipeline/budget.py) when --train-steps
    was not given; without either, the full training. The style weight is the
    run's times STYLE_EMPHASIS, the temporal weight the run's times TEMPORAL_EMPHASIS
    (methods/feedforward.py says why).
    """
    steps = settings.method.train_steps or steps or FULL_TRAIN_STEPS
    return FastConfig(
        keyframes=settings.method.keyframes,
        train_steps=steps,
        seed=settings.optimize.seed,
        flow_preset=settings.temporal.flow_preset,
        weights=LossWeights(
            style=settings.optimize.effective_style_weight * STYLE_EMPHASIS,
            content=settings.optimize.content_weight,
            tv=settings.optimize.tv_weight,
            # The temporal term is flow-warped, as the optimizer's in flow mode; --temporal none/prev leave it out.
            temporal=settings.temporal.weight * TEMPORAL_EMPHASIS if settings.temporal.mode is TemporalMode.FLOW else 0.0,
        ),
        bf16_losses=bf16_training(settings),
        # A tenth of the budget, at most 50 steps: a kill loses little, and a short (test) budget checkpoints too.
        checkpoint_every=max(1, min(50, steps // 10)),
    )


def bf16_training(settings: Settings) -> bool:
    """Whether the training's loss network runs in bf16: --precision bf16, or auto on a device with native bf16.

    Unlike the optimizer's frames, the network need not come out the same at
    any thread count (fast mode runs in one process; a resume uses the same
    machine), so auto takes bf16 on a CPU that has it too: 0.46x the training
    time at the same losses, measured with benchmarks/fast_method.py.
    """
    precision = Precision(settings.model.precision)
    if precision is not Precision.AUTO:
        return precision is Precision.BF16
    return native_bf16(resolve_device(settings.model.device))


def keyframer_settings(settings: Settings) -> Settings:
    """The settings the keyframes' optimizer is built with: the run's, in bf16 wherever the training is.

    The optimizer's auto stays fp32 on a CPU, because there bf16 frames depend
    on the thread count and a chain's frames must not. Keyframes are made once,
    in this one process, and stored as PNGs in the work dir that a resume reads
    back, so that reason does not hold for them: where the training runs in
    bf16 they do too (0.54x an fp32 optimizer step on this project's AMX CPU,
    benchmarks/fast_method.py). --precision fp32 keeps them fp32.
    """
    if not bf16_training(settings):
        return settings
    return replace(settings, model=replace(settings.model, precision=Precision.BF16))


def training_positions(plan: RunPlan, keyframes: Sequence[int]) -> list[int]:
    """Plan positions of the frames the network learns from: all of a short clip, else a spread sample (see above)."""
    total = plan.frame_count
    width, height = plan.working_size
    limit = max(2 + len(keyframes), min(MAX_TRAINING_FRAMES, MAX_TRAINING_BYTES // (width * height * 3)))
    if total <= limit:
        return list(range(total))
    pairs = max(1, (limit - len(keyframes)) // 2)
    starts = {round(i * (total - 2) / max(1, pairs - 1)) for i in range(pairs)}
    return sorted(set(keyframes) | starts | {s + 1 for s in starts})


def _breaks(positions: Sequence[int], plan: RunPlan) -> frozenset[int]:
    """Indices i where positions[i + 1] does not follow positions[i] in the same shot."""
    shot_starts = {shot.start for shot in plan.shots}
    return frozenset(
        i for i in range(len(positions) - 1) if positions[i + 1] != positions[i] + 1 or positions[i + 1] in shot_starts
    )


def model_settings(settings: Settings, plan: RunPlan, config: FastConfig, steps: int) -> dict[str, object]:
    """The JSON saved beside a network: what made it (for people and for checks; loading reads none of it as code)."""
    data = settings_to_json(settings)
    return {
        "vidstyle": __version__,
        "working_size": list(plan.working_size),
        "frames": plan.frame_count,
        "style_images": [str(p) for p in settings.style.images],
        "style_sha256": [file_sha256(Path(p)) for p in settings.style.images],
        "model": data["model"],
        "style": data["style"],
        "optimize": data["optimize"],
        "training": config.to_json(),
        "steps_done": steps,
    }


def prepare_fast_method(
    *,
    settings: Settings,
    plan: RunPlan,
    source: SourceSpec,
    work_root: Path,
    keyframer: Method,
    faults: Faults,
    stop: StopToken,
    on_event: EventHandler,
    resume: str | None = None,
    workers: int = 1,
    run_optimizer: Callable[[], Method] | None = None,
) -> FastMethod:
    """Keyframes, training and the trained network of a fast-mode run, each taken from the work dir when done before.

    ``keyframer`` is the optimizer method (methods/optimize.py): it stylizes
    the keyframes, and its feature network and style targets are the
    training's losses. ``resume`` is the command that continues the run
    (default: ``vidstyle resume WORK_ROOT``). Without --train-steps the step
    budget follows the clip (pipeline/budget.py; ``workers`` share the
    optimizer's estimated time), decided once and recorded in the work dir.
    ``run_optimizer`` builds the optimizer the run would use instead, where it
    differs from ``keyframer`` in precision (see :func:`run_optimizer_step_seconds`).
    """
    resume = resume or resume_command(work_root)
    folder = work_root / FAST_DIR
    model_path = folder / MODEL_NAME
    core = keyframer.core if isinstance(keyframer, SharingCore) else None
    if core is None:
        raise UsageError("--method fast needs the optimizer's feature network to train with; use the default method factory.")
    if model_path.is_file():
        try:
            loaded = load_model(model_path, device=core.device)
        except ModelError:
            loaded = None  # torn by a kill: train again (the checkpoint makes that quick)
        if loaded is not None:
            on_event(Notice("Using the network this run trained before it was interrupted."))
            _save_copy(settings, model_path)
            return FastMethod(loaded.net, identity=keyframer.identity, device=core.device)

    keys = plan_keyframes([(shot.start, shot.stop) for shot in plan.shots], every=settings.method.keyframes)
    positions = training_positions(plan, keys)
    frames = _read_frames(plan, source, positions)
    keyframes, timings = _stylize_keyframes(plan, keys, frames, keyframer, folder / "keyframes", stop=stop, on_event=on_event, resume=resume)
    index = {position: i for i, position in enumerate(positions)}
    clip = TrainingClip(
        frames=[frames[p] for p in positions],
        keyframes={index[p]: image for p, image in keyframes.items()},
        breaks=_breaks(positions, plan),
    )
    config = fast_config(settings)
    if settings.method.train_steps is None:
        steps = recorded_budget(folder)
        if steps is None:
            step = run_optimizer_step_seconds(timings, keyframer, run_optimizer, clip.frames[0])
            costs = _measure_costs(settings, plan, config, clip, timings, core, workers=workers, step_seconds=step)
            steps = training_steps(costs)
            record_budget(folder, costs, steps)
            on_event(Notice(describe_budget(costs, steps)))
        config = fast_config(settings, steps=steps)

    def relay(event: TrainingEvent) -> None:
        if isinstance(event, TrainingStep):
            on_event(event)  # the one training-progress record (pipeline/events.py TrainingProgress)

    on_event(Notice(f"Training the fast network on {len(positions)} frames and {len(keys)} keyframe(s), up to {config.train_steps} steps."))
    try:
        result = train_network(
            clip,
            features=core.extractor,
            style=core.style,
            content_layers=core.stylizer.content_layers,
            config=config,
            checkpoint_dir=folder,
            on_event=relay,
            stop=stop,
            after_step=lambda step: faults.at(FaultPoint.TRAIN, step),
            poisoned=faults.poisons_training,
            device=core.device,
        )
    except NumericalError as error:
        # A resume would replay the same batches from the last checkpoint into the same fault.
        raise NumericalError(
            f"{error}; no frame was stylized. Use --method optimize, or start over with another --seed and --restart."
        ) from None
    except TrainingStopped as stopped:
        raise Interrupted(
            f"Stopped while training the fast network at step {stopped.step} (checkpoint saved). "
            f"Resume with: {resume}"
        ) from None
    saved = model_settings(settings, plan, config, result.steps)
    save_model(model_path, result.net, saved)
    (folder / CHECKPOINT_NAME).unlink(missing_ok=True)  # model.pt holds the result now
    _save_copy(settings, model_path)
    early = " (stopped early: the held-out loss had stopped improving)" if result.stopped_early else ""
    on_event(Notice(f"Trained the fast network in {result.steps} steps{early}."))
    return FastMethod(result.net, identity=keyframer.identity, device=core.device)


def run_optimizer_step_seconds(
    timings: dict[int, tuple[float, int]], keyframer: Method, run_optimizer: Callable[[], Method] | None, frame: np.ndarray
) -> float:
    """One step of the optimizer the run would have used: the keyframes' own mean step, in the run's precision.

    The keyframes are a long, steady timing, but where they run in bf16 and
    the run's optimizer would not (a CPU: keyframer_settings), their step
    underprices it: on this project's 2-core AMD CPU the whole 150-frame
    optimizer run took 701 s where the keyframes' step estimated 399 s
    (docs/fast-mode.md, 2026-12-07), so fast mode stopped at 0.31x of the
    optimizer's time with its picture still short. Here the keyframes' step
    is scaled by how much slower a step in the run's precision is on the same
    frame (a few probe steps of each, back to back).
    """
    seconds = sum(t for t, _ in timings.values())
    steps = sum(n for _, n in timings.values())
    keyframe_step = seconds / max(1, steps)
    if run_optimizer is None:
        return keyframe_step
    own, run = optimizer_step_seconds(keyframer, frame), optimizer_step_seconds(run_optimizer(), frame)
    return keyframe_step * run / own if own > 0 and run > 0 else keyframe_step


def _measure_costs(
    settings: Settings, plan: RunPlan, config: FastConfig, clip: TrainingClip, timings: dict[int, tuple[float, int]],
    core: object, *, workers: int, step_seconds: float,
) -> Costs:
    """What the budget weighs: the keyframes' measured steps and seconds, the optimizer's step, and a few probe steps of training."""
    seconds = sum(t for t, _ in timings.values())
    steps = sum(n for _, n in timings.values())
    times = time_training(
        clip, features=core.extractor, style=core.style, content_layers=core.stylizer.content_layers,  # type: ignore[attr-defined]
        config=config, device=core.device,  # type: ignore[attr-defined]
    )  # fmt: skip
    return Costs(
        frames=plan.frame_count,
        shots=len(plan.shots),
        workers=workers,
        step_seconds=step_seconds,
        cold_steps=steps / max(1, len(timings)),
        warm_steps=settings.optimize.iterations_next,
        keyframes=len(timings),
        keyframe_seconds=seconds,
        train_step_seconds=times.full_step,
        apply_seconds=times.apply,
        cheap_step_seconds=times.cheap_step,
        full_every=config.full_every,
    )


def _save_copy(settings: Settings, model_path: Path) -> None:
    """--save-model: a byte copy of the run's fast/model.pt, so a resume recognises (and may rewrite) its own copy.

    The run checked the path before it began (:func:`check_save_model`: not a
    file the run reads, not in the work dir, not an existing file unless --overwrite).
    """
    if settings.method.save_model is not None:
        write_bytes_atomic(Path(settings.method.save_model), model_path.read_bytes())
        written_files.record(Path(settings.method.save_model))  # so a later --overwrite may replace it


def _read_frames(plan: RunPlan, source: SourceSpec, positions: Sequence[int]) -> dict[int, np.ndarray]:
    """The frames at ``positions`` (increasing), as working frames (on their canvas), in one pass over the input."""
    indices = [plan.frames.source_indices[p] for p in positions]
    by_index = dict(zip(indices, positions))
    frames: dict[int, np.ndarray] = {}
    with open_reader(source) as reader:
        for index, frame in reader.read(indices):
            frames[by_index[index]] = working_frame(frame, plan.working_size, plan.margin)
    return frames


def _stylize_keyframes(
    plan: RunPlan,
    keys: Sequence[int],
    frames: dict[int, np.ndarray],
    keyframer: Method,
    folder: Path,
    *,
    stop: StopToken,
    on_event: EventHandler,
    resume: str,
) -> tuple[dict[int, np.ndarray], dict[int, tuple[float, int]]]:
    """The optimizer's cold start of every keyframe, and its (seconds, steps).

    Each is stored as it is done (the PNG, then its timing beside it, which
    prices the optimizer's step for the budget), so a resumed run skips it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shot_start = {p: shot.start for shot in plan.shots for p in keys if shot.start <= p < shot.stop}
    done: dict[int, np.ndarray] = {}
    timings: dict[int, tuple[float, int]] = {}
    for count, position in enumerate(keys, start=1):
        path = folder / f"{position:06d}.png"
        timing = _read_timing(path.with_suffix(".json"))
        if timing is not None and png_is_complete(path, plan.canvas_size):
            done[position], timings[position] = read_image(path), timing
            on_event(KeyframeDone(done=count, total=len(keys), position=position, seconds=0.0))
            continue

        def on_step(_report: object) -> None:
            if stop.requested:  # Ctrl-C: the keyframe in progress is dropped, the stored ones are kept
                raise FrameAbandoned

        started = time.perf_counter()
        task = FrameTask(
            position=position,
            shot_offset=position - shot_start[position],
            content=frames[position],
            cold=True,
            previous_content=None,
            previous_stylized=None,
        )
        try:
            result = keyframer.stylize(task, on_step=on_step)
        except FrameAbandoned:
            raise Interrupted(
                f"Stopped while stylizing keyframes ({count - 1} of {len(keys)} done). Resume with: {resume}"
            ) from None
        seconds = time.perf_counter() - started
        write_image_atomic(path, result.image)
        write_bytes_atomic(path.with_suffix(".json"), json.dumps({"seconds": seconds, "steps": result.outcome.steps}).encode())
        done[position], timings[position] = result.image, (seconds, result.outcome.steps)
        on_event(KeyframeDone(done=count, total=len(keys), position=position, seconds=seconds))
    return done, timings


def _read_timing(path: Path) -> tuple[float, int] | None:
    """A stored keyframe's (seconds, optimizer steps); None when it is missing (a kill between the PNG and it)."""
    try:
        data = json.loads(path.read_text())
        return float(data["seconds"]), int(data["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
