"""The page's jobs: runs and previews in worker processes, and the state of every work dir the page knows.

A run's state is its work dir, never this server's memory: a job the server
started is remembered only as a line in ``jobs.json`` (its input, output and
work dir), and what the list shows (running, interrupted at frame i of n,
done) is read back from the work dir and the output each time. So the list
survives a server restart, and so does resuming from it.

While a worker runs, a reader thread turns its JSON lines (web/worker.py)
into the job's live state; the event stream sends that state whenever its
version changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidstyle.errors import ResumeError
from vidstyle.pipeline.workdir import WorkDir, default_work_dir, output_beside
from vidstyle.pipeline.worklock import LOCK

SUFFIX = ".vidstyle"


def job_id(work_dir: Path) -> str:
    """A stable id from the work dir's path: the same job after a restart, and in the list of a scanned folder."""
    return hashlib.sha256(str(work_dir).encode()).hexdigest()[:12]


@dataclass
class Live:
    """What a worker has said so far (the page's progress), and its process."""

    process: subprocess.Popen[str] | None = None
    state: str = "starting"  # starting, running, interrupted, done, failed
    message: str = ""
    total: int = 0
    done: int = 0
    frame: int | None = None
    fps: float | None = None
    eta: float | None = None
    loss: float | None = None
    step: int | None = None
    budget: int | None = None
    shots: str = ""
    cuts: tuple[int, int] | None = None  # frames looked at for cuts, of how many (the pass before the first frame)
    thumb: int = 0  # frames shown so far: the thumbnail's version
    preview: list[dict[str, Any]] = field(default_factory=list)
    # The worker's last word (done, interrupted, failed), shown once its process has ended: until then
    # the work dir is still locked, and a Resume would be refused as busy.
    final: tuple[str, str] | None = None
    notices: list[str] = field(default_factory=list)
    size: str = ""  # the working size, and with --max-size auto what chose it ("256x144: --max-size 256 (auto: a CPU ...)")


@dataclass
class Job:
    id: str
    kind: str  # "run" or "preview"
    input: str
    output: str
    work_dir: Path | None
    folder: Path  # the job's scratch folder (thumbnail, preview images, spec)
    live: Live = field(default_factory=Live)
    version: int = 0

    def snapshot(self) -> dict[str, Any]:
        live = self.live
        state, message, done, total = live.state, live.message, live.done, live.total
        if self.kind == "run" and (live.process is None or live.process.poll() is not None) and state not in ("failed",):
            state, done, total, message = _on_disk(self, state, done, total, message)
        return {
            "id": self.id, "kind": self.kind, "input": self.input, "output": self.output,
            "work_dir": str(self.work_dir) if self.work_dir else None,
            "output_folder": str(Path(self.output).parent) if self.output else None,
            "state": state, "message": message, "done": done, "total": total, "frame": live.frame,
            "fps": live.fps, "eta": live.eta, "loss": live.loss, "step": live.step, "budget": live.budget,
            "shots": live.shots, "cuts": list(live.cuts) if live.cuts else None, "thumb": live.thumb,
            "preview": live.preview, "notices": live.notices[-5:], "size": live.size,
            "version": self.version,
        }  # fmt: skip


def _on_disk(job: Job, state: str, done: int, total: int, message: str) -> tuple[str, int, int, str]:
    """The state of a job with no live worker, from its work dir and output."""
    facts = work_dir_state(job.work_dir, Path(job.output)) if job.work_dir else None
    if facts is None:
        return state, done, total, message
    if facts["state"] == "done" and not facts["total"]:  # the work dir is gone with its counts: the worker's own stand
        return "done", done, total, ""
    return facts["state"], facts["done"], facts["total"], message or facts["message"]


def work_dir_state(work_dir: Path, output: Path | None) -> dict[str, Any] | None:
    """running, interrupted at frame i of n, or done, from the files alone; None when nothing says anything."""
    workdir = WorkDir(work_dir)
    if not workdir.exists():
        if output is not None and output.exists():
            return {"state": "done", "done": 0, "total": 0, "message": ""}
        return None
    try:
        manifest = WorkDir.read_manifest(work_dir)
        total = manifest.plan.frame_count
    except Exception as error:  # a damaged work dir is listed with its reason, not hidden
        return {"state": "damaged", "done": 0, "total": 0, "message": str(error)}
    done = len(workdir.records())
    if workdir.is_finished():
        return {"state": "done", "done": total, "total": total, "message": ""}
    if _lock_holder_alive(work_dir):
        return {"state": "running", "done": done, "total": total, "message": ""}
    return {"state": "interrupted", "done": done, "total": total, "message": f"interrupted at frame {done} of {total}"}


def _lock_holder_alive(work_dir: Path) -> bool:
    """Whether the process named in the work dir's lock file lives (read only: the lock itself is never taken here)."""
    try:
        holder = json.loads((work_dir / LOCK).read_text() or "{}")
        pid = int(holder.get("pid", 0))
    except (OSError, ValueError, AttributeError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Jobs:
    """The server's jobs, kept in ``state_dir`` (jobs.json and a scratch folder per job)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.registry = state_dir / "jobs.json"
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        for entry in self._read_registry():
            work_dir = Path(entry["work_dir"])
            jid = job_id(work_dir)
            self.jobs[jid] = Job(jid, "run", entry["input"], entry["output"], work_dir, state_dir / jid)
        self._previews = 0

    def _read_registry(self) -> list[dict[str, str]]:
        try:
            data = json.loads(self.registry.read_text())
        except (OSError, ValueError):
            return []
        return [e for e in data if isinstance(e, dict) and {"input", "output", "work_dir"} <= set(e)] if isinstance(data, list) else []

    def _write_registry(self) -> None:
        entries = [
            {"input": j.input, "output": j.output, "work_dir": str(j.work_dir)}
            for j in self.jobs.values()
            if j.kind == "run" and j.work_dir is not None
        ]
        temporary = self.registry.with_name(".jobs.json.tmp")
        temporary.write_text(json.dumps(entries, indent=1))
        os.replace(temporary, self.registry)

    # -- starting ------------------------------------------------------------
    def start_run(self, input: str, output: str, form: dict[str, Any]) -> Job:
        out = Path(output).expanduser().absolute()
        work_dir = default_work_dir(out)
        jid = job_id(work_dir)
        with self.lock:
            existing = self.jobs.get(jid)
            if existing is not None and existing.live.process is not None and existing.live.process.poll() is None:
                return existing
            job = Job(jid, "run", input, str(out), work_dir, self.state_dir / jid)
            self.jobs[jid] = job
            self._write_registry()
        self._spawn(job, {"mode": "stylize", "input": input, "output": str(out), "form": form})
        return job

    def resume_run(self, jid: str) -> Job:
        job = self.jobs[jid]
        if job.live.process is not None and job.live.process.poll() is None:
            raise ResumeError("This run is still going (or still saving its state after Stop); resume it once it says interrupted.")
        job.live = Live()
        self._spawn(job, {"mode": "resume", "work_dir": str(job.work_dir), "output": job.output})
        return job

    def start_preview(self, input: str, form: dict[str, Any]) -> Job:
        with self.lock:
            self._previews += 1
            jid = f"preview-{os.getpid()}-{self._previews}"
            job = Job(jid, "preview", input, "", None, self.state_dir / jid)
            self.jobs[jid] = job
        self._spawn(job, {"mode": "preview", "input": input, "form": form, "folder": str(job.folder)})
        return job

    def adopt(self, work_dir: Path) -> Job:
        """A work dir found in a folder the user named: listed, and resumable, like the server's own."""
        work_dir = work_dir.absolute()
        jid = job_id(work_dir)
        with self.lock:
            if jid not in self.jobs:
                try:
                    manifest = WorkDir.read_manifest(work_dir)
                    input, output = manifest.input, str(output_beside(work_dir) or manifest.output)
                except Exception:
                    input, output = "", str(output_beside(work_dir) or "")
                self.jobs[jid] = Job(jid, "run", input, output, work_dir, self.state_dir / jid)
                self._write_registry()
            return self.jobs[jid]

    def _spawn(self, job: Job, spec: dict[str, Any]) -> None:
        job.folder.mkdir(parents=True, exist_ok=True)
        spec_path = job.folder / "spec.json"
        spec_path.write_text(json.dumps({**spec, "thumb": str(job.folder / "thumb.jpg")}))
        process = subprocess.Popen(
            [sys.executable, "-m", "vidstyle.web.worker", str(spec_path)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # Ctrl-C on the server's terminal is not the run's stop; Stop is
        )
        job.live.process = process
        job.live.state = "running"
        self._changed(job)
        threading.Thread(target=self._read, args=(job, process), daemon=True).start()

    def _read(self, job: Job, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self._apply(job, event)
        code = process.wait()
        live = job.live
        if live.final is not None:
            live.state, live.message = live.final
        else:  # died without a word (killed): the work dir says where it is
            live.state = "failed" if job.kind == "preview" or code not in (0, 130, -signal.SIGINT) else "interrupted"
            live.message = live.message or f"the worker ended with code {code}"
        if live.state == "failed" and job.work_dir is not None and not WorkDir(job.work_dir).exists():
            self._forget(job)  # refused before it started: nothing to list after a restart
        self._changed(job)

    def _forget(self, job: Job) -> None:
        with self.lock:
            job.kind = "refused"  # still answers its event stream, no longer listed
            self._write_registry()

    def _apply(self, job: Job, event: dict[str, Any]) -> None:
        live, kind = job.live, event.get("type")
        if kind == "started":
            live.total, live.done = event["total"], event["done"]
            width, height = event.get("size") or (0, 0)
            choice = event.get("size_choice") or ""
            live.size = f"working size {width}x{height}" + (f": --max-size {choice}" if choice else "")
        elif kind == "cuts":
            live.cuts = (event["done"], event["total"])
        elif kind == "shots":
            live.shots = event["summary"]
        elif kind == "step":
            live.step, live.budget, live.loss = event["step"], event["budget"], event["loss"]
        elif kind == "frame":
            live.done, live.total, live.frame = event["done"], event["total"], event["frame"]
            live.fps, live.eta, live.loss = event["fps"], event["eta"], event["loss"]
            live.thumb += 1
        elif kind == "notice":
            live.notices.append(event["message"])
        elif kind == "done":
            live.final = ("done", "")
            live.done = live.total = event["frames"]
            live.shots = event.get("shots") or live.shots
        elif kind == "preview":
            live.preview, live.final = event["frames"], ("done", "")
            live.shots = event.get("shots") or live.shots
        elif kind == "interrupted":
            live.final = ("interrupted", event["message"])
        elif kind == "error":
            live.final = ("failed", event["message"])
        self._changed(job)

    def _changed(self, job: Job) -> None:
        with self.lock:
            job.version += 1

    # -- stopping --------------------------------------------------------------
    def stop(self, jid: str) -> Job:
        """The run's clean interrupt: SIGINT to the worker, which saves its state and says Interrupted."""
        job = self.jobs[jid]
        process = job.live.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            job.live.state = "stopping"
            self._changed(job)
        return job

    def scan(self, folder: Path) -> list[Job]:
        """Adopt every work dir (``*.vidstyle`` with a manifest) directly in ``folder`` or one level below."""
        found = []
        for candidate in sorted([*folder.glob(f"*{SUFFIX}"), *folder.glob(f"*/*{SUFFIX}")]):
            if candidate.is_dir() and WorkDir(candidate).exists():
                found.append(self.adopt(candidate))
        return found

    def close(self, *, timeout: float = 10.0) -> None:
        """Stop every running worker cleanly (their runs stay resumable) and wait for them."""
        running = [j.live.process for j in self.jobs.values() if j.live.process is not None and j.live.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
