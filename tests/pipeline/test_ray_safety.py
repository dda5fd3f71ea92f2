"""A ``--workers`` run never hangs and never listens on the network: real runs in their own processes, each with its own cluster.

* Loopback only: while the run's workers stylize, every listening TCP socket
  of every process of the run (driver, GCS, raylet, workers, agents) is on
  127.0.0.1 or ::1 (read from /proc/net/tcp and tcp6).
* A dead node: the raylet of the run's local cluster is SIGKILLed while the
  workers are busy. Ray then neither fails the pending results nor starts
  replacement workers; the run must still end within 30 s with one line that
  says the cluster was lost and how to resume (exit 1), and no Ray process
  may outlive it. The same when the cluster's GCS dies (the cluster becomes
  unreachable).
* Ctrl-C while the driver waits on Ray: one SIGINT to the driver alone (the
  workers do not get it) ends the run within seconds, exit 130, one line with
  the resume command, state kept, no Ray process left.

Each chain's first frame takes one step and its second never finishes (a step
budget of ten million, no early stop), so once both first frames are logged
every signal lands while the workers are busy, without timing luck. Each test starts its own
cluster (about 5 s and 600 MB on an idle machine); Ray's own throwaway
clusters run with ``RAY_AUTH_MODE=disabled`` as in test_ray.py.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.mediatools import REPO_ROOT, make_clip, optional_tool

try:
    import ray  # noqa: F401 - only its presence is checked here; the runs start it in their own processes
except ImportError:
    optional_tool(False, "Ray is not installed (the dev group has it; uv sync --extra ray)", module=True)

pytestmark = pytest.mark.slow

LOST_WITHIN_S = 30.0
STOP_WITHIN_S = 15.0  # a few seconds on an idle machine; the shared 2-core runner is often at load 10


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ray-safety-media")
    style = folder / "style.png"
    cv2.imwrite(str(style), (np.random.default_rng(3).random((32, 32, 3)) * 255).astype(np.uint8))
    return {"clip": make_clip(folder / "clip.mp4", width=32, height=24, frames=8, audio=False), "style": style, "cache": folder / "cache"}


# ---------------------------------------------------------------- the run's processes and sockets


def _marked(mark: str) -> dict[int, str]:
    """pid -> command line of every process started under the marker (Ray's inherit the driver's environment)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"VIDSTYLE_TEST_MARK={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            continue
    return found


def _left_after(mark: str, seconds: float = 2.0) -> dict[int, str]:
    deadline = time.monotonic() + seconds
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    # /proc/net/tcp{,6} print the address as 32-bit words in host (little-endian) order.
    return ipaddress.ip_address(b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4)))


def _listening(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket (IPv4 and IPv6) held by ``pids``."""
    owners: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owners[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in owners:  # 0A: LISTEN
                host, port = local.split(":")
                found.append((owners[inode], str(_address(host)), int(port, 16)))
    return found


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


# ---------------------------------------------------------------- a run that never finishes by itself


def _start(media: dict[str, Path], weights: Path, folder: Path) -> tuple[subprocess.Popen, str, Path]:
    output, mark = folder / "out.mp4", uuid.uuid4().hex
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "VIDSTYLE_TEST_MARK": mark, "VIDSTYLE_CACHE_DIR": str(media["cache"])}
    env.pop("VIDSTYLE_DEBUG", None)
    env.pop("VIDSTYLE_FAULT", None)
    command = [
        sys.executable, "-m", "vidstyle", "stylize", str(media["clip"]), "--style", str(media["style"]), "--output", str(output),
        "--weights", str(weights), "--max-size", "32", "--iterations", "1", "--iterations-next", "10000000", "--tolerance", "0",
        "--device", "cpu", "--segment-frames", "2", "--cuts", "off", "--chain-frames", "4", "--overlap", "0",
        "--workers", "2", "--worker-threads", "1", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, mark, folder / "out.mp4.vidstyle"


def _wait_until_both_workers_stylize(proc: subprocess.Popen, mark: str, work: Path) -> dict[int, str]:
    """Until each chain's first frame (one step, cold) is logged: both workers are then in an endless second frame."""
    deadline = time.monotonic() + 300
    while len(list((work / "log").glob("*.json"))) < 2:  # one log file per segment: chains 0 and 1 start in segments 0 and 2
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"the workers did not start stylizing in 300 s: {_marked(mark)}"
        time.sleep(0.1)
    return _marked(mark)


def _end(proc: subprocess.Popen, *, timeout: float) -> tuple[str, str, float]:
    began = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"the run still ran {timeout:.0f} s later; stderr: {stderr[-2000:]}")
    return stdout, stderr, time.monotonic() - began


def _our_lines(stderr: str) -> list[str]:
    """vidstyle's own lines on stderr (Ray's processes may add their log lines to the stream)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    ("victim", "reason"),
    [
        ("raylet", "the Ray node on this machine stopped: its raylet at 127.0.0.1:"),  # the node dies
        ("gcs_server", "the cluster's head stopped: its GCS at 127.0.0.1:"),  # the cluster becomes unreachable
    ],
)
def test_a_dead_node_ends_the_run_in_one_line_and_the_cluster_listened_on_loopback_only(
    victim: str, reason: str, media, random_weights, tmp_path: Path  # noqa: ANN001
) -> None:
    proc, mark, work = _start(media, random_weights, tmp_path)
    try:
        processes = _wait_until_both_workers_stylize(proc, mark, work)
        sockets = _listening(list(processes))
        victims = [pid for pid, command in processes.items() if command.split(" ", 1)[0].endswith(f"/{victim}")]
        assert len(victims) == 1, processes
        os.kill(victims[0], signal.SIGKILL)
        stdout, stderr, took = _end(proc, timeout=LOST_WITHIN_S + 30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    print(f"ended {took:.1f} s after the {victim} was killed")

    assert sockets, "the run's cluster listens somewhere"
    exposed = [(pid, processes.get(pid, "?")[:80], address, port) for pid, address, port in sockets if not _is_loopback(address)]
    assert exposed == [], f"Ray listened beyond loopback: {exposed}"

    assert proc.returncode == 1, stderr
    assert took < LOST_WITHIN_S, f"the run took {took:.1f} s to notice its dead node"
    lines = _our_lines(stderr)
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith(f"error: Lost the Ray cluster ({reason}"), lines[0]
    assert lines[0].endswith(f"resume with: {lines[0].rsplit('resume with: ', 1)[1]}") and lines[0].endswith(f"resume {work}")
    assert "A worker died" not in stderr + stdout
    assert (work / "manifest.json").is_file()
    left = _left_after(mark)
    assert left == {}, f"Ray processes outlived the run: {left}"


def test_one_ctrl_c_while_the_driver_waits_on_ray_stops_within_seconds(media, random_weights, tmp_path: Path) -> None:  # noqa: ANN001
    proc, mark, work = _start(media, random_weights, tmp_path)
    try:
        _wait_until_both_workers_stylize(proc, mark, work)
        os.kill(proc.pid, signal.SIGINT)  # the driver alone: its workers must be told by it
        _, stderr, took = _end(proc, timeout=STOP_WITHIN_S + 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    print(f"stopped {took:.1f} s after the signal")
    assert proc.returncode == 130, stderr
    assert took < STOP_WITHIN_S, f"the run took {took:.1f} s to stop"
    lines = _our_lines(stderr)
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert re.match(r"error: Stopped after [2-7] of 8 frames \(state saved\)\. Resume with: ", lines[0]) and lines[0].endswith(f"resume {work}"), lines[0]
    assert (work / "manifest.json").is_file()
    left = _left_after(mark)
    assert left == {}, f"Ray processes outlived the run: {left}"
