"""Inputs a user can get wrong: one line on stderr saying what to do, the right exit code, nothing left behind.

Each case fails before the model runs, so the whole file takes a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner, Result

from tests.mediatools import REPO_ROOT, make_clip
from vidstyle.cli import app

FAST = ["--max-size", "32", "--iterations", "2", "--iterations-next", "1", "--max-frames", "3", "--device", "cpu"]


def _stylize(runner: CliRunner, weights: Path, style: Path, input: Path | str, output: Path, *extra: str) -> Result:
    args = ["stylize", str(input), "--style", str(style), "--weights", str(weights), "-o", str(output), *FAST, *extra]
    return runner.invoke(app, args)


def _one_line_error(result: Result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _nothing_beside(folder: Path) -> None:
    """The output folder holds nothing: no output, no work dir, no temp file."""
    assert list(folder.iterdir()) == []


def test_truncated_video_is_refused_quietly(runner: CliRunner, random_weights: Path, style: Path, tmp_path: Path) -> None:
    # Its index comes first, so it probes fine and decodes a couple of frames: it used to
    # "succeed" with 2 of 24 frames, under a screenful of h264 decoder complaints.
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes((REPO_ROOT / "samples" / "clip.mp4").read_bytes()[:20000])
    out = tmp_path / "out"
    out.mkdir()
    result = _stylize(runner, random_weights, style, truncated, out / "x.mp4")
    _one_line_error(result, 1, "truncated", "re-encode")
    _nothing_beside(out)


def test_missing_init_image_fails_before_the_run(runner: CliRunner, random_weights: Path, style: Path, tmp_path: Path) -> None:
    # It used to be read once the run had started: progress bars, then the error, and a work dir left behind.
    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    out = tmp_path / "out"
    out.mkdir()
    result = _stylize(runner, random_weights, style, clip, out / "x.mp4", "--init", str(tmp_path / "nope.png"))
    _one_line_error(result, 2, "--init", "nope.png")
    _nothing_beside(out)


def test_unreadable_init_image_fails_before_the_run(runner: CliRunner, random_weights: Path, style: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    out = tmp_path / "out"
    out.mkdir()
    result = _stylize(runner, random_weights, style, clip, out / "x.mp4", "--init", str(bad))
    _one_line_error(result, 1, "bad.png")
    _nothing_beside(out)


def test_working_size_too_small_for_vgg(runner: CliRunner, random_weights: Path, style: Path, tmp_path: Path) -> None:
    # A portrait clip at --max-size 32 is 12x32: VGG19's poolings took the short side to 0
    # and torch failed mid-run ("unexpected RuntimeError ... This is a bug").
    clip = make_clip(tmp_path / "tall.mp4", width=24, height=64, frames=4)
    out = tmp_path / "out"
    out.mkdir()
    result = _stylize(runner, random_weights, style, clip, out / "x.mp4")
    _one_line_error(result, 2, "--max-size 32", "use --max-size")
    _nothing_beside(out)


def test_input_smaller_than_vgg_needs(runner: CliRunner, random_weights: Path, style: Path, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    assert cv2.imwrite(str(tiny), np.zeros((10, 40, 3), np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    result = _stylize(runner, random_weights, style, tiny, out / "x.png")
    _one_line_error(result, 1, "40x10", "16 pixels")
    _nothing_beside(out)


def test_empty_selection_names_only_given_options(runner: CliRunner, random_weights: Path, style: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    out = tmp_path / "out"
    out.mkdir()
    line = _one_line_error(_stylize(runner, random_weights, style, clip, out / "x.mp4", "--start", "999"), 2, "--start 999")
    assert "None" not in line  # it said "--end None"
    _nothing_beside(out)


def test_resume_of_damaged_manifest_points_at_stylize(runner: CliRunner, tmp_path: Path) -> None:
    # `vidstyle resume` has no --restart; the advice must name the command that does.
    work = tmp_path / "x.mp4.vidstyle"
    work.mkdir()
    (work / "manifest.json").write_text('{"broken')
    result = runner.invoke(app, ["resume", str(work)])
    _one_line_error(result, 1, "damaged", "stylize command with --restart")
