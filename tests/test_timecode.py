"""--start, --end and --cuts read a point of the input one way: a bare number is seconds, a frame is marked."""

from __future__ import annotations

import pytest

from vidstyle.config import SelectConfig, ShotsConfig
from vidstyle.cutlist import parse_cut_list, read_scene_list
from vidstyle.errors import UsageError
from vidstyle.timecode import InputPoint, parse_input_point


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("12", InputPoint(seconds=12.0)),  # bare whole number: seconds, as ffmpeg's -ss
        ("12.5", InputPoint(seconds=12.5)),
        (" 12.5s ", InputPoint(seconds=12.5)),
        (".5", InputPoint(seconds=0.5)),
        ("1:02.5", InputPoint(seconds=62.5)),  # MM:SS
        ("01:02:03.5", InputPoint(seconds=3723.5)),  # HH:MM:SS, as PySceneDetect writes timecodes
        ("#48", InputPoint(frame=48)),
        ("48f", InputPoint(frame=48)),
        ("48F", InputPoint(frame=48)),
    ],
)
def test_every_form_means_the_same_in_start_end_and_cuts(text: str, point: InputPoint) -> None:
    assert parse_input_point(text, option="--start") == point
    if text.strip().isdigit():  # in --cuts it meant a frame before: refused there (the test below)
        with pytest.raises(UsageError, match="a bare number is now seconds"):
            parse_cut_list(text)
    else:
        assert parse_cut_list(text) == (point,)
    SelectConfig(start=text, end=text)  # accepted where the settings are made


@pytest.mark.parametrize("text", ["soon", "-5", "1:2:3:4", "12.5.3", "1:75", "#", "f", "48x"])
def test_a_malformed_start_is_refused_when_the_settings_are_made(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--end .* is not a time or a frame; use seconds \(12, .*\) or a frame \(#48, 48f\)\.$"):
        SelectConfig(end=text)


@pytest.mark.parametrize("listed", ["48", "12.5,48", "#3, 120"])
def test_a_bare_whole_number_in_cuts_is_refused_with_how_to_write_it(listed: str) -> None:
    """It meant a frame in --cuts before and would mean seconds now: refused, not moved."""
    with pytest.raises(UsageError) as error:
        ShotsConfig(cuts=listed)
    number = next(part.strip() for part in listed.split(",") if part.strip().isdigit())
    message = str(error.value)
    assert "\n" not in message
    assert f"write {number}f (or '#{number}') for frame {number}, or {number}s for {number} seconds" in message


def test_scene_list_times_are_read_as_start_reads_them(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "scenes.csv"
    path.write_text("Scene Number,Start Timecode\n1,00:00:00.000\n2,00:00:02.500\n3,00:01:00.000\n")
    assert read_scene_list(path) == (InputPoint(seconds=2.5), InputPoint(seconds=60.0))
    path.write_text("Scene Number,Start Time (seconds)\n1,0.000\n2,2\n")
    assert read_scene_list(path) == (InputPoint(seconds=2.0),)
