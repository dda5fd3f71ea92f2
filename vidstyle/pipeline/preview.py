"""Preview sheets: see what the settings do before a long run, or a finished run at a glance.

    preview(input, sheet, settings=...)               find the clip's shots as a run does, stylize
                                                     a few frames spread over them and put them
                                                     under their inputs
    preview_run(input, stylized, sheet, settings=...)  the same sheet from a finished run's output

A preview has to be quick enough to try one setting after another, and it has
to show what the run will make. So each frame is stylized exactly as the first
frame of a run (or of a shot) is: from cold, at the run's working size, with
the first-frame budget and its early stop, and independently of the others
(no flow, no temporal term, nothing to carry from one to the next). The
run's later frames start from their predecessors and stay close to such a
frame. So a sheet frame costs about what a run's first frame does (the
first-frame rows of docs/performance.md). A smaller --max-size or --iterations makes it quicker still;
the sheet's caption says what it was made with.

A preview of a clip also finds its shots with the run's cut detection and
settings (--cuts; pipeline/shots.py scan_for_cuts), says them in a ShotsPlanned
event and on the caption, and spreads its frames over the shots: one per shot
when there are as many frames as shots, so every shot's look is on the sheet.
That pass decodes every selected frame and costs 15-20 ms a frame on the CPU
(decode, PySceneDetect and the flow of the photometric check at 256 px; 15 ms
measured on the shared 480x320 and 544x1280 clips, more to decode 1080p):
nothing for a clip, but a minute of 30 fps capture adds about 30 s before the
first frame, and an hour of it half an hour. ``--cuts off`` skips it (and
--start/--end or --every shorten it); the run itself pays the same pass once.

With --protect-overlays auto, each shot's overlay is found as a run finds it
(video/overlays.py, on the same sampled frames) and outlined in magenta on
the input frames; the stylized frames show it kept from the input, as the
run will write them, and their label says how much of the frame it is.

The sheet: blocks of at most ``columns`` frames, the input frames in one row
(each labelled with its time in the input) and the stylized ones in the row
below, and a caption with the settings that decide the look.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vidstyle.config import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    CutsMode,
    ModelConfig,
    OverlayMode,
    PreviewConfig,
    Settings,
    TemporalMode,
)
from vidstyle.errors import InputError, OutputError, UsageError
from vidstyle import written as written_files
from vidstyle.files import write_image_atomic
from vidstyle.methods.base import FrameTask, MethodFactory
from vidstyle.methods.optimize import check_init_image, optimize_method
from vidstyle.pipeline.ownership import check_target, guarded_for, guarded_paths
from vidstyle.pipeline.events import (
    CutScan,
    EventHandler,
    FrameStylized,
    RunFinished,
    RunProgress,
    RunStarted,
    ShotsPlanned,
    StepDone,
    ignore,
)
from vidstyle.pipeline.autosize import settle_max_size
from vidstyle.pipeline.plan import FramePlan, input_times, make_plan
from vidstyle.pipeline.shots import describe_shots, format_time, scan_for_cuts
from vidstyle.video.masks import composite
from vidstyle.video.overlays import OverlayDetection, detect_in_shots
from vidstyle.video.pixels import add_margin, crop_margin, resize
from vidstyle.video.sheet import Box, Tile, compose
from vidstyle.video.sinks import OutputKind, output_kind
from vidstyle.video.sources import FrameSource, SourceKind, open_source

__all__ = ["PreviewFrame", "PreviewResult", "check_sheet_path", "describe_settings", "pick_positions", "preview", "preview_run"]


@dataclass(frozen=True)
class PreviewFrame:
    position: int  # in the run's plan (the selected frames)
    source_index: int  # in the input
    time: float | None  # seconds into the input; None for a single image
    steps: int | None  # optimisation steps spent (None on a sheet made from a finished run)
    seconds: float | None
    style_loss: float | None
    content_loss: float | None
    shot: int = 0  # the shot (0-based) the frame belongs to


@dataclass(frozen=True)
class PreviewResult:
    sheet: Path
    size: tuple[int, int]  # (width, height) of the sheet
    tile_size: tuple[int, int]  # (width, height) of every frame on it
    frames: tuple[PreviewFrame, ...]
    inputs: tuple[Box, ...]  # where each input frame is on the sheet, in frame order
    results: tuple[Box, ...]  # where each stylized frame is
    labels: tuple[Box, ...]  # the label band above each input frame (the time)
    caption: Box
    seconds: float
    shots: str = ""  # "2 shots; cuts at 0:00.5", as a run says it; empty for an image
    cuts: tuple[int, ...] = ()  # plan positions where shots after the first begin

    @property
    def output(self) -> Path:
        return self.sheet


def pick_positions(count: int, frames: int, cuts: Sequence[int] = ()) -> list[int]:
    """``frames`` positions spread over ``count`` frames: the middle of each of ``frames`` equal parts.

    Middles, not ends: a clip's first and last frames are often a fade or a
    black frame, which say nothing about the style.

    With ``cuts`` (plan positions where shots after the first begin) the frames
    are spread over the shots: each shot gets one while there are frames for
    every shot, and the rest go where the frames per shot length are fewest,
    so a long shot gets more than a short one; with fewer frames than shots,
    the longest shots get one each. Within a shot they are its equal parts'
    middles, as above.
    """
    if count <= 0:
        return []
    edges = [0, *sorted({c for c in cuts if 0 < c < count}), count]
    lengths = [stop - start for start, stop in zip(edges, edges[1:])]
    if len(lengths) == 1:
        frames = min(frames, count)
        return sorted({min(count - 1, int((k + 0.5) * count / frames)) for k in range(frames)})
    if frames < len(lengths):
        longest = sorted(range(len(lengths)), key=lambda shot: -lengths[shot])[: max(frames, 0)]
        given = [1 if shot in longest else 0 for shot in range(len(lengths))]
    else:
        given = [1] * len(lengths)
        for _ in range(frames - len(lengths)):
            open_shots = [shot for shot in range(len(lengths)) if given[shot] < lengths[shot]]
            if not open_shots:
                break
            given[max(open_shots, key=lambda shot: lengths[shot] / (given[shot] + 1))] += 1
    return [edges[shot] + p for shot, n in enumerate(given) for p in pick_positions(lengths[shot], n)]


def shot_of(position: int, cuts: Sequence[int]) -> int:
    """The 0-based shot a plan position is in, given the cuts' positions (sorted)."""
    return bisect.bisect_right(cuts, position)


def describe_settings(settings: Settings, *, working_size: tuple[int, int]) -> str:
    """The settings that decide the look, in one line (the sheet's caption)."""
    from vidstyle.model.weights import imagenet_weights, resolve_weights_path

    model, style, optimize = settings.model, settings.style, settings.optimize
    weights = resolve_weights_path(model.weights)
    weights_name = weights.name if weights is not None else f"ImageNet ({imagenet_weights(model.network).file_name})"
    styles = ", ".join(Path(p).name for p in style.images)
    if len(style.images) > 1:
        styles += " blended " + ":".join(f"{w:.2g}" for w in style.normalized_blend())
    parts = [
        f"{model.network.value} {weights_name}",
        f"style {styles}",
        f"content {optimize.content_weight:g} / style {optimize.style_weight:g} / tv {optimize.tv_weight:g}"
        + (f", strength {optimize.strength:g}" if optimize.strength != 1.0 else ""),
        f"{working_size[0]}x{working_size[1]}",
        f"{optimize.iterations} iterations ({optimize.optimizer.value}, early stop {optimize.tolerance:g})",
    ]
    defaults = ModelConfig()
    if style.scale != 1.0:
        parts.append(f"style scale {style.scale:g}")
    if style.preserve_colors:
        parts.append("preserve colors")
    if model.pooling is not defaults.pooling:
        parts.append(f"{model.pooling.value} pooling")
    if model.padding is not defaults.padding:
        parts.append(f"{model.padding.value} padding")
    if tuple(model.content_layers) != DEFAULT_CONTENT_LAYERS:
        parts.append("content " + ",".join(model.content_layers))
    if tuple(model.style_layers) != DEFAULT_STYLE_LAYERS or model.style_layer_weights is not None:
        weights_text = ("@" + ",".join(f"{w:g}" for w in model.style_layer_weights)) if model.style_layer_weights else ""
        parts.append("style layers " + ",".join(model.style_layers) + weights_text)
    if optimize.init != "content":
        parts.append(f"init {Path(optimize.init).name}" + (f" seed {optimize.seed}" if optimize.init == "noise" else ""))
    return "; ".join(parts)


def check_sheet_path(
    sheet: Path, *, input: str | Path | None = None, settings: Settings | None = None, output: Path | None = None
) -> Path:
    """``sheet`` made absolute-ready; UsageError/OutputError unless it names an image in an existing folder.

    Given the run's ``input`` and ``settings`` (and ``output`` for a run's
    --preview), it also refuses, before any work, a sheet that would replace
    the input, a style image, the output, a file in the work dir, or any
    existing file without --overwrite (pipeline/ownership.py).
    """
    sheet = Path(sheet).expanduser()
    try:
        kind = output_kind(sheet)
    except UsageError:  # its message is about --output
        kind = None
    if kind is not OutputKind.IMAGE:
        raise UsageError(f"The preview sheet {sheet.name} needs an image extension; use .png, .jpg or .webp.")
    if not sheet.parent.is_dir():
        raise OutputError(f"The folder {sheet.parent} does not exist; create it first or choose another preview path.")
    if input is not None and settings is not None:
        from vidstyle.pipeline.workdir import default_work_dir
        from vidstyle.video.sinks import Output

        out = Output(output_kind(output), output.expanduser().absolute()) if output is not None else None
        work = None
        if out is not None and out.kind is not OutputKind.IMAGE:
            work = Path(settings.run.work_dir or default_work_dir(out.path)).expanduser().absolute()
        check_target(
            sheet, option="--preview" if output is not None else "--output", guarded=guarded_for(input, settings),
            overwrite=settings.run.overwrite, output=out, work=work,
        )  # fmt: skip
    return sheet


def _label(time: float | None, index: int, source: FrameSource) -> str:
    if time is None:
        return Path(source.info.path).name
    return f"{format_time(time, decimals=2)} (frame {index})"


def _read(source: FrameSource, indices: Iterable[int]) -> dict[int, np.ndarray]:
    return dict(source.read(sorted(set(indices))))


def _times(source: FrameSource, settings: Settings, plan: FramePlan) -> list[float | None]:
    if source.info.kind is SourceKind.IMAGE:
        return [None] * plan.frame_count
    stamps = input_times(source.info, settings.select)
    return [stamps[i] for i in plan.source_indices]


OUTLINE = (255, 0, 255)  # BGR magenta: the protected overlay's edge on the input frames


def _find_overlays(
    source: FrameSource, settings: Settings, plan: FramePlan, cuts: Sequence[int]
) -> list[OverlayDetection] | None:
    """Each shot's overlay with --protect-overlays auto (as a run finds them); None when the option is off or for an image."""
    if settings.select.protect_overlays is not OverlayMode.AUTO or source.info.kind is SourceKind.IMAGE:
        return None
    edges = [0, *sorted(cuts), plan.frame_count]
    return detect_in_shots(source, plan.source_indices, list(zip(edges, edges[1:])))


def _kept(detection: OverlayDetection, size: tuple[int, int]) -> np.ndarray:
    """The detection's protected area at ``size`` (width, height), uint8 0/1."""
    return (cv2.resize(detection.mask, size, interpolation=cv2.INTER_NEAREST) > 0).astype(np.uint8)


def outline_overlay(tile: np.ndarray, detection: OverlayDetection) -> np.ndarray:
    """``tile`` with the edge of the detection's protected area drawn on it."""
    kept = _kept(detection, (tile.shape[1], tile.shape[0]))
    contours, _ = cv2.findContours(kept, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    drawn = tile.copy()
    cv2.drawContours(drawn, contours, -1, OUTLINE, 1)
    return drawn


def _show_overlays(
    found: list[OverlayDetection] | None, frames: Sequence[PreviewFrame], inputs: list[np.ndarray], results: list[np.ndarray],
    result_labels: list[str], *, keep: bool,
) -> None:
    """Outline each frame's shot overlay on its input tile; ``keep``: also keep it from the input in the stylized tile."""
    if found is None:
        return
    for k, frame in enumerate(frames):
        detection = found[frame.shot]
        if not detection.found:
            result_labels[k] += "; no HUD"
            continue
        if keep:
            size = (results[k].shape[1], results[k].shape[0])
            results[k] = composite(results[k], inputs[k], 1.0 - _kept(detection, size).astype(np.float32))
        inputs[k] = outline_overlay(inputs[k], detection)
        result_labels[k] += f"; HUD {detection.protected:.0%} kept"


def _write_sheet(
    sheet: Path,
    inputs: list[np.ndarray],
    results: list[np.ndarray],
    labels: list[str],
    result_labels: list[str],
    caption: str,
    columns: int,
) -> tuple[tuple[int, int], tuple[Box, ...], tuple[Box, ...], tuple[Box, ...], Box]:
    rows: list[list[Tile]] = []
    for start in range(0, len(inputs), columns):
        block = range(start, min(start + columns, len(inputs)))
        rows.append([Tile(inputs[i], labels[i]) for i in block])
        rows.append([Tile(results[i], result_labels[i]) for i in block])
    composed = compose(rows, caption=caption)
    write_image_atomic(sheet, composed.image)
    written_files.record(sheet)  # so a later --overwrite may replace it (vidstyle/written.py)
    input_cells = [cell for r in range(0, len(rows), 2) for cell in composed.cells[r] if cell is not None]
    result_cells = [cell for r in range(1, len(rows), 2) for cell in composed.cells[r] if cell is not None]
    assert composed.caption is not None
    height, width = composed.image.shape[:2]
    return (
        (width, height),
        tuple(c.picture for c in input_cells),
        tuple(c.picture for c in result_cells),
        tuple(c.label for c in input_cells),
        composed.caption,
    )


def _find_shots(
    source: FrameSource, settings: Settings, plan: FramePlan, times: list[float | None], on_event: EventHandler
) -> tuple[tuple[int, ...], str]:
    """The cuts' positions and the shots in a line, found as a run finds them (ShotsPlanned says them); none for an image."""
    if source.info.kind is SourceKind.IMAGE:
        return (), ""
    stamps = [t for t in times if t is not None]  # every one, for a clip
    started = time.perf_counter()
    found = scan_for_cuts(
        source, plan, stamps, config=settings.shots, flow_preset=settings.temporal.flow_preset,
        on_progress=lambda done, total: on_event(CutScan(frames_done=done, total_frames=total)),
    )  # fmt: skip
    detected = settings.shots.mode is CutsMode.AUTO
    seconds = time.perf_counter() - started if detected else 0.0
    cuts = tuple(cut.position for cut in found)
    summary = describe_shots(found, stamps, plan.frame_count)
    on_event(ShotsPlanned(shots=len(cuts) + 1, cuts=cuts, summary=summary, detected=detected, seconds=seconds))
    return cuts, summary


def preview(
    input: str | Path,
    sheet: str | Path,
    *,
    settings: Settings,
    config: PreviewConfig = PreviewConfig(),
    on_event: EventHandler = ignore,
    method_factory: MethodFactory = optimize_method,
) -> PreviewResult:
    """Stylize ``config.frames`` frames spread over ``input`` (one for an image) and write a sheet to ``sheet``.

    Every frame is a cold start with the first-frame budget (see the module
    docstring); the temporal settings play no part. Progress goes out as the
    run's events: for a clip CutScan and ShotsPlanned (its shots, found with
    ``settings.shots`` as a run finds them), then RunStarted, StepDone,
    FrameDone (with an ETA), RunFinished.
    An existing sheet is replaced only with ``settings.run.overwrite`` (--overwrite),
    and never when it is the input or a style image.
    """
    started = time.perf_counter()
    sheet = check_sheet_path(Path(sheet))
    check_init_image(settings.optimize.init)
    # Each frame as the first frame of a run: from cold, the first-frame budget.
    cold = settings.replace(temporal=replace(settings.temporal, mode=TemporalMode.NONE))
    with open_source(input) as source:
        check_target(sheet, option="--output", guarded=guarded_paths(source.info, settings), overwrite=settings.run.overwrite)
        settings, choice = settle_max_size(settings, source)  # --max-size auto chooses as a run would
        cold = cold.replace(select=settings.select)
        plan = make_plan(source.info, settings.select)
        times = _times(source, settings, plan)
        cuts, shots = _find_shots(source, settings, plan, times, on_event)
        positions = pick_positions(plan.frame_count, config.frames, cuts)
        overlays = _find_overlays(source, settings, plan, cuts)
        contents = _read(source, (plan.source_indices[p] for p in positions))
        method = method_factory(cold, plan.canvas_size)  # frames on their canvas, as a run's (--edge-margin)
        on_event(
            RunStarted(
                total_frames=len(positions), already_done=0, working_size=plan.working_size, output=sheet, work_dir=None,
                size_choice=choice.reason if choice is not None else "",
            )
        )
        progress = RunProgress(len(positions), 0, on_event)
        inputs, results, frames = [], [], []
        for position in positions:
            index = plan.source_indices[position]
            content = resize(contents[index], plan.working_size)
            frame_started = time.perf_counter()

            def on_step(report: StepDone) -> None:
                on_event(report)

            task = FrameTask(
                position=position, shot_offset=0, content=add_margin(content, plan.margin), cold=True, previous_content=None,
                previous_stylized=None,
            )  # fmt: skip
            result = method.stylize(task, on_step=on_step)
            seconds = time.perf_counter() - frame_started
            inputs.append(content)
            results.append(crop_margin(result.image, plan.margin))
            record = result.outcome.placed(source_index=index, seconds=seconds, decode_seconds=0.0, cold=True)
            frames.append(
                PreviewFrame(
                    position, index, times[position], record.steps, seconds, record.style_loss, record.content_loss,
                    shot=shot_of(position, cuts),
                )  # fmt: skip
            )
            progress(FrameStylized(chain=0, record=record))
        labels = [_label(f.time, f.source_index, source) for f in frames]
    caption = describe_settings(settings, working_size=plan.working_size)
    caption += f". Each frame stylized from cold, as a run's first frame; {time.perf_counter() - started:.0f} s."
    if shots:
        caption += f" {shots}."
    result_labels = [f"{f.steps} steps, {f.seconds:.0f} s" for f in frames]
    _show_overlays(overlays, frames, inputs, results, result_labels, keep=True)
    size, input_boxes, result_boxes, label_boxes, caption_box = _write_sheet(
        sheet, inputs, results, labels, result_labels, caption, config.columns
    )
    seconds = time.perf_counter() - started
    on_event(RunFinished(output=sheet, frames=len(frames), seconds=seconds))
    return PreviewResult(
        sheet=sheet, size=size, tile_size=plan.working_size, frames=tuple(frames), inputs=input_boxes,
        results=result_boxes, labels=label_boxes, caption=caption_box, seconds=seconds, shots=shots, cuts=cuts,
    )  # fmt: skip


def preview_run(
    input: str | Path,
    stylized: str | Path,
    sheet: str | Path,
    *,
    settings: Settings,
    config: PreviewConfig = PreviewConfig(),
    cuts: Sequence[int] = (),
) -> PreviewResult:
    """The preview sheet of a finished run: ``config.frames`` of its output frames under their inputs.

    ``stylized`` is the run's output (video, folder or image), ``settings``
    the run's; the output must hold one frame per planned frame. ``cuts``
    (the run's, RunResult.cuts) spread the frames over its shots. With
    --max-size auto, give the size the run chose (RunResult.max_size) in
    ``settings``; otherwise it is chosen again here.
    """
    started = time.perf_counter()
    sheet = check_sheet_path(Path(sheet))
    with open_source(input) as source, open_source(stylized) as output:
        settings, _ = settle_max_size(settings, source)
        plan = make_plan(source.info, settings.select)
        if output.info.frame_count != plan.frame_count:
            raise InputError(
                f"{output.info.path} holds {output.info.frame_count} frames but the run planned {plan.frame_count}; "
                "pass the output of this very run."
            )
        cuts = tuple(sorted(cuts))
        positions = pick_positions(plan.frame_count, config.frames, cuts)
        times = _times(source, settings, plan)
        contents = _read(source, (plan.source_indices[p] for p in positions))
        outputs = _read(output, positions)
        # Frames scaled back to the source size (--output-size source) are shown at the working size.
        written = (output.info.width, output.info.height)
        tile = plan.working_size if written[0] * written[1] > plan.working_size[0] * plan.working_size[1] else written
        inputs = [resize(contents[plan.source_indices[p]], tile) for p in positions]
        results = [resize(outputs[p], tile) for p in positions]
        frames = [PreviewFrame(p, plan.source_indices[p], times[p], None, None, None, None, shot_of(p, cuts)) for p in positions]
        labels = [_label(f.time, f.source_index, source) for f in frames]
        overlays = _find_overlays(source, settings, plan, cuts)
    caption = describe_settings(settings, working_size=plan.working_size)
    caption += f". From the finished run {Path(stylized).name}."
    result_labels = [f"output frame {p}" for p in positions]
    _show_overlays(overlays, frames, inputs, results, result_labels, keep=False)  # the output has it kept already
    size, input_boxes, result_boxes, label_boxes, caption_box = _write_sheet(
        sheet, inputs, results, labels, result_labels, caption, config.columns
    )
    return PreviewResult(
        sheet=sheet, size=size, tile_size=tile, frames=tuple(frames), inputs=input_boxes, results=result_boxes,
        labels=label_boxes, caption=caption_box, seconds=time.perf_counter() - started, cuts=cuts,
    )  # fmt: skip
