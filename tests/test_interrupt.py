"""The first Ctrl-C stops a one-process run within seconds, whatever it waits for, and leaves it resumable.

A real ``vidstyle stylize`` in its own process gets one SIGINT, as from a
terminal, while it waits for something that would otherwise take minutes:

* an ffmpeg encode that hangs: imageio-ffmpeg's own IMAGEIO_FFMPEG_EXE points
  at a wrapper whose first segment encode sends the Ctrl-C to vidstyle and
  then sleeps for ten minutes in ffmpeg's place (no timing luck: the signal
  lands exactly while vidstyle waits for that encoder);
* a frame whose optimization would run for hours (a huge step budget).

Each must exit within a few seconds of the signal with exit code 130, one
line that ends with the resume command, no ffmpeg left behind, and a work dir
that the printed command then finishes.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.mediatools import REPO_ROOT, count_video_frames, ffmpeg_exe, make_clip

pytestmark = pytest.mark.slow

STOP_WITHIN_S = 10.0  # "a few seconds" on a loaded 2-core runner; about 1-2 s on an idle one


def _hanging_ffmpeg(folder: Path) -> tuple[Path, Path]:
    """An ffmpeg whose first frame encode (image2pipe) sends SIGINT to its parent, then hangs in ffmpeg's place."""
    mark = folder / "signalled"
    script = folder / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do\n'
        '  if [ "$arg" = image2pipe ] && [ ! -e "' + str(mark) + '" ]; then\n'
        '    echo $$ > "' + str(mark) + '.tmp" && mv "' + str(mark) + '.tmp" "' + str(mark) + '"\n'
        "    kill -INT $PPID\n"
        "    exec sleep 600\n"
        "  fi\n"
        "done\n"
        f'exec "{ffmpeg_exe()}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, mark


def _command(clip: Path, style: Path, output: Path, weights: Path, *, iterations: int) -> list[str]:
    return [
        sys.executable, "-m", "vidstyle", "stylize", str(clip), "--style", str(style), "--output", str(output),
        "--weights", str(weights), "--max-size", "32", "--iterations", str(iterations), "--iterations-next", "1",
        "--tolerance", "0", "--device", "cpu", "--segment-frames", "2", "--cuts", "off", "--quiet",
    ]  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.pop("VIDSTYLE_DEBUG", None)
    env.pop("VIDSTYLE_FAULT", None)
    return env


def _wait_for(path: Path, proc: subprocess.Popen[str], missing: str) -> None:
    """Until ``path`` exists, with the run still alive; at most 240 s (a loaded 2-core runner)."""
    deadline = time.monotonic() + 240
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{missing} after 240 s"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _finish_with_printed_command(stderr: str, work: Path, output: Path, frames: int) -> None:
    line = stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, stderr
    assert line.startswith("error: Stopped after ") and "(state saved). Resume with: " in line, line
    words = shlex.split(line.split("Resume with: ", 1)[1])
    assert words[-2:] == ["resume", str(work)], words  # after the way vidstyle was started (python -m vidstyle, uv run ...)
    done = subprocess.run(
        [sys.executable, "-m", "vidstyle", *words[-2:], "--quiet"], cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert count_video_frames(output) == frames and not work.exists()


def test_ctrl_c_while_ffmpeg_hangs_stops_at_once(tmp_path: Path, style: Path, random_weights: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=32, height=24, frames=4, audio=False)
    output, work = tmp_path / "out.mp4", tmp_path / "out.mp4.vidstyle"
    wrapper, mark = _hanging_ffmpeg(tmp_path)
    proc = subprocess.Popen(
        _command(clip, style, output, random_weights, iterations=2), cwd=REPO_ROOT, env=_env(IMAGEIO_FFMPEG_EXE=str(wrapper)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(mark, proc, "no segment encode")
        signalled = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - signalled
        print(f"stopped {took:.2f} s after the signal")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    hung = int(mark.read_text())
    assert proc.returncode == 130, stderr
    assert took < STOP_WITHIN_S, f"the run took {took:.1f} s to stop while ffmpeg hung"
    assert not _alive(hung), "the hanging ffmpeg outlived the run"
    assert not list(tmp_path.glob(".out.mp4*")) and not list(work.glob("segments/.*")), "no partial output stays"
    _finish_with_printed_command(stderr, work, output, 4)


def test_ctrl_c_during_an_endless_frame_stops_at_once(tmp_path: Path, style: Path, random_weights: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=32, height=24, frames=3, audio=False)
    output, work = tmp_path / "out.mp4", tmp_path / "out.mp4.vidstyle"
    proc = subprocess.Popen(
        _command(clip, style, output, random_weights, iterations=10_000_000), cwd=REPO_ROOT, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(work / "manifest.json", proc, "no work dir")
        time.sleep(1.0)  # into the first frame's optimization (anywhere before it must stop as fast)
        os.kill(proc.pid, 2)  # SIGINT, once
        signalled = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - signalled
        print(f"stopped {took:.2f} s after the signal")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    assert proc.returncode == 130, stderr
    assert took < STOP_WITHIN_S, f"the run took {took:.1f} s to stop"
    line = stderr.strip()
    assert len(line.splitlines()) == 1 and "Resume with: " in line and "Traceback" not in line, stderr
    assert (work / "manifest.json").is_file() and not output.exists()
