"""Chains in parallel on Ray actors: a local cluster for the run (``--workers N``) or an existing one (``--ray-address``).

Only this module imports Ray, and only when the run asks for workers: a
plain run never imports it (tested).

What moves where:

* Each worker is a Ray actor holding one CPU slot or one GPU. It pins its
  torch and OpenCV threads (so N workers do not fight over the cores), builds
  the method once (weights, style targets) and then stylizes whole chains.
* With ``--batch-chains K`` a worker takes K chains at a time and puts one
  frame of each through every network pass (pipeline/executor.py
  BatchedExecutor), as one process does.
* A chain travels as its index: the actor got the plan, the source and the
  sink once, when it was made. It opens the input itself and reads only its
  own frames (an exact seek, video/sources.py), and writes its frames,
  segments and log into the run's work dir. That folder must be one every
  node sees (a shared filesystem on a cluster). No frame goes through Ray's
  object store: an actor returns small records (ChainOutcome) and hands out
  its progress events when the driver asks for them.
* The driver keeps every worker busy, longest chains first, follows them
  with ``ray.wait``, turns their events into the run's one progress display,
  and assembles the output as a local run does.

Faults: a worker that dies (killed, out of memory, its node gone) loses only
the unfinished frames of the chain it was running. The chain is run again on
another worker, and being resumable (pipeline/chain.py), it goes on after
its last finished frame. A replacement worker is started for the dead one. A
stop (Ctrl-C) asks every worker to abandon its frame (a running encoder is
killed), waits a few seconds for them, then kills them, and the state stays
on disk for ``vidstyle resume``, with any worker count. The cluster this
module started is shut down on every way out, so no Ray process outlives the
run.

A lost cluster ends the run instead of hanging it. When the raylet of this
machine's node dies, Ray neither fails the driver's pending results nor
places the replacement workers: the driver would wait forever. So a
:class:`ClusterWatch` thread asks the node's raylet and the cluster's GCS
whether they still answer (a TCP connection to their ports), and the driver
gives up in one line, with the resume command, once the raylet refuses or
either has been silent for ``_SILENT_S``.

Network exposure: the local cluster started for ``--workers`` listens on
127.0.0.1 only (every Ray server: GCS, raylet, object manager, workers; no
dashboard), so nothing on the network can reach it (tested). A cluster given
with ``--ray-address`` is the user's to secure (docs/workers.md).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidstyle.config import DeviceChoice, ScaleConfig, Settings
from vidstyle.errors import UsageError, VidstyleError, WorkerError
from vidstyle.faults import FaultAction, Faults
from vidstyle.methods.base import MethodFactory, StopToken
from vidstyle.pipeline.chain import ChainJob, ChainOutcome, run_chain
from vidstyle.pipeline.events import ChainEvent, ChainEventHandler, FrameStylized, Notice, SegmentEncoded, StepDone
from vidstyle.pipeline.executor import Execution, executor_for
from vidstyle.pipeline.interrupt import StopFlag
from vidstyle.pipeline.workdir import resume_command_for
from vidstyle.video.ffmpeg import stop_encoders_when

INSTALL_HINT = 'install it with `uv sync --extra ray` or `pip install "vidstyle[ray]"`'
# A local cluster only carries small records: its object store can be tiny (Ray's minimum is 75 MiB).
_OBJECT_STORE_BYTES = 100 * 1024 * 1024
_POLL_S = 0.25  # how often the driver collects the workers' progress
# How long a stop waits for the workers to abandon their frames (one optimizer step) before killing
# them: a killed worker loses only its frame in progress, all its writes being atomic.
_STOP_WAIT_S = 3.0
_WATCH_S = 0.5  # how often the ClusterWatch asks the raylet and the GCS whether they answer
_PROBE_S = 2.0  # how long one such question may take
_SILENT_S = 10.0  # a GCS (or raylet) that has not answered this long counts as gone; a refusing raylet at once
# Ray binds a local node's servers to the machine's network address unless Ray clusters are off for the
# process (Ray's switch for Windows and macOS, read when Ray is imported): then the node is 127.0.0.1 and
# every server listens on loopback only. A local cluster for one run needs no other machine.
_LOOPBACK_ONLY = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--workers and --ray-address need Ray, which is not installed; {INSTALL_HINT}.") from None
    return ray


@dataclass(frozen=True)
class Cluster:
    """A Ray cluster this run uses: how many workers, of what kind, with how many threads each."""

    workers: int
    gpus: bool  # one GPU per worker (else one CPU slot)
    threads: int  # torch/OpenCV threads per worker
    address: str | None  # the joined cluster; None: a local cluster started for this run (or one already connected)
    started: bool  # this run started the cluster, so it shuts it down
    watch: ClusterWatch | None = field(default=None, compare=False)  # whether the cluster is still there

    def describe(self) -> str:
        kind = "GPU" if self.gpus else "CPU"
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
        return f"{self.workers} worker(s) on {where}, one {kind} and {self.threads} thread(s) each"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _local_gpus(settings: Settings) -> int:
    if settings.model.device is DeviceChoice.CPU:
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _check_reachable(address: str) -> None:
    """Fail at once, in one line, when nothing listens at HOST:PORT (Ray itself would retry for a minute)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise WorkerError(
            f"Cannot reach the Ray cluster at {address} ({reason}); start it with `ray start --head` there, "
            "check the address, or run without --ray-address."
        ) from None


@contextmanager
def connect(scale: ScaleConfig, settings: Settings, *, on_notice: Callable[[str], None]) -> Iterator[Cluster]:
    """Start a local cluster (``--workers N``), join one (``--ray-address``) or use the one this process is connected to.

    Shuts down what it started, on every way out.
    """
    if scale.ray_address is None:
        # A local cluster runs this very interpreter: no need for Ray's `uv run` wrapper around every
        # worker (it is what Ray does when the driver runs under `uv run`), which costs seconds per worker.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        os.environ[_LOOPBACK_ONLY[0]] = _LOOPBACK_ONLY[1]  # before Ray is imported (see _LOOPBACK_ONLY)
    ray = import_ray()
    started = False
    # The run's Ctrl-C/SIGTERM handlers (pipeline/interrupt.py) stay in charge, whatever ray.init installs.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        cluster, started = _join_or_start(ray, scale, settings)
    finally:
        for sig, handler in handlers.items():
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(sig, handler)
    watch: ClusterWatch | None = None
    try:
        on_notice(f"Stylizing with {cluster.describe()}.")
        if started:
            gcs = ray.get_runtime_context().gcs_address
            if not _is_loopback(gcs.rpartition(":")[0]):
                on_notice(f"The local Ray cluster listens on {gcs}, not on 127.0.0.1 only (Ray was imported before vidstyle could set it up).")
        watch = ClusterWatch(ray, ours=started)
        yield replace(cluster, watch=watch)
    finally:
        processes = watch.processes() if watch is not None else {}
        if watch is not None:
            watch.close()
        if started or scale.ray_address is not None:
            processes = {**_start_times(_ray_descendants()), **processes} if started else {}
            ray.shutdown()
            _reap(processes, wait_s=1.0 if watch is not None and watch.lost else 10.0)  # a lost cluster's processes are not coming back


def _ray_descendants() -> list[int]:
    """Ray's processes under this one (raylet, GCS, workers, a worker still starting), while they are still ours."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    parents: dict[int, int] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - mine
        mine |= frontier
    return sorted(mine)


def _reap(processes: dict[int, str], *, wait_s: float = 10.0) -> None:
    """After ray.shutdown(): give the cluster's processes a moment to exit, then end those that did not.

    ``processes``: pid -> start time (/proc stat field 22), so that a pid
    reused since by another process is left alone. A worker still starting
    when the cluster went down (Ray starts it through a wrapper), or one
    whose raylet died (it is no longer our descendant), can outlive the
    raylet by seconds; no Ray process may outlive the run.
    """
    deadline = time.monotonic() + wait_s
    alive = dict(processes)
    while alive and time.monotonic() < deadline:
        alive = {pid: start for pid, start in alive.items() if _alive(pid, start)}
        if alive:
            time.sleep(0.1)
    for pid, start in alive.items():
        if _alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _start_times(pids: list[int]) -> dict[int, str]:
    """pid -> start time (/proc stat field 22) of those of ``pids`` still there."""
    found = {}
    for pid in pids:
        fields = _stat(pid)
        if fields is not None and len(fields) > 19:
            found[pid] = fields[19]
    return found


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None = None) -> bool:
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":  # a zombie has exited; its parent reaps it
        return False
    return start is None or (len(fields) > 19 and fields[19] == start)


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    return host == "localhost" or host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")


def _probe(address: tuple[str, int]) -> str | None:
    """None when something accepts a TCP connection at ``address``; else "refused" or why not."""
    try:
        socket.create_connection(address, timeout=_PROBE_S).close()
    except ConnectionRefusedError:
        return "refused"
    except OSError as error:
        return error.strerror or type(error).__name__
    return None


class ClusterWatch:
    """A thread that tells the driver when the cluster is gone, and remembers the local cluster's processes.

    Every ``_WATCH_S`` it connects to the raylet of the driver's node and to
    the GCS. ``lost`` becomes a reason (for the run's one line) once the
    raylet refuses, or either has not answered for ``_SILENT_S``. Ray itself
    notices neither in time: a dead local raylet leaves the driver's pending
    results pending forever (tested by killing it).

    ``ours``: the local cluster this run started. Its GCS refusing counts at
    once too (it has no fault tolerance to come back with, unlike a
    cluster's GCS backed by Redis), and the watch records this process's
    descendants (pid and start time) while they are ours: a worker whose
    raylet died is reparented and can only be found (and ended) from that
    record.
    """

    def __init__(self, ray: Any, *, ours: bool) -> None:
        self.lost: str | None = None
        self._track = ours
        self._processes: dict[int, str] = {}
        self._silent: dict[str, float] = {}
        self._targets = _watch_targets(ray)
        self._done = threading.Event()
        self._record()
        self._thread = threading.Thread(target=self._run, name="vidstyle-ray-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(_WATCH_S):
            self._record()
            if self.lost is None:
                self.check()

    def check(self) -> str | None:
        """Ask the raylet and the GCS now; the reason the cluster is lost, or None while it is there."""
        now = time.monotonic()
        for what, address in self._targets.items():
            failure = _probe(address)
            if failure is None:
                self._silent.pop(what, None)
                continue
            since = self._silent.setdefault(what, now)
            if failure == "refused" and (what == "raylet" or self._track):
                node = "the Ray node on this machine stopped" if what == "raylet" else "the cluster's head stopped"
                self.lost = f"{node}: its {what} at {address[0]}:{address[1]} refuses connections"
            elif now - since >= _SILENT_S:
                self.lost = f"the {what} at {address[0]}:{address[1]} has not answered for {now - since:.0f} s: {failure}"
        return self.lost

    def _record(self) -> None:
        if self._track:
            for pid, start in _start_times(_ray_descendants()).items():
                self._processes.setdefault(pid, start)

    def processes(self) -> dict[int, str]:
        """The cluster's processes seen (pid -> start time), those still descending from this process included."""
        self._record()
        return dict(self._processes)

    def close(self) -> None:
        self._done.set()
        self._thread.join()


def _watch_targets(ray: Any) -> dict[str, tuple[str, int]]:
    """Where the driver's raylet and the cluster's GCS listen; what cannot be found is not watched (Ray Client)."""
    targets: dict[str, tuple[str, int]] = {}
    try:
        context = ray.get_runtime_context()
        host, _, port = str(context.gcs_address).rpartition(":")
        if host and port.isdigit():
            targets["GCS"] = (host.strip("[]"), int(port))
        node = context.get_node_id()
        for entry in ray.nodes():
            if entry.get("NodeID") == node and entry.get("Alive"):
                targets["raylet"] = (str(entry["NodeManagerAddress"]), int(entry["NodeManagerPort"]))
    except Exception:  # noqa: BLE001 - a cluster this cannot describe is only not watched
        pass
    return targets


def _join_or_start(ray: Any, scale: ScaleConfig, settings: Settings) -> tuple[Cluster, bool]:
    started = False
    if scale.ray_address is not None:
        _check_reachable(scale.ray_address)
        try:
            ray.init(address=scale.ray_address, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ray.exceptions.RayError) as error:
            raise WorkerError(
                f"Cannot join the Ray cluster at {scale.ray_address} ({_first_line(error)}); check `ray status` there "
                "and that this machine has the cluster's auth token (RAY_AUTH_TOKEN or ~/.ray/auth_token)."
            ) from None
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if settings.model.device is DeviceChoice.CPU:
            gpus = 0
        if gpus:
            workers = gpus if scale.workers is None else min(scale.workers, gpus)
        elif scale.workers is not None:
            workers = scale.workers
        else:
            ray.shutdown()
            raise UsageError(
                f"The Ray cluster at {scale.ray_address} offers no GPU; pass --workers N to run N CPU workers on it."
            )
        threads = scale.threads or (1 if gpus else max(1, int(resources.get("CPU", 1)) // workers))
        cluster = Cluster(workers, gpus > 0, threads, scale.ray_address, False)
    else:
        workers = scale.workers or 1
        gpus = _local_gpus(settings)
        if gpus and workers > gpus:
            raise UsageError(f"--workers {workers} asks for more GPUs than the {gpus} here; pass --workers {gpus} or --device cpu.")
        if not ray.is_initialized():
            ray.init(
                num_cpus=workers,
                num_gpus=gpus,
                _node_ip_address="127.0.0.1",  # with _LOOPBACK_ONLY: every server on loopback, none on the network
                include_dashboard=False,
                object_store_memory=_OBJECT_STORE_BYTES,
                logging_level="ERROR",
                log_to_driver=False,
            )
            started = True
        cluster = Cluster(workers, gpus > 0, scale.threads or max(1, _cores() // workers), None, started)
    return cluster, started


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class Worker:
    """One actor (made with ray.remote in :class:`RayExecutor`): a method, built once, that stylizes whole chains.

    Runs threaded (max_concurrency > 1), so that the driver can collect its
    events and ask it to stop while a chain runs.
    """

    def __init__(self, factory: MethodFactory, settings: Settings, working_size: tuple[int, int], threads: int, template: ChainJob) -> None:
        import cv2
        import torch

        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        self.method = factory(settings, working_size)
        self.batch_chains = settings.model.batch_chains
        self.template = template
        self.stop = StopFlag()  # the one stop token, set by the driver through Worker.request_stop
        self._events: list[ChainEvent] = []
        self._lock = threading.Lock()

    def ready(self) -> int:
        return os.getpid()

    def run(self, chains: list[int], faults: dict[int, Faults]) -> list[ChainOutcome]:
        """Stylize ``chains``: one, or (``--batch-chains K``) up to K of them together, one frame of each per network pass."""
        self.stop.requested = False
        jobs = [replace(self.template, chain=chain, faults=faults.get(chain, Faults())) for chain in chains]
        with stop_encoders_when(lambda: self.stop.requested):  # a stop kills a running encoder (video/ffmpeg.py)
            if len(jobs) == 1:
                return [run_chain(jobs[0], method=self.method, stop=self.stop, on_event=self._collect)]
            execution = executor_for(self.method, batch_chains=len(jobs)).run(jobs, stop=self.stop, on_event=self._collect)
            return list(execution.outcomes)

    def _collect(self, event: ChainEvent) -> None:
        with self._lock:
            self._events.append(event)

    def drain(self) -> list[ChainEvent]:
        """The events since the last call: every frame and segment, and only the latest step."""
        with self._lock:
            events, self._events = self._events, []
        steps = [e for e in events if isinstance(e, StepDone)]
        kept = [e for e in events if not isinstance(e, StepDone)]
        return kept + steps[-1:]

    def request_stop(self) -> None:
        self.stop.request()


class RayExecutor:
    """Runs the chains on the cluster's workers; see the module docstring."""

    def __init__(self, cluster: Cluster, *, method_factory: MethodFactory, settings: Settings, working_size: tuple[int, int]) -> None:
        self.cluster = cluster
        self.method_factory = method_factory
        self.settings = settings
        self.working_size = working_size
        self._output: Path | None = None  # the run's output, once run() starts (for the resume command)
        self.fault_spent = False  # a worker died while the run carried a kill fault (it was that fault)
        self._drains: dict[Any, Any] = {}  # actor -> its event collection in flight

    def _make_actor(self, remote_class: Any, template: ChainJob) -> Any:
        options: dict[str, Any] = {"max_concurrency": 4, "max_restarts": 0}
        if self.cluster.gpus:
            options.update(num_gpus=1, num_cpus=0)
        else:
            options.update(num_cpus=1)
        return remote_class.options(**options).remote(
            self.method_factory, self.settings, self.working_size, self.cluster.threads, template
        )

    def run(self, jobs: Sequence[ChainJob], *, stop: StopToken, on_event: ChainEventHandler) -> Execution:
        ray = import_ray()
        if not jobs:
            return Execution((), stopped=False)
        template = replace(jobs[0], faults=Faults())
        faults = {job.chain: job.faults for job in jobs}
        remote_class = ray.remote(Worker)
        actors = [self._make_actor(remote_class, template) for _ in range(min(self.cluster.workers, len(jobs)))]
        starting = {actor.ready.remote(): actor for actor in actors}
        began = time.perf_counter()
        # Longest chain first (frames to stylize, warmup included): the last ones to start are the short ones.
        queue = deque(sorted((job.chain for job in jobs), key=lambda c: -len(range(jobs[0].plan.chains[c].warmup_start, jobs[0].plan.chains[c].stop))))
        outcomes: list[ChainOutcome] = []
        running: dict[Any, tuple[Any, list[int]]] = {}  # object ref -> (actor, its chains)
        per_worker = max(1, self.settings.model.batch_chains)  # --batch-chains K: K chains at a time on each worker
        idle = list(actors)
        replacements = len(actors)  # a worker may be replaced this many times in a run
        work = jobs[0].sink.work
        self._output = jobs[0].sink.output
        try:
            while queue or running:
                if stop.requested:
                    return Execution(tuple(outcomes), stopped=self._stop(ray, running, on_event, outcomes))
                self._check_cluster(work)
                while queue and idle:
                    actor, chains = idle.pop(), [queue.popleft() for _ in range(min(per_worker, len(queue)))]
                    running[actor.run.remote(chains, {c: faults.get(c, Faults()) for c in chains})] = (actor, chains)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_S)
                if starting:
                    up, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
                    for ref in up:
                        del starting[ref]
                    if not starting:
                        on_event(Notice(f"{len(actors)} worker(s) ready after {time.perf_counter() - began:.1f} s."))
                self._forward(ray, [actor for actor, _ in running.values()], on_event)
                for ref in ready:
                    actor, chains = running.pop(ref)
                    try:
                        ended = ray.get(ref)
                    except ray.exceptions.RayActorError as error:
                        if stop.requested:
                            continue  # a worker that got the Ctrl-C itself; its chain resumes later
                        self._check_cluster(work, now=True)  # died with its node: no worker can replace it
                        if replacements == 0:
                            raise WorkerError(
                                f"Ray workers keep dying ({_first_line(error)}); the finished frames are kept, "
                                f"resume with: {self._resume(work)}"
                            ) from None
                        replacements -= 1
                        for chain in chains:
                            self._note_death(faults, chain)
                        queue.extendleft(reversed(chains))  # resumed by the next free worker, after their last finished frames
                        actors.remove(actor)
                        replacement = self._make_actor(remote_class, template)
                        actors.append(replacement)
                        idle.append(replacement)
                        named = f"chain {chains[0]}" if len(chains) == 1 else "chains " + ", ".join(str(c) for c in chains)
                        on_event(Notice(f"A worker died while stylizing {named}; it goes on on another worker."))
                        continue
                    except ray.exceptions.RayTaskError as error:
                        cause = error.cause if isinstance(getattr(error, "cause", None), BaseException) else None
                        if isinstance(cause, VidstyleError):
                            raise cause from None
                        raise
                    self._flush(ray, [actor], on_event)
                    outcomes.extend(ended)
                    idle.append(actor)
                    if any(outcome.stopped for outcome in ended) or len(ended) < len(chains):  # a worker that saw the stop before the driver did
                        return Execution(tuple(outcomes), stopped=self._stop(ray, running, on_event, outcomes))
            return Execution(tuple(outcomes), stopped=False)
        except (ray.exceptions.RaySystemError, ray.exceptions.LocalRayletDiedError, ray.exceptions.NodeDiedError, ConnectionError) as error:
            raise self._lost(_first_line(error), work) from None
        finally:
            for actor in actors:
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001 - already gone with its node
                    pass

    def _check_cluster(self, work: Path | None, *, now: bool = False) -> None:
        """Raise WorkerError when the ClusterWatch found the cluster gone (``now``: ask it again first)."""
        watch = self.cluster.watch
        if watch is None:
            return
        reason = watch.check() if now else watch.lost
        if reason is not None:
            raise self._lost(reason, work)

    def _lost(self, reason: str, work: Path | None) -> WorkerError:
        again = "" if self.cluster.started else "start the Ray cluster again, then "
        return WorkerError(f"Lost the Ray cluster ({reason}); the finished frames are kept: {again}resume with: {self._resume(work)}")

    def _resume(self, work: Path | None) -> str:
        # With --output where the work dir is not beside the output (vidstyle resume takes the output from there).
        return resume_command_for(work, self._output) if work is not None and self._output is not None else "the same command"

    def _note_death(self, faults: dict[int, Faults], chain: int) -> None:
        """A chain whose worker died runs again without its injected kill: that fault has acted."""
        fault = faults.get(chain, Faults())
        if fault.armed and fault.action is FaultAction.KILL:
            self.fault_spent = True
        faults[chain] = Faults()

    def _forward(self, ray: Any, actors: list[Any], on_event: ChainEventHandler, *, wait: bool = False, wait_s: float = 30.0) -> None:
        """Pass the workers' events on (frames, segments, the latest step), in the order each worker made them.

        One collection per worker is in flight at a time; without ``wait``
        only those already answered are read, so a worker still starting up
        (importing torch, loading weights) never holds the driver up.
        """
        for actor in actors:
            if actor not in self._drains:
                self._drains[actor] = actor.drain.remote()
        refs = [self._drains[actor] for actor in actors]
        if not refs:
            return
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=wait_s if wait else 0)
        answered = set(ready)
        for actor in actors:
            ref = self._drains[actor]
            if ref not in answered:
                continue
            del self._drains[actor]
            try:
                events = ray.get(ref)
            except ray.exceptions.RayActorError:
                continue  # a dead worker: its chain's ref says so
            for event in events:
                if isinstance(event, (FrameStylized, SegmentEncoded, StepDone, Notice)):  # Notice: a frame redone
                    on_event(event)

    def _flush(self, ray: Any, actors: list[Any], on_event: ChainEventHandler, *, wait_s: float = 30.0) -> None:
        """Every event of these (now idle) workers: the collection in flight, then one more after their chains' last event."""
        self._forward(ray, actors, on_event, wait=True, wait_s=wait_s)
        self._forward(ray, actors, on_event, wait=True, wait_s=wait_s)

    def _stop(self, ray: Any, running: dict[Any, tuple[Any, list[int]]], on_event: ChainEventHandler, outcomes: list[ChainOutcome]) -> bool:
        """Ask every busy worker to abandon its frame and wait a few seconds for them (their frames so far stay on disk).

        Those still busy then (a node gone, a worker stuck) are killed with
        the others when run() ends: a stop never waits longer.
        """
        busy = [actor for actor, _ in running.values()]
        for actor in busy:
            actor.request_stop.remote()
        deadline = time.monotonic() + _STOP_WAIT_S
        while running and time.monotonic() < deadline:
            ready, _ = ray.wait(list(running), num_returns=len(running), timeout=_POLL_S)
            for ref in ready:
                actor, _ = running.pop(ref)
                try:
                    outcomes.extend(ray.get(ref))
                except ray.exceptions.RayError:
                    pass  # a worker that died on the signal: its written frames are complete files
        self._flush(ray, [actor for actor in busy if actor not in {a for a, _ in running.values()}], on_event, wait_s=1.0)
        return True
