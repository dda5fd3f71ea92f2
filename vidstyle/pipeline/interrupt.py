"""Stopping cleanly on Ctrl-C or SIGTERM.

The first signal only raises a flag: the run abandons the frame in progress
(nothing partial is ever written under a final name), flushes its state and
raises Interrupted, which the CLI turns into the resume command and exit
code 130. A second signal raises KeyboardInterrupt at once; atomic writes
keep everything already written intact even then.

The first signal must stop the run within seconds whatever it waits for:
the optimizer and fast mode's training poll the flag at every step, the Ray
driver at every poll of its workers (pipeline/ray_executor.py), and a
running encoder is killed (video/ffmpeg.py stop_encoders_when, installed
here), its segment encoded again on resume.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from vidstyle.video.ffmpeg import stop_encoders_when


class StopFlag:
    """The one stop token (pipeline/chain.py StopToken): set by a signal here, by the driver in a Ray worker."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def request(self) -> None:
        self.requested = True

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """Install SIGINT/SIGTERM handlers for the duration of a run (main thread only)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals can only be handled on the main thread; run unguarded
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, flag._handle)
    try:
        with stop_encoders_when(lambda: flag.requested):
            yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
