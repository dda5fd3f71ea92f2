"""Resume: interrupted runs (SIGKILL at chosen points, SIGINT, SIGTERM) finish with the frames of an uninterrupted run.

The many-frame cases use the cheap stand-in core of resume_worker.py (its
result depends on where a frame starts, so a broken continuity chain shows);
the real VGG19 core runs at 48x32 with random weights. Every interrupted run is
a real process killed for real, at a point named through the supported
fault-injection seam (VIDSTYLE_FAULT, vidstyle/faults.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.mediatools import REPO_ROOT, count_video_frames, decode_all, ffmpeg_exe, make_clip, make_frames_folder, stream_facts
from tests.pipeline.resume_worker import fake_method, make_settings
from vidstyle.config import Network, OptimizeConfig
from vidstyle.errors import NotOurs, OutputError, ResumeError
from vidstyle.faults import ENV as FAULT_ENV
from vidstyle.faults import FaultPoint, InjectedFault
from vidstyle.pipeline.events import FrameDone, Notice, RunStarted, SegmentEncoded
from vidstyle.pipeline.interrupt import StopFlag
from vidstyle.pipeline.run import resume, stylize
from vidstyle.pipeline.workdir import WorkDir

WORKER = Path(__file__).with_name("resume_worker.py")
CLIP_FRAMES = 40
SEGMENT = 8


# ------------------------------------------------------------------ helpers


def _env(cache: Path, fault: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(VIDSTYLE_CACHE_DIR=str(cache), TORCH_HOME=str(cache / "torch"), OMP_NUM_THREADS="1")
    env.pop("VIDSTYLE_WEIGHTS", None)
    env.pop("VIDSTYLE_DEBUG", None)
    env.pop(FAULT_ENV, None)
    if fault is not None:
        env[FAULT_ENV] = fault
    return env


def _spec_file(folder: Path, spec: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"spec-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(spec, default=str))
    return path


def run_worker(folder: Path, spec: dict, *, cache: Path, fault: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run resume_worker.py on ``spec``; ``fault`` (e.g. "record:30") kills it at that point."""
    return subprocess.run(
        [sys.executable, str(WORKER), str(_spec_file(folder, spec))],
        cwd=REPO_ROOT,
        env=_env(cache, fault),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_worker(folder: Path, spec: dict, *, cache: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(_spec_file(folder, spec))],
        cwd=REPO_ROOT,
        env=_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_pngs(folder: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.is_dir() and sum(1 for _ in folder.glob("*.png")) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended ({proc.returncode}) before writing {count} frame(s): {proc.stderr.read()}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no {count} frame(s) in {folder} after {timeout} s")


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    assert len(a) == len(b), f"{len(a)} frames vs {len(b)}"
    return max(int(np.abs(x.astype(np.int16) - y.astype(np.int16)).max()) for x, y in zip(a, b))


def assert_spy_matches(spy: Path, reference_spy: Path, frames: int) -> int:
    """Every frame written by the interrupted chain (first writes and redone ones) equals the reference's."""
    reference = {p.stem: p.read_bytes() for p in reference_spy.glob("*.png")}
    assert sorted(reference) == [f"{i:06d}" for i in range(frames)]
    seen = set()
    worst = 0
    for path in sorted(spy.glob("*.png")):
        position = path.name.split(".")[0]
        seen.add(position)
        mine, theirs = cv2.imread(str(path)), cv2.imdecode(np.frombuffer(reference[position], np.uint8), cv2.IMREAD_COLOR)
        worst = max(worst, max_difference([mine], [theirs]))
        assert path.read_bytes() == reference[position], f"frame {position} ({path.name}) differs from the uninterrupted run"
    assert seen == set(reference)
    return worst


def leftovers_beside(output: Path) -> list[str]:
    return sorted(p.name for p in output.parent.glob(f".{output.name}*"))


# ------------------------------------------------------------------ shared inputs


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("resume-media")
    style = root / "style.png"
    cv2.imwrite(str(style), (np.random.default_rng(7).random((40, 40, 3)) * 255).astype(np.uint8))
    make_frames_folder(root / "frames", 16, size=(48, 32))
    return {
        "root": root,
        "clip": make_clip(root / "clip40.mp4", width=48, height=32, frames=CLIP_FRAMES),
        "short": make_clip(root / "clip4.mp4", width=48, height=32, frames=4),
        "frames": root / "frames",
        "style": style,
        "cache": root / "cache",
    }


def fake_spec(media: dict[str, Path], output: Path, **settings: object) -> dict:
    return {
        "input": str(media["clip"]),
        "output": str(output),
        "core": "fake",
        "settings": {"style": str(media["style"]), "segment_frames": SEGMENT, **settings},
    }


@pytest.fixture(scope="module")
def fake_reference(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 40-frame clip stylized in one uninterrupted run by the stand-in core."""
    root = tmp_path_factory.mktemp("fake-reference")
    output = root / "reference.mp4"
    spec = {**fake_spec(media, output), "spy": str(root / "spy")}
    done = run_worker(root, spec, cache=media["cache"])
    assert done.returncode == 0, done.stderr
    return {"output": output, "spy": root / "spy"}


# ------------------------------------------------------------------ SIGKILL at many points


def test_killed_at_six_points_resumes_to_identical_frames(media, fake_reference, tmp_path: Path) -> None:
    """40 frames, segments of 8, SIGKILL six times (during a frame, between frames, while a PNG is
    written, while a segment is encoded, between a PNG and its log record, during the final assembly)."""
    output = tmp_path / "out.mp4"
    work = tmp_path / "out.mp4.vidstyle"
    events = tmp_path / "events.jsonl"
    base = {**fake_spec(media, output), "spy": str(tmp_path / "spy"), "events": str(events), "pngs": str(tmp_path / "pngs")}
    kills = [
        ("step:3:2", 0),  # (kill point, frames done when that run starts)
        ("frame:9", 3),
        ("torn:13", 10),
        ("encode:2", 13),
        ("record:30", 24),
        ("assemble", 30),
    ]
    # Every point of the fault seam is exercised here: a point the code stopped reaching would end
    # its run normally (and FaultNotReached makes that an error), not with SIGKILL.
    # (nan poisons a frame rather than killing the run: tests/pipeline/test_numerical.py reaches it;
    # train and trainnan are fast mode's: tests/pipeline/test_fast_mode.py.)
    fast_mode = {FaultPoint.TRAIN.value, FaultPoint.TRAIN_NAN.value}
    assert {kill.split(":")[0] for kill, _ in kills} == {point.value for point in FaultPoint} - {FaultPoint.NAN.value} - fast_mode
    for kill, _ in kills:
        killed = run_worker(tmp_path, base, cache=media["cache"], fault=kill)
        assert killed.returncode == -signal.SIGKILL, f"{kill}: {killed.returncode} {killed.stderr}"
        assert not output.exists()
        # Everything under a final name is complete: every PNG decodes at full size.
        for png in (work / "frames").glob("*.png"):
            assert cv2.imread(str(png)) is not None, png
        assert sum(1 for _ in (work / "frames").glob("*.png")) <= SEGMENT
    final = run_worker(tmp_path, base, cache=media["cache"])
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout.splitlines()[-1]) == {"frames": CLIP_FRAMES, "stylized": 0}

    started = [e["already_done"] for e in read_events(events) if e["type"] == "RunStarted"]
    assert started == [done for _, done in kills] + [CLIP_FRAMES]
    notices = [e["message"] for e in read_events(events) if e["type"] == "Notice"]
    assert "Resuming: 3 of 40 frames were already done." in notices

    # Every frame the interrupted runs wrote (including frames redone after a kill) is bit-identical.
    spy_difference = assert_spy_matches(tmp_path / "spy", fake_reference["spy"], CLIP_FRAMES)
    # The outputs: same bytes, so the same frames, duration, rate and audio.
    ours, theirs = decode_all(output), decode_all(fake_reference["output"])
    video_difference = max_difference(ours, theirs)
    print(f"\n40-frame chain, 6 kills: max pixel difference {spy_difference} (PNGs), {video_difference} (decoded video)")
    assert len(ours) == CLIP_FRAMES and video_difference == 0 and spy_difference == 0
    assert output.read_bytes() == fake_reference["output"].read_bytes()
    assert int((tmp_path / "pngs").read_text()) <= SEGMENT
    assert not work.exists(), "the work dir is removed after success"
    assert leftovers_beside(output) == []


def test_sigterm_stops_cleanly_then_resume_finishes(media, fake_reference, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    work = tmp_path / "out.mp4.vidstyle"
    proc = start_worker(tmp_path, {**fake_spec(media, output), "fake_sleep": 0.02}, cache=media["cache"])
    wait_for_pngs(work / "frames", 3, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert f"vidstyle resume {work}" in stderr
    # A clean stop leaves no temporaries at all, and no partial output.
    assert [p for p in work.rglob(".*")] == [] and leftovers_beside(output) == []
    assert not output.exists()
    records = WorkDir(work).records()
    assert 3 <= len(records) < CLIP_FRAMES

    resumed = run_worker(tmp_path, {"resume": str(work), "core": "fake"}, cache=media["cache"])
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["stylized"] == CLIP_FRAMES - len(records)
    assert output.read_bytes() == fake_reference["output"].read_bytes()


def test_second_signal_stops_at_once() -> None:
    flag = StopFlag()
    flag._handle(signal.SIGINT, None)
    assert flag.requested and flag.signal_name == "SIGINT"
    with pytest.raises(KeyboardInterrupt):
        flag._handle(signal.SIGTERM, None)


# ------------------------------------------------------------------ folder to folder


def test_folder_output_killed_then_damaged_frames_are_redone(media, tmp_path: Path) -> None:
    settings = {"style": str(media["style"]), "segment_frames": 4}
    reference = tmp_path / "reference"
    ok = run_worker(tmp_path, {"input": str(media["frames"]), "output": str(reference), "settings": settings}, cache=media["cache"])
    assert ok.returncode == 0, ok.stderr

    output = tmp_path / "out"
    spec = {"input": str(media["frames"]), "output": str(output), "settings": {**settings, "keep_work": True}}
    for kill in ("torn:5", "record:12"):
        killed = run_worker(tmp_path, spec, cache=media["cache"], fault=kill)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    final = run_worker(tmp_path, spec, cache=media["cache"])
    assert final.returncode == 0, final.stderr
    # The frames, beside the folder's own record of them (.vidstyle-output.json, video/sinks.py).
    names = sorted(p.name for p in reference.iterdir() if not p.name.startswith("."))
    assert len(names) == 16 and sorted(p.name for p in output.iterdir() if not p.name.startswith(".")) == names
    for name in names:
        assert (output / name).read_bytes() == (reference / name).read_bytes(), name

    # Damage the finished output: a deleted frame, a zero-byte one, a torn one. A rerun (work dir kept)
    # redoes exactly those three, from the right previous frames.
    (output / "frame_000006.png").unlink()
    (output / "frame_000011.png").write_bytes(b"")
    torn = output / "frame_000014.png"
    torn.write_bytes(torn.read_bytes()[:100])
    done: list[int] = []
    notices: list[str] = []

    def on_event(event) -> None:  # noqa: ANN001
        if isinstance(event, FrameDone):
            done.append(event.frame)
        if isinstance(event, Notice):
            notices.append(event.message)

    result = stylize(
        media["frames"], output, settings=make_settings(**settings, keep_work=True), on_event=on_event, method_factory=fake_method()
    )
    assert result.stylized == 3 and done == [5, 10, 13]
    assert "Resuming: 13 of 16 frames were already done." in notices
    for name in names:
        assert (output / name).read_bytes() == (reference / name).read_bytes(), name
    again = stylize(media["frames"], output, settings=make_settings(**settings, keep_work=True), method_factory=fake_method())
    assert again.stylized == 0


def test_interrupted_folder_run_is_resumed_even_with_overwrite(media, tmp_path: Path) -> None:
    """Rerunning the very command that was interrupted, --overwrite included, continues the run."""
    output = tmp_path / "out"
    settings = make_settings(style=media["style"], overwrite=True)
    with pytest.raises(_Crash):
        stylize(media["frames"], output, settings=settings, on_event=_crash_after(5), method_factory=fake_method())
    result = stylize(media["frames"], output, settings=settings, method_factory=fake_method())
    assert result.stylized == 16 - 6
    # Finished, no work dir: now --overwrite redoes it, and without it the output is refused.
    assert stylize(media["frames"], output, settings=settings, method_factory=fake_method()).stylized == 16
    with pytest.raises(OutputError, match="--overwrite"):
        stylize(media["frames"], output, settings=make_settings(style=media["style"]), method_factory=fake_method())


def test_pattern_input_resumes(media, tmp_path: Path) -> None:
    pattern = str(media["frames"] / "frame%05d.png")
    output = tmp_path / "out"
    settings = make_settings(style=media["style"])
    with pytest.raises(_Crash):
        stylize(pattern, output, settings=settings, on_event=_crash_after(2), method_factory=fake_method())
    assert stylize(pattern, output, settings=settings, method_factory=fake_method()).stylized == 16 - 3


# ------------------------------------------------------------------ the real core


@pytest.fixture(scope="module")
def real_reference(media, random_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("real-reference")
    output = root / "reference.mp4"
    spec = real_spec(media, random_weights, output)
    done = run_worker(root, spec, cache=media["cache"])
    assert done.returncode == 0, done.stderr
    return {"output": output, "frames": root / "reference.mp4.vidstyle" / "frames"}


def real_spec(media, weights: Path, output: Path) -> dict:
    return {
        "input": str(media["short"]),
        "output": str(output),
        "core": "real",
        "settings": {
            "style": str(media["style"]),
            "weights": str(weights),
            "iterations": 2,
            "iterations_next": 2,
            "segment_frames": 2,
            "keep_frames": True,
        },
    }


def assert_same_real_frames(work: Path, output: Path, reference: dict[str, Path]) -> None:
    names = sorted(p.name for p in reference["frames"].glob("*.png"))
    assert len(names) == 4 and sorted(p.name for p in (work / "frames").glob("*.png")) == names
    for name in names:
        assert (work / "frames" / name).read_bytes() == (reference["frames"] / name).read_bytes(), name
    assert max_difference(decode_all(output), decode_all(reference["output"])) == 0


def test_real_core_killed_during_a_frame_resumes_identically(media, random_weights, real_reference, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    killed = run_worker(tmp_path, real_spec(media, random_weights, output), cache=media["cache"], fault="step:2:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    work = tmp_path / "out.mp4.vidstyle"
    resumed = run_worker(tmp_path, {"resume": str(work), "core": "real"}, cache=media["cache"])
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1]) == {"frames": 4, "stylized": 2}
    assert_same_real_frames(work, output, real_reference)


def test_a_cold_start_stopped_between_its_stages_resumes_identically(media, random_weights, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """--coarse-to-fine on at 96x64: frame 0 goes 68x45 (4 steps), then 96x64 (1 step); the run fails between the two.

    In this process (the fault's ``fail`` action) to stay quick: the frame is
    redone from its start, and stages and frames are deterministic, so the
    resumed run writes the frames of the uninterrupted one, bit for bit.
    """
    clip = make_clip(tmp_path / "clip96.mp4", width=96, height=64, frames=2)
    settings = make_settings(
        style=media["style"], weights=random_weights, max_size=96, iterations=4, iterations_next=2, coarse_to_fine="on",
        segment_frames=2, keep_frames=True,
    )
    reference = tmp_path / "reference.mp4"
    stylize(clip, reference, settings=settings)
    output = tmp_path / "out.mp4"
    monkeypatch.setenv(FAULT_ENV, "step:0:4:fail")  # after the small stage's last step, before the full size's
    with pytest.raises(InjectedFault):
        stylize(clip, output, settings=settings)
    monkeypatch.delenv(FAULT_ENV)
    work = tmp_path / "out.mp4.vidstyle"
    assert not list((work / "frames").glob("*.png"))
    assert resume(work).stylized == 2
    names = sorted(p.name for p in (tmp_path / "reference.mp4.vidstyle" / "frames").glob("*.png"))
    assert len(names) == 2 and sorted(p.name for p in (work / "frames").glob("*.png")) == names
    for name in names:
        assert (work / "frames" / name).read_bytes() == (tmp_path / "reference.mp4.vidstyle" / "frames" / name).read_bytes(), name
    assert max_difference(decode_all(output), decode_all(reference)) == 0


def test_ctrl_c_in_the_cli_then_vidstyle_resume(media, random_weights, real_reference, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    work = tmp_path / "out.mp4.vidstyle"
    command = [
        sys.executable, "-m", "vidstyle", "stylize", str(media["short"]), "--style", str(media["style"]),
        "--output", str(output), "--weights", str(random_weights), "--max-size", "48", "--iterations", "2",
        "--iterations-next", "2", "--device", "cpu", "--segment-frames", "2", "--keep-frames", "--quiet",
    ]  # fmt: skip
    env = _env(media["cache"])
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_pngs(work / "frames", 1, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert f"vidstyle resume {work}" in stderr and "Traceback" not in stderr
    assert [p for p in work.rglob(".*")] == [] and not output.exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "vidstyle", "resume", str(work), "--quiet"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert_same_real_frames(work, output, real_reference)


# ------------------------------------------------------------------ errors and housekeeping


class _Crash(Exception):
    """Stands in for a crash: raised from the event handler, it leaves the work dir as a kill would."""


def _crash_after(frame: int):  # noqa: ANN202
    def on_event(event) -> None:  # noqa: ANN001
        if isinstance(event, FrameDone) and event.frame == frame:
            raise _Crash

    return on_event


def _interrupted_video(media, tmp_path: Path, **settings: object) -> tuple[Path, Path]:
    output = tmp_path / "out.mp4"
    with pytest.raises(_Crash):
        stylize(
            media["clip"],
            output,
            settings=make_settings(style=media["style"], max_frames=12, **settings),
            on_event=_crash_after(4),
            method_factory=fake_method(),
        )
    return output, tmp_path / "out.mp4.vidstyle"


def test_changed_settings_are_listed_and_restart_discards(media, tmp_path: Path) -> None:
    output, work = _interrupted_video(media, tmp_path)
    changed = make_settings(style=media["style"], max_frames=12, style_weight=5.0, segment_frames=4)
    with pytest.raises(ResumeError) as caught:
        stylize(media["clip"], output, settings=changed, method_factory=fake_method())
    message = str(caught.value)
    assert f"optimize.style_weight: {OptimizeConfig().style_weight} -> 5.0" in message
    assert "run.segment_frames: 8 -> 4" in message
    assert f"vidstyle resume {work}" in message and "--restart" in message
    assert "\n" not in message
    restarted = stylize(
        media["clip"], output, settings=changed.replace(run=changed.run.__class__(segment_frames=4, restart=True)),
        method_factory=fake_method(),
    )  # fmt: skip
    assert restarted.stylized == 12


def test_network_is_in_the_fingerprint(media, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    vgg16 = make_settings(style=media["style"], max_frames=12)
    vgg16 = vgg16.replace(model=replace(vgg16.model, network=Network.VGG16))
    with pytest.raises(_Crash):
        stylize(media["clip"], output, settings=vgg16, on_event=_crash_after(4), method_factory=fake_method())
    work = tmp_path / "out.mp4.vidstyle"
    assert json.loads((work / "manifest.json").read_text())["settings"]["model"]["network"] == "vgg16"
    with pytest.raises(ResumeError, match="model.network: 'vgg16' -> 'vgg19'"):
        stylize(media["clip"], output, settings=make_settings(style=media["style"], max_frames=12), method_factory=fake_method())
    assert resume(work, method_factory=fake_method()).stylized == 7


@pytest.mark.parametrize("content", [b"\x00\xffnot json\x89", b"{\"schema\": 1}", b"{}", b"[1, 2]"])
def test_corrupted_manifest_is_a_clear_error(media, tmp_path: Path, content: bytes) -> None:
    output, work = _interrupted_video(media, tmp_path)
    (work / "manifest.json").write_bytes(content)
    settings = make_settings(style=media["style"], max_frames=12)
    for attempt in (
        lambda: stylize(media["clip"], output, settings=settings, method_factory=fake_method()),
        lambda: resume(work, method_factory=fake_method()),
    ):
        with pytest.raises(ResumeError, match="manifest.json") as caught:
            attempt()
        assert "\n" not in str(caught.value) and "--restart" in str(caught.value)
    restarted = stylize(
        media["clip"], output, settings=make_settings(style=media["style"], max_frames=12, restart=True),
        method_factory=fake_method(),
    )  # fmt: skip
    assert restarted.stylized == 12


def test_corrupted_manifest_in_the_cli_exits_1_without_traceback(media, tmp_path: Path) -> None:
    _, work = _interrupted_video(media, tmp_path)
    (work / "manifest.json").write_bytes(b"garbage")
    done = subprocess.run(
        [sys.executable, "-m", "vidstyle", "resume", str(work)],
        cwd=REPO_ROOT, env=_env(media["cache"]), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "damaged" in done.stderr and "--restart" in done.stderr


def test_work_dir_without_manifest(media, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    settings = make_settings(style=media["style"], max_frames=6)
    # Killed between creating the folders and writing the manifest: nothing to lose, start afresh.
    (tmp_path / "out.mp4.vidstyle" / "frames").mkdir(parents=True)
    assert stylize(media["clip"], output, settings=settings, method_factory=fake_method()).stylized == 6
    # A folder with someone's files in it is not ours to use, and no flag makes it so (tests/test_data_safety.py).
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(NotOurs, match="did not make") as refused:
        stylize(
            media["clip"], tmp_path / "b.mp4", settings=make_settings(style=media["style"], max_frames=6, work_dir=other),
            method_factory=fake_method(),
        )  # fmt: skip
    assert "--restart" not in str(refused.value) and (other / "notes.txt").read_text() == "mine"
    with pytest.raises(ResumeError, match="not a vidstyle work directory"):
        resume(other, method_factory=fake_method())


def test_finished_output_is_kept_and_log_complete(media, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    settings = make_settings(style=media["style"], max_frames=10, segment_frames=4, keep_work=True)
    first = stylize(media["clip"], output, settings=settings, method_factory=fake_method())
    work = first.work_dir
    assert first.stylized == 10 and work is not None and (work / "manifest.json").is_file()
    records = WorkDir(work).records()
    assert [r["position"] for r in records] == list(range(10))
    for record in records:
        assert record["steps"] == (3 if record["position"] == 0 else 2)
        assert record["seconds"] >= 0 and record["loss"] == pytest.approx(record["content_loss"] + 0.5)
    before = output.read_bytes()
    with pytest.raises(OutputError, match="--overwrite"):
        stylize(media["clip"], output, settings=settings, method_factory=fake_method())
    with pytest.raises(OutputError, match="--overwrite"):
        resume(work, method_factory=fake_method())
    assert output.read_bytes() == before
    redone = stylize(
        media["clip"], output, settings=make_settings(style=media["style"], max_frames=10, segment_frames=4, overwrite=True),
        method_factory=fake_method(),
    )  # fmt: skip
    assert redone.stylized == 10 and output.read_bytes() == before and not work.exists()


def test_work_dir_holds_at_most_one_segment_of_pngs(media, tmp_path: Path) -> None:
    counts: list[int] = []
    segments: list[int] = []
    frames = tmp_path / "out.mp4.vidstyle" / "frames"
    # The peak is at a segment's last FrameDone: the frame is stored, its segment not yet encoded.
    at_encode: list[int] = []

    def on_event(event) -> None:  # noqa: ANN001
        if isinstance(event, RunStarted):
            assert event.work_dir == frames.parent
        counts.append(sum(1 for _ in frames.glob("*.png")) if frames.is_dir() else 0)
        if isinstance(event, FrameDone) and event.frame % 5 == 4:
            at_encode.append(counts[-1])
        if isinstance(event, SegmentEncoded):
            segments.append(event.segment)

    settings = make_settings(style=media["style"], segment_frames=5)
    result = stylize(media["clip"], tmp_path / "out.mp4", settings=settings, on_event=on_event, method_factory=fake_method())
    assert result.frames == CLIP_FRAMES and segments == list(range(8))
    assert max(counts) <= 5 and at_encode == [5] * 8
    kept = stylize(
        media["clip"], tmp_path / "kept.mp4", settings=make_settings(style=media["style"], segment_frames=5, keep_frames=True),
        method_factory=fake_method(),
    )  # fmt: skip
    assert sum(1 for _ in (kept.work_dir / "frames").glob("*.png")) == CLIP_FRAMES


def test_resume_from_another_folder_with_relative_paths(media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(media["root"])
    output = tmp_path / "out"
    with pytest.raises(_Crash):
        stylize("frames", output, settings=make_settings(style="style.png"), on_event=_crash_after(3), method_factory=fake_method())
    monkeypatch.chdir(tmp_path)
    assert resume(output.with_name("out.vidstyle"), method_factory=fake_method()).stylized == 16 - 4


def test_segmented_output_matches_an_unsegmented_one_in_timing_and_audio(media, tmp_path: Path) -> None:
    """Segments are joined without re-encoding: same frame count, rate, duration and audio as one segment."""
    outputs = {}
    for segment_frames in (7, 1000):
        output = tmp_path / f"seg{segment_frames}.mp4"
        stylize(
            media["clip"], output, settings=make_settings(style=media["style"], segment_frames=segment_frames),
            method_factory=fake_method(),
        )  # fmt: skip
        outputs[segment_frames] = stream_facts(output)
        assert count_video_frames(output) == CLIP_FRAMES
    split, whole = outputs[7], outputs[1000]
    assert split.fps == whole.fps == 24
    assert split.duration == pytest.approx(whole.duration, abs=0.03)
    assert split.video_start == pytest.approx(whole.video_start, abs=1e-3)
    assert len(split.audio_streams) == len(whole.audio_streams) == 1
    assert split.audio_streams[0] == whole.audio_streams[0]
    # Audio packets: same timestamps, durations and contents (a checksum per packet).
    assert _audio_packets(split.path) == _audio_packets(whole.path) != []


def _audio_packets(path: Path) -> list[str]:
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a", "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [line for line in done.stdout.splitlines() if not line.startswith("#")]


def test_source_size_output_resumes_to_identical_bytes(media, tmp_path: Path) -> None:
    """At the default output size (the source's, guided upsampling), a run killed mid-segment and during an
    encode, its output-size copies then lost, resumes to the bytes of an uninterrupted run."""
    settings = {"max_size": 32, "max_frames": 16}  # 48x32 in, 32x20 working, 48x32 out
    reference = tmp_path / "reference.mp4"
    done = run_worker(tmp_path, fake_spec(media, reference, **settings), cache=media["cache"])
    assert done.returncode == 0, done.stderr
    assert stream_facts(reference).display_size == (48, 32)

    output = tmp_path / "out.mp4"
    work = tmp_path / "out.mp4.vidstyle"
    spec = fake_spec(media, output, **settings)
    killed = run_worker(tmp_path, spec, cache=media["cache"], fault="encode:0")  # the first segment's encode
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    killed = run_worker(tmp_path, spec, cache=media["cache"], fault="record:13")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    copies = sorted(p.name for p in (work / "scaled").glob("*.png"))
    assert copies and len(copies) <= SEGMENT, copies
    for copy in (work / "scaled").glob("*.png"):  # as if lost: made again from the frames and the source
        copy.unlink()
    final = run_worker(tmp_path, spec, cache=media["cache"])
    assert final.returncode == 0, final.stderr
    assert output.read_bytes() == reference.read_bytes()
