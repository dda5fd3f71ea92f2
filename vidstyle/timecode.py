"""A point of the input as a user writes it, for --start, --end and --cuts alike: a time, or a marked frame.

A bare number is seconds everywhere ("12", "12.5", "12.5s"), as ffmpeg's
-ss/-to read it and as --start and --end always did; so are timecodes
("1:02.5", "01:02:03.5"). A frame is marked: "#48" or "48f" (an input frame
index, counted from 0). The time forms are parsed by PySceneDetect's
FrameTimecode, so a timecode copied from its scene list or its CLI means the
same here.

--cuts read a bare whole number ("48") as a frame before this one reading
existed; such an item is refused with the two ways to write it (cutlist.py),
rather than silently moved to another place in the clip.

Plain text in, :class:`InputPoint` out: layer 0 (nothing above errors.py),
so config.py can refuse a malformed value the moment the settings are made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vidstyle.errors import UsageError

FORMS = "seconds (12, 12.5, 12.5s, 1:02.5) or a frame (#48, 48f)"
_FRAME = re.compile(r"^(?:#(\d+)|(\d+)f)$")


@dataclass(frozen=True)
class InputPoint:
    """A point of the input: an input frame index (0-based) or seconds from the input's start; exactly one is set.

    Not a plan position (an index into the frames a run stylizes): pipeline/plan.py
    and pipeline/shots.py map an InputPoint to one against the input's timestamps.
    """

    frame: int | None = None
    seconds: float | None = None


def parse_input_point(text: str, *, option: str) -> InputPoint:
    """``text`` as an InputPoint; UsageError naming ``option`` and the accepted forms when it is neither."""
    raw = text.strip().lower()
    match = _FRAME.match(raw)
    if match:
        return InputPoint(frame=int(match.group(1) or match.group(2)))
    seconds = seconds_of(raw)
    if seconds is None:
        raise UsageError(f"{option} {text!r} is not a time or a frame; use {FORMS}.")
    return InputPoint(seconds=seconds)


def seconds_of(text: str) -> float | None:
    """Seconds of a time written as a number ("12", "12.5", "12.5s") or a timecode ("1:02.5"); None if it is neither."""
    raw = text.strip().lower()
    if raw.isdigit():
        # FrameTimecode reads a bare whole number as a frame count; ours is seconds (the module's docstring says why).
        return float(raw)
    # Imported here: scenedetect imports its detectors and OpenCV (about a second), which `vidstyle --help` need not pay.
    from scenedetect import FrameTimecode

    try:
        # The rate only converts to frames, which we never ask for: a time string is kept as seconds exactly.
        return FrameTimecode(raw, fps=1000.0).seconds
    except (ValueError, TypeError):
        return None
