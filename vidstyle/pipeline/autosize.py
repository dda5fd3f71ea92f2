"""--max-size auto for a run, a preview and the web page: the working size chosen once, or the one a run recorded.

    settle_max_size(settings, source, recorded=None)   the settings with --max-size in pixels, and the choice

The choice itself is model/autosize.py's (256 on a CPU; on a CUDA GPU the
largest size whose warm frame fits the time budget, measured on the run's
first frame). A run records the choice in its manifest (pipeline/workdir.py
``Manifest.size_choice``) and a resumed run takes it from there, never timing
anything again, so its frames are the interrupted run's size, bit for bit.
The settings stored in the manifest, and so its fingerprint, keep "auto":
rerunning the same command resumes, and an explicit --max-size is a change.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from vidstyle.config import Settings, TemporalMode
from vidstyle.model.autosize import SizeChoice, candidates, choose_size, probe_sizes, without_gpu
from vidstyle.model.device import resolve_device
from vidstyle.model.memory import available_bytes
from vidstyle.pipeline.plan import make_plan
from vidstyle.video.sources import FrameSource

__all__ = ["SizeChoice", "choose_max_size", "measure_max_size", "settle_max_size"]


def settle_max_size(
    settings: Settings, source: FrameSource, *, recorded: SizeChoice | None = None
) -> tuple[Settings, SizeChoice | None]:
    """``settings`` with --max-size auto replaced by the size chosen (``recorded``, or now), and that choice.

    Settings with --max-size in pixels (or None) come back as they are, with no choice.
    """
    if not settings.select.auto_size:
        return settings, None
    choice = recorded or choose_max_size(settings, source)
    return settings.replace(select=replace(settings.select, max_size=choice.max_size)), choice


def choose_max_size(settings: Settings, source: FrameSource) -> SizeChoice:
    """What --max-size auto means for this input on this machine: 256 without a CUDA GPU, else measured."""
    device = resolve_device(settings.model.device)
    if device.type != "cuda":
        return without_gpu(device)
    return measure_max_size(settings, source, device=device)


def measure_max_size(settings: Settings, source: FrameSource, *, device: torch.device) -> SizeChoice:
    """Probe the candidate sizes on ``device`` with the run's first frame and choose (on any device: tests run it on the CPU)."""
    info = source.info
    # The first frame the run stylizes (its size is the source's: the selection does not depend on the working size).
    first = make_plan(info, replace(settings.select, max_size=None)).source_indices[0]
    frame = dict(source.read([first]))[first]
    temporal = settings.temporal
    probes = probe_sizes(
        frame,
        candidates((info.width, info.height)),
        model=settings.model,
        style=settings.style,
        optimize=settings.optimize,
        temporal_weight=temporal.weight if temporal.mode is TemporalMode.FLOW else None,
        device=device,
    )
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()  # the probes' memory back before the free memory is read
    return choose_size(
        probes,
        steps=settings.optimize.iterations_next,
        available_bytes=available_bytes(device),
        source_long_side=max(info.width, info.height),
        where=torch.cuda.get_device_name(device) if cuda else f"the {device.type}",
    )
