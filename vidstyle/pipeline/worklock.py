"""One run per work dir: an OS-level lock held by the run's process from before it reads the work dir to its end.

The lock is ``fcntl.flock`` on ``run.lock`` inside the work dir. The kernel
releases it when the process ends, however it ends (SIGKILL and power cuts
included), so a killed run never leaves a lock that blocks its resume; a live
one always blocks a second run, whose refusal touches nothing. The holder
writes its pid and start time into the file so the refusal can name them.
The driver holds it while Ray workers run; a worker never takes it (the
driver's lock covers the whole run, and a worker dies with its driver).

The descriptor is not inherited by children (os.open makes it
non-inheritable), so an ffmpeg orphaned by a killed run cannot keep the lock.
No new dependency: ``filelock`` would add nothing that flock does not give here.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

from vidstyle.errors import OutputError, WorkDirBusy

try:  # POSIX; where it is missing (Windows) runs are not locked, and docs/data-safety.md says so
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms vidstyle is tested on
    fcntl = None  # type: ignore[assignment]

LOCK = "run.lock"


def busy_message(root: Path, holder: dict[str, object]) -> str:
    pid = holder.get("pid", "?")
    started = holder.get("started")
    when = time.strftime("%H:%M", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return f"another vidstyle run (pid {pid}, started {when}) is using {root}; wait for it or stop it"


class WorkLock:
    """The lock of the work dir ``root`` (which must exist): acquire() or WorkDirBusy, release() when the run ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if fcntl is None or self._fd is not None:
            return
        try:
            # O_NOFOLLOW: a link planted as run.lock is refused, never followed (nothing is truncated through it).
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            raise OutputError(
                f"Cannot lock the work dir {self.root} ({error.strerror or error}); choose another --work-dir."
            ) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise WorkDirBusy(busy_message(self.root, holder)) from None
        except OSError as error:  # a filesystem without flock (some network mounts): run unlocked rather than not at all
            os.close(fd)
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP):
                raise
            return
        # Ours now: say who holds it (the file's old text was a dead run's).
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode(), 0)
        self._fd = fd

    def release(self, *, remove: bool = False) -> None:
        """Give the lock back; ``remove`` also unlinks the lock file (the work dir is going away)."""
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)  # while still held: no other run can have locked this file meanwhile
        os.close(self._fd)  # closing the only descriptor releases the flock
        self._fd = None


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
