"""The frame plan: which source frames are stylized, at what size, shown when.

A plan is computed once from the source's exact facts and the selection
options, then written into the manifest before the first frame, so a resumed
run follows exactly the same plan.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction

from vidstyle.config import DEFAULT_FOLDER_FPS, OutputSize, SelectConfig
from vidstyle.errors import InputError, UsageError
from vidstyle.timecode import InputPoint, parse_input_point
from vidstyle.video.pixels import canvas_size, working_size
from vidstyle.video.sources import SourceInfo, SourceKind

# Timestamps from containers are rounded to their timebase; half a millisecond
# of slack keeps "--start 2" from skipping a frame stamped 1.99995.
_EPS = 5e-4


@dataclass(frozen=True)
class FramePlan:
    source_indices: tuple[int, ...]  # source frame of each output frame, increasing
    fps: Fraction  # output frame rate (nominal rate when durations are given)
    durations: tuple[float, ...] | None  # per-frame display time for variable-rate sources
    working_size: tuple[int, int]  # (width, height) the optimization runs at
    output_size: tuple[int, int]  # (width, height) of the written frames
    audio_start: float  # seconds into the source file where the output's first frame is
    duration: float  # seconds the output lasts
    # Pixels of the frame's own edge on every side of the working frames (--edge-margin): the method stylizes
    # frames of canvas_size, the work dir stores them so, and the sink crops them back to working_size.
    # 0 in plans written before the margin (their frames had none).
    margin: int = 0

    @property
    def frame_count(self) -> int:
        return len(self.source_indices)

    @property
    def canvas_size(self) -> tuple[int, int]:
        """(width, height) of the frames the method stylizes: the working size plus the margin on every side."""
        return canvas_size(self.working_size, self.margin)


def _input_rate(info: SourceInfo, select: SelectConfig) -> Fraction:
    if info.kind is SourceKind.VIDEO:
        if info.fps is None:
            raise UsageError(f"Could not read the frame rate of {info.path}; pass --fps or re-mux the file.")
        return info.fps
    return select.fps or DEFAULT_FOLDER_FPS


def _timestamps(info: SourceInfo, rate: Fraction) -> list[float]:
    if info.timestamps is not None:
        return list(info.timestamps)
    return [float(i / rate) for i in range(info.frame_count)]


def input_times(info: SourceInfo, select: SelectConfig) -> list[float]:
    """Seconds from the start of the input of every input frame: a video's timestamps, i / rate for folders."""
    return _timestamps(info, _input_rate(info, select))


def _index_of(position: InputPoint | None, stamps: list[float], default: int, option: str) -> int:
    if position is None:
        return default
    if position.frame is not None:
        if position.frame < 0:
            raise UsageError(f"{option} must not be negative.")
        return min(position.frame, len(stamps))
    assert position.seconds is not None
    if position.seconds < 0:
        raise UsageError(f"{option} must not be negative.")
    return bisect.bisect_left(stamps, position.seconds - _EPS)


def make_plan(info: SourceInfo, select: SelectConfig) -> FramePlan:
    """Select frames and compute their timing; raises UsageError for an empty or impossible selection.

    --max-size auto must be settled first (pipeline/autosize.py settle_max_size); a caller that needs only
    which frames (not their size) passes ``replace(select, max_size=None)``.
    """
    if select.auto_size:
        raise ValueError("make_plan needs a --max-size in pixels: settle auto first (pipeline/autosize.py settle_max_size)")
    rate = _input_rate(info, select)
    stamps = _timestamps(info, rate)
    start = _index_of(parse_input_point(select.start, option="--start") if select.start else None, stamps, 0, "--start")
    end = _index_of(parse_input_point(select.end, option="--end") if select.end else None, stamps, len(stamps), "--end")
    if start >= end:
        # Name only the options given: "--end None" would read as a value the user typed.
        chosen = " ".join(f"{name} {value}" for name, value in (("--start", select.start), ("--end", select.end)) if value)
        raise UsageError(
            f"The selection {chosen} holds no frames "
            f"(the input has {info.frame_count} frames); widen it."
        )
    # Where the selected stretch ends in time: the next source frame, or the source's end.
    source_end = info.duration if info.duration is not None else stamps[-1] + float(1 / rate)
    stretch_end = stamps[end] if end < len(stamps) else source_end

    resampled = info.kind is SourceKind.VIDEO and select.fps is not None and select.fps != rate
    if resampled:
        assert select.fps is not None
        if select.fps > rate:
            raise UsageError(
                f"--fps {select.fps} is above the input's {float(rate):.6g} fps; only lower output rates are supported."
            )
        indices = _resample(stamps, start, end, stretch_end, select.fps)
        out_fps = select.fps
    else:
        indices = list(range(start, end, select.every))
        out_fps = rate / select.every
    if select.max_frames is not None:
        indices = indices[: select.max_frames]

    durations: tuple[float, ...] | None = None
    if info.is_vfr and not resampled:
        # Each frame lasts until the next selected one; the last until the
        # next source frame it stands for, or the end of the selection.
        ends = [stamps[i] for i in indices[1:]]
        following = indices[-1] + select.every
        ends.append(stamps[following] if following < end else stretch_end)
        durations = tuple(max(e - stamps[i], 1e-3) for i, e in zip(indices, ends))
        duration = sum(durations)
    else:
        duration = float(len(indices) / out_fps)

    work = working_size(info.width, info.height, select.max_size)
    _check_working_size(work, info, select.max_size)
    out = (info.width, info.height) if select.output_size is OutputSize.SOURCE else work
    audio_start = max(0.0, info.start_time - info.container_start + stamps[indices[0]])
    return FramePlan(
        source_indices=tuple(indices),
        fps=out_fps,
        durations=durations,
        working_size=work,
        output_size=out,
        audio_start=audio_start,
        duration=duration,
        margin=select.edge_margin,
    )


def _resample(stamps: list[float], start: int, end: int, stretch_end: float, fps: Fraction) -> list[int]:
    """For output times t0 + k/fps, the source frame on screen at that time (the latest one not after it)."""
    t0 = stamps[start]
    chosen: list[int] = []
    k = 0
    while True:
        t = t0 + float(k / fps)
        if t >= stretch_end - _EPS:
            break
        i = bisect.bisect_right(stamps, t + _EPS, lo=start, hi=end) - 1
        if not chosen or i > chosen[-1]:
            chosen.append(i)
        k += 1
    return chosen


# VGG19's four poolings before relu5_1 halve each side four times: a side below
# 16 px reaches zero and torch fails mid-run with "Output size is too small".
_MIN_SIDE = 16


def _check_working_size(work: tuple[int, int], info: SourceInfo, max_size: int | None) -> None:
    if min(work) >= _MIN_SIDE:
        return
    if min(info.width, info.height) < _MIN_SIDE:
        raise InputError(
            f"The input's frames are {info.width}x{info.height}; style transfer needs at least {_MIN_SIDE} pixels on each side."
        )
    need = max_size or 0
    while min(working_size(info.width, info.height, need)) < _MIN_SIDE:
        need += 1
    raise UsageError(
        f"--max-size {max_size} makes the working size {work[0]}x{work[1]}, but each side needs at least "
        f"{_MIN_SIDE} pixels; use --max-size {need} or more."
    )
