"""Running ffmpeg: the one place vidstyle finds and starts it.

imageio-ffmpeg ships an ffmpeg binary (no system ffmpeg needed). Every call
goes through :func:`run_ffmpeg`, which

* passes an argv list (never a shell string);
* starts ffmpeg in its own session, so a Ctrl-C in the terminal reaches only
  vidstyle, which lets a running encode finish and then stops cleanly;
* on Linux has the kernel kill ffmpeg when vidstyle dies (even by SIGKILL),
  so no orphan keeps writing into the work dir;
* collects stderr in a temporary file (no pipe to fill up while frames are
  fed on stdin) and returns it with the exit status.
"""

from __future__ import annotations

import ctypes
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vidstyle.errors import VidstyleError

__all__ = ["FfmpegError", "FfmpegRun", "ffmpeg_exe", "frames_reported", "last_error_line", "last_error_lines", "run_ffmpeg"]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # pragma: no cover - depends on the installation
        raise VidstyleError(f"ffmpeg is not available ({exc}); reinstall imageio-ffmpeg (uv sync).") from exc


class FfmpegError(Exception):
    """ffmpeg could not be started, or a file to feed it could not be read; callers add what they were doing."""


@dataclass(frozen=True)
class FfmpegRun:
    returncode: int
    stderr: str


def _die_with_parent() -> None:
    """Linux: ffmpeg is killed when vidstyle dies, even by SIGKILL, so no orphan keeps writing."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


_PREEXEC = _die_with_parent if sys.platform.startswith("linux") else None


def run_ffmpeg(
    args: Sequence[str],
    *,
    feed: Sequence[Path] | None = None,
    stdout: IO[bytes] | None = None,
    timeout: float | None = None,
    while_running: Callable[[], None] | None = None,
) -> FfmpegRun:
    """Run ``ffmpeg -hide_banner [-nostdin] *args`` and wait for it.

    ``feed``: files whose bytes are written to ffmpeg's stdin, in order.
    ``stdout``: a binary file that receives ffmpeg's stdout (default: discarded).
    ``while_running``: called once ffmpeg runs (after the feed, before the
    wait); the fault-injection seam uses it to die mid-encode.
    Raises FfmpegError (cannot start, unreadable feed file) and
    subprocess.TimeoutExpired; a non-zero exit is returned, not raised.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", *([] if feed is not None else ["-nostdin"]), *args]
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                stdout=stdout if stdout is not None else subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                preexec_fn=_PREEXEC,
            )
        except OSError as exc:
            raise FfmpegError(f"cannot run ffmpeg ({exc.strerror or exc})") from exc
        feed_error: str | None = None
        try:
            if feed is not None:
                feed_error = _feed(proc, feed)
            if while_running is not None:
                while_running()
            returncode = proc.wait(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    if feed_error is not None:
        raise FfmpegError(feed_error)
    return FfmpegRun(returncode=returncode, stderr=stderr)


def _feed(proc: subprocess.Popen, files: Sequence[Path]) -> str | None:
    """Write every file to ffmpeg's stdin; the reason when one cannot be read (ffmpeg is then killed)."""
    assert proc.stdin is not None
    try:
        for path in files:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                proc.kill()
                return f"cannot read frame {path}: {exc.strerror or exc}"
            proc.stdin.write(data)
    except BrokenPipeError:
        pass  # ffmpeg died; its stderr says why
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    return None


_NOISE = re.compile(
    r"^(frame=|size=|video:|\[out#\d+/\w+ @ \w+\] video:|Press \[q\]|Conversion failed|Exiting normally"
    r"|Stream mapping|Stream #|Metadata|Duration)"
    r"|Terminating thread with return code|Task finished with error code|Error during demuxing"
    r"|At least one output file must be specified"
)


def last_error_line(stderr: str) -> str:
    """The last line of ffmpeg's stderr that says something about the failure."""
    return last_error_lines(stderr, 1)


def last_error_lines(stderr: str, count: int = 3) -> str:
    """The last ``count`` lines of ffmpeg's stderr that say something about the failure, joined by " | " (one line)."""
    lines = [line.strip() for line in re.split(r"[\r\n]+", stderr) if line.strip()]
    meaningful = [line for line in lines if not _NOISE.search(line)] or lines
    if not meaningful:
        return "no output from ffmpeg"
    # "[in#0/concat @ 0x55d0c1] Impossible to open 'x'" -> "[in#0/concat] Impossible to open 'x'"
    kept = [re.sub(r" @ 0x[0-9a-f]+\]", "]", line) for line in meaningful[-count:]]
    return " | ".join(dict.fromkeys(kept))


def frames_reported(stderr: str) -> int | None:
    """The last ``frame=N`` of ffmpeg's progress lines (frames written or copied), if any."""
    found = re.findall(r"frame=\s*(\d+)", stderr)
    return int(found[-1]) if found else None
