"""A resume sees every byte of its input: a same-size edit in the middle of the input is refused.

Before, the input fingerprint hashed only the size and the first and last MiB
of each file, so an edit in the middle of a larger file went unnoticed and a
resumed run mixed frames of the old input with frames of the new one. Each
case here edits bytes that the old sparse hash never read (asserted), between
an interrupted run and its resume, and expects the refusal of a changed input
(InputChanged, exit 1, the command that starts over) with the work dir left
byte for byte as it was.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.mediatools import ffmpeg_exe
from tests.pipeline.resume_worker import fake_method, make_settings
from vidstyle.cli import app
from vidstyle.errors import InputChanged
from vidstyle.invocation import command_prefix
from vidstyle.pipeline.events import FrameDone
from vidstyle.pipeline.fingerprint import differences, input_fingerprint
from vidstyle.pipeline.run import resume, stylize
from vidstyle.pipeline.worklock import LOCK

MIB = 1 << 20


def _raw_clip(path: Path, frames: int) -> Path:
    """An uncompressed clip (640x480 rawvideo, 460 KB a frame): a same-size edit of its middle is a valid picture."""
    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", "testsrc2=size=640x480:rate=24", "-frames:v", str(frames),
            "-c:v", "rawvideo", "-pix_fmt", "bgr24", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def _bmp_frames(folder: Path, count: int) -> list[Path]:
    """Uncompressed frames over 2 MiB each (1024x768 BMP), so the old hash skipped their middles."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    paths = []
    for index in range(count):
        path = folder / f"frame_{index:03d}.bmp"
        assert cv2.imwrite(str(path), rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8))
        paths.append(path)
    return paths


def _stop_after_first_frame(event: object) -> None:
    if isinstance(event, FrameDone):
        raise RuntimeError("stands in for a crash after the first frame")


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of the work dir but its lock, which names the last process that held it (pipeline/worklock.py)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOCK
    }


def _edit_middle(path: Path) -> None:
    """Invert 64 bytes at the middle of ``path``: same size, same first and last MiB, other pixels."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    assert MIB <= middle - 64 and middle + 64 <= len(data) - MIB, "the edit must miss the first and last MiB"
    data[middle : middle + 64] = bytes(255 - b for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["video", "frame folder"])
def test_a_same_size_edit_in_the_middle_is_refused_on_resume(kind: str, tmp_path: Path, style: Path, runner: CliRunner) -> None:
    if kind == "video":
        source = _raw_clip(tmp_path / "clip.avi", frames=6)
        edited = source
    else:
        source = tmp_path / "frames"
        edited = _bmp_frames(source, 4)[2]
    files = sorted(source.iterdir()) if source.is_dir() else [source]
    assert edited.stat().st_size > 2 * MIB
    output = tmp_path / "out.mp4"
    settings = make_settings(style=style, max_size=32, segment_frames=2, cuts="off")
    with pytest.raises(RuntimeError, match="stands in for a crash"):
        stylize(source, output, settings=settings, on_event=_stop_after_first_frame, method_factory=fake_method())
    work = tmp_path / "out.mp4.vidstyle"
    assert (work / "manifest.json").is_file()

    before = input_fingerprint(files)
    size = edited.stat().st_size
    _edit_middle(edited)
    after = input_fingerprint(files)
    assert edited.stat().st_size == size
    assert after["sha256"] == before["sha256"], "the old sparse hash does not see this edit"
    assert after["xxh3_128"] != before["xxh3_128"]
    state = _snapshot(work)

    with pytest.raises(InputChanged, match=r"\(same size, other content\) changed since the interrupted run"):
        resume(work, method_factory=fake_method())
    result = runner.invoke(app, ["resume", str(work), "--device", "cpu"])
    assert result.exit_code == 1, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"The input {source} (same size, other content) changed since the interrupted run in {work} began" in line
    suggested = shlex.split(line.split("Start over with: ", 1)[1])
    assert suggested[len(command_prefix()) :] == ["resume", str(work), "--device", "cpu", "--restart"]
    assert _snapshot(work) == state, "a refused resume changes nothing in the work dir"
    assert not output.exists()


def test_an_unchanged_input_still_resumes(tmp_path: Path, style: Path) -> None:
    source = _raw_clip(tmp_path / "clip.avi", frames=4)
    output = tmp_path / "out.mp4"
    settings = make_settings(style=style, max_size=32, segment_frames=2, cuts="off")
    with pytest.raises(RuntimeError, match="stands in for a crash"):
        stylize(source, output, settings=settings, on_event=_stop_after_first_frame, method_factory=fake_method())
    result = resume(tmp_path / "out.mp4.vidstyle", method_factory=fake_method())
    assert result.frames == 4 and 0 < result.stylized < 4 and output.is_file()


def test_a_manifest_from_before_whole_file_hashing_is_checked_as_then(tmp_path: Path) -> None:
    """An old manifest's input entry has no xxh3_128: it is compared by its sparse hash, not called a changed input."""
    path = tmp_path / "clip.bin"
    path.write_bytes(bytes(range(256)) * 20_000)
    new = {"input": input_fingerprint([path]), "frames": 4}
    old = {"input": {k: v for k, v in new["input"].items() if k != "xxh3_128"}, "frames": 4}  # type: ignore[union-attr]
    assert differences(old, new) == []
    edited = {**old, "input": {**old["input"], "sha256": "0" * 64}}
    assert differences(edited, new) == [f"input.sha256: {'0' * 64!r} -> {new['input']['sha256']!r}"]  # type: ignore[index]
