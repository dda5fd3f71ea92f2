"""--max-size auto: the working size a run chooses for itself, and why.

On a CPU (and on Apple's MPS) the answer is 256 without measuring anything:
a warm frame at 256 px already costs seconds there (docs/performance.md), and
every larger size costs more. On a CUDA GPU the run measures: for each
candidate long side, smallest first, it optimizes the run's first frame as a
warm frame is optimized (the run's network, weights, precision, style targets
at that size, the temporal term when the run has one) for a few steps, and
times the steps after the first (the first pays cuDNN's autotuning). A warm
frame costs ``iterations_next`` such steps. The choice is the largest
candidate, in an unbroken run from the smallest, whose warm frame costs at
most BUDGET_SECONDS and whose memory fits the GPU's free memory.

The budget, 2 s a warm frame: about an hour of optimizing for a minute of
30 fps footage, the longest a default run should take without being asked
(a cold frame, ``iterations`` steps, costs about 15 warm frames at the
defaults and is not part of the budget; the optical flow is computed ahead
on the CPU, beside the GPU's work). The issue's H100 target (a 1080p warm
frame in 0.5 s, bf16) puts 1080p well inside it there.

Memory: a candidate fits when both the probe's measured peak and the
estimate that the run's memory check uses (model/memory.py frame_bytes)
are within the free memory, so the choice is never one that check refuses.

The choice is made once per run; the pipeline keeps it in the run's manifest
(pipeline/autosize.py), so a resumed run uses the same size and never times
anything again. :func:`choose_size` is pure (probes in, choice out) and is
tested with made-up timings; :func:`probe_sizes` does the measuring.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from vidstyle.config import CoarseToFine, ModelConfig, OptimizeConfig, StyleConfig
from vidstyle.model.build import build_core, load_extractor
from vidstyle.model.memory import frame_bytes
from vidstyle.model.style import default_cache_dir
from vidstyle.model.stylizer import StepReport, TemporalTarget
from vidstyle.video.pixels import bgr_to_tensor, resize, working_size

CPU_SIZE = 256  # the answer without a CUDA GPU, and the smallest auto ever chooses
CANDIDATES = (256, 384, 512, 768, 1024, 1536, 2048)  # long sides tried on a GPU, smallest first
BUDGET_SECONDS = 2.0  # most a warm frame (iterations_next steps) may cost; see the module's docstring
MEMORY_SHARE = 0.9  # of the GPU's free memory a frame may use (the rest: fragmentation, the flow's buffers)
PROBE_STEPS = 4  # timed steps per candidate, after one untimed step
MIN_SIDE = 16  # the network's smallest input side (pipeline/plan.py)


@dataclass(frozen=True)
class Probe:
    """One candidate long side, measured."""

    long_side: int
    size: tuple[int, int]  # (width, height) of frames at that long side
    step_seconds: float | None  # median time of one optimizer step; None: it ran out of memory
    peak_bytes: int | None = None  # the device's peak memory during the probe, when known


@dataclass(frozen=True)
class SizeChoice:
    """The working size auto chose (a --max-size in pixels) and why, in words for the run's first lines."""

    max_size: int
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"max_size": self.max_size, "reason": self.reason}

    @classmethod
    def from_json(cls, data: object) -> SizeChoice:
        if not isinstance(data, dict) or not isinstance(data.get("max_size"), int) or data["max_size"] < 16:
            raise ValueError(f"not a working-size choice: {data!r}")
        return cls(max_size=int(data["max_size"]), reason=str(data.get("reason", "")))


def without_gpu(device: torch.device) -> SizeChoice:
    """The choice where nothing is measured: CPU_SIZE on a CPU or MPS."""
    where = "a CPU" if device.type == "cpu" else device.type.upper()
    return SizeChoice(CPU_SIZE, f"{CPU_SIZE} (auto: {where}; --max-size N for another size)")


def candidates(source_size: tuple[int, int]) -> list[int]:
    """The long sides worth trying for frames of ``source_size``: never above the source's own, which is one of them."""
    long_side = max(source_size)
    if long_side > CANDIDATES[-1]:
        sides = list(CANDIDATES)
    else:
        sides = [side for side in CANDIDATES if side < long_side] + [long_side]  # the source's own size: nothing to upsample
    # VGG halves each side four times before relu5_1: a very wide frame needs a larger long side (pipeline/plan.py refuses less).
    return [side for side in sides if min(working_size(*source_size, side)) >= MIN_SIDE] or [sides[-1]]


def choose_size(
    probes: Sequence[Probe],
    *,
    steps: int,
    available_bytes: int | None,
    budget_seconds: float = BUDGET_SECONDS,
    source_long_side: int | None = None,
    where: str = "the GPU",
) -> SizeChoice:
    """The largest probe, in an unbroken run from the smallest, whose warm frame (``steps`` steps) fits the budget and memory.

    ``probes`` smallest first; ``available_bytes``: the device's free memory
    (None: unknown, memory is not a limit). When even the smallest does not
    fit, the smallest. The reason says what was chosen, what the warm frame costs
    there, and what stopped the next size.
    """
    if not probes:
        return SizeChoice(CPU_SIZE, f"{CPU_SIZE} (auto: nothing measured)")
    chosen: Probe | None = None
    stopped = ""
    for probe in sorted(probes, key=lambda p: p.long_side):
        why_not = _why_not(probe, steps=steps, available_bytes=available_bytes, budget_seconds=budget_seconds, where=where)
        if why_not:
            stopped = why_not
            break
        chosen = probe
    budget = f"{budget_seconds:g} s"
    if chosen is None:  # the smallest candidate all the same: a run at it is slow, not wrong
        smallest = min(p.long_side for p in probes)
        return SizeChoice(smallest, f"{smallest} (auto: the smallest size; {stopped})")
    assert chosen.step_seconds is not None
    cost = f"a warm frame ({steps} step{'s' if steps != 1 else ''}) takes {chosen.step_seconds * steps:.2f} s at {chosen.long_side} on {where}, within {budget}"
    if not stopped:
        own = source_long_side is not None and chosen.long_side >= source_long_side
        stopped = f"{chosen.long_side} is " + ("the input's own size" if own else "the largest size auto tries")
    return SizeChoice(chosen.long_side, f"{chosen.long_side} (auto: {cost}; {stopped})")


def _why_not(probe: Probe, *, steps: int, available_bytes: int | None, budget_seconds: float, where: str) -> str:
    """Why ``probe``'s size is not taken ("" when it is)."""
    if probe.step_seconds is None:
        return f"{probe.long_side} ran out of memory on {where}"
    seconds = probe.step_seconds * steps
    if seconds > budget_seconds:
        return f"{probe.long_side} would take {seconds:.2f} s"
    if available_bytes is not None:
        need = max(frame_bytes(probe.size), probe.peak_bytes or 0)
        if need > available_bytes * MEMORY_SHARE:
            return f"{probe.long_side} would need about {need / 1e9:.1f} GB, and {where} has {available_bytes / 1e9:.1f} GB free"
    return ""


def probe_sizes(
    frame: np.ndarray,
    long_sides: Sequence[int],
    *,
    model: ModelConfig,
    style: StyleConfig,
    optimize: OptimizeConfig,
    temporal_weight: float | None,
    device: torch.device,
    budget_seconds: float = BUDGET_SECONDS,
    steps: int = PROBE_STEPS,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Probe]:
    """Time ``steps`` optimizer steps of ``frame`` (BGR uint8, the source's size) as a warm frame at each long side.

    Smallest first; stops after the first size whose warm frame is over the
    budget or runs out of memory (a larger one would be too). The style
    targets go to the run's disk cache, so the chosen size's are ready for it.
    ``temporal_weight``: the run's temporal term (None: it has none).
    """
    height, width = frame.shape[:2]
    loaded = load_extractor(model, device=device)
    # No early stop and no coarse stages: every step is timed at full size.
    timed = replace(optimize, tolerance=0.0, coarse_to_fine=CoarseToFine.OFF)
    probes: list[Probe] = []
    for side in long_sides:
        size = working_size(width, height, side)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        core = content = temporal = None
        try:
            core = build_core(model, style, timed, content_size=size, cache_dir=default_cache_dir(), device=device, loaded=loaded)
            content = bgr_to_tensor(resize(frame, size), device=device)
            # A warm frame starts from the warped previous result; the content stands in for it (a step costs the same).
            temporal = None
            if temporal_weight is not None:
                mask = torch.ones((1, 1, size[1], size[0]), device=device)
                temporal = TemporalTarget(image=content, mask=mask, weight=temporal_weight)
            stamps: list[float] = []

            def on_step(_report: StepReport) -> None:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                stamps.append(clock())

            core.stylizer.stylize(content, init=content.clone(), budget=steps + 1, temporal=temporal, on_step=on_step)
        except torch.cuda.OutOfMemoryError:
            probes.append(Probe(side, size, None))
            break
        finally:
            core = content = temporal = None  # this size's tensors go before the next size is measured
            if device.type == "cuda":
                torch.cuda.empty_cache()
        deltas = [b - a for a, b in zip(stamps, stamps[1:])]
        peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
        probes.append(Probe(side, size, statistics.median(deltas) if deltas else 0.0, peak))
        if probes[-1].step_seconds * optimize.iterations_next > budget_seconds:  # type: ignore[operator]
            break
    return probes
