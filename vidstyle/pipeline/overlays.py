"""--protect-overlays auto in a run: detect each shot's overlay once, keep the masks in the work dir.

The detector is video/overlays.py; this module runs it over a run's shots and
keeps what it found in ``<work dir>/overlays/``:

* ``shot-NNN.png`` per shot (NNN its 0-based index), at the analysis size
  (at most 256 px), in --mask's convention: white is stylized, black is kept
  from the input; all white when nothing was found. A user can look at it,
  edit it and pass it back with ``--mask`` (it is resized to the output).
* ``shots.json``: per shot its first and last plan position, what was
  protected and why (the detector's reason).

A resumed run reads them back rather than looking again: the same masks
however often it is interrupted (the detector is deterministic too, so a
file lost with a kill is made again the same). The sinks blend each written
frame with its source by its shot's mask (video/masks.py FrameMasks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from vidstyle.files import write_image_atomic, write_json_atomic
from vidstyle.pipeline.chains import RunPlan
from vidstyle.video.overlays import (
    DETECTOR_VERSION,
    OVERLAYS_FOLDER,
    OverlayDetection,
    OverlaySpec,
    detect_in_shots,
    shot_mask_path,
    to_mask_image,
)
from vidstyle.video.sources import FrameSource

SUMMARY = "shots.json"


@dataclass(frozen=True)
class ShotOverlay:
    shot: int
    start: int
    stop: int
    protected: float  # fraction of the frame kept from the source
    reason: str


@dataclass(frozen=True)
class Overlays:
    spec: OverlaySpec
    shots: tuple[ShotOverlay, ...]
    folder: Path

    def summary(self) -> str:
        """One line for the run's notices."""
        found = [s for s in self.shots if s.protected > 0]
        count = len(self.shots)
        if not found:
            return f"--protect-overlays: no still overlay found in {'the shot' if count == 1 else f'any of the {count} shots'}; every pixel is stylized."
        which = "the shot" if count == 1 else f"{len(found)} of {count} shots"
        largest = max(s.protected for s in found)
        return (
            f"--protect-overlays: an overlay is kept from the input in {which} (up to {largest:.1%} of the frame); "
            f"its masks are in {self.folder} (kept after the run with --keep-work)."
        )


def _read(folder: Path, plan: RunPlan) -> Overlays | None:
    """What an earlier attempt of this run wrote, when it is complete and for these shots."""
    try:
        data = json.loads((folder / SUMMARY).read_text())
        shots = tuple(ShotOverlay(**entry) for entry in data["shots"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if data.get("detector") != DETECTOR_VERSION or [(s.start, s.stop) for s in shots] != [(s.start, s.stop) for s in plan.shots]:
        return None
    # Written atomically before the summary; one that no longer decodes (a damaged disk) means: detect again.
    if not all(cv2.imread(str(shot_mask_path(folder, s.shot)), cv2.IMREAD_GRAYSCALE) is not None for s in shots):
        return None
    return _overlays(folder, plan, shots)


def _overlays(folder: Path, plan: RunPlan, shots: Sequence[ShotOverlay]) -> Overlays:
    files = tuple(shot_mask_path(folder, s.shot) if s.protected > 0 else None for s in shots)
    spec = OverlaySpec(starts=tuple(s.start for s in plan.shots), files=files)
    return Overlays(spec=spec, shots=tuple(shots), folder=folder)


def detect_for_plan(source: FrameSource, plan: RunPlan, *, before_frame: Callable[[], None] | None = None) -> list[OverlayDetection]:
    """The detector on every shot of ``plan`` (its sampled frames decoded in one pass)."""
    return detect_in_shots(source, plan.frames.source_indices, [(s.start, s.stop) for s in plan.shots], before_frame=before_frame)


def protect_overlays(
    source: FrameSource, plan: RunPlan, work_root: Path, *, before_frame: Callable[[], None] | None = None
) -> Overlays:
    """The run's overlay masks: read back from ``work_root``'s overlays/ when an earlier attempt wrote them, else detected and written."""
    folder = work_root / OVERLAYS_FOLDER
    found = _read(folder, plan)
    if found is not None:
        return found
    detections = detect_for_plan(source, plan, before_frame=before_frame)
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for shot, detection in zip(plan.shots, detections):
        write_image_atomic(shot_mask_path(folder, shot.index), to_mask_image(detection))
        shots.append(ShotOverlay(shot.index, shot.start, shot.stop, round(detection.protected, 6), detection.reason))
    # The summary last: its presence says every mask before it is complete.
    write_json_atomic(folder / SUMMARY, {"detector": DETECTOR_VERSION, "shots": [s.__dict__ for s in shots]})
    return _overlays(folder, plan, shots)


__all__ = ["Overlays", "ShotOverlay", "detect_for_plan", "protect_overlays"]
