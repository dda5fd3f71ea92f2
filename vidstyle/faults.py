"""Fault injection: the one supported seam through which tests kill or fail a run at a named point.

Set ``VIDSTYLE_FAULT`` before a run starts; the run reads it once, when it
starts, and hands it to every chain it runs::

    VIDSTYLE_FAULT=POINT[:N[:M]][:ACTION]

Points (K is a frame's 0-based position in the plan, N a segment's index):

    step:K:S    after optimizer step S (1-based) of frame K
    frame:K     right after frame K is done: its file written and its record logged
                (before the segment it completes is encoded)
    torn:K      while frame K's working PNG is written: half of its bytes sit in the
                temporary file beside it
    record:K    frame K's PNG is complete under its final name, its log record is not written
    encode:N    while ffmpeg encodes segment N (its partial file holds data)
    assemble    while ffmpeg joins the segments into the output (its partial file holds data)
    train:S     fast mode: right after training step S (1-based) and the checkpoint due at it, if any
    nan:K       frame K's loss turns NaN at its first step, as a numerical fault would
                (one content pixel becomes NaN); the method must redo the frame
    trainnan:S  fast mode: the training loss turns NaN at step S (1-based) and stays NaN, as
                when the network diverges; the training must give up in one line (the
                action does not matter here)

Actions:

    kill        (the default) SIGKILL this process at once: nothing is cleaned up,
                as after a power cut or the OOM killer
    fail        the step fails as it would on its own: ffmpeg points raise EncodeError
                (ffmpeg is killed and its partial file removed), the others raise InjectedFault
    interrupt   send this process SIGINT, as a Ctrl-C in its terminal would: the run
                stops cleanly at the next frame boundary and prints its resume command
    bug         raise a RuntimeError, as a bug in vidstyle would (not a VidstyleError):
                the CLI's one-line report of an unexpected exception

For ``nan`` the actions mean: ``kill`` (the default) poisons only the first
attempt at the frame, so the redone frame succeeds; ``fail`` poisons every
attempt, so the frame fails for good and the run must stop cleanly.

A fault that is set but never reached is an error too: the run raises
FaultNotReached at its end. So a test that injects a fault cannot pass because
moved code no longer reaches the point; tests/pipeline/test_resume.py also
reaches every point listed here (``nan``: tests/pipeline/test_numerical.py;
``train`` and ``trainnan``: tests/pipeline/test_fast_mode.py).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from vidstyle.errors import EncodeError, UsageError, VidstyleError

ENV = "VIDSTYLE_FAULT"


class FaultPoint(str, Enum):
    STEP = "step"
    FRAME = "frame"
    TORN = "torn"
    RECORD = "record"
    ENCODE = "encode"
    ASSEMBLE = "assemble"
    NAN = "nan"
    TRAIN = "train"
    TRAIN_NAN = "trainnan"


class FaultAction(str, Enum):
    KILL = "kill"
    FAIL = "fail"
    INTERRUPT = "interrupt"
    BUG = "bug"


# How many numbers locate each point.
_ARITY = {
    FaultPoint.STEP: 2,
    FaultPoint.FRAME: 1,
    FaultPoint.TORN: 1,
    FaultPoint.RECORD: 1,
    FaultPoint.ENCODE: 1,
    FaultPoint.ASSEMBLE: 0,
    FaultPoint.NAN: 1,
    FaultPoint.TRAIN: 1,
    FaultPoint.TRAIN_NAN: 1,
}
_FFMPEG_POINTS = {FaultPoint.ENCODE, FaultPoint.ASSEMBLE}
# How long an ffmpeg point waits for ffmpeg's first bytes before it acts anyway.
_FFMPEG_WAIT_S = 20.0


class InjectedFault(VidstyleError):
    """A failure injected through VIDSTYLE_FAULT."""


class FaultNotReached(VidstyleError):
    """VIDSTYLE_FAULT named a point this run never reached."""


@dataclass(frozen=True)
class Faults:
    """The injected fault of a run (none by default). Picklable, so a chain on another process carries it."""

    point: FaultPoint | None = None
    where: tuple[int, ...] = ()
    action: FaultAction = FaultAction.KILL

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``step:3:2``, ``record:30``, ``assemble:fail``, ...; UsageError for anything else."""
        parts = [part.strip() for part in text.strip().split(":")]
        action = FaultAction.KILL
        if parts and parts[-1] in {a.value for a in FaultAction}:
            action = FaultAction(parts.pop())
        points = ", ".join(p.value for p in FaultPoint)
        try:
            point = FaultPoint(parts[0])
            where = tuple(int(part) for part in parts[1:])
        except (ValueError, IndexError):
            raise UsageError(f"{ENV}={text!r} is not a fault; use POINT[:N[:M]][:kill|fail|interrupt|bug] with POINT one of {points}.") from None
        if len(where) != _ARITY[point]:
            raise UsageError(f"{ENV}={text!r}: {point.value} takes {_ARITY[point]} number(s).")
        return cls(point=point, where=where, action=action)

    @classmethod
    def from_env(cls) -> Faults:
        text = os.environ.get(ENV, "").strip()
        return cls.parse(text) if text else cls()

    @property
    def armed(self) -> bool:
        return self.point is not None

    def describe(self) -> str:
        if self.point is None:
            return "(none)"
        return ":".join([self.point.value, *(str(n) for n in self.where), self.action.value])

    def hit(self, point: FaultPoint, *where: int) -> bool:
        """True when ``point`` at ``where`` is the injected fault."""
        return self.point is point and tuple(where) == self.where

    def at(self, point: FaultPoint, *where: int) -> None:
        """A named point: act when it is the injected one."""
        if self.hit(point, *where):
            self.trigger()

    def poisons(self, frame: int, attempt: int) -> bool:
        """The ``nan`` point: whether attempt ``attempt`` (0 first) at stylizing ``frame`` is to go NaN."""
        return self.hit(FaultPoint.NAN, frame) and (attempt == 0 or self.action is FaultAction.FAIL)

    def poisons_training(self, step: int, attempt: int) -> bool:
        """The ``trainnan`` point: whether fast-mode training step ``step`` goes NaN (every attempt at it: it stays bad)."""
        return self.hit(FaultPoint.TRAIN_NAN, step)

    def tear(self, frame: int, temporary: Path, data: bytes) -> None:
        """The ``torn`` point: half of ``data`` in ``temporary`` (an interrupted write), then act."""
        if self.hit(FaultPoint.TORN, frame):
            temporary.write_bytes(data[: len(data) // 2])
            self.trigger()

    def watch(self, point: FaultPoint, *where: int) -> Callable[[Path], None] | None:
        """For an ffmpeg point: a ``while_running`` hook that acts once ffmpeg's output holds data.

        The hook runs in the thread that would publish the output, so the
        partial file can never be renamed into place before the fault acts.
        """
        if point not in _FFMPEG_POINTS or not self.hit(point, *where):
            return None

        def wait_then_act(temporary: Path) -> None:
            deadline = time.monotonic() + _FFMPEG_WAIT_S
            while time.monotonic() < deadline and not (temporary.exists() and temporary.stat().st_size > 0):
                time.sleep(0.002)
            self.trigger()

        return wait_then_act

    def trigger(self) -> None:
        """Act: kill this process, raise the point's failure, or interrupt (then return: the run stops by itself)."""
        assert self.point is not None
        if self.action is FaultAction.INTERRUPT:
            os.kill(os.getpid(), signal.SIGINT)
            return
        if self.action is FaultAction.KILL:
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)  # never reached: SIGKILL cannot be caught
        message = f"failure injected by {ENV}={self.describe()}"
        if self.action is FaultAction.BUG:
            raise RuntimeError(message)
        if self.point in _FFMPEG_POINTS:
            raise EncodeError(f"ffmpeg failed: {message}")
        raise InjectedFault(message)

    def check_reached(self, redone: Collection[int] = ()) -> None:
        """Called when a run ends: an injected fault that never acted means its point was not reached.

        ``redone``: positions of frames the run redid after a numerical fault;
        a ``nan`` fault acted when its frame is among them (the run survives it).
        """
        if self.point is FaultPoint.NAN and self.where[0] in redone:
            return
        if self.armed:
            raise FaultNotReached(
                f"{ENV}={self.describe()} was never reached by this run; check the point and its numbers against the plan."
            )
