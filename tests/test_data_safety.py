"""Data safety (issue 20): vidstyle never deletes or overwrites what it did not write, and two runs never share a work dir.

Every case snapshots the whole test folder (a hash per file) before the
command and checks it after: each pre-existing file is byte-identical and, for
a refusal, nothing was added either. A refusal is one ``error:`` line with the
right exit code that never offers a flag that would delete the user's files.
The CLI runs in process (typer's CliRunner); the lock cases use real processes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from tests.mediatools import REPO_ROOT, count_video_frames, frame_image, make_clip, make_frames_folder
from vidstyle.cli import app
from vidstyle.pipeline.fingerprint import differences

# Tiny and quick: 32x24, three frames, one step a frame.
QUICK = ["--max-size", "32", "--iterations", "1", "--iterations-next", "1", "--device", "cpu", "--cuts", "off"]
# Names a refusal must never offer: each would discard something.
DESTRUCTIVE_FLAGS = ("--restart", "--overwrite")
# Files the test run itself makes (the isolated style cache and torch home, tests/conftest.py).
_NOT_USER_DATA = {"vidstyle-cache", "vidstyle-written", "torch-home"}


def snapshot(root: Path) -> dict[str, str]:
    """Every file (its sha256), link (its target) and folder under ``root``, links never followed."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root)
        if rel_folder.parts and rel_folder.parts[0] in _NOT_USER_DATA:
            continue
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(rel_folder / name)
            if rel.split(os.sep)[0] in _NOT_USER_DATA:
                continue
            if path.is_symlink():
                found[rel] = "link -> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "folder"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def assert_kept(before: dict[str, str], after: dict[str, str]) -> None:
    """Every file that existed before is still there, byte for byte."""
    changed = {name: (was, after.get(name)) for name, was in before.items() if after.get(name) != was}
    assert not changed, changed


def one_line_error(result, code: int) -> str:  # noqa: ANN001
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output and "bug in vidstyle" not in lines[0]
    return lines[0]


def invoke(runner: CliRunner, *args: object):  # noqa: ANN201
    return runner.invoke(app, [str(a) for a in args])


# --------------------------------------------------------------------------- media


@dataclass
class Media:
    root: Path
    clip: Path  # a 3-frame 32x24 video
    frames: Path  # a folder of 3 frames named as vidstyle names its own (frame_000001.png ...)
    style: Path
    mine: Path  # a user's folder: notes and a frame_000001.png of their own
    weights: Path
    extra: dict[str, Path] = field(default_factory=dict)

    def stylize(self, *args: object) -> list[str]:
        return ["stylize", *(str(a) for a in args), "-s", str(self.style), "--weights", str(self.weights), *QUICK]

    def preview(self, *args: object) -> list[str]:
        return ["preview", *(str(a) for a in args), "-s", str(self.style), "--weights", str(self.weights), "--frames", "1",
                "--max-size", "32", "--iterations", "1", "--device", "cpu"]  # fmt: skip


@pytest.fixture
def media(tmp_path: Path, random_weights: Path) -> Media:
    root = tmp_path
    clip = make_clip(root / "clip.mp4", width=32, height=24, frames=3)
    frames = root / "frames"
    make_frames_folder(frames, 3, names="frame_{i:06d}.png")
    style = root / "style.png"
    assert cv2.imwrite(str(style), frame_image(7, (40, 40)))
    mine = root / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert cv2.imwrite(str(mine / "frame_000001.png"), frame_image(99, (32, 24)))
    return Media(root=root, clip=clip, frames=frames, style=style, mine=mine, weights=random_weights)


# --------------------------------------------------------------------------- refusals, table-driven


@dataclass(frozen=True)
class Refusal:
    """A command that must be refused before anything is touched."""

    args: Callable[[Media], list[str]]
    code: int
    says: tuple[str, ...]  # fragments of the one line (a callable's result may name paths)
    names: Callable[[Media], Path] | None = None  # the path the message must name
    setup: Callable[[Media], None] = lambda media: None


def _existing_file(media: Media) -> None:
    (media.root / "net.pt").write_bytes(b"my model")
    (media.root / "sheet.png").write_bytes(b"my picture")
    (media.root / "theirs.mp4").write_bytes(b"my video")


def _linked_default_work_dir(media: Media) -> None:
    (media.root / "elsewhere").mkdir()
    (media.root / "elsewhere" / ".keep").write_text("keep")
    (media.root / "out.mp4.vidstyle").symlink_to(media.root / "elsewhere")


REFUSALS = {
    # A user's folder as --work-dir: never used, never emptied, whatever the flag (the old message said "pass --restart").
    "user folder as work dir": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--work-dir", m.mine), 1, ("did not make", "--work-dir"), lambda m: m.mine
    ),
    "user folder as work dir, --restart": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--work-dir", m.mine, "--restart"), 1, ("did not make",), lambda m: m.mine
    ),
    "user folder as work dir, --overwrite": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--work-dir", m.mine, "--overwrite"), 1, ("did not make",), lambda m: m.mine
    ),
    "user folder at the default work dir, --restart": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "mine.mp4", "--restart"),
        1, ("did not make",), lambda m: m.root / "mine.mp4.vidstyle",
        setup=lambda m: shutil.copytree(m.mine, m.root / "mine.mp4.vidstyle"),
    ),  # fmt: skip
    "a manifest without the marker, --restart": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--work-dir", m.mine, "--restart"),
        1, ("no vidstyle owner marker", "neither uses nor empties it"), lambda m: m.mine,
        setup=lambda m: (m.mine / "manifest.json").write_text('{"schema": 2}'),
    ),  # fmt: skip
    "work dir is a link": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4"), 1, ("symbolic link",), lambda m: m.root / "out.mp4.vidstyle",
        setup=_linked_default_work_dir,
    ),
    "work dir is the input folder": Refusal(
        lambda m: m.stylize(m.frames, "-o", m.root / "out.mp4", "--work-dir", m.frames, "--restart"), 2, ("is the input",), lambda m: m.frames
    ),
    "work dir inside the input folder": Refusal(
        lambda m: m.stylize(m.frames, "-o", m.root / "out.mp4", "--work-dir", m.frames / "state"), 2, ("inside the input folder",)
    ),
    "work dir is the folder output": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out", "--work-dir", m.root / "out"), 2, ("is the output",), lambda m: m.root / "out"
    ),
    "output inside the work dir": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "state" / "out.mp4", "--work-dir", m.root / "state"), 2, ("inside the work dir",),
        setup=lambda m: (m.root / "state").mkdir(),
    ),  # fmt: skip
    "output is the input video, --overwrite": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.clip, "--overwrite"), 2, ("is the input",), lambda m: m.clip
    ),
    "output is the input folder, --overwrite": Refusal(
        lambda m: m.stylize(m.frames, "-o", m.frames, "--overwrite"), 2, ("is the input",), lambda m: m.frames
    ),
    "output inside the input folder": Refusal(
        lambda m: m.stylize(m.frames, "-o", m.frames / "styled.mp4", "--overwrite"), 2, ("inside the input folder",)
    ),
    "output is the style image, --overwrite": Refusal(
        lambda m: m.stylize(m.root / "frames" / "frame_000001.png", "-o", m.style, "--overwrite"), 2, ("a style image",), lambda m: m.style
    ),
    "--overwrite into a user's folder with frame_*.png": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.mine, "--overwrite"), 1, ("did not write",), lambda m: m.mine
    ),
    "--save-model onto an existing file": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--method", "fast", "--save-model", m.root / "net.pt"),
        1, ("already exists", "vidstyle did not write it"), lambda m: m.root / "net.pt", setup=_existing_file,
    ),  # fmt: skip
    "--save-model onto an existing file, --overwrite": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--method", "fast", "--save-model", m.root / "net.pt", "--overwrite"),
        1, ("already exists", "vidstyle did not write it"), lambda m: m.root / "net.pt", setup=_existing_file,
    ),  # fmt: skip
    "--output onto a user's video, --overwrite": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "theirs.mp4", "--overwrite"),
        1, ("already exists", "vidstyle did not write it"), lambda m: m.root / "theirs.mp4", setup=_existing_file,
    ),  # fmt: skip
    "--save-model onto the input, --overwrite": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--method", "fast", "--save-model", m.clip, "--overwrite"),
        2, ("is the input",), lambda m: m.clip,
    ),  # fmt: skip
    "--save-model onto the style, --overwrite": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--method", "fast", "--save-model", m.style, "--overwrite"),
        2, ("a style image",), lambda m: m.style,
    ),  # fmt: skip
    "preview --output onto an existing file": Refusal(
        lambda m: m.preview(m.clip, "-o", m.root / "sheet.png"), 1, ("already exists", "vidstyle did not write it"),
        lambda m: m.root / "sheet.png", setup=_existing_file,
    ),  # fmt: skip
    "preview --output onto an existing file, --overwrite": Refusal(
        lambda m: m.preview(m.clip, "-o", m.root / "sheet.png", "--overwrite"), 1, ("already exists", "vidstyle did not write it"),
        lambda m: m.root / "sheet.png", setup=_existing_file,
    ),  # fmt: skip
    "preview --output onto the style, --overwrite": Refusal(
        lambda m: m.preview(m.clip, "-o", m.style, "--overwrite"), 2, ("a style image",), lambda m: m.style
    ),
    "stylize --preview onto the style": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--preview", m.style, "--overwrite"), 2, ("a style image",), lambda m: m.style
    ),
    "stylize --preview onto an existing file": Refusal(
        lambda m: m.stylize(m.clip, "-o", m.root / "out.mp4", "--preview", m.root / "sheet.png"), 1, ("already exists",),
        setup=_existing_file,
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", list(REFUSALS.values()), ids=list(REFUSALS))
def test_refused_before_anything_is_touched(runner: CliRunner, media: Media, case: Refusal) -> None:
    case.setup(media)
    before = snapshot(media.root)
    line = one_line_error(invoke(runner, *case.args(media)), case.code)
    assert snapshot(media.root) == before, "a refused run touched nothing"
    for fragment in case.says:
        assert fragment in line, (fragment, line)
    if case.names is not None:
        assert str(case.names(media)) in line, line
    offered = [flag for flag in DESTRUCTIVE_FLAGS if flag in line]
    assert not offered, f"the refusal offers {offered}: {line}"


# --------------------------------------------------------------------------- what --overwrite and --restart remove


def test_overwrite_of_our_folder_output_replaces_only_our_frames(runner: CliRunner, media: Media) -> None:
    out = media.root / "out"
    first = invoke(runner, *media.stylize(media.clip, "-o", out))
    assert first.exit_code == 0, first.stderr
    assert sorted(p.name for p in out.glob("frame_*.png")) == [f"frame_{k:06d}.png" for k in (1, 2, 3)]
    # The user adds files to our output folder: a note and a frame of their own past our three.
    (out / "notes.txt").write_text("mine")
    assert cv2.imwrite(str(out / "frame_000009.png"), frame_image(9, (32, 24)))
    before = snapshot(media.root)
    line = one_line_error(invoke(runner, *media.stylize(media.clip, "-o", out)), 1)
    assert "already holds a finished run's frames" in line and "only the frames vidstyle wrote" in line
    assert snapshot(media.root) == before
    again = invoke(runner, *media.stylize(media.clip, "-o", out, "--overwrite"))
    assert again.exit_code == 0, again.stderr
    after = snapshot(media.root)
    theirs = {k: v for k, v in before.items() if k.endswith(("notes.txt", "frame_000009.png")) or not k.startswith("out")}
    assert_kept(theirs, after)
    assert sorted(p.name for p in out.glob("frame_*.png")) == [f"frame_{k:06d}.png" for k in (1, 2, 3, 9)]
    assert not (media.root / "out.vidstyle").exists()


def test_overwrite_replaces_a_file_only_while_it_is_the_one_vidstyle_wrote(runner: CliRunner, media: Media) -> None:
    """vidstyle/written.py: a video output and a preview sheet vidstyle wrote are replaced with --overwrite; once edited, never."""
    out, sheet = media.root / "ours.mp4", media.root / "ours.png"
    for command in (media.stylize(media.clip, "-o", out), media.preview(media.clip, "-o", sheet)):
        first = invoke(runner, *command)
        assert first.exit_code == 0, first.output
        again = invoke(runner, *command, "--overwrite")
        assert again.exit_code == 0, again.output
    for path, command in ((out, media.stylize(media.clip, "-o", out)), (sheet, media.preview(media.clip, "-o", sheet))):
        with path.open("ab") as handle:
            handle.write(b"the user's edit")  # no longer the bytes vidstyle wrote
        before = path.read_bytes()
        refused = invoke(runner, *command, "--overwrite")
        assert refused.exit_code == 1, refused.output
        assert "vidstyle did not write it" in refused.output and "--overwrite" not in refused.output, refused.output
        assert path.read_bytes() == before


def test_a_finished_run_of_warmed_up_chains_leaves_no_work_dir(runner: CliRunner, media: Media) -> None:
    """Chains split inside a shot store warmup frames in the work dir (pipeline/chain.py): vidstyle's names, removed at the end."""
    clip = make_clip(media.root / "ten.mp4", width=32, height=24, frames=10)
    out = media.root / "chained.mp4"
    result = invoke(runner, *media.stylize(clip, "-o", out, "--chain-frames", "4", "--overlap", "2"))  # 3 chains, 2 warmed up
    assert result.exit_code == 0, result.output
    assert out.is_file() and not (media.root / "chained.mp4.vidstyle").exists()


def test_an_empty_folder_given_as_work_dir_is_used_and_kept(runner: CliRunner, media: Media) -> None:
    work = media.root / "state"
    (work / "sub").mkdir(parents=True)
    done = invoke(runner, *media.stylize(media.clip, "-o", media.root / "out.mp4", "--work-dir", work))
    assert done.exit_code == 0, done.stderr
    assert count_video_frames(media.root / "out.mp4") == 3
    # The folder was the user's (empty, with an empty subfolder): vidstyle took back only what it wrote.
    assert work.is_dir() and [p.name for p in work.iterdir()] == ["sub"]


# --------------------------------------------------------------------------- one run per work dir (real processes)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIDSTYLE_DEBUG", None)
    env.pop("VIDSTYLE_FAULT", None)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["OMP_NUM_THREADS"] = "1"  # a busy 2-core runner: tiny frames gain nothing from threads
    return env


def _start(media: Media, *args: object, fault: str | None = None) -> subprocess.Popen[str]:
    env = _env()
    if fault is not None:
        env["VIDSTYLE_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "vidstyle", *media.stylize(*args)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _locked(lock: Path) -> bool:
    """Whether another process holds ``lock`` (flock conflicts between open files, also within one process)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_second_run_is_refused_and_the_first_finishes(runner: CliRunner, media: Media) -> None:
    out = media.root / "out.mp4"
    work = media.root / "out.mp4.vidstyle"
    # More steps than elsewhere, so the first run is still stylizing when it is paused.
    first = _start(media, media.clip, "-o", out, "--iterations", "150", "--iterations-next", "150")
    try:
        deadline = time.monotonic() + 120
        # Locked, and its manifest written (so `resume` reads it): the run is stylizing.
        while not (_locked(work / "run.lock") and (work / "manifest.json").is_file()):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never locked its work dir"
            time.sleep(0.002)
        first.send_signal(signal.SIGSTOP)  # held still, lock in hand, while the others try
        holder = json.loads((work / "run.lock").read_text())
        assert holder["pid"] == first.pid
        started = time.strftime("%H:%M", time.localtime(holder["started"]))
        expected = f"error: another vidstyle run (pid {first.pid}, started {started}) is using {work}; wait for it or stop it"
        before = snapshot(media.root)
        for extra in ([], ["--restart"], ["--overwrite"]):
            line = one_line_error(invoke(runner, *media.stylize(media.clip, "-o", out, *extra)), 1)
            assert line == expected
            assert snapshot(media.root) == before, f"the live run was disturbed by a second run with {extra}"
        line = one_line_error(invoke(runner, "resume", work, "--restart"), 1)
        assert line == expected and snapshot(media.root) == before
    finally:
        first.send_signal(signal.SIGCONT)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert count_video_frames(out) == 3 and not work.exists()


def _killed_run(media: Media, output: Path) -> Path:
    """A run SIGKILLed (by the fault hook) right after its first frame: its work dir, lock file left behind."""
    killed = _start(media, media.clip, "-o", output, fault="frame:0")
    _, stderr = killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL, stderr
    work = output.with_name(output.name + ".vidstyle")
    assert (work / "manifest.json").is_file() and (work / "run.lock").is_file()
    return work


def test_a_killed_runs_lock_does_not_block_its_resume(runner: CliRunner, media: Media) -> None:
    out = media.root / "out.mp4"
    work = _killed_run(media, out)
    assert not _locked(work / "run.lock"), "the kernel released the dead run's lock"
    done = invoke(runner, "resume", work)
    assert done.exit_code == 0, done.stderr
    assert count_video_frames(out) == 3 and not work.exists()


def test_a_work_dir_from_before_the_marker_resumes_and_a_foreign_file_makes_it_someones(runner: CliRunner, media: Media) -> None:
    """A run interrupted under an older vidstyle (no owner.json) resumes when every name in it is vidstyle's."""
    out = media.root / "out.mp4"
    work = _killed_run(media, out)
    (work / "owner.json").unlink()  # as an older vidstyle left it
    stray = work / "log" / "notes.txt"
    stray.write_text("mine")
    before = snapshot(work)
    refused = invoke(runner, "resume", work)
    assert refused.exit_code == 1 and "no vidstyle owner marker" in refused.output, refused.output
    assert snapshot(work) == before
    stray.unlink()
    done = invoke(runner, "resume", work)
    assert done.exit_code == 0, done.output
    assert count_video_frames(out) == 3 and not work.exists()


# --------------------------------------------------------------------------- a work dir is data, not instructions


def test_a_crafted_manifest_cannot_send_the_run_elsewhere(runner: CliRunner, media: Media) -> None:
    work = _killed_run(media, media.root / "out")  # a folder output
    manifest = json.loads((work / "manifest.json").read_text())
    # Edited to point at the user's folder (the fingerprint edited to match, as a careful forger would).
    manifest["output"] = manifest["fingerprint"]["output"] = str(media.mine)
    (work / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(media.root)
    for extra in ([], ["--restart"]):
        line = one_line_error(invoke(runner, "resume", work, *extra), 1)
        assert "not beside the output its manifest names" in line and str(media.mine) in line
        assert snapshot(media.root) == before
    # Told the output outright, the run still refuses a folder that is not vidstyle's (having locked its own
    # work dir, whose lock file now names this process: the one file that may change).
    line = one_line_error(invoke(runner, "resume", work, "--output", media.mine), 1)
    assert "did not write" in line and str(media.mine) in line
    lock = str(work.relative_to(media.root) / "run.lock")
    assert {k: v for k, v in snapshot(media.root).items() if k != lock} == {k: v for k, v in before.items() if k != lock}


def test_a_linked_work_dir_subfolder_is_refused_not_followed(runner: CliRunner, media: Media) -> None:
    work = _killed_run(media, media.root / "out.mp4")
    elsewhere = media.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".hidden").write_text("a dotfile a sweep would remove")
    (elsewhere / "00000.mp4").write_bytes(b"not a segment")
    shutil.rmtree(work / "segments")
    (work / "segments").symlink_to(elsewhere)
    before = snapshot(media.root)
    for extra in ([], ["--restart"]):
        line = one_line_error(invoke(runner, "resume", work, *extra), 1)
        assert f"{work / 'segments'} is a symbolic link" in line
        assert snapshot(media.root) == before


def test_a_written_path_in_the_settings_is_fingerprinted() -> None:
    """--save-model is where a resume writes: a manifest edited to move it is a change, not a free setting."""
    old = {"settings": {"method": {"kind": "fast", "save_model": "/work/net.pt"}}}
    new = {"settings": {"method": {"kind": "fast", "save_model": "/home/someone/.bashrc"}}}
    assert differences(old, new) == ["method.save_model: '/work/net.pt' -> '/home/someone/.bashrc'"]


def test_restart_removes_only_what_the_run_wrote_and_a_moved_work_dir_needs_its_output(runner: CliRunner, media: Media) -> None:
    """A folder run with its work dir elsewhere, killed after frame 0; the user adds a file to the output folder."""
    out, work = media.root / "out", media.root / "state"
    killed = _start(media, media.clip, "-o", out, "--work-dir", work, fault="frame:0")
    _, stderr = killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL, stderr
    (out / "notes.txt").write_text("mine")
    before = snapshot(media.root)
    # The work dir is not beside the output: its manifest alone does not decide where to write.
    line = one_line_error(invoke(runner, "resume", work, "--restart"), 1)
    assert f"--output {out}" in line and snapshot(media.root) == before
    done = invoke(runner, "resume", work, "--output", out, "--restart")
    assert done.exit_code == 0, done.stderr
    assert (out / "notes.txt").read_text() == "mine", "--restart removed a file the run did not write"
    assert sorted(p.name for p in out.glob("frame_*.png")) == [f"frame_{k:06d}.png" for k in (1, 2, 3)]
    assert not work.exists(), "the work dir vidstyle made is gone after the run"
