"""The worker process of the web page: one run, resume or preview, its events as JSON lines.

``python -m vidstyle.web.worker SPEC`` reads the job's JSON spec, calls the
same library function as the command line (pipeline/run.py stylize or resume,
pipeline/preview.py preview) and writes one JSON object a line on its event
channel. A run lives in its own process so that the server stays responsive
while torch computes, and so that Stop is the run's own clean interrupt: SIGINT
to this process raises Interrupted after the run has saved its state, exactly
as Ctrl-C does on the command line.

The event channel is the process's original stdout; fd 1 is pointed at stderr
so that nothing else (a library, a child process) can write into it.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from vidstyle.config import (
    ModelConfig,
    OptimizeConfig,
    PreviewConfig,
    SelectConfig,
    Settings,
    StyleConfig,
)
from vidstyle.errors import Interrupted, UsageError, VidstyleError
from vidstyle.methods.base import FrameResult, FrameTask, Method, StepCallback
from vidstyle.methods.optimize import optimize_method
from vidstyle.networks import Network
from vidstyle.pipeline.events import (
    CutScan,
    Event,
    FrameDone,
    Notice,
    RunFinished,
    RunStarted,
    ShotsPlanned,
    StepDone,
)
from vidstyle.video.pixels import crop_margin

THUMB_SIZE = 320  # long side of the latest-frame thumbnail, in pixels


def settings_from_form(form: dict[str, Any]) -> Settings:
    """The settings the page's controls stand for; every control the page does not show keeps the CLI's default.

    Bad values raise the same UsageError text as the command line's options.
    """
    styles = tuple(Path(str(s)).expanduser() for s in form.get("styles") or [] if str(s).strip())
    if not styles:
        raise UsageError("Choose at least one style image.")
    blend = form.get("blend")
    model, optimize, select = ModelConfig(), OptimizeConfig(), SelectConfig()
    try:
        network = Network(str(form.get("network") or model.network.value))
    except ValueError:
        raise UsageError(f"network {form.get('network')!r} is not one of {', '.join(n.value for n in Network)}.") from None
    weights = form.get("weights") or None

    def number(name: str, kind: type, default: Any) -> Any:
        value = form.get(name)
        if value is None or value == "":
            return default
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise UsageError(f"{name.replace('_', '-')} {value!r} is not a number.") from None

    return Settings(
        model=ModelConfig(network=network, weights=Path(weights).expanduser() if weights else None),
        style=StyleConfig(
            images=styles,
            blend=tuple(float(w) for w in blend) if blend else None,
            scale=number("style_scale", float, StyleConfig.__dataclass_fields__["scale"].default),
            preserve_colors=bool(form.get("preserve_colors", False)),
        ),
        optimize=replace(
            optimize,
            strength=number("strength", float, optimize.strength),
            iterations=number("iterations", int, optimize.iterations),
            iterations_next=number("iterations_next", int, optimize.iterations_next),
        ),
        select=replace(select, max_size=_max_size(form.get("max_size"), select.max_size)),
    )


def _max_size(value: Any, default: int | str | None) -> int | str | None:
    """The page's working size: pixels, or auto (an empty field: the default, auto)."""
    if value is None or str(value).strip() == "":
        return default
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"max-size {value!r} is not a number of pixels or auto.") from None


class _Channel:
    """JSON lines on the event channel, flushed at once (the server reads them as they come)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def send(self, kind: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"type": kind, **fields}, default=str) + "\n")
        self.stream.flush()


def _describe(event: Event) -> tuple[str, dict[str, Any]] | None:
    """What the page needs of an event (the step events thinned to their loss)."""
    if isinstance(event, RunStarted):
        return "started", {
            "total": event.total_frames, "done": event.already_done, "size": list(event.working_size), "size_choice": event.size_choice,
        }  # fmt: skip
    if isinstance(event, CutScan):
        return "cuts", {"done": event.frames_done, "total": event.total_frames}
    if isinstance(event, ShotsPlanned):
        return "shots", {"shots": event.shots, "summary": event.summary}
    if isinstance(event, StepDone):
        return "step", {"step": event.step, "budget": event.budget, "loss": event.loss}
    if isinstance(event, FrameDone):
        return "frame", {
            "frame": event.frame, "done": event.frames_done, "total": event.total_frames,
            "fps": event.frames_per_second, "eta": event.eta_seconds, "loss": event.loss,
        }  # fmt: skip
    if isinstance(event, Notice):
        return "notice", {"message": event.message}
    if isinstance(event, RunFinished):
        return "finished", {"output": str(event.output), "frames": event.frames, "seconds": event.seconds, "shots": event.shots}
    return None


class _Thumbnailing:
    """A method that also writes each stylized frame, small, to ``path`` (the page's latest-frame thumbnail).

    Everything else is the wrapped method's, abilities included, so the run
    goes exactly as it would without the page.
    """

    def __init__(self, method: Method, path: Path, *, margin: int = 0) -> None:
        self._method = method
        self._path = path
        self._margin = margin  # the run's --edge-margin: the thumbnail shows the frame without its canvas

    def __getattr__(self, name: str) -> Any:
        return getattr(self._method, name)

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult:
        result = self._method.stylize(task, on_step=on_step)
        write_image(self._path, crop_margin(result.image, self._margin), long_side=THUMB_SIZE)
        return result


def write_image(path: Path, image: np.ndarray, *, long_side: int | None = None) -> None:
    """A BGR image as a JPEG or PNG (by ``path``'s extension), replaced atomically so the page never reads half of one."""
    if long_side is not None and max(image.shape[:2]) > long_side:
        scale = long_side / max(image.shape[:2])
        image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(path.suffix, image)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        return
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data.tobytes())
    os.replace(temporary, path)


def _run(spec: dict[str, Any], channel: _Channel) -> None:
    from vidstyle.pipeline.preview import preview
    from vidstyle.pipeline.run import resume, stylize

    thumb = Path(spec["thumb"])

    def factory(settings: Settings, working_size: tuple[int, int]) -> Method:
        return _Thumbnailing(optimize_method(settings, working_size), thumb, margin=settings.select.edge_margin)  # type: ignore[return-value]

    def on_event(event: Event) -> None:
        described = _describe(event)
        if described is not None:
            channel.send(described[0], **described[1])

    mode = spec["mode"]
    if mode == "stylize":
        settings = settings_from_form(spec["form"])
        result = stylize(spec["input"], spec["output"], settings=settings, on_event=on_event, method_factory=factory)
        channel.send("done", output=str(result.output), frames=result.frames, shots=result.shots)
    elif mode == "resume":
        result = resume(spec["work_dir"], output=spec.get("output"), on_event=on_event, method_factory=factory)
        channel.send("done", output=str(result.output), frames=result.frames, shots=result.shots)
    elif mode == "preview":
        settings = settings_from_form(spec["form"])
        folder = Path(spec["folder"])
        sheet = folder / "sheet.png"
        config = PreviewConfig(frames=int(spec["form"].get("frames") or PreviewConfig().frames))
        result = preview(spec["input"], sheet, settings=settings.replace(run=replace(settings.run, overwrite=True)), config=config, on_event=on_event)
        picture = cv2.imread(str(sheet))
        frames = []
        for index, (frame, box_in, box_out) in enumerate(zip(result.frames, result.inputs, result.results)):
            write_image(folder / f"in{index}.png", box_in.crop(picture))
            write_image(folder / f"out{index}.png", box_out.crop(picture))
            frames.append({**asdict(frame), "input": f"in{index}.png", "output": f"out{index}.png"})
        channel.send("preview", frames=frames, seconds=result.seconds, shots=result.shots)
    else:  # pragma: no cover - the server writes the spec
        raise ValueError(f"unknown mode {mode!r}")


def main(argv: list[str]) -> int:
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    channel = _Channel(events)
    spec = json.loads(Path(argv[0]).read_text())
    try:
        _run(spec, channel)
    except Interrupted as error:
        channel.send("interrupted", message=str(error))
        return error.exit_code
    except VidstyleError as error:
        channel.send("error", message=str(error))
        return error.exit_code
    except KeyboardInterrupt:
        channel.send("interrupted", message="Stopped at once; files already written are intact. Resume to go on.")
        return 130
    except Exception as error:  # a bug: said as such, in one line, as the CLI does
        channel.send("error", message=f"unexpected {type(error).__name__}: {error}. This is a bug in vidstyle; please report it.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
