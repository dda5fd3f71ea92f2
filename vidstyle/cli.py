"""The command line: parse options into configs, run the library, draw its events, map errors to exit codes.

Nothing here stylizes anything; see vidstyle/pipeline/run.py for the work.
Exit codes: 0 done, 1 a problem the user can fix (the message says how),
2 bad usage, 3 several clips of which some failed and the others were
written (pipeline/batch.py PARTLY_FAILED), 130 stopped by Ctrl-C/SIGTERM with its state saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
import inspect
import typing
from typing import Annotated, Any, Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperCommand, TyperGroup

from vidstyle import __version__
from vidstyle.config import (
    CoarseToFine,
    DeviceChoice,
    FlowPreset,
    MethodKind,
    ModelConfig,
    Network,
    Optimizer,
    OutputSize,
    OverlayMode,
    Padding,
    Pooling,
    Precision,
    PreviewConfig,
    ScaleConfig,
    Settings,
    TemporalConfig,
    TemporalMode,
)
from vidstyle.config import MIN_CHAIN_FRAMES, setting_fields
from vidstyle.errors import InputChanged, UsageError, VidstyleError
from vidstyle.invocation import shell_command
from vidstyle.pipeline.eta import format_duration
from vidstyle.pipeline.events import (
    CutScan,
    Event,
    FrameDone,
    KeyframeDone,
    Notice,
    RunFinished,
    RunStarted,
    SegmentEncoded,
    ShotsPlanned,
    StepDone,
    TrainingProgress,
)


def _blank_flag_metavars(command: TyperCommand | TyperGroup, ctx: typer.Context) -> None:
    """Flags take no value: show none in --help (Typer would show ``<bool>``, and ``--soft-mask true`` is refused)."""
    for param in [*command.params, command.get_help_option(ctx)]:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class _Command(TyperCommand):
    def format_help(self, ctx, formatter):  # noqa: ANN001, ANN201 - Typer's signature
        _blank_flag_metavars(self, ctx)
        return super().format_help(ctx, formatter)


class _Group(TyperGroup):
    """The app: usage errors (unknown option, bad choice) as one ``error:`` line, like every other error."""

    def format_help(self, ctx, formatter):  # noqa: ANN001, ANN201 - Typer's signature
        _blank_flag_metavars(self, ctx)
        return super().format_help(ctx, formatter)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001, ANN201
        if not standalone_mode:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except typer.TyperException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # `vidstyle` alone: Typer has shown the help
                sys.exit(error.exit_code)
            sys.exit(_usage_error(error))
        except typer.Abort:
            stderr.print("Aborted.")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _usage_error(error: typer.TyperException) -> int:
    """Print a Typer/Click usage error as one line that says where the options are listed; return its exit code."""
    ctx = getattr(error, "ctx", None)
    where = f" See '{ctx.command_path} --help'." if ctx is not None else ""
    # Pydantic prefixes its validator messages with "Value error, "; the user needs only the reason.
    message = " ".join(error.format_message().replace("Value error, ", "").split())
    if not message.endswith("."):
        message += "."
    stderr.print(f"[bold red]error:[/] {escape(message + where)}", highlight=False, soft_wrap=True)
    return int(getattr(error, "exit_code", 2))


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    help="Stylize videos, game captures and frame folders with neural style transfer, stable over time and resumable.",
)
stderr = Console(stderr=True)

_M, _T, _P = ModelConfig(), TemporalConfig(), PreviewConfig()


@contextlib.contextmanager
def _exit_codes(*, restart: str = "") -> Iterator[None]:
    """The one place errors become exit codes: a VidstyleError its own (1, or 130 when interrupted),
    Ctrl-C twice 130, anything else a bug (1, one line; the traceback only with VIDSTYLE_DEBUG=1).

    ``restart``: the command that starts the run over, named when the input changed under a run.
    """
    try:
        yield
    except InputChanged as error:
        raise _fail(VidstyleError(error.with_command(restart)) if restart else error, error.exit_code) from None
    except VidstyleError as error:
        raise _fail(error, error.exit_code) from None
    except KeyboardInterrupt:
        raise _fail(KeyboardInterrupt("Stopped at once; files already written are intact. Rerun the same command to resume."), 130) from None
    except (typer.Exit, typer.Abort, click.exceptions.ClickException):
        raise
    except Exception as error:  # a bug: one line, the traceback only with VIDSTYLE_DEBUG=1
        raise _fail(_InternalError(error), 1) from None


def _fail(error: BaseException, code: int) -> typer.Exit:
    if os.environ.get("VIDSTYLE_DEBUG") == "1":
        raise error.error if isinstance(error, _InternalError) else error
    # Escaped: a message may hold brackets (pip install "vidstyle[ray]") that rich would take for markup.
    stderr.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class _InternalError(Exception):
    """An exception that is not a VidstyleError: a bug in vidstyle, reported as such."""

    def __init__(self, error: Exception) -> None:
        super().__init__(
            f"unexpected {type(error).__name__}: {error}. This is a bug in vidstyle; "
            "rerun with VIDSTYLE_DEBUG=1 for the traceback and please report it."
        )
        self.error = error


def _progress_bars() -> Progress:
    """The bars every display uses: what, bar, done of total, the latest detail, time elapsed (on stderr)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=False,
    )


class _Renderer:
    """Draws events: a frame bar (done/total, fps, ETA as h:mm:ss, time elapsed) and a step bar with the last loss.

    One ETA only: rich's own remaining-time column extrapolates the bar's rate,
    which a first frame 5-15x slower than the rest throws off; the run's
    estimate (pipeline/eta.py) prices cold starts and warm frames apart.
    """

    def __init__(self, quiet: bool, progress: Progress | None = None) -> None:
        self.quiet = quiet
        self.progress: Progress | None = progress  # given: a display shared with the clips' bar (_ClipsRenderer)
        self.frames_task: int | None = None
        self.steps_task: int | None = None
        self.cuts_task: int | None = None
        self.keyframes_task: int | None = None
        self.training_task: int | None = None

    def __enter__(self) -> _Renderer:
        return self

    def _start(self) -> Progress:
        """The bars appear with the run, so an error before it (bad input, weights) prints just its line."""
        if self.progress is None:
            self.progress = _progress_bars()
            self.progress.start()
        return self.progress

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, (RunStarted, CutScan, KeyframeDone, TrainingProgress)):
            self._start()
        progress = self.progress
        if progress is None:
            if isinstance(event, (Notice, ShotsPlanned)):
                stderr.print(_line(event), highlight=False)
            return
        if isinstance(event, CutScan):
            if self.cuts_task is None:
                self.cuts_task = progress.add_task("cuts", total=event.total_frames, info="looking for cuts")
            progress.update(self.cuts_task, completed=event.frames_done)
        elif isinstance(event, ShotsPlanned):
            progress.console.print(_line(event), highlight=False)
        elif isinstance(event, KeyframeDone):
            if self.keyframes_task is None:
                self.keyframes_task = progress.add_task("keyframes", total=event.total, info="optimizer, cold starts")
            progress.update(self.keyframes_task, completed=event.done)
        elif isinstance(event, TrainingProgress):
            if self.training_task is None:
                self.training_task = progress.add_task("training", total=event.budget, info="")
            eta = f", ETA {format_duration(event.eta_seconds)}" if event.eta_seconds is not None else ""
            progress.update(self.training_task, completed=event.step, info=f"loss {event.loss:.4g}{eta}")
        elif isinstance(event, RunStarted):
            width, height = event.working_size
            if event.size_choice:
                progress.console.print(f"Working size {width}x{height}: --max-size {event.size_choice}", highlight=False)
            if event.total_frames > 1:
                self.frames_task = progress.add_task(
                    "frames", total=event.total_frames, completed=event.already_done, info=f"{width}x{height}"
                )
            self.steps_task = progress.add_task("steps", total=1, info="")
        elif isinstance(event, StepDone) and self.steps_task is not None:
            progress.update(self.steps_task, total=event.budget, completed=event.step, info=f"loss {event.loss:.4g}")
        elif isinstance(event, FrameDone):
            if self.frames_task is not None:
                eta = f", ETA {format_duration(event.eta_seconds)}" if event.eta_seconds is not None else ""
                progress.update(
                    self.frames_task,
                    completed=event.frames_done,
                    info=f"{event.frames_per_second:.2f} fps{eta}, loss {event.loss:.4g}",
                )
            if self.steps_task is not None:
                progress.reset(self.steps_task, total=1, info="")
        elif isinstance(event, Notice):
            progress.console.print(_line(event), highlight=False)
        elif isinstance(event, SegmentEncoded):
            pass  # frequent and uninteresting on screen; it is in the work dir
        elif isinstance(event, RunFinished):
            if self.steps_task is not None:
                progress.remove_task(self.steps_task)
                self.steps_task = None
            shots = f"; {event.shots}" if event.shots else ""
            progress.console.print(
                f"Wrote {event.output} ({event.frames} frame(s) in {event.seconds:.1f} s{shots})", highlight=False
            )

    def clear(self) -> None:
        """Take this run's bars off a shared display (the next clip of a batch draws its own)."""
        if self.progress is None:
            return
        for name in ("frames_task", "steps_task", "cuts_task", "keyframes_task", "training_task"):
            task = getattr(self, name)
            if task is not None:
                self.progress.remove_task(task)
                setattr(self, name, None)


def _line(event: Notice | ShotsPlanned) -> str:
    if isinstance(event, ShotsPlanned):
        return event.summary + (f" (found in {event.seconds:.1f} s)" if event.detected else "")
    return event.message


def _run(action, quiet: bool, *, restart: str):  # noqa: ANN001, ANN202 - a thunk returning RunResult
    """Run ``action(on_event)``, drawing its events; ``restart`` is the command that starts the run over."""
    with _exit_codes(restart=restart), _Renderer(quiet) as renderer:
        result = action(renderer)
    if quiet:
        typer.echo(str(result.output))
    return result


def _debug() -> bool:
    return os.environ.get("VIDSTYLE_DEBUG") == "1"


class _ClipsRenderer:
    """Draws a batch of clips: one bar over all clips' frames (clip i of n, overall ETA) above the current clip's bars.

    A clip that fails is one line (``clip 2 of 3 b.mp4 failed: why``); the
    table at the end lists every clip (pipeline/batch.py has the events).
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.progress = _progress_bars()
        self.started = False
        self.clips_task: int | None = None
        self.clip: _Renderer | None = None
        self.name = ""

    def __enter__(self) -> _ClipsRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def _say(self, text: str) -> None:
        (self.progress.console if self.started else stderr).print(text, highlight=False, soft_wrap=True)

    def __call__(self, event: object) -> None:
        from vidstyle.pipeline.batch import BatchProgress, ClipFinished, ClipStarted, ClipStatus

        if isinstance(event, ClipFinished):
            if event.status is ClipStatus.FAILED:  # shown even with --quiet: it is an error line
                self._say(f"[bold red]error:[/] clip {event.index} of {event.count} {escape(event.input.name)} failed: {escape(event.message)}")
            elif event.status is ClipStatus.DONE_BEFORE and not self.quiet:
                self._say(f"clip {event.index} of {event.count} {escape(event.input.name)}: done before ({escape(event.output.name)}), left as it is")
            return
        if self.quiet:
            return
        if isinstance(event, ClipStarted):
            if not self.started:
                self.progress.start()
                self.started = True
            if self.clip is not None:
                self.clip.clear()
            self.name = f"clip {event.index} of {event.count} {event.input.name}"
            self._say(f"[bold]{escape(self.name)}[/] -> {escape(str(event.output))}")
            self.clip = _Renderer(self.quiet, progress=self.progress)
        elif isinstance(event, BatchProgress):
            eta = f", ETA {format_duration(event.eta_seconds)}" if event.eta_seconds is not None else ""
            info = f"clip {event.clip} of {event.count}{eta}"
            if self.clips_task is None:
                self.clips_task = self.progress.add_task("all clips", total=max(event.frames_total, 1), completed=event.frames_done, info=info)
            else:
                self.progress.update(self.clips_task, completed=event.frames_done, info=info)
        elif self.clip is not None:
            self.clip(event)  # type: ignore[arg-type]


def _run_clips(action, quiet: bool) -> None:  # noqa: ANN001 - a thunk returning BatchResult
    """Run a batch of clips, draw it, print its table, and exit with its code (0 all done, 3 some failed, 1 all failed, 130 stopped)."""
    from rich.table import Table

    from vidstyle.pipeline.batch import ClipStatus

    with _exit_codes(), _ClipsRenderer(quiet) as renderer:
        result = action(renderer)
    if quiet:
        for clip in result.clips:
            if clip.status in (ClipStatus.DONE, ClipStatus.DONE_BEFORE):
                typer.echo(str(clip.output))
    else:
        table = Table(title=f"{len(result.clips)} clip(s) into {result.folder}", title_justify="left")
        for column in ("clip", "output", "frames", "time", "result"):
            table.add_column(column, justify="right" if column in ("frames", "time") else "left")
        for clip in result.clips:
            style = {ClipStatus.FAILED: "red", ClipStatus.STOPPED: "yellow", ClipStatus.NOT_STARTED: "yellow"}.get(clip.status, "")
            table.add_row(
                escape(clip.input.name), escape(clip.output.name), str(clip.frames) if clip.frames else "-",
                f"{clip.seconds:.1f} s" if clip.seconds else "-", f"[{style}]{clip.status.value}[/]" if style else clip.status.value,
            )  # fmt: skip
        stderr.print(table)
    if result.stopped is not None:
        raise _fail(VidstyleError(result.stopped), result.exit_code)
    failed = result.failed
    if failed:
        done = len(result.clips) - len(failed)
        stderr.print(f"[bold red]error:[/] {len(failed)} of {len(result.clips)} clip(s) failed ({escape(', '.join(c.input.name for c in failed))}); {done} written.", highlight=False, soft_wrap=True)
    raise typer.Exit(result.exit_code)


def _typed_command(ctx: typer.Context, *extra: str) -> str:
    """The command as the user typed it (only the options given on the command line), plus ``extra``, quoted for a shell."""
    words: list[str] = [ctx.info_name or ""]
    for param in ctx.command.params:
        name = param.name
        if name is None or name not in ctx.params:
            continue
        source = ctx.get_parameter_source(name)
        if source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[name]
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        values = [getattr(v, "value", v) for v in values]  # Enums as the text that chose them
        if param.param_type_name == "argument":
            words += [str(v) for v in values]
            continue
        long_names = [o for o in param.opts if o.startswith("--")] or list(param.opts)
        if getattr(param, "is_flag", False):
            secondary = [o for o in param.secondary_opts if o.startswith("--")]
            if value:
                words.append(long_names[0])
            elif secondary:
                words.append(secondary[0])
            continue
        for v in values:
            words += [long_names[0], str(v)]
    words += [word for word in extra if word not in words]
    return shell_command(*words)


def _parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"{option} takes comma-separated numbers, e.g. 0.7,0.3.") from None


def _parse_layers(values: list[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Layer names from repeated options and/or comma lists: --content-layer relu4_2,relu3_2 --content-layer relu5_2."""
    if not values:
        return default
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _parse_fps(text: str | None) -> Fraction | None:
    """'12', '30000/1001' exactly; a rounded decimal ('29.97', '23.976') means the NTSC rate it stands for."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--fps {text!r} is not a rate; use a number or a fraction like 30000/1001.") from None
    if value > 0 and "/" not in raw and "." in raw:
        from vidstyle.video.probe import snap_fps

        decimals = len(raw.split(".", 1)[1])
        snapped = snap_fps(float(value), abs_tolerance=0.5 * 10.0**-decimals)
        if snapped.denominator == 1001:
            return snapped
    return value


def _parameter(option: str) -> str:
    """The parameter of stylize that an option fills: --tv-weight -> tv_weight."""
    return option.removeprefix("--").replace("-", "_")


def _floats_text(values: tuple[float, ...] | None) -> str | None:
    return None if values is None else ",".join(f"{value:g}" for value in values)


_REQUIRED = object()
_AS_IS = (lambda value: value, lambda value: value)
# Settings whose option is written otherwise than the field's value, as
# (field default -> option default, option value -> field value).
_OPTION_FORMS: dict[str, tuple[Any, Any]] = {
    "style.images": (lambda _: _REQUIRED, tuple),  # --style is required, repeated
    "style.blend": (_floats_text, lambda text: _parse_floats(text, "--style-blend")),
    # No default shown: the help names it, and a given --content-layer replaces it rather than adding to it.
    "model.content_layers": (lambda _: None, lambda given: _parse_layers(given, _M.content_layers)),
    "model.style_layers": (",".join, lambda text: _parse_layers([text], _M.style_layers)),
    "model.style_layer_weights": (_floats_text, lambda text: _parse_floats(text, "--style-layer-weights")),
    "select.fps": (lambda fps: None if fps is None else str(fps), _parse_fps),
    "encode.audio": (lambda audio: not audio, lambda no_audio: not no_audio),  # --no-audio
}
# Settings with no option of their own, and why (tests/test_config.py holds every other field to an option).
SETTINGS_WITHOUT_OPTION = {
    "optimize.window": "the early stop's window is part of what --tolerance means (its help says 10 steps)",
    "shots.photometric_threshold": "measured for every clip (config.py); a library caller may tune it",
    "shots.min_reliable_fraction": "measured for every clip (config.py); a library caller may tune it",
    "model.tile_overlap": "measured (benchmarks/tiles.py) and capped at a quarter of the tile; a library caller may tune it",
}


def _defaults_from_settings(function: Any) -> Any:
    """Give every option of ``function`` that sets a field of the settings that field's default (config.py has one per setting)."""
    signature = inspect.signature(function, eval_str=True)
    defaults = {}
    for path, field in setting_fields():
        if field.metadata["option"] is not None:
            default = _OPTION_FORMS.get(path, _AS_IS)[0](field.default)
            if default is not _REQUIRED:
                defaults[_parameter(field.metadata["option"])] = default
    parameters = [
        p.replace(default=defaults[p.name]) if p.name in defaults and p.default is inspect.Parameter.empty else p
        for p in signature.parameters.values()
    ]
    function.__signature__ = signature.replace(parameters=parameters)
    return function


@app.command(cls=_Command)
@_defaults_from_settings
def stylize(
    ctx: typer.Context,
    *,
    input: Annotated[list[str], typer.Argument(help="Video file, folder of frames, pattern (frames/%05d.png, shots/*.jpg) or one image; or several clips: videos, a folder of videos or a quoted glob of videos ('captures/*.mp4'), with a folder as --output.")],
    style: Annotated[list[Path], typer.Option("--style", "-s", metavar="<path>", help="Style image; repeat to blend several.")],
    output: Annotated[Path, typer.Option("--output", "-o", help=".mp4/.mkv/.mov/.webm = video, folder = PNG frames, image extension = image; several clips: the folder of their videos.")],
    style_blend: Annotated[Optional[str], typer.Option(help="Blend weights for several --style images, e.g. 0.7,0.3.")],
    style_scale: Annotated[float, typer.Option(help="Style image size relative to the working size.")],
    preserve_colors: Annotated[bool, typer.Option("--preserve-colors/--no-preserve-colors", help="Luminance-only transfer: keep the input's colours, take the style's texture in luminance.")],
    network: Annotated[Network, typer.Option(help="Feature network: vgg19 (Gatys et al.) or vgg16 (about 20% fewer FLOPs per step).")],
    weights: Annotated[Optional[Path], typer.Option(help="State dict (.pth) of the --network; default: its torchvision ImageNet weights, downloaded once (530-550 MB). Also VIDSTYLE_WEIGHTS.")],
    content_layer: Annotated[Optional[list[str]], typer.Option("--content-layer", metavar="<layer>", help=f"Layer whose response is the content; repeat it or give a comma list (default {','.join(_M.content_layers)}).")],
    style_layers: Annotated[str, typer.Option(help="Comma list of layers whose Gram matrices are the style.")],
    style_layer_weights: Annotated[Optional[str], typer.Option(help="One weight per --style-layers entry, e.g. 1,1,1,1,1 (default: 1 each, relu5_x 0.25).")],
    max_size: Annotated[str, typer.Option(metavar="<px|auto>", help="Long side of the working resolution in pixels, or auto: 256 on a CPU; on a CUDA GPU the largest size whose warm frame takes at most 2 s, measured when the run begins and kept for its resume.")],
    iterations: Annotated[int, typer.Option(help="Steps for the first frame (and every frame with --temporal none).")],
    iterations_next: Annotated[int, typer.Option(help="Steps for each later frame, which starts from the previous one.")],
    content_weight: Annotated[float, typer.Option(help="Weight of the content term.")],
    style_weight: Annotated[float, typer.Option(help="Weight of the style term (before --strength).")],
    strength: Annotated[float, typer.Option(help="How heavily the style is painted: multiplies --style-weight; 0.1 light, 1 default, 2 heavy.")],
    tv_weight: Annotated[float, typer.Option(help="Weight of the total-variation (smoothness) term.")],
    gamut_weight: Annotated[float, typer.Option(help="Weight of the soft range penalty that keeps the optimized pixels inside [0, 1] (0 = off).")],
    optimizer: Annotated[Optimizer, typer.Option(help="L-BFGS (Gatys) or Adam.")],
    learning_rate: Annotated[Optional[float], typer.Option(help="Step size; default 1.0 for L-BFGS, 0.02 for Adam.")],
    tolerance: Annotated[float, typer.Option(help="Early stop: relative loss improvement over 10 steps below this ends the frame (0 = never).")],
    init: Annotated[str, typer.Option(help="First-frame start: content, noise, or an image path.")],
    seed: Annotated[int, typer.Option(help="Seed for noise init; same seed and settings give the same output on CPU.")],
    pooling: Annotated[Pooling, typer.Option(help="Pooling in the network: avg (Gatys et al.), max, or power (the power mean of each window, between the two).")],
    padding: Annotated[Padding, typer.Option(help="What the network's convolutions see past the frame's edge: zero, or the edge repeated or mirrored in conv1_1 (-first) or every convolution.")],
    edge_margin: Annotated[int, typer.Option(help="Pixels of each frame's own edge added on every side for the whole run and cropped from the output, so no line forms along the border (0 = none).")],
    temporal: Annotated[TemporalMode, typer.Option(help="none: frames independent; prev: start from previous result; flow: warp it along optical flow + temporal loss.")],
    temporal_weight: Annotated[float, typer.Option(help="Weight of the temporal loss (flow mode).")],
    flow_preset: Annotated[FlowPreset, typer.Option(help="DIS optical flow preset.")],
    soft_mask: Annotated[bool, typer.Option("--soft-mask", help="Soften the flow reliability mask.")],
    inbetween: Annotated[int, typer.Option(help="Stylize each shot's first 8 frames, then every Nth (and its last); make the frames between from the two around them along the flow (1 = every frame). For 50/60-fps footage.")],
    cuts: Annotated[str, typer.Option(help="Where shots break: auto (detect), off (one shot), or a LIST of input frames/times (48f,120f or 0:02.5,12.5; a bare number is seconds) or a PySceneDetect scene-list .csv.")],
    cut_threshold: Annotated[float, typer.Option(help="Cut detector ratio a frame must reach to be a cut (higher finds fewer).")],
    start: Annotated[Optional[str], typer.Option(help="Start at seconds (12.5, 1:02.5) or a frame (48f, or quoted '#48').")],
    end: Annotated[Optional[str], typer.Option(help="Stop before seconds or a frame (96f).")],
    max_frames: Annotated[Optional[int], typer.Option(help="Stylize at most this many frames.")],
    every: Annotated[int, typer.Option(help="Take every Nth frame (output rate divided by N).")],
    fps: Annotated[Optional[str], typer.Option(help="Videos: lower output rate (e.g. 12); folders: rate of the frames (default 24). 29.97, 23.976 etc. mean 30000/1001, 24000/1001.")],
    output_size: Annotated[OutputSize, typer.Option(help="source: the input's size, upsampled guided by the input frame; working: the working size (--max-size).")],
    mask: Annotated[Optional[Path], typer.Option(help="Stylize only where this mask is white (black keeps the input, grey blends): one image for every frame, or a folder, pattern or video with a frame per input frame; resized to the output.")],
    mask_feather: Annotated[int, typer.Option(help="Soften the mask's edge by this many pixels (Gaussian, at the output size).")],
    mask_invert: Annotated[bool, typer.Option("--mask-invert", help="Stylize where the mask is black instead.")],
    protect_overlays: Annotated[OverlayMode, typer.Option(help="auto: per shot, keep a still HUD (score, bars, minimap) from the input where the rest of the frame moves; its mask is written to the work dir's overlays/.")],
    crf: Annotated[int, typer.Option(help="Video quality (H.264/VP9 CRF; lower = better, bigger).")],
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Drop the audio tracks.")],
    work_dir: Annotated[Optional[Path], typer.Option(help="Where to keep resumable state (default: <output>.vidstyle beside the output).")],
    segment_frames: Annotated[int, typer.Option(help="Frames per encoded segment (bounds the PNGs kept on disk).")],
    keep_frames: Annotated[bool, typer.Option("--keep-frames", help="Keep every stylized PNG (and the work dir) after the run.")],
    keep_work: Annotated[bool, typer.Option("--keep-work", help="Keep the work dir after success (manifest, per-frame log).")],
    restart: Annotated[bool, typer.Option("--restart", help="Discard an interrupted run's work (only what vidstyle wrote) and start over.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file that vidstyle wrote (of a folder, only the frames vidstyle wrote there); a file of yours is never replaced.")],
    device: Annotated[DeviceChoice, typer.Option(help="auto picks cuda, then mps, then cpu.")],
    precision: Annotated[Precision, typer.Option(help="Network arithmetic: auto (bf16 on a CUDA GPU that has it, else fp32; fast-mode training and keyframes also on a CPU with native bf16), fp32 or bf16. Losses stay fp32.")],
    batch_chains: Annotated[int, typer.Option(help="Stylize this many chains together, one frame of each per network pass (fills a GPU); in fast mode, frames per network pass.")],
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the loss pass (first frame slower; unmeasured on GPUs).")],
    tile_size: Annotated[str, typer.Option(metavar="<auto|off|px>", help="Optimize frames in overlapping tiles of this many pixels that share the style targets and are blended without seams. auto: only a frame too large for the device's memory, in the largest tile that fits; off: never (such a frame is refused).")],
    coarse_to_fine: Annotated[CoarseToFine, typer.Option(help="Cold starts: optimize at a long side of at most 256 first, then at sizes growing by sqrt(2) to the working size, a few steps each, so strokes keep their size against the frame (auto: when the working size is above about 400).")],
    workers: Annotated[Optional[int], typer.Option(help="Stylize chains in parallel on N workers of a local Ray cluster started for the run (needs Ray: uv sync --extra ray).")],
    ray_address: Annotated[Optional[str], typer.Option(help="Join this Ray cluster (auto, HOST:PORT) with one worker per GPU; the work dir must be on a filesystem every node sees.")],
    chain_frames: Annotated[Optional[int], typer.Option(help=f"Split shots longer than this into chains (default: as far as the workers need, chains of at least {MIN_CHAIN_FRAMES}).")],
    overlap: Annotated[int, typer.Option(help="Frames a chain inside a shot starts before its first; the chain before it cross-fades into them.")],
    worker_threads: Annotated[Optional[int], typer.Option(help="torch/OpenCV threads per worker (default: the cores shared out among the workers).")],
    method: Annotated[MethodKind, typer.Option(help="optimize: the optimizer on every frame (best quality); fast: optimize keyframes, train a small network on the clip, run it on every frame (milliseconds a frame); auto: fast where the clip is long enough for it to pay off, else optimize (says which and why).")],
    keyframes: Annotated[int, typer.Option(help="Fast: one keyframe per this many frames of a shot (at least one per shot), each stylized by the optimizer.")],
    train_steps: Annotated[Optional[int], typer.Option(help="Fast: training step budget (an early stop may end sooner); default: follows the clip, up to 1500, so the whole run costs at most half the optimizer's estimated time.")],
    model: Annotated[Optional[Path], typer.Option(help="Fast: apply this network saved by --save-model; no keyframes, no training.")],
    save_model: Annotated[Optional[Path], typer.Option(help="Fast: also write the trained network here (weights only, plus a JSON of its settings).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress; print only the output path.")] = False,
    preview: Annotated[Optional[Path], typer.Option(help="After the run, write a preview sheet (a few input frames above their stylized frames) to this image.")] = None,
) -> None:
    """Stylize a video, a folder of frames, a pattern or an image; or many clips, one output each in a folder."""
    options = dict(locals())
    from vidstyle.pipeline.batch import clip_inputs, stylize_clips
    from vidstyle.pipeline.preview import check_sheet_path, preview_run
    from vidstyle.pipeline.run import stylize as run_stylize

    # A stray word (a value given to a flag: --soft-mask true) lands among several inputs: bad usage, named.
    missing = [w for w in input if not Path(w).expanduser().exists() and not any(m in w for m in "*?[")] if len(input) > 1 else []
    if missing:
        raise typer.BadParameter(
            f"no such file or folder ({'), ('.join(missing)}); several inputs must each be a video, a folder of videos or a quoted glob",
            ctx=ctx, param_hint="INPUT...",
        )  # fmt: skip
    with _exit_codes():
        settings = settings_from_options(options)
        clips = clip_inputs(input)
        if clips is not None and preview is not None:
            raise UsageError("--preview writes one sheet; with several clips make a sheet per clip with vidstyle preview.")
    if clips is not None:
        _run_clips(lambda on_event: stylize_clips(clips, output, settings=settings, on_event=on_event, reraise_bugs=_debug()), quiet)
        return
    input = input[0]
    with _exit_codes():
        if preview is not None:
            check_sheet_path(preview, input=input, settings=settings, output=output)  # before the run, not after hours of it
    restart_command = _typed_command(ctx, "--restart")
    result = _run(lambda on_event: run_stylize(input, output, settings=settings, on_event=on_event), quiet, restart=restart_command)
    if preview is not None:
        if settings.select.auto_size:  # the size the run chose, not a new choice
            settings = settings.replace(select=replace(settings.select, max_size=result.max_size))
        sheet = _run(lambda _: preview_run(input, result.output, preview, settings=settings, cuts=result.cuts), quiet, restart=restart_command)
        if not quiet:
            stderr.print(f"Wrote the preview sheet {sheet.sheet}", highlight=False)


def settings_from_options(options: dict[str, Any]) -> Settings:
    """Settings from the options of stylize (or of the commands that share its options: preview).

    Every field with an ``option`` in config.py is read from its option, through
    _OPTION_FORMS where the two are written differently; the others keep their default.
    """
    given = {**_OPTION_DEFAULTS, **options}
    sections = typing.get_type_hints(Settings)
    values: dict[str, dict[str, Any]] = {section.name: {} for section in dataclasses.fields(Settings)}
    for path, field in setting_fields():
        option = field.metadata["option"]
        if option is not None:
            section, name = path.split(".")
            values[section][name] = _OPTION_FORMS.get(path, _AS_IS)[1](given[_parameter(option)])
    return Settings(**{section: sections[section](**fields) for section, fields in values.items()})


# Options of stylize that cannot change a preview (how frames are tied together,
# the output and its work dir); preview takes every other option of stylize
# (--overwrite included: every command that writes a file replaces one only with it;
# --cuts and --cut-threshold too, since a preview finds and shows the run's shots),
# with the same help and default, so a stylize command line becomes a preview
# by changing the command word and dropping these.
_NOT_IN_PREVIEW = {
    "ctx", "input", "output", "preview", "iterations_next", "temporal", "temporal_weight", "flow_preset", "soft_mask",
    "inbetween",
    "output_size", "crf", "no_audio", "work_dir", "segment_frames", "keep_frames",
    "keep_work", "restart", "workers", "ray_address", "chain_frames", "overlap", "worker_threads",
    "method", "keyframes", "train_steps", "model", "save_model", "batch_chains",
    "mask", "mask_feather", "mask_invert",  # the sheet shows whole stylized frames (not yet masked there)
}  # fmt: skip
_OPTION_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(stylize).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


def _shares_options_of(command: Any, *, skip: set[str]) -> Any:
    """Give the decorated command every option of ``command`` but ``skip`` (Typer reads the signature)."""

    def decorate(function: Any) -> Any:
        own = list(inspect.signature(function, eval_str=True).parameters.values())
        own = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
        shared = [
            parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for name, parameter in inspect.signature(command, eval_str=True).parameters.items()
            if name not in skip
        ]
        function.__signature__ = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared)
        return function

    return decorate


@app.command(name="preview", cls=_Command)
@_shares_options_of(stylize, skip=_NOT_IN_PREVIEW)
def preview_command(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Video file, folder of frames, pattern or one image.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The sheet: an image file (.png, .jpg, .webp); an existing sheet vidstyle wrote is replaced only with --overwrite.")],
    frames: Annotated[int, typer.Option(help="Frames spread over the shots of the clip (one per shot when there are enough), each stylized as a run's first frame (an image gives one).")] = _P.frames,
    **options: Any,
) -> None:
    """Find the shots as a run would, stylize a few frames spread over them at these settings and write them, under their inputs, on one sheet."""
    from vidstyle.pipeline.preview import preview as run_preview

    with _exit_codes():
        settings = settings_from_options(options)
        config = PreviewConfig(frames=frames)
    _run(
        lambda on_event: run_preview(input, output, settings=settings, config=config, on_event=on_event),
        options["quiet"],
        restart=_typed_command(ctx),
    )


@app.command(cls=_Command)
def resume(
    ctx: typer.Context,
    work_dir: Annotated[Path, typer.Argument(help="The work directory of an interrupted run (<output>.vidstyle), or the output folder of several clips (goes on with every clip not done).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The run's output, when its work dir is not <output>.vidstyle beside it (a work dir alone never says where to write).")] = None,
    device: Annotated[Optional[DeviceChoice], typer.Option(help="Override the device.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Go on with N local Ray workers (any number; the chain plan stays the stored one).")] = None,
    ray_address: Annotated[Optional[str], typer.Option(help="Go on on this Ray cluster.")] = None,
    worker_threads: Annotated[Optional[int], typer.Option(help="torch/OpenCV threads per worker.")] = None,
    sequential: Annotated[bool, typer.Option("--no-workers", help="Go on in this process, without Ray, whatever the interrupted run used.")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Discard the run's finished frames and run it again from its first frame, with its stored settings (after its input changed).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress; print only the output path.")] = False,
) -> None:
    """Continue an interrupted run from its manifest, without repeating its options."""
    from vidstyle.pipeline.batch import is_batch_folder, resume_clips
    from vidstyle.pipeline.run import resume as run_resume

    with _exit_codes():
        if workers is not None or ray_address is not None or worker_threads is not None:
            ScaleConfig(workers=workers, ray_address=ray_address, threads=worker_threads)  # refuse --workers 0 at once
        batch = is_batch_folder(work_dir.expanduser())
        if batch and output is not None:
            raise UsageError(f"{work_dir} is the output folder of several clips, each written beside its work dir; leave --output out.")

    def overrides(settings: Settings) -> Settings:
        if device is not None:
            settings = settings.replace(model=replace(settings.model, device=device))
        if sequential:
            settings = settings.replace(scale=replace(settings.scale, workers=None, ray_address=None))
        elif workers is not None or ray_address is not None:
            if settings.model.batch_chains > 1 and settings.method.kind is MethodKind.OPTIMIZE:  # Settings refuses it too, in stylize's words; this says how to resume
                raise UsageError(
                    f"This run was started with --batch-chains {settings.model.batch_chains}, which batches chains in one "
                    "process; resume it without --workers or --ray-address (Ray workers run one chain each)."
                )
            settings = settings.replace(
                scale=replace(settings.scale, workers=workers, ray_address=ray_address, threads=worker_threads or settings.scale.threads)
            )
        return settings

    if batch:
        _run_clips(
            lambda on_event: resume_clips(work_dir, on_event=on_event, overrides=overrides, restart=restart, reraise_bugs=_debug()),
            quiet,
        )
        return
    _run(
        lambda on_event: run_resume(work_dir, output=output, on_event=on_event, overrides=overrides, restart=restart),
        quiet,
        restart=_typed_command(ctx, "--restart"),
    )


@app.command(cls=_Command)
def metrics(
    input: Annotated[str, typer.Argument(help="The original video, folder or pattern.")],
    stylized: Annotated[str, typer.Argument(help="Its stylized version (video, folder or pattern).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    flow_preset: Annotated[FlowPreset, typer.Option(help="DIS optical flow preset.")] = _T.flow_preset,
) -> None:
    """Temporal warping error (Lai et al. 2018) of a stylized sequence: lower = less flicker."""
    from vidstyle.pipeline.measure import measure_warping_error

    with _exit_codes():
        result = measure_warping_error(input, stylized, flow_preset=flow_preset)
    if as_json:
        typer.echo(json.dumps({"warping_error": result.value, "frames": result.frame_count, "per_pair": list(result.per_pair)}))
    else:
        typer.echo(f"warping error {result.value:.6g} over {result.frame_count} frames ({result.frame_count - 1} pairs)")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"vidstyle {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")] = False,
) -> None:
    """vidstyle: neural style transfer for videos, stable over time, resumable."""


def main() -> None:
    try:
        app()
    except VidstyleError as error:  # raised outside a command (should not happen), still one line
        stderr.print(f"error: {error}")
        sys.exit(error.exit_code)


@app.command(cls=_Command)
def serve(
    port: Annotated[int, typer.Option(help="Port of the page on this machine.")] = 8765,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
    host: Annotated[str, typer.Option(help="Address to listen on; the default lets only this machine in (the page still needs the URL's token).")] = "127.0.0.1",
    folder: Annotated[Optional[Path], typer.Option(help="Folder the page looks in first for style images and work dirs (default: the current folder).")] = None,
) -> None:
    """A local web page to find a look (preview), run it, watch it, stop and resume it (needs: uv sync --extra web)."""
    from vidstyle.web.server import serve as run_server

    with _exit_codes():
        run_server(port=port, host=host, open_browser=open_browser, folder=(folder or Path.cwd()).resolve(), say=lambda text: stderr.print(text, highlight=False, soft_wrap=True))
