"""The cuts a user lists: ``--cuts LIST`` ("48,120", "0:02.5,#300,12.5s") and PySceneDetect scene-list CSVs.

Plain text in, :class:`ListedCut` out: no media, no numpy, nothing above
errors.py, so config.py can refuse a malformed LIST the moment the settings
are made, and pipeline/shots.py maps the cuts to plan positions.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from vidstyle.errors import UsageError

_LIST_EXAMPLE = "48,120 (input frames; also #48 or 48f) or 0:02.5,1:10,12.5s (times)"


@dataclass(frozen=True)
class ListedCut:
    """One cut of a LIST or scene list: an input frame index (0-based) or an input time in seconds."""

    frame: int | None = None
    seconds: float | None = None


# ------------------------------------------------------------------ LIST input

_TIMECODE = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_FRAME = re.compile(r"^(?:#(\d+)|(\d+)f?)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)s?$")


def _parse_item(item: str) -> ListedCut | None:
    raw = item.strip().lower()
    match = _FRAME.match(raw)
    if match:
        return ListedCut(frame=int(match.group(1) or match.group(2)))
    match = _TIMECODE.match(raw)
    if match:
        hours, minutes, seconds = match.groups()
        return ListedCut(seconds=int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds))
    match = _SECONDS.match(raw)
    if match:
        return ListedCut(seconds=float(match.group(1)))
    return None


def parse_cut_list(text: str) -> tuple[ListedCut, ...]:
    """Parse a comma-separated LIST of cuts; UsageError with an example when it is malformed.

    As in PySceneDetect, a whole number is an input frame index ("48"; also
    "#48" or "48f", as --start takes them) and anything with a decimal point,
    an "s" or colons is a time in seconds from the start of the input
    ("12.5", "12.5s", "0:02.5", "1:02:03.5"). A path ending in ``.csv`` is not
    a LIST: it names a scene list (see ``read_scene_list``).
    """
    items = text.split(",")
    cuts = []
    for item in items:
        cut = _parse_item(item)
        if cut is None:
            shown = f"{text!r}: {item.strip()!r}" if len(items) > 1 else repr(text)
            raise UsageError(
                f"--cuts {shown} is not a frame or a time; pass 'auto', 'off', a PySceneDetect "
                f"scene-list .csv, or cuts separated by commas, e.g. {_LIST_EXAMPLE}."
            )
        cuts.append(cut)
    return tuple(cuts)


def read_scene_list(path: Path | str) -> tuple[ListedCut, ...]:
    """The cuts of a PySceneDetect scene-list CSV (``scenedetect ... list-scenes``).

    The start of every scene but the first is a cut. PySceneDetect numbers
    frames from 1 in this file ("Start Frame" of the first scene of a clip is
    1), so frame numbers are converted to our 0-based input indices by
    subtracting 1. Without a "Start Frame" column, "Start Time (seconds)" or
    "Start Timecode" is used. The optional first row ("Timecode List:", ...)
    is skipped, as PySceneDetect's own ``load-scenes`` does.
    """
    path = Path(path)
    how = "write one with `scenedetect -i VIDEO detect-adaptive list-scenes`, or pass the cuts as a list, e.g. 48,120"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"--cuts {path}: no such scene-list file; {how}.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--cuts {path} cannot be read ({error}); {how}.") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    columns = ("Start Frame", "Start Time (seconds)", "Start Timecode")
    for header_index, header in enumerate(rows[:2]):
        names = [cell.strip() for cell in header]
        found = [name for name in columns if name in names]
        if found:
            column = found[0]
            index = names.index(column)
            break
    else:
        raise UsageError(f"--cuts {path} is not a PySceneDetect scene list (no 'Start Frame' column); {how}.")

    starts: list[ListedCut] = []
    for number, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        value = row[index].strip() if index < len(row) else ""
        cut: ListedCut | None = None
        if column == "Start Frame":
            if value.isdigit() and int(value) >= 1:
                cut = ListedCut(frame=int(value) - 1)
        elif column == "Start Timecode":
            match = _TIMECODE.match(value)
            if match:
                hours, minutes, seconds = match.groups()
                cut = ListedCut(seconds=int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds))
        elif _SECONDS.match(value):
            cut = ListedCut(seconds=float(value.rstrip("s")))
        if cut is None:
            raise UsageError(f"--cuts {path}, row {number}: {column} {value!r} is not valid; fix the file or {how}.")
        starts.append(cut)
    starts.sort(key=lambda cut: cut.frame if cut.frame is not None else cut.seconds)  # type: ignore[arg-type,return-value]
    return tuple(starts[1:])
