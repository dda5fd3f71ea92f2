"""The per-frame optimizer as a method: how each frame is started, tied to the previous one, and optimized.

`none` starts every frame from its own content (or noise/an image, as
--init says); `prev` starts from the previous stylized frame as it is; `flow`
(Ruder et al. 2016) warps the previous stylized frame along the optical flow
of the *input* frames, fills pixels the flow cannot vouch for from the current
content frame, and adds a temporal loss on the reliable ones. Unless shots
are off (``--cuts off``), "reliable" also takes the photometric check of
temporal/masks.py: where the input frame changed beyond what the flow
explains (fade, flash, lighting), the warped painting is not held there.

The previous stylized frame always comes in as the uint8 image stored on disk,
in uninterrupted and resumed runs alike, so both compute the same next frame.

:class:`OptimizeMethod` is the method seam (methods/base.py) around the
optimizer of model/stylizer.py: anything with its ``stylize`` signature can
stand in for it (tests use cheap deterministic stand-ins).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vidstyle.config import CutsMode, OptimizeConfig, Optimizer, Settings, ShotsConfig, TemporalConfig, TemporalMode
from vidstyle.errors import NumericalError, UsageError
from vidstyle.methods.base import FrameResult, FrameTask, StepCallback
from vidstyle.model.build import Core, build_core
from vidstyle.model.device import resolve_device
from vidstyle.model.style import default_cache_dir
from vidstyle.model.memory import check_memory
from vidstyle.model.stylizer import NonFinite, StepReport, StylizeResult, Stylizer, TemporalTarget
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.masks import photometric_mask, reliability_mask
from vidstyle.temporal.warp import warp_image
from vidstyle.video.pixels import bgr_to_tensor, resize, tensor_to_bgr
from vidstyle.video.sources import read_image


@dataclass(frozen=True)
class FrameStart:
    init: torch.Tensor  # (1, 3, H, W) RGB in [0, 1]
    budget: int
    temporal: TemporalTarget | None
    flow_seconds: float  # time spent on optical flow for this frame


def load_init_image(spec: str, size: tuple[int, int]) -> np.ndarray | None:
    """The --init image resized to the working size, or None for 'content'/'noise'."""
    if spec in ("content", "noise"):
        return None
    return resize(check_init_image(spec), size)  # type: ignore[arg-type]


def check_init_image(spec: str) -> np.ndarray | None:
    """The --init image as read from disk (None for 'content'/'noise'); UsageError/InputError if unusable.

    The pipeline calls this before it creates the work dir, so a mistyped
    --init fails at once instead of after the run has started.
    """
    if spec in ("content", "noise"):
        return None
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UsageError(f"--init must be 'content', 'noise' or an image file; {spec} does not exist.")
    return read_image(path)


class FrameStarter:
    def __init__(
        self,
        optimize: OptimizeConfig,
        temporal: TemporalConfig,
        *,
        working_size: tuple[int, int],
        device: torch.device,
        shots: ShotsConfig | None = None,
    ) -> None:
        self.optimize = optimize
        self.temporal = temporal
        self.device = device
        # None (callers that predate shots) or --cuts off: no photometric
        # check, so the frames are bit-identical to those of earlier versions.
        self.photometric_threshold = (
            shots.photometric_threshold if shots is not None and shots.mode is not CutsMode.OFF else None
        )
        self.init_image = load_init_image(optimize.init, working_size)
        self.flow = FlowEstimator(temporal.flow_preset) if temporal.mode is TemporalMode.FLOW else None

    def _cold_start(self, position: int, content: np.ndarray) -> torch.Tensor:
        if self.init_image is not None:
            return bgr_to_tensor(self.init_image, device=self.device)
        if self.optimize.init == "noise":
            # Seeded per frame, so any frame can be recomputed alone (resume).
            generator = torch.Generator().manual_seed(self.optimize.seed * 1_000_003 + position)
            height, width = content.shape[:2]
            return torch.rand((1, 3, height, width), generator=generator).to(self.device)
        return bgr_to_tensor(content, device=self.device)

    def start(
        self,
        position: int,
        content: np.ndarray,
        previous_content: np.ndarray | None,
        previous_stylized: np.ndarray | None,
    ) -> FrameStart:
        """Init image, budget and temporal target of a frame.

        ``position`` counts frames from the start of the frame's shot (it seeds
        the noise init); ``previous_stylized`` is None for a cold start.
        """
        mode = self.temporal.mode
        if position == 0 or previous_stylized is None or mode is TemporalMode.NONE:
            return FrameStart(self._cold_start(position, content), self.optimize.iterations, None, 0.0)
        budget = self.optimize.iterations_next
        if mode is TemporalMode.PREV:
            return FrameStart(bgr_to_tensor(previous_stylized, device=self.device), budget, None, 0.0)

        assert self.flow is not None and previous_content is not None
        started = time.perf_counter()
        pair = self.flow.pair(previous_content, content)
        mask = reliability_mask(pair.backward, pair.forward, soft=self.temporal.soft_mask)
        if self.photometric_threshold is not None:
            changed = photometric_mask(previous_content, content, pair.backward, threshold=self.photometric_threshold)
            np.minimum(mask, changed, out=mask)
        warped = np.clip(warp_image(previous_stylized.astype(np.float32), pair.backward, sharp=True), 0.0, 255.0)
        flow_seconds = time.perf_counter() - started
        # Pixels the flow cannot vouch for (disoccluded, motion boundaries,
        # changed input) start from the current content instead of a smeared
        # or stale warp.
        blend = mask[:, :, None]
        start = blend * warped + (1.0 - blend) * content.astype(np.float32)
        init = _float_bgr_to_tensor(start, self.device)
        target = TemporalTarget(
            image=_float_bgr_to_tensor(warped, self.device),
            mask=torch.from_numpy(np.ascontiguousarray(mask)).to(self.device)[None, None],
            weight=self.temporal.weight,
        )
        return FrameStart(init, budget, target, flow_seconds)


def _float_bgr_to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """BGR float in [0, 255] (H, W, 3) -> RGB float (1, 3, H, W) in [0, 1]."""
    rgb = np.ascontiguousarray(image[:, :, ::-1], dtype=np.float32) / 255.0
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


class FrameStylizer(Protocol):
    """What the method needs of the optimizer (model/stylizer.py Stylizer); tests pass cheap stand-ins."""

    def stylize(
        self,
        content: torch.Tensor,
        *,
        init: torch.Tensor,
        budget: int,
        temporal: TemporalTarget | None = None,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> StylizeResult: ...


def safer_optimize(optimize: OptimizeConfig) -> OptimizeConfig:
    """The setting a frame is redone with after a NaN or inf: Adam at half the lower of its default and the given rate.

    L-BFGS without a line search takes steps of its own choosing, which is
    what usually blows up; Adam moves every pixel by about its rate per step
    and clamps the image to [0, 1] after each, so it cannot run away.
    """
    default_adam = OptimizeConfig(optimizer=Optimizer.ADAM).lr
    rate = optimize.lr if optimize.optimizer is Optimizer.ADAM else default_adam
    return replace(optimize, optimizer=Optimizer.ADAM, learning_rate=min(rate, default_adam) / 2)


def describe_optimizer(optimize: OptimizeConfig) -> str:
    name = "L-BFGS" if optimize.optimizer is Optimizer.LBFGS else "Adam"
    return f"{name} at lr {optimize.lr:g}"


class OptimizeMethod:
    """Gatys et al.'s optimization per frame, started and tied to the previous frame as Ruder et al. do.

    A frame whose loss or image goes NaN or infinite is redone from its start
    with ``fallback`` (the same losses, optimized by :func:`safer_optimize`);
    if that fails too, NumericalError: the frame is never written.
    """

    def __init__(
        self,
        stylizer: FrameStylizer,
        *,
        settings: Settings,
        working_size: tuple[int, int],
        device: torch.device,
        identity: str,
        style_passes: int = 0,
        fallback: FrameStylizer | None = None,
        core: Core | None = None,
    ) -> None:
        self.stylizer = stylizer
        self.core = core  # the feature network and style targets, which fast mode trains its network with
        self.fallback = fallback
        self.optimize = settings.optimize
        self.device = device
        self.identity = identity
        self.style_passes = style_passes
        self.uses_previous = settings.temporal.mode is not TemporalMode.NONE
        self.starter = FrameStarter(
            settings.optimize, settings.temporal, working_size=working_size, device=device, shots=settings.shots
        )

    def _attempt(self, stylizer: FrameStylizer, task: FrameTask, begin: FrameStart, on_step: StepCallback, attempt: int) -> StylizeResult:
        content = bgr_to_tensor(task.content, device=self.device)
        if task.faults.poisons(task.position, attempt):
            content[:, :, 0, 0] = float("nan")  # the injected numerical fault (VIDSTYLE_FAULT=nan:K)
        return stylizer.stylize(
            content,
            init=begin.init,
            budget=begin.budget,
            temporal=begin.temporal,
            on_step=lambda report: on_step(report.step, report.budget, report.loss),
        )

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult:
        previous = None if task.cold else task.previous_stylized
        begin = self.starter.start(task.shot_offset, task.content, task.previous_content, previous)
        redone = ""
        try:
            result = self._attempt(self.stylizer, task, begin, on_step, 0)
        except NonFinite as fault:
            first = f"{fault} with {describe_optimizer(self.optimize)}"
            safer = describe_optimizer(safer_optimize(self.optimize))
            if self.fallback is None:
                raise NumericalError(f"Frame {task.position + 1} went numerically wrong ({first}); nothing of it was written.") from None
            try:
                result = self._attempt(self.fallback, task, begin, on_step, 1)
            except NonFinite as again:
                raise NumericalError(
                    f"Frame {task.position + 1} went numerically wrong ({first}), and again when redone with {safer} "
                    f"({again}); nothing of it was written."
                ) from None
            redone = f"{first}; redone from its start with {safer}"
        return FrameResult(
            image=tensor_to_bgr(result.image),
            steps=result.steps,
            stopped_early=result.stopped_early,
            loss=result.final.total,
            content_loss=result.final.content,
            style_loss=result.final.style,
            temporal_loss=result.final.temporal,
            flow_seconds=begin.flow_seconds,
            redone=redone,
        )


def optimize_method(settings: Settings, working_size: tuple[int, int]) -> OptimizeMethod:
    """The real method: VGG features, the style targets (cached on disk) and the optimizer, on the chosen device.

    A frame that cannot fit in memory is refused here, before the weights are
    loaded and before the run's work dir exists.
    """
    device = resolve_device(settings.model.device)
    check_memory(working_size, device=device, max_size=settings.select.max_size)
    core = build_core(
        settings.model,
        settings.style,
        settings.optimize,
        content_size=working_size,
        cache_dir=default_cache_dir(),
        device=device,
    )
    fallback = Stylizer(core.extractor, core.style, model=settings.model, optimize=safer_optimize(settings.optimize))
    return OptimizeMethod(
        core.stylizer,
        settings=settings,
        working_size=working_size,
        device=device,
        identity=core.weights.identity,
        style_passes=0 if core.style.from_cache else core.extractor.passes,
        fallback=fallback,
        core=core,
    )
