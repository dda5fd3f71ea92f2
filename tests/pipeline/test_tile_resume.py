"""--tile-size auto decides from the memory free when a run begins; a resume keeps that choice.

Tiles change a frame's pixels slightly, so a resumed run must never mix
tiled frames with whole ones, even when the memory free has changed between
the two (another program closed, a larger GPU). The choice is stored in the
run's fingerprint ("tiles"), and the resumed run builds its method with it.
A stand-in method factory plays the memory check: it says which tile size
``auto`` would pick now.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.mediatools import make_clip
from tests.pipeline.resume_worker import FakeStylizer, make_settings
from vidstyle.config import TILE_AUTO, TILE_OFF, Settings
from vidstyle.methods.optimize import OptimizeMethod
from vidstyle.pipeline.events import FrameDone
from vidstyle.pipeline.run import resume, stylize


class Memory:
    """What --tile-size auto would choose now (None: whole), and the tile setting each method was built with."""

    def __init__(self, auto: int | None) -> None:
        self.auto = auto
        self.given: list[int | str] = []

    def factory(self, settings: Settings, working_size: tuple[int, int]) -> OptimizeMethod:
        asked = settings.model.tile_size
        self.given.append(asked)
        tile = self.auto if asked == TILE_AUTO else None if asked == TILE_OFF else int(asked)
        return OptimizeMethod(
            FakeStylizer(), settings=settings, working_size=working_size, device=torch.device("cpu"), identity="fake-core-1", tile=tile
        )


def _crash_after_first_frame(event: object) -> None:
    if isinstance(event, FrameDone):
        raise RuntimeError("stands in for a crash after the first frame")


@pytest.mark.parametrize(("begun", "now", "kept"), [(64, None, 64), (None, 64, TILE_OFF)])
def test_a_resume_keeps_the_tile_choice_the_run_began_with(tmp_path: Path, style: Path, begun, now, kept) -> None:  # noqa: ANN001
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=4, fps="24")
    output = tmp_path / "out.mp4"
    settings = make_settings(style=style, max_size=32, segment_frames=2, cuts="off")
    memory = Memory(begun)
    with pytest.raises(RuntimeError, match="stands in for a crash"):
        stylize(clip, output, settings=settings, on_event=_crash_after_first_frame, method_factory=memory.factory)
    work = tmp_path / "out.mp4.vidstyle"
    fingerprint = json.loads((work / "manifest.json").read_text())["fingerprint"]
    assert fingerprint.get("tiles") == begun  # absent for whole frames
    memory.auto, memory.given = now, []
    result = resume(work, method_factory=memory.factory)
    assert result.frames == 4 and output.is_file()
    assert memory.given and set(memory.given) == {kept}, "the resumed run chose again instead of keeping the first choice"
