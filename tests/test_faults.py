"""The fault-injection seam (VIDSTYLE_FAULT): parsing, failing at a point, and refusing a point never reached.

Killing at every point, then resuming, is tests/pipeline/test_resume.py; here
the in-process action (fail) and the seam's own guarantees.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.mediatools import count_video_frames, make_clip
from tests.pipeline.resume_worker import fake_method, make_settings
from vidstyle.errors import EncodeError, UsageError
from vidstyle.faults import ENV, FaultAction, FaultNotReached, FaultPoint, Faults, InjectedFault
from vidstyle.pipeline.run import stylize
from vidstyle.pipeline.workdir import WorkDir


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "in.mp4", width=32, height=24, frames=8, audio=False)


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    cv2.imwrite(str(path), (np.random.default_rng(5).random((32, 32, 3)) * 255).astype(np.uint8))
    return path


def test_specs_parse_and_bad_ones_say_how_to_write_them() -> None:
    assert Faults.parse("step:3:2") == Faults(FaultPoint.STEP, (3, 2), FaultAction.KILL)
    assert Faults.parse("assemble:fail") == Faults(FaultPoint.ASSEMBLE, (), FaultAction.FAIL)
    assert Faults.parse(" encode:1 ").hit(FaultPoint.ENCODE, 1)
    assert Faults.parse("frame:2:interrupt") == Faults(FaultPoint.FRAME, (2,), FaultAction.INTERRUPT)
    once, always = Faults.parse("nan:3"), Faults.parse("nan:3:fail")
    assert once.poisons(3, 0) and not once.poisons(3, 1) and not once.poisons(2, 0)
    assert always.poisons(3, 0) and always.poisons(3, 1)
    assert not Faults().armed and not Faults.parse("frame:2").hit(FaultPoint.FRAME, 3)
    for bad, fragment in (("crash:3", "POINT"), ("step:3", "2 number"), ("frame:x", "POINT"), ("assemble:2", "0 number")):
        with pytest.raises(UsageError, match=fragment):
            Faults.parse(bad)


def test_a_failure_at_a_point_leaves_a_run_that_resumes_to_the_same_output(
    clip: Path, style: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(style=style, max_size=None, segment_frames=3)
    reference = stylize(clip, tmp_path / "reference.mp4", settings=settings, method_factory=fake_method())
    output = tmp_path / "out.mp4"
    work = tmp_path / "out.mp4.vidstyle"

    monkeypatch.setenv(ENV, "record:4:fail")
    with pytest.raises(InjectedFault, match="record:4:fail"):
        stylize(clip, output, settings=settings, method_factory=fake_method())
    # Frame 4's PNG is complete, its record is not: it does not count as done.
    assert (work / "frames" / "000004.png").is_file()
    assert [r["position"] for r in WorkDir(work).records()] == [0, 1, 2, 3]

    monkeypatch.setenv(ENV, "encode:2:fail")  # the last segment's encode fails: ffmpeg is killed, nothing half-written stays
    with pytest.raises(EncodeError, match="ffmpeg failed: failure injected"):
        stylize(clip, output, settings=settings, method_factory=fake_method())
    assert sorted(p.name for p in (work / "segments").iterdir()) == ["00000.mp4", "00001.mp4"]

    monkeypatch.delenv(ENV)
    resumed = stylize(clip, output, settings=settings, method_factory=fake_method())
    assert resumed.stylized == 0, "every frame was already done; only the last segment was left to encode"
    assert count_video_frames(output) == 8
    assert output.read_bytes() == reference.output.read_bytes()


def test_a_fault_never_reached_is_an_error(clip: Path, style: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "frame:99")  # the clip has 8 frames
    with pytest.raises(FaultNotReached, match="frame:99"):
        stylize(clip, tmp_path / "out.mp4", settings=make_settings(style=style, max_size=None), method_factory=fake_method())
    monkeypatch.setenv(ENV, "sideways:1")
    with pytest.raises(UsageError, match=ENV):
        stylize(clip, tmp_path / "other.mp4", settings=make_settings(style=style, max_size=None), method_factory=fake_method())
