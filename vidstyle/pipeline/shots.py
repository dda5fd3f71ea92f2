"""Shots: where the chain of warm-started frames must break.

Every frame of a chain starts from the previous stylized frame, warped along
the flow, and a temporal term pins the pixels the flow vouches for. Across a
scene cut that carries the last shot's painting into the next one, so a run
is split into shots first and every shot starts cold. ``find_cuts`` returns
the first frame of every shot but the first, as plan positions (0-based
indices into the run's selected frames):

* ``cuts="auto"``: one pass over the selected frames, shrunk to at most
  ``DETECTION_SIZE`` px, through two of PySceneDetect's detectors, fed our
  own decoded frames: ``AdaptiveDetector`` (HSV content change against a
  rolling average, for hard cuts; ``ShotsConfig.cut_threshold`` is its
  ratio) and ``ThresholdDetector`` (fades to black: the cut goes to the
  first dark frame, so no painting survives the black). Beside them, the
  photometric reliability check: DIS flow between consecutive small frames,
  the forward-backward and motion-boundary checks of temporal/masks.py plus
  the photometric one; a frame whose reliable fraction falls below
  ``min_reliable_fraction`` starts a new shot (flashes, explosions, and the
  cuts the detectors cannot see: the two frames after the first and the last
  two, which AdaptiveDetector's window does not reach). Of a run of such
  frames, only the first and the last start shots (see ``_ends_of_runs``).
* ``cuts="off"``: no cuts; the frames are not even looked at.
* a LIST ("48,120", "0:02.5,#300,12.5s") or the path of a PySceneDetect
  scene-list CSV (``*.csv``): the given cuts, mapped to plan positions.

``scan_for_cuts`` is that pass over a source's selected frames, with its
progress events: what a run (pipeline/run.py) and a preview
(pipeline/preview.py) both call, so a preview finds the run's shots.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scenedetect import FrameTimecode, StatsManager
from scenedetect.detectors import AdaptiveDetector, ThresholdDetector

from vidstyle.config import CutsMode, FlowPreset, ShotsConfig
from vidstyle.cutlist import parse_cut_list, read_scene_list
from vidstyle.pipeline.plan import FramePlan
from vidstyle.timecode import InputPoint
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.masks import photometric_mask, reliability_mask, reliable_fraction
from vidstyle.video.pixels import resize, working_size
from vidstyle.video.sources import FrameSource

# Long side of the frames the detection pass looks at. PySceneDetect itself
# shrinks frames to about 256 px wide before detecting; the flow for the
# photometric check costs ~6 ms per direction at this size (temporal/flow.py),
# a few percent of one optimisation step.
DETECTION_SIZE = 256

# Shortest shot the detectors report, in seconds: PySceneDetect's default of
# 15 frames at 25 fps. It is given in time, not frames, so that --every or
# --fps do not stretch it. Photometric cuts have no such minimum: a frame
# that cannot be derived from the previous one must start cold.
MIN_SHOT_SECONDS = 0.6

# ThresholdDetector's default: a frame whose mean 8-bit level is below this
# is faded out. The fade cut goes to the first such frame (fade_bias -1), so
# the dark frames and the fade-in belong to the new shot and start cold.
FADE_LEVEL = 12

# Listed cuts at a time within this of a frame's timestamp land on that
# frame (container timestamps are rounded to their timebase), as in plan.py.
_EPS = 5e-4

# describe_shots lists at most this many cut times.
_MAX_LISTED = 10


class CutReason(str, Enum):
    DETECTED = "detected"  # a detector found a hard cut or a fade to black
    LISTED = "listed"  # given by the user (LIST or scene-list CSV)
    PHOTOMETRIC = "photometric"  # too little of the frame could be derived from the previous one


@dataclass(frozen=True)
class Cut:
    """The start of a new shot."""

    position: int  # plan position of the first frame of the new shot; never 0
    reason: CutReason
    # DETECTED: AdaptiveDetector's ratio for a hard cut (compared with
    # cut_threshold), or the frame's mean 8-bit level for a fade to black
    # (below FADE_LEVEL); PHOTOMETRIC: the frame's reliable fraction;
    # LISTED: nan.
    score: float


def map_listed_cuts(listed: Iterable[InputPoint], *, source_indices: Sequence[int], times: Sequence[float]) -> list[int]:
    """Plan positions of listed cuts: sorted, unique, never 0.

    A cut between two selected frames goes to the next selected frame (with
    --every 5, a cut at input frame 7 starts the new shot at frame 10). Cuts
    at or before the first selected frame, and after the last, are dropped:
    the selection starts a shot anyway, and nothing follows the end.
    """
    n = len(source_indices)
    positions = set()
    for cut in listed:
        if cut.frame is not None:
            position = bisect.bisect_left(source_indices, cut.frame)
        else:
            assert cut.seconds is not None
            position = bisect.bisect_left(times, cut.seconds - _EPS)
        if 0 < position < n:
            positions.add(position)
    return sorted(positions)


# ------------------------------------------------------------------- detection


def _small(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected BGR uint8 frames of shape (H, W, 3), got {frame.dtype} {frame.shape}")
    if size is None:
        height, width = frame.shape[:2]
        size = working_size(width, height, DETECTION_SIZE, even=False)
    return np.ascontiguousarray(resize(frame, size))


def _selection_rate(times: Sequence[float]) -> float:
    """Selected frames per second (the nominal rate the detectors count in)."""
    if len(times) >= 2 and times[-1] > times[0]:
        return (len(times) - 1) / (times[-1] - times[0])
    return 25.0


class _Detectors:
    """PySceneDetect's AdaptiveDetector (hard cuts) and ThresholdDetector (fades to black), fed one frame at a time.

    The detectors count in frame numbers; we give them plan positions at the
    selection's mean rate, so a cut they report is a plan position. Their
    scores come back through a StatsManager, their public way of exposing them.
    """

    def __init__(self, config: ShotsConfig, rate: float) -> None:
        self.rate = rate
        self.min_len = max(1, round(MIN_SHOT_SECONDS * rate))
        self.adaptive = AdaptiveDetector(adaptive_threshold=config.cut_threshold, min_scene_len=self.min_len)
        self.fades = ThresholdDetector(threshold=FADE_LEVEL, min_scene_len=self.min_len, fade_bias=-1.0)
        self.stats = StatsManager()
        self.adaptive.stats_manager = self.stats
        self.fades.stats_manager = self.stats
        # AdaptiveDetector's last metric key is its ratio ("adaptive_ratio (w=2)").
        self.ratio_key = self.adaptive.get_metrics()[-1]
        self.cuts: dict[int, Cut] = {}
        self.last = 0

    def _timecode(self, position: int) -> FrameTimecode:
        return FrameTimecode(position, fps=self.rate)

    def _score(self, timecode: FrameTimecode, key: str) -> float:
        value = self.stats.get_metrics(timecode, [key])[0]
        return float(value) if value is not None else math.nan

    def _add_content(self, timecodes: Iterable[FrameTimecode]) -> None:
        for timecode in timecodes:
            ratio = self._score(timecode, self.ratio_key)
            self.cuts[timecode.frame_num] = Cut(timecode.frame_num, CutReason.DETECTED, ratio)

    def _add_fades(self, timecodes: Iterable[FrameTimecode]) -> None:
        for timecode in timecodes:
            if timecode.frame_num not in self.cuts:
                level = self._score(timecode, ThresholdDetector.THRESHOLD_VALUE_KEY)
                self.cuts[timecode.frame_num] = Cut(timecode.frame_num, CutReason.DETECTED, level)

    def feed(self, position: int, frame: np.ndarray) -> None:
        timecode = self._timecode(position)
        self._add_content(self.adaptive.process_frame(timecode, frame))
        self._add_fades(self.fades.process_frame(timecode, frame))
        self.last = position

    def finish(self) -> list[Cut]:
        timecode = self._timecode(self.last)
        self._add_content(self.adaptive.post_process(timecode))
        self._add_fades(self.fades.post_process(timecode))
        # Each detector keeps its own cuts min_len apart; across the two the
        # earlier cut wins too (a hard cut into black is seen by both, one
        # frame apart at times), as PySceneDetect's min_scene_len would.
        kept: list[Cut] = []
        for position in sorted(self.cuts):
            if position > 0 and (not kept or position - kept[-1].position >= self.min_len):
                kept.append(self.cuts[position])
        return kept


def find_cuts(
    frames: Iterable[np.ndarray],
    *,
    config: ShotsConfig,
    source_indices: Sequence[int],
    times: Sequence[float],
    flow_preset: FlowPreset = FlowPreset.MEDIUM,
) -> list[Cut]:
    """The cuts of a run's selection, sorted by position, one per position.

    ``frames`` yields the selected frames in plan order (BGR uint8, any size;
    they are shrunk here to at most ``DETECTION_SIZE`` px); ``source_indices[i]``
    is the input frame index of plan position i and ``times[i]`` its time in
    seconds from the start of the input. ``frames`` is only consumed with
    ``cuts="auto"``; ``"off"`` returns [] and a LIST or scene list maps the
    given cuts with ``map_listed_cuts`` (frame numbers are input frame
    indices, 0-based in a LIST, 1-based in a PySceneDetect CSV as it writes
    them; times are input times).

    With "auto", where a detector and the photometric check fire on the same
    frame, the cut is reported as DETECTED. ``flow_preset`` should be the
    run's, so that the check sees the flow the temporal term will use.
    Raises UsageError for an unusable LIST or scene list, ValueError when
    ``frames`` does not yield one frame per position.
    """
    if len(source_indices) != len(times):
        raise ValueError(f"{len(source_indices)} source indices but {len(times)} times")
    mode = config.mode
    if mode is CutsMode.OFF:
        return []
    if mode is None:
        scene_list = config.scene_list
        listed = read_scene_list(scene_list) if scene_list is not None else parse_cut_list(config.cuts)
        positions = map_listed_cuts(listed, source_indices=source_indices, times=times)
        return [Cut(position, CutReason.LISTED, math.nan) for position in positions]

    detectors = _Detectors(config, _selection_rate(times))
    check_photometric = config.min_reliable_fraction > 0.0
    estimator = FlowEstimator(flow_preset)
    unreliable: list[Cut] = []
    size: tuple[int, int] | None = None
    previous: np.ndarray | None = None
    count = 0
    for position, frame in enumerate(frames):
        if position >= len(source_indices):
            raise ValueError(f"frames yielded more than the {len(source_indices)} planned")
        small = _small(frame, size)
        size = (small.shape[1], small.shape[0])
        detectors.feed(position, small)
        if check_photometric and previous is not None:
            fraction = _reliable_fraction(previous, small, estimator, config.photometric_threshold)
            if fraction < config.min_reliable_fraction:
                unreliable.append(Cut(position, CutReason.PHOTOMETRIC, fraction))
        previous = small
        count = position + 1
    if count != len(source_indices):
        raise ValueError(f"frames yielded {count} frames for {len(source_indices)} planned positions")
    if count == 0:
        return []
    cuts = {cut.position: cut for cut in _ends_of_runs(unreliable)}
    cuts.update({cut.position: cut for cut in detectors.finish()})
    return [cuts[position] for position in sorted(cuts)]


def scan_for_cuts(
    source: FrameSource,
    plan: FramePlan,
    times: Sequence[float],
    *,
    config: ShotsConfig,
    flow_preset: FlowPreset = FlowPreset.MEDIUM,
    on_progress: Callable[[int, int], None] | None = None,
    before_frame: Callable[[], None] | None = None,
) -> list[Cut]:
    """``find_cuts`` over the selected frames of ``source`` (``plan``), decoding them only with ``cuts="auto"``.

    ``times[i]`` is the input time of plan position i. The detection pass
    calls ``on_progress(frames_done, total)`` about a hundred times and once
    at the end (the callers' CutScan events; this module stays below the
    events); ``before_frame`` is called before each frame it hands on, so a
    caller can stop the pass by raising (a run's Interrupted).
    """

    def frames() -> Iterator[np.ndarray]:
        total = plan.frame_count
        every = max(1, total // 100)
        for done, (_, frame) in enumerate(source.read(plan.source_indices)):
            if before_frame is not None:
                before_frame()
            if on_progress is not None and done % every == 0:
                on_progress(done, total)
            yield frame
        if on_progress is not None:
            on_progress(total, total)

    return find_cuts(frames(), config=config, source_indices=plan.source_indices, times=times, flow_preset=flow_preset)


def _ends_of_runs(unreliable: list[Cut]) -> list[Cut]:
    """The first and the last frame of every run of consecutive unreliable frames.

    A hard cut is a run of one frame. A flash, an explosion or a fade-in from
    black (where DIS loses track as the brightness changes) makes a run of
    several: the first frame starts cold because it cannot come from the
    previous one, and the last because the picture settles there. The frames
    in between stay warm-started, with every pixel that failed a check
    started from its content and not held by the temporal term
    (methods/optimize.py), so no painting leaks through them; cutting at each
    of them would restart the style on consecutive frames (flicker) at the
    cost of a first frame each.
    """
    kept: list[Cut] = []
    for index, cut in enumerate(unreliable):
        starts_run = index == 0 or unreliable[index - 1].position != cut.position - 1
        ends_run = index == len(unreliable) - 1 or unreliable[index + 1].position != cut.position + 1
        if starts_run or ends_run:
            kept.append(cut)
    return kept


def _reliable_fraction(previous: np.ndarray, current: np.ndarray, estimator: FlowEstimator, threshold: float) -> float:
    """Share of ``current`` the temporal term could hold: flow-consistent and photometrically unchanged."""
    pair = estimator.pair(previous, current)
    mask = reliability_mask(pair.backward, pair.forward)
    np.minimum(mask, photometric_mask(previous, current, pair.backward, threshold=threshold), out=mask)
    return reliable_fraction(mask)


# ------------------------------------------------------------------ reporting


def format_time(seconds: float, *, decimals: int = 1) -> str:
    """0:01.0, 12:34.5, 1:02:03.4 (``decimals`` digits of the seconds)."""
    scale = 10**decimals
    ticks = max(0, round(seconds * scale))
    minutes, second_ticks = divmod(ticks, 60 * scale)
    hours, minutes = divmod(minutes, 60)
    whole, fraction = divmod(second_ticks, scale)
    clock = f"{whole:02d}" + (f".{fraction:0{decimals}d}" if decimals else "")
    return f"{hours}:{minutes:02d}:{clock}" if hours else f"{minutes}:{clock}"


def describe_shots(cuts: Sequence[Cut], times: Sequence[float], frame_count: int) -> str:
    """The shots in a line: "3 shots; cuts at 0:01.0, 0:06.0", or "1 shot".

    A cut is shown as the time of the first frame of its shot.

    Tenths of a second, or as many more digits (up to milliseconds) as it
    takes to tell close cuts apart; at most 10 times are listed.
    """
    for cut in cuts:
        if not 0 < cut.position < frame_count:
            raise ValueError(f"cut at position {cut.position} outside 1..{frame_count - 1}")
    if frame_count <= 0:
        return "0 shots"
    if not cuts:
        return "1 shot"
    ordered = sorted(cuts, key=lambda cut: cut.position)
    starts = [times[cut.position] for cut in ordered[:_MAX_LISTED]]
    for decimals in (1, 2, 3):
        shown = [format_time(start, decimals=decimals) for start in starts]
        if len(set(shown)) == len(shown):
            break
    more = f" and {len(ordered) - _MAX_LISTED} more" if len(ordered) > _MAX_LISTED else ""
    return f"{len(ordered) + 1} shots; cuts at {', '.join(shown)}{more}"
