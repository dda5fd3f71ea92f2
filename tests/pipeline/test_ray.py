"""Chains on Ray workers: a real local cluster (2 CPUs, shared by this module), never a mock.

The run's frames must not depend on where the chains run: 2 workers, a
worker killed mid-chain, and Ctrl-C then resume with another worker count all
give the sequential run's frames (the real optimizer with random weights, one
thread per worker as in the sequential run). No Ray process may outlive a run.
Starting the cluster takes about 5 s and 600 MB, so the tests here are few.

Ray 2.59+ turns token authentication on for a local ``ray.init()`` and then
writes a token to ~/.ray/auth_token; these throwaway clusters run with
``RAY_AUTH_MODE=disabled`` instead (docs/workers.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.mediatools import REPO_ROOT, count_video_frames, decode_all, make_clip, optional_tool, stream_facts
from tests.pipeline.ray_cluster import local_ray_cluster
from tests.pipeline.resume_worker import make_settings
from vidstyle.cli import app
from vidstyle.config import ScaleConfig, Settings
from vidstyle.faults import ENV as FAULT_ENV
from vidstyle.pipeline.events import FrameDone, Notice
from vidstyle.pipeline.run import resume, stylize

try:
    import ray
except ImportError:
    optional_tool(False, "Ray is not installed (the dev group has it; uv sync --extra ray)", module=True)

pytestmark = pytest.mark.slow

# The run's plan: 3 shots of 10 frames, each split into 2 chains of 5 that cross-fade over 2 frames.
CUTS, CHAIN_FRAMES, OVERLAP, ITERATIONS, ITERATIONS_NEXT, SIZE = "10f,20f", 5, 2, 8, 4, 48


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ray-media")
    style = folder / "style.png"
    cv2.imwrite(str(style), (np.random.default_rng(11).random((40, 40, 3)) * 255).astype(np.uint8))
    return {"clip": make_clip(folder / "clip.mp4", width=SIZE, height=36, frames=30, audio=True), "style": style, "cache": folder / "cache"}


def run_settings(media: dict[str, Path], weights: Path, **scale: object) -> Settings:
    settings = make_settings(
        style=media["style"], weights=weights, max_size=SIZE, iterations=ITERATIONS, iterations_next=ITERATIONS_NEXT,
        segment_frames=3, cuts=CUTS,
    )  # fmt: skip
    return settings.replace(scale=ScaleConfig(chain_frames=CHAIN_FRAMES, overlap=OVERLAP, **scale))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference(media: dict[str, Path], random_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """The sequential run (this process, no Ray) with the same chain plan, on one thread as each worker."""
    output = tmp_path_factory.mktemp("ray-reference") / "reference.mp4"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a module fixture runs before the function-scoped one-thread fixture
    try:
        result = stylize(media["clip"], output, settings=run_settings(media, random_weights))
    finally:
        torch.set_num_threads(threads)
    assert result.frames == 30 and len(result.cuts) == 2
    return decode_all(output)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One local Ray cluster for the module's in-process runs (they find it connected and use it)."""
    yield from local_ray_cluster()


def assert_like_reference(output: Path, reference: list[np.ndarray]) -> None:
    frames = decode_all(output)
    assert len(frames) == count_video_frames(output) == 30
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference)), "the frames differ from the sequential run's"
    facts = stream_facts(output)
    assert len(facts.audio_streams) == 1 and facts.duration is not None and abs(facts.duration - 30 / 24) < 0.1


def _marked_processes(mark: str) -> list[str]:
    """Processes (Ray's included: they inherit the driver's environment) started under the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"VIDSTYLE_TEST_MARK={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


# ---------------------------------------------------------------- a run on its own local cluster, stopped


@pytest.fixture(scope="module")
def interrupted(media: dict[str, Path], random_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """``vidstyle stylize --workers 2`` with its own local cluster, Ctrl-C'd (SIGINT to its process group, as a terminal does).

    Runs before the module's shared cluster starts, so the processes it leaves (none) are easy to tell apart.
    """
    folder = tmp_path_factory.mktemp("ray-interrupted")
    output, work = folder / "out.mp4", folder / "out.mp4.vidstyle"
    mark = uuid.uuid4().hex
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "VIDSTYLE_TEST_MARK": mark, "VIDSTYLE_CACHE_DIR": str(media["cache"])}
    env.pop("VIDSTYLE_DEBUG", None)
    command = [
        sys.executable, "-m", "vidstyle", "stylize", str(media["clip"]), "--style", str(media["style"]), "--output", str(output),
        "--weights", str(random_weights), "--max-size", str(SIZE), "--iterations", str(ITERATIONS),
        "--iterations-next", str(ITERATIONS_NEXT), "--device", "cpu", "--segment-frames", "3", "--cuts", CUTS,
        "--chain-frames", str(CHAIN_FRAMES), "--overlap", str(OVERLAP), "--workers", "2", "--worker-threads", "1", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list((work / "log").glob("*.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no frame after 300 s"
        time.sleep(0.05)
    during = _marked_processes(mark)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=180)
    time.sleep(1.0)  # the raylet's children go down with it
    return {"code": proc.returncode, "stderr": stderr, "work": work, "output": output, "during": during, "left": _marked_processes(mark)}


def test_ctrl_c_stops_every_worker_keeps_the_state_and_leaves_no_ray_process(interrupted: dict[str, object]) -> None:
    stderr = str(interrupted["stderr"])
    assert interrupted["code"] == 130, stderr
    assert f"vidstyle resume {interrupted['work']}" in stderr and "Traceback" not in stderr
    assert any("raylet" in p for p in interrupted["during"]), "the run had its own cluster"  # type: ignore[union-attr]
    assert interrupted["left"] == [], f"Ray processes outlived the run: {interrupted['left']}"
    assert not Path(interrupted["output"]).exists()  # type: ignore[arg-type]


def test_an_unreachable_cluster_is_one_line_and_keeps_the_work(interrupted: dict[str, object], runner) -> None:  # noqa: ANN001
    result = runner.invoke(app, ["resume", str(interrupted["work"]), "--ray-address", "127.0.0.1:9"])
    assert result.exit_code == 1, result.output
    assert "Cannot reach the Ray cluster at 127.0.0.1:9" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (Path(interrupted["work"]) / "manifest.json").is_file()  # type: ignore[arg-type]


def test_resume_with_one_worker_finishes_like_the_sequential_run(interrupted, cluster, reference) -> None:  # noqa: ANN001
    events: list[object] = []
    work = Path(interrupted["work"])

    def one_worker(settings: Settings) -> Settings:
        return settings.replace(scale=replace(settings.scale, workers=1, threads=1))

    result = resume(work, on_event=events.append, overrides=one_worker)
    assert 0 < result.stylized < 30
    assert any(isinstance(e, Notice) and "1 worker(s)" in e.message for e in events)
    assert_like_reference(result.output, reference)


# ---------------------------------------------------------------- runs on the shared cluster


def test_two_workers_give_the_sequential_frames(media, random_weights, cluster, reference, tmp_path: Path) -> None:  # noqa: ANN001
    events: list[object] = []
    output = tmp_path / "out.mp4"
    result = stylize(media["clip"], output, settings=run_settings(media, random_weights, workers=2, threads=1), on_event=events.append)
    assert result.stylized == 30
    assert_like_reference(output, reference)
    done = [e.frames_done for e in events if isinstance(e, FrameDone)]
    assert done == list(range(1, 31)), "one progress display counts every frame of both workers once"
    assert any(isinstance(e, Notice) and "2 worker(s) on a local Ray cluster, one CPU and 1 thread(s) each" in e.message for e in events)


def test_a_worker_killed_mid_chain_loses_only_that_chain(media, random_weights, cluster, reference, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv(FAULT_ENV, "frame:12")  # the worker that finishes frame 12 (shot 2, first chain) SIGKILLs itself
    events: list[object] = []
    output = tmp_path / "out.mp4"
    result = stylize(media["clip"], output, settings=run_settings(media, random_weights, workers=2, threads=1), on_event=events.append)
    assert any(isinstance(e, Notice) and "worker died while stylizing chain 2" in e.message for e in events)
    # Frames 10-12 were finished by the killed worker and kept; the chain went on from 13 on another worker.
    assert result.stylized == 27 and sorted(r.position for r in result.records) == [p for p in range(30) if p not in (10, 11, 12)]
    assert_like_reference(output, reference)


def test_without_ray_installed_workers_say_how_to_install_it(media, runner, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` does when it is not installed
    output = tmp_path / "out.mp4"
    result = runner.invoke(app, ["stylize", str(media["clip"]), "--style", str(media["style"]), "--output", str(output), "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "uv sync --extra ray" in result.output and 'pip install "vidstyle[ray]"' in result.output
    assert "Traceback" not in result.output and not output.exists() and not (tmp_path / "out.mp4.vidstyle").exists()


def test_a_run_without_workers_never_imports_ray(media, tmp_path: Path) -> None:  # noqa: ANN001
    script = (
        "import sys\n"
        "from tests.pipeline.resume_worker import fake_method, make_settings\n"
        "from vidstyle.pipeline.run import stylize\n"
        f"stylize({str(media['clip'])!r}, {str(tmp_path / 'out.mp4')!r}, settings=make_settings(style={str(media['style'])!r}),"
        " method_factory=fake_method())\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
