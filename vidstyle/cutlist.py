"""The cuts a user lists: ``--cuts LIST`` ("48f,120f", "0:02.5,12.5s") and PySceneDetect scene-list CSVs.

Plain text in, :class:`InputPoint` out (timecode.py reads each item, as it
reads --start and --end): no media, no numpy, nothing above errors.py, so
config.py can refuse a malformed LIST the moment the settings are made, and
pipeline/shots.py maps the cuts to plan positions.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from vidstyle.errors import UsageError
from vidstyle.timecode import InputPoint, parse_input_point, seconds_of

_LIST_EXAMPLE = "48f,120f (input frames; also '#48') or 0:02.5,1:10,12.5 (seconds)"


def parse_cut_list(text: str) -> tuple[InputPoint, ...]:
    """Parse a comma-separated LIST of cuts; UsageError with an example when it is malformed.

    Each item is a frame or a time as --start takes it (vidstyle/timecode.py).
    A path ending in ``.csv`` is not a LIST: it names a scene list (see
    ``read_scene_list``).
    """
    items = text.split(",")
    cuts = []
    for item in items:
        word = item.strip()
        if word.isdigit():
            # Before --start, --end and --cuts read a bare number alike, --cuts read "48" as frame 48.
            # It would now be 48 seconds: refused, so an old command line cannot cut somewhere else silently.
            raise UsageError(
                f"--cuts {word}: a bare number is now seconds, as in --start (it was a frame in --cuts); "
                f"write {word}f (or '#{word}') for frame {word}, or {word}s for {word} seconds."
            )
        try:
            cuts.append(parse_input_point(word, option="--cuts"))
        except UsageError:
            shown = f"{text!r}: {word!r}" if len(items) > 1 else repr(text)
            raise UsageError(
                f"--cuts {shown} is not a frame or a time; pass 'auto', 'off', a PySceneDetect "
                f"scene-list .csv, or cuts separated by commas, e.g. {_LIST_EXAMPLE}."
            ) from None
    return tuple(cuts)


def mark_bare_frames(text: str) -> str:
    """A LIST as an earlier vidstyle read it, written as this one reads it the same way: "48,12.5" -> "48f,12.5".

    For manifests written before a bare number meant seconds in --cuts, so
    their runs resume with the cuts they were planned with. Anything else
    (auto, off, a scene-list path, a LIST with no bare whole number) is returned as it is.
    """
    items = text.split(",")
    if not any(item.strip().isdigit() for item in items):
        return text
    return ",".join(f"{item.strip()}f" if item.strip().isdigit() else item for item in items)


def read_scene_list(path: Path | str) -> tuple[InputPoint, ...]:
    """The cuts of a PySceneDetect scene-list CSV (``scenedetect ... list-scenes``).

    The start of every scene but the first is a cut. PySceneDetect numbers
    frames from 1 in this file ("Start Frame" of the first scene of a clip is
    1), so frame numbers are converted to our 0-based input indices by
    subtracting 1. Without a "Start Frame" column, "Start Time (seconds)" or
    "Start Timecode" is used. The optional first row ("Timecode List:", ...)
    is skipped, as PySceneDetect's own ``load-scenes`` does.
    """
    path = Path(path)
    how = "write one with `scenedetect -i VIDEO detect-adaptive list-scenes`, or pass the cuts as a list, e.g. 48f,120f"
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

    starts: list[InputPoint] = []
    for number, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        value = row[index].strip() if index < len(row) else ""
        cut: InputPoint | None = None
        if column == "Start Frame":
            if value.isdigit() and int(value) >= 1:
                cut = InputPoint(frame=int(value) - 1)
        else:  # "Start Timecode" or "Start Time (seconds)": read as --start reads a time
            seconds = seconds_of(value)
            cut = InputPoint(seconds=seconds) if seconds is not None else None
        if cut is None:
            raise UsageError(f"--cuts {path}, row {number}: {column} {value!r} is not valid; fix the file or {how}.")
        starts.append(cut)
    starts.sort(key=lambda cut: cut.frame if cut.frame is not None else cut.seconds)  # type: ignore[arg-type,return-value]
    return tuple(starts[1:])
