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

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vidstyle.config import CutsMode, OptimizeConfig, Optimizer, Settings, ShotsConfig, TemporalConfig, TemporalMode
from vidstyle.errors import NumericalError, UsageError
from vidstyle.methods.base import FrameOutcome, FrameResult, FrameTask, StepCallback
from vidstyle.model.build import Core, build_core
from vidstyle.model.device import resolve_device
from vidstyle.model.style import default_cache_dir
from vidstyle.model.memory import available_bytes, check_memory, frames_that_fit
from vidstyle.model.stylizer import FrameProblem, NonFinite, StepReport, StylizeBatch, Stylizer, StylizeResult, TemporalTarget
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.masks import photometric_mask, reliability_mask
from vidstyle.temporal.warp import warp_image
from vidstyle.video.pixels import add_margin, bgr_to_tensor, resize, tensor_to_bgr
from vidstyle.video.sources import read_image


@dataclass(frozen=True)
class FrameStart:
    init: torch.Tensor  # (1, 3, H, W) RGB in [0, 1]
    budget: int
    temporal: TemporalTarget | None
    flow_seconds: float  # time spent on optical flow for this frame
    cold: bool = False  # started from --init, not from the previous frame (goes coarse to fine)


@dataclass(frozen=True)
class FlowPrep:
    """The part of a warm frame's start that needs only the input frames: computed ahead (methods/base.py Prepare)."""

    previous_content: np.ndarray
    content: np.ndarray
    backward: np.ndarray  # flow from the frame to the previous one
    mask: np.ndarray  # where the warped previous frame is trusted, in [0, 1]
    seconds: float


def load_init_image(spec: str, size: tuple[int, int], margin: int = 0) -> np.ndarray | None:
    """The --init image as a working frame of ``size`` (resized inside its ``margin``, on its canvas), or None for 'content'/'noise'."""
    if spec in ("content", "noise"):
        return None
    picture = (size[0] - 2 * margin, size[1] - 2 * margin)
    return add_margin(resize(check_init_image(spec), picture), margin)  # type: ignore[arg-type]


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
        margin: int = 0,
    ) -> None:
        self.optimize = optimize
        self.temporal = temporal
        self.device = device
        # None (callers that predate shots) or --cuts off: no photometric
        # check, so the frames are bit-identical to those of earlier versions.
        self.photometric_threshold = (
            shots.photometric_threshold if shots is not None and shots.mode is not CutsMode.OFF else None
        )
        self.init_image = load_init_image(optimize.init, working_size, margin)
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
        prepared: FlowPrep | None = None,
    ) -> FrameStart:
        """Init image, budget and temporal target of a frame.

        ``position`` counts frames from the start of the frame's shot (it seeds
        the noise init); ``previous_stylized`` is None for a cold start.
        ``prepared``: the flow between ``previous_content`` and ``content``,
        computed ahead (it is used only if made from these very frames).
        """
        mode = self.temporal.mode
        if position == 0 or previous_stylized is None or mode is TemporalMode.NONE:
            return FrameStart(self._cold_start(position, content), self.optimize.iterations, None, 0.0, cold=True)
        budget = self.optimize.iterations_next
        if mode is TemporalMode.PREV:
            return FrameStart(bgr_to_tensor(previous_stylized, device=self.device), budget, None, 0.0)

        assert self.flow is not None and previous_content is not None
        if prepared is None or prepared.previous_content is not previous_content or prepared.content is not content:
            prepared = self.prepare(previous_content, content)
        mask = prepared.mask
        warped = np.clip(warp_image(previous_stylized.astype(np.float32), prepared.backward, sharp=True), 0.0, 255.0)
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
        return FrameStart(init, budget, target, prepared.seconds)

    def prepare(self, previous_content: np.ndarray, content: np.ndarray) -> FlowPrep:
        """Flow and reliability mask between two input frames (safe on another thread: no state is shared)."""
        assert self.flow is not None
        started = time.perf_counter()
        pair = self.flow.pair(previous_content, content)
        mask = reliability_mask(pair.backward, pair.forward, soft=self.temporal.soft_mask)
        if self.photometric_threshold is not None:
            changed = photometric_mask(previous_content, content, pair.backward, threshold=self.photometric_threshold)
            np.minimum(mask, changed, out=mask)
        return FlowPrep(previous_content, content, pair.backward, mask, time.perf_counter() - started)


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
        cold: bool = False,
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
        tile: int | None = None,
        batch_limit: int | None = None,
    ) -> None:
        self.stylizer = stylizer
        self.tile = tile  # the tile side the frames are optimized in (None: whole); in the run's fingerprint
        # The most frames one batch may hold in the device's free memory (model/memory.py; None: unknown, no limit).
        # A --batch-chains larger than that runs fewer chains at a time; the frames are the same either way.
        self.batch_limit = batch_limit
        self.core = core  # the feature network and style targets, which fast mode trains its network with
        self.fallback = fallback
        self.optimize = settings.optimize
        self.device = device
        self.identity = identity
        self.style_passes = style_passes
        self.uses_previous = settings.temporal.mode is not TemporalMode.NONE
        self.starter = FrameStarter(
            settings.optimize, settings.temporal, working_size=working_size, device=device, shots=settings.shots,
            margin=settings.select.edge_margin,
        )
        self._prepared: dict[int, FlowPrep] = {}  # position -> flow computed ahead
        self._lock = threading.Lock()

    def prepare(self, position: int, previous_content: np.ndarray | None, content: np.ndarray) -> None:
        """The flow into frame ``position``, computed ahead on the chain's read-ahead thread (methods/base.py)."""
        if self.starter.flow is None or previous_content is None:
            return
        with self._lock:
            for stale in [p for p in self._prepared if p < position - 2]:
                del self._prepared[stale]  # frames the chain skipped (done before a resume)
        prepared = self.starter.prepare(previous_content, content)
        with self._lock:
            self._prepared[position] = prepared

    def begin(self, task: FrameTask) -> FrameStart:
        if task.given is not None:
            given = task.given
            target = TemporalTarget(
                image=_float_bgr_to_tensor(given.target, self.device),
                mask=torch.from_numpy(np.ascontiguousarray(given.mask)).to(self.device)[None, None],
                weight=self.starter.temporal.weight,
            )
            return FrameStart(_float_bgr_to_tensor(given.init, self.device), given.budget, target, 0.0)
        previous = None if task.cold else task.previous_stylized
        with self._lock:
            prepared = self._prepared.pop(task.position, None)
        return self.starter.start(task.shot_offset, task.content, task.previous_content, previous, prepared)

    def _attempt(self, stylizer: FrameStylizer, task: FrameTask, begin: FrameStart, on_step: StepCallback, attempt: int) -> StylizeResult:
        return stylizer.stylize(
            self._content(task, attempt),
            init=begin.init,
            budget=begin.budget,
            temporal=begin.temporal,
            on_step=lambda report: on_step(replace(report, frame=task.position)),
            cold=begin.cold,
        )

    def _content(self, task: FrameTask, attempt: int) -> torch.Tensor:
        content = bgr_to_tensor(task.content, device=self.device)
        if task.faults.poisons(task.position, attempt):
            content[:, :, 0, 0] = float("nan")  # the injected numerical fault (VIDSTYLE_FAULT=nan:K)
        return content

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult:
        begin = self.begin(task)
        started = time.perf_counter()
        try:
            result = self._attempt(self.stylizer, task, begin, on_step, 0)
        except NonFinite as fault:
            return self.redo(task, begin, on_step, fault, started)
        return frame_result(task, result, begin, time.perf_counter() - started)

    def redo(self, task: FrameTask, begin: FrameStart, on_step: StepCallback, fault: NonFinite, started: float) -> FrameResult:
        """A frame that went NaN or infinite, redone from its start with the fallback optimizer; NumericalError if it cannot be."""
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
        return frame_result(task, result, begin, time.perf_counter() - started, redone=redone)

    def open_batch(self, capacity: int) -> OptimizeBatch | None:
        """A batch of ``capacity`` frames stylized together (``--batch-chains``); None if the stylizer cannot batch."""
        if not isinstance(self.stylizer, Stylizer):
            return None
        if self.batch_limit is not None:
            capacity = min(capacity, self.batch_limit)
        return OptimizeBatch(self, self.stylizer, capacity)


def frame_result(task: FrameTask, result: StylizeResult, begin: FrameStart, seconds: float, *, redone: str = "") -> FrameResult:
    outcome = FrameOutcome(
        position=task.position,
        steps=result.steps,
        stopped_early=result.stopped_early,
        loss=result.final.total,
        terms=result.final.terms,
        flow_seconds=begin.flow_seconds,
        optimize_seconds=seconds,
        redone=redone,
    )
    return FrameResult(image=tensor_to_bgr(result.image), outcome=outcome)


@dataclass
class _Slot:
    task: FrameTask
    begin: FrameStart
    on_step: StepCallback
    started: float


class OptimizeBatch:
    """Frames of several chains optimized in one batch on one device (methods/base.py MethodBatch).

    Each frame is started as :meth:`OptimizeMethod.stylize` starts it (a cold
    start goes through its coarse sizes alone, before it joins the batch) and
    finished in its own slot of a :class:`StylizeBatch`; a frame that ends
    frees its slot for the next one while the others go on. A frame that goes
    NaN or infinite leaves the batch and is redone alone, as
    :meth:`OptimizeMethod.stylize` redoes it.
    """

    def __init__(self, method: OptimizeMethod, stylizer: Stylizer, capacity: int) -> None:
        self.method = method
        self.stylizer = stylizer
        self.capacity = capacity
        self._batch: StylizeBatch | None = None
        self._slots: dict[int, _Slot] = {}
        self._ready: dict[int, FrameResult] = {}  # frames redone at once (they failed before joining the batch), by a slot id < 0
        self._next_ready = -1

    @property
    def free(self) -> int:
        return self.capacity - len(self._slots)

    def add(self, task: FrameTask, *, on_step: StepCallback) -> int:
        begin = self.method.begin(task)
        started = time.perf_counter()
        problem = FrameProblem(
            content=self.method._content(task, 0),
            init=begin.init,
            budget=begin.budget,
            temporal=begin.temporal,
            on_step=lambda report: on_step(replace(report, frame=task.position)),
        )
        try:
            if begin.cold:
                problem = self.stylizer.coarse_start(problem)
            if self._batch is None:
                height, width = task.content.shape[:2]
                self._batch = self.stylizer.batch(self.capacity, (width, height))
            slot = self._batch.add(problem)
        except NonFinite as fault:
            slot = self._next_ready
            self._next_ready -= 1
            self._ready[slot] = self.method.redo(task, begin, on_step, fault, started)
            return slot
        self._slots[slot] = _Slot(task, begin, on_step, started)
        return slot

    def step(self) -> list[tuple[int, FrameResult]]:
        """One step of every frame in the batch; the frames that finished, by slot."""
        finished = list(self._ready.items())
        self._ready.clear()
        if self._batch is None or not self._slots:
            return finished
        for slot, result in self._batch.step():
            entry = self._slots.pop(slot)
            if result.failed is not None:
                finished.append((slot, self.method.redo(entry.task, entry.begin, entry.on_step, result.failed, entry.started)))
            else:
                finished.append((slot, frame_result(entry.task, result, entry.begin, time.perf_counter() - entry.started)))
        return finished


def optimize_method(settings: Settings, working_size: tuple[int, int]) -> OptimizeMethod:
    """The real method: VGG features, the style targets (cached on disk) and the optimizer, on the chosen device.

    A frame that cannot fit in memory is optimized in tiles, or refused (both
    decided here, model/memory.py), before the weights are loaded and before
    the run's work dir exists.
    """
    device = resolve_device(settings.model.device)
    free = available_bytes(device)
    tile = check_memory(
        working_size, device=device, max_size=settings.select.max_size, margin=settings.select.edge_margin,
        tile_size=settings.model.tile_size, available=free,
    )  # fmt: skip
    # The frames arrive on their canvas (settings.select.edge_margin px more on every side): --style-scale
    # stays relative to the picture inside it, so the strokes keep their size against the frame.
    long_side = max(working_size)
    picture = long_side - 2 * settings.select.edge_margin
    core = build_core(
        settings.model,
        settings.style,
        settings.optimize,
        content_size=working_size,
        cache_dir=default_cache_dir(),
        device=device,
        style_scale=settings.style.scale * picture / long_side if picture != long_side else None,
        tile=tile,
    )
    stylizer = core.stylizer
    fallback = Stylizer(
        core.extractor,
        core.style,
        model=settings.model,
        optimize=safer_optimize(settings.optimize),
        runtime=stylizer.runtime,
        style_at=stylizer.style_at,
        tile=tile,
    )
    return OptimizeMethod(
        core.stylizer,
        settings=settings,
        working_size=working_size,
        device=device,
        identity=core.weights.identity,
        style_passes=0 if core.style.from_cache else core.extractor.passes,
        fallback=fallback,
        core=core,
        tile=tile,
        batch_limit=frames_that_fit(working_size, tile=tile, free=free),
    )
