"""A vidstyle run in its own process, for the resume tests: it can kill itself at a chosen point.

    python tests/pipeline/resume_worker.py SPEC.json

SPEC keys:
    input, output           the run's input and output
    settings                keyword arguments of make_settings()
    core                    "fake" (cheap deterministic stand-in optimizer) or "real" (VGG19 with the given weights)
    fake_sleep              seconds per fake step (gives a signal time to land)
    resume                  a work dir: call pipeline.run.resume() on it instead of stylize()
    spy                     a folder: every working frame the run finishes is copied there as
                            NNNNNN.png (or NNNNNN.2.png, ... when a frame is done again)
    events                  a file: one JSON line per RunStarted/Notice/SegmentEncoded/RunFinished event
    pngs                    a file: the maximum number of PNGs seen in the work dir's frames/ at any event

Faults (where to kill the run) go through the supported seam, the VIDSTYLE_FAULT
environment variable (vidstyle/faults.py); the tests set it for this process.

Exit status: 0 done, 130 stopped by a signal (message on stderr), 1 a VidstyleError (message on stderr),
-9 when the fault killed it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from vidstyle.config import (  # noqa: E402
    CoarseToFine,
    DeviceChoice,
    ModelConfig,
    OptimizeConfig,
    RunConfig,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
    TemporalConfig,
    TemporalMode,
)
from vidstyle.model.stylizer import LossBreakdown, StepReport, StylizeResult, TemporalTarget  # noqa: E402
from vidstyle.methods.base import MethodFactory  # noqa: E402
from vidstyle.methods.optimize import OptimizeMethod  # noqa: E402


def make_settings(
    *,
    style: str | Path,
    weights: str | Path | None = None,
    max_size: int = 48,
    iterations: int = 3,
    iterations_next: int = 2,
    style_weight: float = OptimizeConfig().style_weight,  # the CLI default: tests compare CLI runs with these
    temporal: str = "flow",
    segment_frames: int = 8,
    keep_frames: bool = False,
    keep_work: bool = False,
    restart: bool = False,
    overwrite: bool = False,
    work_dir: str | Path | None = None,
    max_frames: int | None = None,
    start: str | None = None,
    cuts: str = "auto",
    init: str = "content",
    coarse_to_fine: str = CoarseToFine.AUTO.value,
) -> Settings:
    return Settings(
        model=ModelConfig(weights=Path(weights) if weights else None, device=DeviceChoice.CPU),
        style=StyleConfig(images=(Path(style),)),
        optimize=OptimizeConfig(
            iterations=iterations, iterations_next=iterations_next, style_weight=style_weight, init=init,
            coarse_to_fine=CoarseToFine(coarse_to_fine),
        ),
        temporal=TemporalConfig(mode=TemporalMode(temporal)),
        select=SelectConfig(max_size=max_size, max_frames=max_frames, start=start),
        shots=ShotsConfig(cuts=cuts),
        run=RunConfig(
            work_dir=Path(work_dir) if work_dir else None,
            segment_frames=segment_frames,
            keep_frames=keep_frames,
            keep_work=keep_work,
            restart=restart,
            overwrite=overwrite,
        ),
    )


# ---------------------------------------------------------------- the stand-in core


class FakeStylizer:
    """Deterministic and cheap, and like the real one its result depends on where it starts.

    Each step pulls the image toward the content and adds a texture made from
    the content, so a frame started from another init (a broken continuity
    chain after a resume) comes out different.
    """

    def __init__(self, sleep: float = 0.0) -> None:
        self.sleep = sleep

    def stylize(
        self,
        content: torch.Tensor,
        *,
        init: torch.Tensor,
        budget: int,
        temporal: TemporalTarget | None = None,
        on_step=None,  # noqa: ANN001
        cold: bool = False,
    ) -> StylizeResult:
        image = init.detach().clone()
        history = []
        for step in range(1, budget + 1):
            texture = 0.04 * torch.sin(content.roll(1, dims=3) * 23.0 + step)
            image = (image * 0.7 + content * 0.3 + texture).clamp(0.0, 1.0)
            loss = float((image - content).abs().mean())
            history.append(loss)
            if self.sleep:
                time.sleep(self.sleep)
            if on_step is not None:
                on_step(StepReport(step=step, budget=budget, loss=loss))
        breakdown = LossBreakdown(content=history[-1], style=0.5, tv=0.0, temporal=0.0, total=history[-1] + 0.5)
        return StylizeResult(
            image=image, steps=budget, stopped_early=False, initial=breakdown, final=breakdown, history=tuple(history)
        )


def fake_method(sleep: float = 0.0) -> MethodFactory:
    """The optimizer method with FakeStylizer in place of VGG19 and L-BFGS."""

    def factory(settings: Settings, working_size: tuple[int, int]) -> OptimizeMethod:
        return OptimizeMethod(
            FakeStylizer(sleep), settings=settings, working_size=working_size, device=torch.device("cpu"), identity="fake-core-1"
        )

    return factory


# ---------------------------------------------------------------- main


def main(spec_path: str) -> int:
    from vidstyle.errors import Interrupted, VidstyleError
    from vidstyle.methods.optimize import optimize_method
    from vidstyle.pipeline.events import FrameDone, Notice, RunFinished, RunStarted, SegmentEncoded
    from vidstyle.pipeline.run import resume, stylize

    spec = json.loads(Path(spec_path).read_text())
    spy = Path(spec["spy"]) if spec.get("spy") else None
    if spy is not None:
        spy.mkdir(parents=True, exist_ok=True)
    method_factory = fake_method(spec.get("fake_sleep", 0.0)) if spec.get("core", "fake") == "fake" else optimize_method
    events_file = open(spec["events"], "a") if spec.get("events") else None  # noqa: SIM115
    max_pngs = 0
    work_root: list[Path] = []

    def on_event(event) -> None:  # noqa: ANN001
        nonlocal max_pngs
        if isinstance(event, RunStarted) and event.work_dir is not None:
            work_root.append(event.work_dir)
        if spec.get("pngs") and work_root:
            frames = work_root[0] / "frames"
            count = sum(1 for _ in frames.glob("*.png")) if frames.is_dir() else 0
            if count > max_pngs:
                max_pngs = count
                Path(spec["pngs"]).write_text(str(max_pngs))
        if events_file is not None and isinstance(event, (RunStarted, Notice, SegmentEncoded, RunFinished)):
            data = {"type": type(event).__name__, **{k: v if isinstance(v, (int, float, str)) else str(v) for k, v in event.__dict__.items()}}
            events_file.write(json.dumps(data) + "\n")
            events_file.flush()
        if spy is not None and isinstance(event, FrameDone) and work_root:
            # FrameDone comes right after the frame is stored, before its segment is encoded.
            target = spy / f"{event.frame:06d}.png"
            n = 1
            while target.exists():
                n += 1
                target = spy / f"{event.frame:06d}.{n}.png"
            target.write_bytes((work_root[0] / "frames" / f"{event.frame:06d}.png").read_bytes())

    try:
        if spec.get("resume"):
            result = resume(spec["resume"], on_event=on_event, method_factory=method_factory)
        else:
            settings = make_settings(**spec["settings"])
            result = stylize(spec["input"], spec["output"], settings=settings, on_event=on_event, method_factory=method_factory)
    except Interrupted as error:
        print(f"error: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("error: stopped at once", file=sys.stderr)
        return 130
    except VidstyleError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(json.dumps({"frames": result.frames, "stylized": result.stylized}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
