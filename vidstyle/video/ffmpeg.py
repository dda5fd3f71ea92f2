"""Running ffmpeg: the one place vidstyle finds and starts it.

imageio-ffmpeg ships an ffmpeg binary (no system ffmpeg needed). Every call
goes through :func:`run_ffmpeg`, which

* passes an argv list (never a shell string);
* starts ffmpeg in its own session, so a Ctrl-C in the terminal reaches only
  vidstyle; an encoder run (``stoppable``) is killed within a tenth of a
  second of a stop being requested (:func:`stop_encoders_when`), whatever it
  was doing, so the run stops in moments and the segment is encoded on resume;
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
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vidstyle.errors import VidstyleError

__all__ = [
    "FfmpegError",
    "FfmpegRun",
    "FfmpegStopped",
    "ffmpeg_exe",
    "frames_reported",
    "last_error_line",
    "last_error_lines",
    "run_ffmpeg",
    "stop_encoders_when",
]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # pragma: no cover - depends on the installation
        raise VidstyleError(f"ffmpeg is not available ({exc}); reinstall imageio-ffmpeg (uv sync).") from exc


class FfmpegError(Exception):
    """ffmpeg could not be started, or a file to feed it could not be read; callers add what they were doing."""


class FfmpegStopped(FfmpegError):
    """A stoppable ffmpeg was killed because the run was asked to stop (Ctrl-C, SIGTERM, a worker's stop)."""


# Stop requests that stoppable ffmpeg runs honour: the run's Ctrl-C flag (pipeline/interrupt.py), a Ray
# worker's stop (pipeline/ray_executor.py). Process-wide like a signal, because the encoder runs on the
# chain's write-behind thread, and the sinks that start it know nothing of the run.
_stop_requests: list[Callable[[], bool]] = []
_STOP_POLL_S = 0.05


@contextmanager
def stop_encoders_when(requested: Callable[[], bool]) -> Iterator[None]:
    """While inside, a stoppable ffmpeg (encodes, the assembly) is killed soon after ``requested()`` is True.

    It then raises :class:`FfmpegStopped`: its partial output is removed by
    its caller and redone on resume. A stop must not wait for an encoder that
    may take minutes (an hour-long assembly with audio re-encoded) or hang
    (a stuck pipe, a network filesystem).
    """
    _stop_requests.append(requested)
    try:
        yield
    finally:
        _stop_requests.remove(requested)


def _stop_requested() -> bool:
    return any(requested() for requested in tuple(_stop_requests))


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
    stoppable: bool = False,
) -> FfmpegRun:
    """Run ``ffmpeg -hide_banner [-nostdin] *args`` and wait for it.

    ``feed``: files whose bytes are written to ffmpeg's stdin, in order.
    ``stdout``: a binary file that receives ffmpeg's stdout (default: discarded).
    ``while_running``: called once ffmpeg runs (after the feed, before the
    wait); the fault-injection seam uses it to die mid-encode.
    ``stoppable``: kill ffmpeg and raise FfmpegStopped once a stop is
    requested (:func:`stop_encoders_when`), also while its stdin is fed; only
    for callers that treat that as the run's stop (encodes and the assembly,
    not the probes whose failure would read as a bad file).
    Raises FfmpegError (cannot start, unreadable feed file, stopped) and
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
        watcher = _StopWatcher(proc) if stoppable and _stop_requests else None
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
        finally:
            if watcher is not None:
                watcher.close()
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    if watcher is not None and watcher.killed:
        raise FfmpegStopped("stopped by the run's stop request")
    if feed_error is not None:
        raise FfmpegError(feed_error)
    return FfmpegRun(returncode=returncode, stderr=stderr)


class _StopWatcher:
    """A thread that kills ``proc`` once a stop is requested (the caller may be blocked writing its stdin)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.killed = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidstyle-ffmpeg-stop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(_STOP_POLL_S):
            if _stop_requested():
                self.killed = self.proc.poll() is None
                if self.killed:
                    self.proc.kill()
                return

    def close(self) -> None:
        self._done.set()
        self._thread.join()


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
