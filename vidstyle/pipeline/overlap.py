"""CPU work beside the optimizer: reading ahead on one thread, writing behind on another.

While frame t is optimized, frame t+1 is decoded, resized and its optical
flow computed (:class:`ReadAhead`), and frame t-1 is written, logged and its
segment encoded (:class:`WriteBehind`). Both are single threads with bounded
queues, so at most a couple of frames are in flight; both are always joined
(``close``), and an exception raised on either thread is raised again in the
thread that uses them, at its next call.

OpenCV (decoding, resizing, DIS flow, PNG encoding) and ffmpeg release the
GIL, so these threads run beside the network's own threads; what they cannot
hide shows as ``wait_seconds`` in the per-frame log.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate ``source`` on a thread, at most ``depth`` items ahead of the consumer.

    ``waited`` accumulates the seconds the consumer spent blocked on it.
    """

    def __init__(self, source: Iterator[T], *, depth: int = 2, name: str = "vidstyle-read-ahead") -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self.waited = 0.0
        self._done = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        """Put ``item`` unless asked to stop; False when stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(error))
            return
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()
        self._put(_END)

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        started = time.perf_counter()
        item = self._queue.get()
        self.waited += time.perf_counter() - started
        if item is _END:
            self._done = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            self._thread.join()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop reading ahead and join the thread (what was read ahead is dropped)."""
        self._stop.set()
        self._done = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


class WriteBehind:
    """Run submitted jobs in order on one thread, at most ``depth`` waiting.

    ``submit`` and ``flush`` raise the first exception a job raised (again at
    every later call); after it, later jobs are dropped. ``waited`` accumulates the seconds the submitter
    spent blocked (on a full queue or in ``flush``).
    """

    def __init__(self, *, depth: int = 1, name: str = "vidstyle-write-behind") -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._closed = False
        self.waited = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    job()
            except BaseException as error:  # noqa: BLE001 - raised again in the submitter
                self._error = error
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, job: Callable[[], None]) -> None:
        self._raise()
        started = time.perf_counter()
        self._queue.put(job)
        self.waited += time.perf_counter() - started

    def flush(self) -> None:
        """Wait until every submitted job has run; raise the first exception one raised."""
        started = time.perf_counter()
        self._queue.join()
        self.waited += time.perf_counter() - started
        self._raise()

    def close(self) -> None:
        """Run what is queued, stop the thread and join it (exceptions are not raised here: call flush first)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
