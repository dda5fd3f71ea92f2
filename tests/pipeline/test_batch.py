"""Many clips in one command (issue 24): a folder, a glob or several videos into one output folder.

One output per clip named after it, a bad clip reported while the others go
on (exit 3), a stopped batch that `vidstyle resume OUT` finishes without
redoing the clips already done, and the refusals made before any work: two
clips with one stem, an output in the folder that vidstyle did not write.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.mediatools import count_video_frames, decode_all, make_clip, make_frames_folder, stream_facts
from tests.pipeline.resume_worker import make_settings
from vidstyle.cli import app
from vidstyle.errors import UsageError
from vidstyle.pipeline.batch import BATCH_RECORD, PARTLY_FAILED, BatchProgress, ClipStatus, clip_inputs, stylize_clips
from vidstyle.pipeline.events import FrameDone
from vidstyle.pipeline.run import stylize

FAST = ["--max-size", "32", "--iterations", "2", "--iterations-next", "1", "--device", "cpu", "--cuts", "off"]


def _args(inputs: list[str], style: Path, output: Path, weights: Path, *extra: str) -> list[str]:
    return ["stylize", *inputs, "-s", str(style), "-o", str(output), "--weights", str(weights), *FAST, *extra]


def test_what_names_clips_and_what_stays_one_input(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    make_clip(videos / "b.mp4", width=32, height=24, frames=2, audio=False)
    make_clip(videos / "a10.mkv", width=32, height=24, frames=2, audio=False)
    make_clip(videos / "a9.mp4", width=32, height=24, frames=2, audio=False)
    frames, mixed = tmp_path / "frames", tmp_path / "mixed"
    make_frames_folder(frames, 3, size=(32, 24))
    make_frames_folder(mixed, 3, size=(32, 24))
    make_clip(mixed / "x.mp4", width=32, height=24, frames=2, audio=False)

    assert clip_inputs([str(videos)]) == [videos / "a9.mp4", videos / "a10.mkv", videos / "b.mp4"]  # natural order
    assert clip_inputs([str(videos / "*.mp4")]) == [videos / "a9.mp4", videos / "b.mp4"]
    assert clip_inputs([str(videos / "b.mp4")]) is None  # one video: one run, as before
    assert clip_inputs([str(frames)]) is None  # a folder of frames stays a frame sequence
    assert clip_inputs([str(mixed)]) is None  # any image in a folder makes it frames
    assert clip_inputs([str(frames / "*.png")]) is None  # a glob of images stays a frame pattern
    both = clip_inputs([str(videos / "b.mp4"), str(videos / "*.mp4")])
    assert both == [videos / "b.mp4", videos / "a9.mp4"]  # a clip named twice counts once
    with pytest.raises(UsageError, match="is a folder of frames; several inputs must be videos"):
        clip_inputs([str(videos / "b.mp4"), str(frames)])
    with pytest.raises(UsageError, match="matches no video"):
        clip_inputs([str(videos / "b.mp4"), str(videos / "*.webm")])


def test_a_folder_of_clips_gives_one_output_each_and_a_bad_clip_is_reported(
    runner: CliRunner, tmp_path: Path, style: Path, random_weights: Path
) -> None:
    captures = tmp_path / "captures"
    make_clip(captures / "a.mp4", width=32, height=24, frames=3, audio=True)
    make_clip(captures / "b.mkv", width=32, height=24, frames=4, audio=False)
    make_clip(captures / "c.avi", width=32, height=24, frames=2, audio=False, codec="mpeg4")
    (captures / "d.mp4").write_bytes(b"not a video at all" * 64)
    out = tmp_path / "out"

    result = runner.invoke(app, _args([str(captures)], style, out, random_weights))

    assert result.exit_code == PARTLY_FAILED == 3, (result.stderr, result.exception)
    assert sorted(p.name for p in out.iterdir()) == [BATCH_RECORD, "a.mp4", "b.mkv", "c.mp4"]  # .avi: written as .mp4
    assert [count_video_frames(out / name) for name in ("a.mp4", "b.mkv", "c.mp4")] == [3, 4, 2]
    assert len(stream_facts(out / "a.mp4").audio_streams) == 1
    failed = [line for line in result.stderr.splitlines() if "failed:" in line]
    assert len(failed) == 1 and "clip 4 of 4 d.mp4 failed:" in failed[0] and "not a readable video" in failed[0]
    assert "1 of 4 clip(s) failed (d.mp4); 3 written." in result.stderr
    table = result.stderr[result.stderr.index("4 clip(s) into") :]
    for row in (("a.mp4", "3", "done"), ("b.mkv", "4", "done"), ("c.avi", "c.mp4", "2", "done"), ("d.mp4", "failed")):
        assert any(all(cell in line for cell in row) for line in table.splitlines()), (row, table)
    written = {name: (out / name).read_bytes() for name in ("a.mp4", "b.mkv", "c.mp4")}

    # The same command again: the done clips are left as they are, the bad one is tried again.
    again = runner.invoke(app, _args([str(captures)], style, out, random_weights))
    assert again.exit_code == 3, again.stderr
    assert again.stderr.count(": done before (") == 3 and "clip 4 of 4 d.mp4 failed:" in again.stderr
    assert {name: (out / name).read_bytes() for name in written} == written

    # An edited style image: the outputs were made from the old one, so they are redone only with --overwrite.
    style.write_bytes(style.read_bytes() + b"\0")
    edited = runner.invoke(app, _args([str(captures)], style, out, random_weights))
    assert edited.exit_code == 1, edited.stderr
    assert "a.mp4, b.mkv, c.mp4 already exist in" in edited.stderr and "pass --overwrite to redo them" in edited.stderr
    assert {name: (out / name).read_bytes() for name in written} == written


def test_a_stopped_batch_resumes_the_clips_not_done_with_the_frames_of_an_uninterrupted_run(
    runner: CliRunner, tmp_path: Path, style: Path, random_weights: Path
) -> None:
    captures = tmp_path / "captures"
    for name, frames in (("one", 2), ("two", 4), ("three", 2)):
        make_clip(captures / f"{name}.mp4", width=32, height=24, frames=frames, audio=False)
    out = tmp_path / "out"
    settings = make_settings(style=style, weights=random_weights, max_size=32, iterations=2, iterations_next=1, cuts="off")
    clips = clip_inputs([str(captures / "*.mp4")])
    assert clips is not None and [c.name for c in clips] == ["one.mp4", "three.mp4", "two.mp4"]
    clips = [captures / "one.mp4", captures / "two.mp4", captures / "three.mp4"]
    seen: list[int] = []
    progress: list[BatchProgress] = []

    def ctrl_c_in_the_second_clip(event: object) -> None:
        if isinstance(event, BatchProgress):
            progress.append(event)
        if isinstance(event, FrameDone):
            seen.append(event.record.position)
            if len(seen) == 3:  # the second clip's first frame: Ctrl-C, as from a terminal
                os.kill(os.getpid(), signal.SIGINT)

    stopped = stylize_clips(clips, out, settings=settings, on_event=ctrl_c_in_the_second_clip)

    assert stopped.exit_code == 130 and stopped.stopped is not None
    assert "Stopped during clip 2 of 3 (two.mp4)" in stopped.stopped and f"resume {out}" in stopped.stopped
    assert [c.status for c in stopped.clips] == [ClipStatus.DONE, ClipStatus.STOPPED, ClipStatus.NOT_STARTED]
    assert {(p.count, p.frames_total) for p in progress} == {(3, 8)}
    assert [(p.clip, p.frames_done) for p in progress] == [(1, 0), (1, 1), (1, 2), (2, 2), (2, 3)]
    assert progress[1].eta_seconds is not None and progress[1].eta_seconds > 0  # the clips after it are counted
    first = (out / "one.mp4").read_bytes()
    assert not (out / "two.mp4").exists() and (out / "two.mp4.vidstyle").is_dir() and not (out / "three.mp4").exists()

    resumed = runner.invoke(app, ["resume", str(out)])

    assert resumed.exit_code == 0, (resumed.stderr, resumed.exception)
    assert "clip 1 of 3 one.mp4: done before" in resumed.stderr
    assert "clip 2 of 3 two.mp4 ->" in resumed.stderr and "clip 3 of 3 three.mp4 ->" in resumed.stderr  # the batch's order
    assert "Resuming: 1 of 4 frames were already done." in resumed.stderr
    assert (out / "one.mp4").read_bytes() == first  # not redone
    assert [count_video_frames(out / f"{n}.mp4") for n in ("one", "two", "three")] == [2, 4, 2]
    assert not any(p.name.endswith(".vidstyle") for p in out.iterdir())
    reference = stylize(captures / "two.mp4", tmp_path / "two_whole.mp4", settings=settings)
    assert reference.frames == 4
    for got, want in zip(decode_all(out / "two.mp4"), decode_all(tmp_path / "two_whole.mp4"), strict=True):
        assert np.array_equal(got, want)


def test_two_clips_with_one_stem_are_refused_before_any_work(runner: CliRunner, tmp_path: Path, style: Path, random_weights: Path) -> None:
    make_clip(tmp_path / "a" / "x.mp4", width=32, height=24, frames=2, audio=False)
    make_clip(tmp_path / "b" / "x.mkv", width=32, height=24, frames=2, audio=False)
    out = tmp_path / "out"

    result = runner.invoke(app, _args([str(tmp_path / "a" / "*.mp4"), str(tmp_path / "b" / "x.mkv")], style, out, random_weights))

    assert result.exit_code == 2, (result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "a/x.mp4 and " in lines[0] and "b/x.mkv would both be written as x" in lines[0], result.stderr
    assert not out.exists()

    # Outputs among the clips would be taken for clips by the next run: refused too.
    beside = runner.invoke(app, _args([str(tmp_path / "a")], style, tmp_path / "a", random_weights))
    assert beside.exit_code == 2 and "holds clips of this batch (x.mp4); choose another folder" in beside.stderr, beside.stderr
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.mp4"]


def test_an_output_vidstyle_did_not_write_refuses_the_batch_before_any_work(
    runner: CliRunner, tmp_path: Path, style: Path, random_weights: Path
) -> None:
    captures = tmp_path / "captures"
    make_clip(captures / "a.mp4", width=32, height=24, frames=2, audio=False)
    make_clip(captures / "b.mp4", width=32, height=24, frames=2, audio=False)
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "b.mp4"
    mine.write_bytes(b"my own edit")

    result = runner.invoke(app, _args([str(captures)], style, out, random_weights, "--overwrite"))

    assert result.exit_code == 1, (result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{mine} already exists and vidstyle did not write it" in lines[0], result.stderr
    assert "nothing was stylized" in lines[0] and "--overwrite" not in lines[0]
    assert mine.read_bytes() == b"my own edit"
    assert sorted(p.name for p in out.iterdir()) == ["b.mp4"]  # not even a.mp4 was started


def test_a_clip_finished_outside_the_batch_counts_as_done(runner: CliRunner, tmp_path: Path, style: Path, random_weights: Path) -> None:
    """A batch killed between a clip's end and its record's, or a clip's work dir resumed on its own: the clip is done."""
    captures = tmp_path / "captures"
    for name in ("first", "second"):
        make_clip(captures / f"{name}.mp4", width=32, height=24, frames=2, audio=False)
    out = tmp_path / "out"
    settings = make_settings(style=style, weights=random_weights, max_size=32, iterations=2, iterations_next=1, cuts="off")

    def ctrl_c_at_the_first_frame(event: object) -> None:
        if isinstance(event, FrameDone):
            os.kill(os.getpid(), signal.SIGINT)

    stopped = stylize_clips([captures / "first.mp4", captures / "second.mp4"], out, settings=settings, on_event=ctrl_c_at_the_first_frame)
    assert [c.status for c in stopped.clips] == [ClipStatus.STOPPED, ClipStatus.NOT_STARTED]

    alone = runner.invoke(app, ["resume", str(out / "first.mp4.vidstyle")])
    assert alone.exit_code == 0, alone.stderr
    first = (out / "first.mp4").read_bytes()

    rest = runner.invoke(app, ["resume", str(out)])

    assert rest.exit_code == 0, rest.stderr
    assert "clip 1 of 2 first.mp4: done before" in rest.stderr and "clip 2 of 2 second.mp4 ->" in rest.stderr
    assert (out / "first.mp4").read_bytes() == first
    assert count_video_frames(out / "second.mp4") == 2
