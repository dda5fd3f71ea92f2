"""Fast mode through the CLI: keyframes, training, apply, save/load, resume after kills, refused model files.

Tiny clips (48x32), random VGG19 weights, a few optimizer and training steps:
these check the plumbing (what is written, what resumes, what is refused),
not the look; benchmarks/fast_method.py measures that with real weights.
Kills go through the supported seam (VIDSTYLE_FAULT, vidstyle/faults.py) in
a child process; the child runs torch on one thread, as the tests here do,
so both compute the same bits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.mediatools import frame_image, make_clip, make_frames_folder, read_frames
from vidstyle.cli import app
from vidstyle.config import (
    DeviceChoice,
    MethodConfig,
    MethodKind,
    ModelConfig,
    OptimizeConfig,
    Precision,
    Settings,
    ShotsConfig,
    StyleConfig,
    TemporalConfig,
)
from vidstyle.faults import ENV as FAULT_ENV
from vidstyle.methods.fastnet import NetSpec, build_network
from vidstyle.methods import feedforward
from vidstyle.methods.feedforward import STYLE_EMPHASIS, TEMPORAL_EMPHASIS, load_model
from vidstyle.pipeline.events import KeyframeDone, TrainingProgress
from vidstyle.pipeline.fast import FAST_DIR, MODEL_NAME, bf16_training, fast_config, keyframer_settings
from vidstyle.pipeline.run import resume, stylize
from vidstyle.pipeline.workdir import WorkDir
from vidstyle.video.probe import count_video_frames, probe_media

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAMES = 12
STEPS = 6  # training steps; a checkpoint after every one (pipeline/fast.py fast_config)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip") / "frames"
    make_frames_folder(folder, FRAMES, size=(48, 32))
    return folder


def fast_args(clip: Path, output: Path, style: Path, weights: Path, *extra: str) -> list[str]:
    return [
        "stylize", str(clip), "-s", str(style), "-o", str(output), "--weights", str(weights), "--method", "fast",
        "--keyframes", "6", "--train-steps", str(STEPS), "--iterations", "4", "--cuts", "off", "-q", *extra,
    ]  # fmt: skip


def invoke(runner: CliRunner, args: list[str]):  # noqa: ANN201
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def reference(clip: Path, random_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One uninterrupted fast run (folder output) that also saves its network."""
    folder = tmp_path_factory.mktemp("reference")
    style = folder / "style.png"
    cv2.imwrite(str(style), frame_image(7, (40, 40)))
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before conftest's one-thread fixture
    try:
        args = fast_args(clip, folder / "out", style, random_weights, "--save-model", str(folder / "net.pt"), "--keep-work")
        invoke(CliRunner(), args)
    finally:
        torch.set_num_threads(before)
    return {"out": folder / "out", "style": style, "model": folder / "net.pt", "work": folder / "out.vidstyle"}


def test_a_fast_run_writes_every_planned_frame_keyframes_and_model(reference: dict[str, Path]) -> None:
    frames = read_frames(reference["out"])
    assert len(frames) == FRAMES and all(f.shape == (32, 48, 3) for f in frames)
    fast = reference["work"] / FAST_DIR
    assert sorted(p.name for p in (fast / "keyframes").glob("*.png")) == ["000003.png", "000009.png"]  # 2 per 12 frames, spread
    assert sorted(p.name for p in (fast / "keyframes").glob("*.json")) == ["000003.json", "000009.json"]  # their timing (the budget's)
    assert (fast / MODEL_NAME).is_file() and not (fast / "fast-checkpoint.pt").exists()
    records = WorkDir(reference["work"]).records()
    assert len(records) == FRAMES and all(r["steps"] == 1 for r in records)
    manifest = WorkDir.read_manifest(reference["work"])
    method = manifest.fingerprint["settings"]["method"]  # type: ignore[index]
    assert method["kind"] == "fast" and method["train_steps"] == STEPS and method["keyframes"] == 6


def test_a_saved_network_applied_with_model_gives_identical_frames(
    reference: dict[str, Path], clip: Path, random_weights: Path, runner: CliRunner, tmp_path: Path
) -> None:
    loaded = load_model(reference["model"])
    assert loaded.settings["training"]["train_steps"] == STEPS and loaded.settings["working_size"] == [48, 32]  # type: ignore[index]
    args = fast_args(clip, tmp_path / "again", reference["style"], random_weights, "--model", str(reference["model"]))
    invoke(runner, args)
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(reference["out"]), read_frames(tmp_path / "again"), strict=True))
    # One image through the same network: the clip's first frame.
    first = sorted(clip.iterdir())[0]
    invoke(runner, ["stylize", str(first), "-s", str(reference["style"]), "-o", str(tmp_path / "one.png"), "--method", "fast",
                    "--model", str(reference["model"]), "-q"])  # fmt: skip
    assert np.array_equal(cv2.imread(str(tmp_path / "one.png")), read_frames(reference["out"])[0])


def test_batch_chains_puts_several_chains_through_one_pass_with_the_same_frames(
    reference: dict[str, Path], clip: Path, random_weights: Path, runner: CliRunner, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--batch-chains K: K chains of the clip, a frame of each per network pass; every frame as without it."""
    passes: list[int] = []
    real = feedforward.run_network
    monkeypatch.setattr(feedforward, "run_network", lambda net, batch: passes.append(batch.shape[0]) or real(net, batch))
    out = tmp_path / "batched"
    args = fast_args(clip, out, reference["style"], random_weights, "--model", str(reference["model"]),
                     "--batch-chains", "3", "--chain-frames", "4", "--keep-work")  # fmt: skip
    invoke(runner, args)
    plan = WorkDir.read_manifest(out.with_name("batched.vidstyle")).plan
    assert [(c.start, c.stop) for c in plan.chains] == [(0, 4), (4, 8), (8, 12)]
    assert passes == [3, 3, 3, 3]  # 12 frames in 4 passes
    # The same frames. Bit-identical where measured (AMD EPYC with AVX-512 on one thread, natively and with
    # ATEN_CPU_CAPABILITY=avx2: the exact assertion this replaces passed; on 2 threads within this bound), but a
    # convolution library may block a batch of 3 otherwise than a batch of 1 and round the last bit differently,
    # which moves a pixel sitting on a rounding edge by one level: allowed, for at most 0.1% of the values.
    # A frame from the wrong chain or position differs almost everywhere.
    ours, theirs = np.stack(read_frames(out)).astype(int), np.stack(read_frames(reference["out"])).astype(int)
    assert ours.shape == theirs.shape
    difference = np.abs(ours - theirs)
    assert difference.max() <= 1 and np.count_nonzero(difference) <= 1e-3 * difference.size


def test_training_uses_the_runs_loss_weights(reference: dict[str, Path], clip: Path, random_weights: Path, runner: CliRunner, tmp_path: Path) -> None:
    """--style-weight and friends shape the network as they shape the optimizer; --temporal none drops the temporal term."""
    defaults = load_model(reference["model"]).settings["training"]["weights"]  # type: ignore[index]
    assert (defaults["style"], defaults["content"], defaults["tv"], defaults["temporal"]) == (
        OptimizeConfig().style_weight * STYLE_EMPHASIS, OptimizeConfig().content_weight, OptimizeConfig().tv_weight,
        TemporalConfig().weight * TEMPORAL_EMPHASIS,
    )
    args = fast_args(clip, tmp_path / "out", reference["style"], random_weights, "--save-model", str(tmp_path / "net.pt"),
                     "--style-weight", "30", "--content-weight", "2", "--tv-weight", "0.5", "--temporal", "none")  # fmt: skip
    invoke(runner, args)
    weights = load_model(tmp_path / "net.pt").settings["training"]["weights"]  # type: ignore[index]
    assert (weights["style"], weights["content"], weights["tv"], weights["temporal"]) == (30 * STYLE_EMPHASIS, 2, 0.5, 0)
    assert not all(np.array_equal(a, b) for a, b in zip(read_frames(reference["out"]), read_frames(tmp_path / "out"), strict=True))


def test_training_and_keyframe_precision_follow_precision(random_weights: Path) -> None:
    def settings(precision: str) -> Settings:
        return Settings(model=ModelConfig(weights=random_weights, device=DeviceChoice.CPU, precision=Precision(precision)), method=MethodConfig(kind=MethodKind.FAST))

    assert bf16_training(settings("bf16")) and not bf16_training(settings("fp32"))
    assert bf16_training(settings("auto")) == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert fast_config(settings("bf16")).bf16_losses and not fast_config(settings("fp32")).bf16_losses
    # The keyframes' optimizer runs in bf16 wherever the training does; fp32 stays fp32.
    assert keyframer_settings(settings("auto")).model.precision is (Precision.BF16 if bf16_training(settings("auto")) else Precision.AUTO)
    assert keyframer_settings(settings("fp32")).model.precision is Precision.FP32
    assert keyframer_settings(settings("bf16")).model.precision is Precision.BF16


def test_a_video_output_has_the_input_frame_count_and_duration(
    reference: dict[str, Path], random_weights: Path, runner: CliRunner, tmp_path: Path
) -> None:
    source = make_clip(tmp_path / "in.mp4", width=48, height=32, frames=20, fps="30000/1001", audio=False)
    output = tmp_path / "out.mp4"
    events: list[object] = []
    settings = Settings(
        model=ModelConfig(weights=random_weights),
        style=StyleConfig(images=(reference["style"],)),
        optimize=OptimizeConfig(iterations=4),
        shots=ShotsConfig(cuts="off"),
        method=MethodConfig(kind=MethodKind.FAST, keyframes=10, train_steps=3),
    )
    result = stylize(source, output, settings=settings, on_event=events.append)
    assert count_video_frames(output) == 20 == result.frames
    assert abs(probe_media(output).duration - probe_media(source).duration) < 0.05
    assert [e.done for e in events if isinstance(e, KeyframeDone)] == [1, 2]
    steps = [e for e in events if isinstance(e, TrainingProgress)]
    assert [e.step for e in steps] == [1, 2, 3] and all(np.isfinite(e.loss) and e.eta_seconds is not None for e in steps)


def _child(args: list[str], fault: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", **{FAULT_ENV: fault})
    env.pop("VIDSTYLE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "vidstyle", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("fault", ["train:4", "frame:5"])
def test_a_kill_during_training_or_apply_resumes_to_identical_frames(
    fault: str, reference: dict[str, Path], clip: Path, random_weights: Path, runner: CliRunner, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    args = fast_args(clip, output, reference["style"], random_weights)
    killed = _child(args, fault)
    assert killed.returncode == -9, killed.stderr
    work = tmp_path / "out.vidstyle"
    if fault.startswith("train"):
        assert (work / FAST_DIR / "fast-checkpoint.pt").is_file() and not (work / FAST_DIR / MODEL_NAME).exists()
        # The training settings are part of the fingerprint: other ones are refused, not mixed in.
        changed = runner.invoke(app, [*args, "--train-steps", str(STEPS + 1)])
        assert changed.exit_code == 1 and "method.train_steps: 6 -> 7" in changed.output
    else:
        assert len(read_frames(output)) == 6 and (work / FAST_DIR / MODEL_NAME).is_file()
    events: list[object] = []
    resume(work, on_event=events.append)
    steps = [e.step for e in events if isinstance(e, TrainingProgress)]
    assert steps == ([5, 6] if fault.startswith("train") else [])  # resumed from the checkpoint at step 4 / no training
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(reference["out"]), read_frames(output), strict=True))


def test_a_training_that_diverges_stops_in_one_line_and_writes_no_output(
    reference: dict[str, Path], clip: Path, random_weights: Path, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULT_ENV, "trainnan:3")
    output = tmp_path / "out.mp4"
    result = runner.invoke(app, fast_args(clip, output, reference["style"], random_weights)[:-1])  # without -q
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "numerically wrong" in errors[0] and "at step 3" in errors[0] and "--method optimize" in errors[0]
    assert "Traceback" not in result.output and not output.exists()


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - what an unrestricted unpickler would call
        return (os.makedirs, (str(self.marker),))


def test_a_model_file_carrying_a_pickled_payload_is_refused_in_one_line(
    clip: Path, style: Path, runner: CliRunner, tmp_path: Path
) -> None:
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pt"
    net = build_network(NetSpec(width=4, blocks=1))
    torch.save({"format": "vidstyle-fast-model", "version": 1, "state": net.state_dict(), "spec": _Payload(marker)}, evil)
    output = tmp_path / "out.mp4"
    result = runner.invoke(app, ["stylize", str(clip), "-s", str(style), "-o", str(output), "--method", "fast", "--model", str(evil)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "pickled" in lines[0] and "Traceback" not in result.output
    assert not marker.exists()  # the payload never ran
    assert not output.exists() and not (tmp_path / "out.mp4.vidstyle").exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--model", "m.pt"], "--method fast"),
        (["--method", "fast", "--model", "m.pt", "--save-model", "n.pt"], "leave one out"),
        (["--method", "fast", "--keyframes", "0"], "--keyframes"),
        (["--method", "fast", "--preserve-colors"], "--preserve-colors"),
    ],
)
def test_fast_options_that_cannot_work_are_refused(
    extra: list[str], says: str, clip: Path, style: Path, runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["stylize", str(clip), "-s", str(style), "-o", str(tmp_path / "out"), *extra])
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.vidstyle").exists()
