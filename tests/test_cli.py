"""The command line as a user meets it: what it writes, what it prints, and its exit codes."""

from __future__ import annotations

from dataclasses import replace

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.mediatools import REPO_ROOT, count_video_frames, frame_image, make_clip, stream_facts
from vidstyle import __version__
from vidstyle.cli import app
from vidstyle.config import EncodeConfig, SelectConfig, Settings, StyleConfig, TemporalConfig, TemporalMode, settings_to_json
from vidstyle.errors import InputError
from vidstyle.faults import ENV as FAULT_ENV
from vidstyle.model.stylizer import LossBreakdown, StylizeResult
from vidstyle.methods.optimize import OptimizeMethod
from vidstyle.pipeline.run import stylize

# Small and quick everywhere: the point here is the command line, not the optimization.
FAST = ["--max-size", "32", "--iterations", "2", "--iterations-next", "1", "--device", "cpu"]


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    assert cv2.imwrite(str(path), frame_image(3, (64, 48)))
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=6, fps="24")


def invoke(runner: CliRunner, *args: object):  # noqa: ANN201
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, code: int, *fragments: str) -> str:  # noqa: ANN001
    """Exit ``code``, stderr is one 'error:' line (no traceback) containing ``fragments``."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --------------------------------------------------------------------------- successful runs


def test_image_to_image_at_working_and_source_size(
    runner: CliRunner, tmp_path: Path, image: Path, style: Path, random_weights: Path
) -> None:
    out = tmp_path / "styled.png"
    result = invoke(
        runner, "stylize", image, "-s", style, "-o", out, "--weights", random_weights, *FAST, "--max-size", "48", "--output-size", "working"
    )
    assert result.exit_code == 0, (result.stderr, result.exception)
    written = cv2.imread(str(out))
    assert written is not None and written.shape[:2] == (36, 48)
    assert "Wrote" in result.stderr
    assert not list(tmp_path.glob("*.vidstyle")), "an image keeps no work dir"

    full = tmp_path / "full.jpg"
    result = invoke(runner, "stylize", image, "-s", style, "-o", full, "--weights", random_weights, *FAST)  # source size by default
    assert result.exit_code == 0, (result.stderr, result.exception)
    written = cv2.imread(str(full))
    assert written is not None and written.shape[:2] == (48, 64)


def test_clip_to_video_quiet_prints_only_the_path(
    runner: CliRunner, tmp_path: Path, clip: Path, style: Path, random_weights: Path
) -> None:
    out = tmp_path / "styled.mp4"
    result = invoke(runner, "stylize", clip, "-s", style, "-o", out, "--weights", random_weights, *FAST, "--quiet")
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert result.stdout.splitlines() == [str(out.resolve())]
    assert result.stderr == ""
    assert count_video_frames(out) == 6
    assert not Path(str(out) + ".vidstyle").exists()


def test_rounded_ntsc_fps_means_the_exact_rate(
    runner: CliRunner, tmp_path: Path, style: Path, random_weights: Path
) -> None:
    """'--fps 29.97' for a frame folder gives a 30000/1001 video, not 2997/100."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(6):
        assert cv2.imwrite(str(folder / f"f{k}.png"), frame_image(k, (32, 24)))
    out = tmp_path / "ntsc.mp4"
    result = invoke(
        runner, "stylize", folder, "-s", style, "-o", out, "--weights", random_weights, *FAST, "--temporal", "none",
        "--fps", "29.97", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert stream_facts(out).fps == Fraction(30000, 1001)
    assert count_video_frames(out) == 6
    # The probe rounds, so look at the stored frame period itself.
    from tests.pipeline.test_video_run import packets

    video = packets(out)
    assert {(b - a) * video.time_base for a, b in zip(video.pts, video.pts[1:])} == {Fraction(1001, 30000)}


def test_network_layers_and_colours_reach_the_run(
    runner: CliRunner, tmp_path: Path, clip: Path, style: Path, random_vgg16_weights: Path
) -> None:
    """Every new model option, in both spellings of the layer lists, ends up in the run's manifest."""
    out = tmp_path / "styled"
    result = invoke(
        runner, "stylize", clip, "-s", style, "-o", out, "--weights", random_vgg16_weights, *FAST, "--keep-work",
        "--network", "vgg16", "--content-layer", "relu3_2", "--content-layer", "relu4_2,CONV5_1",
        "--style-layers", "relu1_1, relu2_1,relu5_3", "--style-layer-weights", "2,1,0.5", "--preserve-colors",
    )  # fmt: skip
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert len(list(out.glob("frame_*.png"))) == 6
    settings = json.loads((tmp_path / "styled.vidstyle" / "manifest.json").read_text())["settings"]
    assert settings["model"]["network"] == "vgg16"
    assert settings["model"]["content_layers"] == ["relu3_2", "relu4_2", "CONV5_1"]
    assert settings["model"]["style_layers"] == ["relu1_1", "relu2_1", "relu5_3"]
    assert settings["model"]["style_layer_weights"] == [2.0, 1.0, 0.5]
    assert settings["style"]["preserve_colors"] is True


def test_defaults_of_the_new_options_come_from_the_settings(
    runner: CliRunner, tmp_path: Path, clip: Path, style: Path, random_weights: Path
) -> None:
    out = tmp_path / "styled"
    result = invoke(runner, "stylize", clip, "-s", style, "-o", out, "--weights", random_weights, *FAST, "--keep-work")
    assert result.exit_code == 0, (result.stderr, result.exception)
    stored = json.loads((tmp_path / "styled.vidstyle" / "manifest.json").read_text())["settings"]
    defaults = settings_to_json(Settings(style=StyleConfig(images=(style,))))
    for section, name in (("model", "network"), ("model", "content_layers"), ("model", "style_layers"),
                          ("model", "style_layer_weights"), ("style", "preserve_colors"), ("style", "scale")):  # fmt: skip
        assert stored[section][name] == defaults[section][name], name
    help_text = runner.invoke(app, ["stylize", "--help"], env={"COLUMNS": "250"}).stdout
    for option in ("--network", "--preserve-colors", "--content-layer", "--style-layers", "--style-layer-weights"):
        assert option in help_text


def test_preserve_colors_on_an_image_keeps_its_colours(
    runner: CliRunner, tmp_path: Path, style: Path, random_weights: Path
) -> None:
    photo = tmp_path / "colourful.png"
    y, x = np.mgrid[0:48, 0:64]
    hsv = np.stack([(x * 2 + y) % 180, np.full_like(x, 220), 120 + (y % 7) * 15], axis=-1).astype(np.uint8)
    assert cv2.imwrite(str(photo), cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR))
    shifts = {}
    for flag in ("--preserve-colors", "--no-preserve-colors"):
        out = tmp_path / f"out{flag}.png"
        result = invoke(
            runner, "stylize", photo, "-s", style, "-o", out, "--weights", random_weights, *FAST, "--max-size", "64",
            "--iterations", "15", flag,
        )  # fmt: skip
        assert result.exit_code == 0, (result.stderr, result.exception)
        a, b = (cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2YCrCb).astype(float) for p in (out, photo))
        shifts[flag] = float(np.abs(a[..., 1:] - b[..., 1:]).mean(axis=(0, 1)).sum())
    assert shifts["--preserve-colors"] < 0.25, shifts
    assert shifts["--no-preserve-colors"] > 2.0, shifts


# --------------------------------------------------------------------------- user errors


def test_missing_input(runner: CliRunner, tmp_path: Path, style: Path) -> None:
    missing = tmp_path / "nothing_here.mp4"
    result = invoke(runner, "stylize", missing, "-s", style, "-o", tmp_path / "out.mp4")
    assert_one_line_error(result, 1, "nothing_here.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_missing_style(runner: CliRunner, tmp_path: Path, clip: Path, image: Path, random_weights: Path) -> None:
    missing = tmp_path / "no_such_style.jpg"
    for source, out in ((image, tmp_path / "out.png"), (clip, tmp_path / "out.mp4")):
        result = invoke(runner, "stylize", source, "-s", missing, "-o", out, "--weights", random_weights, *FAST)
        line = assert_one_line_error(result, 1, "no_such_style.jpg")
        assert "bug" not in line, f"a missing style image is a user error, not a crash: {line}"
        assert not out.exists()


def test_bad_weights_file(runner: CliRunner, tmp_path: Path, image: Path, style: Path) -> None:
    bad = tmp_path / "broken_weights.pth"
    bad.write_bytes(b"this is not a state dict")
    result = invoke(runner, "stylize", image, "-s", style, "-o", tmp_path / "out.png", "--weights", bad, *FAST)
    assert_one_line_error(result, 1, "broken_weights.pth")


def test_unknown_temporal_mode_is_usage_error(runner: CliRunner, tmp_path: Path, clip: Path, style: Path) -> None:
    result = invoke(runner, "stylize", clip, "-s", style, "-o", tmp_path / "out.mp4", "--temporal", "sideways")
    assert result.exit_code == 2
    assert "--temporal" in result.stderr
    assert "Traceback" not in result.stderr


def test_performance_options_reach_the_run(runner: CliRunner, tmp_path: Path, clip: Path, style: Path, random_weights: Path) -> None:
    out = tmp_path / "styled"
    result = invoke(
        runner, "stylize", clip, "-s", style, "-o", out, "--weights", random_weights, *FAST, "--keep-work",
        "--precision", "bf16", "--batch-chains", "2", "--coarse-to-fine", "on", "--cuts", "3f",
    )  # fmt: skip
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert len(list(out.glob("frame_*.png"))) == 6
    stored = json.loads((tmp_path / "styled.vidstyle" / "manifest.json").read_text())["settings"]
    assert (stored["model"]["precision"], stored["model"]["batch_chains"], stored["model"]["compile"]) == ("bf16", 2, False)
    assert stored["optimize"]["coarse_to_fine"] == "on"
    defaults = settings_to_json(Settings(style=StyleConfig(images=(style,))))
    assert (defaults["model"]["precision"], defaults["model"]["batch_chains"], defaults["optimize"]["coarse_to_fine"]) == ("auto", 1, "auto")
    help_text = runner.invoke(app, ["stylize", "--help"], env={"COLUMNS": "250"}).stdout
    for option in ("--precision", "--batch-chains", "--compile", "--coarse-to-fine"):
        assert option in help_text


def test_a_batched_run_resumed_on_workers_is_told_how_to_resume(
    runner: CliRunner, tmp_path: Path, clip: Path, style: Path, random_weights: Path
) -> None:
    out = tmp_path / "out.mp4"
    done = invoke(runner, "stylize", clip, "-s", style, "-o", out, "--weights", random_weights, *FAST, "--batch-chains", "2", "--keep-work")
    assert done.exit_code == 0, (done.stderr, done.exception)
    refused = invoke(runner, "resume", tmp_path / "out.mp4.vidstyle", "--workers", "2")
    assert_one_line_error(refused, 2, "started with --batch-chains 2", "resume it without --workers or --ray-address")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--batch-chains", "0"], "--batch-chains"),
        (["--batch-chains", "2", "--workers", "2"], "--batch-chains"),
        (["--every", "0"], "--every"),
        (["--max-frames", "0"], "--max-frames"),
        (["--fps", "fast"], "--fps"),
        (["--start", "soon"], "--start"),
        (["--cuts", "12.5,48"], "--cuts 48: a bare number is now seconds"),
        (["--max-size", "4"], "--max-size"),
        (["--crf", "99"], "--crf"),
    ],
)
def test_bad_option_values_exit_2(runner: CliRunner, tmp_path: Path, clip: Path, style: Path, extra, fragment) -> None:  # noqa: ANN001
    result = invoke(runner, "stylize", clip, "-s", style, "-o", tmp_path / "out.mp4", *extra)
    assert_one_line_error(result, 2, fragment)


@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
def test_weights_of_the_other_network_exit_1_naming_both(
    runner: CliRunner, tmp_path: Path, image: Path, style: Path, random_weights: Path, random_vgg16_weights: Path,
    network: str,
) -> None:  # fmt: skip
    other = {"vgg16": "vgg19", "vgg19": "vgg16"}[network]
    wrong_file = random_weights if network == "vgg16" else random_vgg16_weights
    out = tmp_path / "out.png"
    result = invoke(runner, "stylize", image, "-s", style, "-o", out, "--weights", wrong_file, *FAST, "--network", network)
    assert_one_line_error(
        result, 1,
        f"holds {other.upper()} weights but --network {network} was chosen; pass --network {other} or a {network.upper()} file.",
    )  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--network", "vgg16", "--style-layers", "relu1_1,relu5_4"], ["Unknown VGG16 layer 'relu5_4'", "conv1_1 ... relu5_3"]),
        (["--content-layer", "relu9_9"], ["Unknown VGG19 layer 'relu9_9'", "conv1_1 ... relu5_4"]),
        (["--network", "vgg16", "--content-layer", "conv3_4"], ["Unknown VGG16 layer 'conv3_4'"]),
        (["--style-layers", "relu1_1,relu2_1", "--style-layer-weights", "1,1,1"], ["--style-layer-weights", "3", "2"]),
        (["--style-layer-weights", "1,x"], ["--style-layer-weights"]),
        (["--style-layers", "relu1_1,RELU1_1"], ["--style-layers", "relu1_1", "more than once"]),
    ],
)
def test_bad_layer_options_exit_2_before_any_work(
    runner: CliRunner, tmp_path: Path, clip: Path, style: Path, extra, fragments  # noqa: ANN001
) -> None:
    out = tmp_path / "out.mp4"
    result = invoke(runner, "stylize", clip, "-s", style, "-o", out, *extra)
    assert_one_line_error(result, 2, *fragments)
    assert not out.exists() and not (tmp_path / "out.mp4.vidstyle").exists()


def test_style_blend_count_must_match(runner: CliRunner, tmp_path: Path, clip: Path, style: Path) -> None:
    result = invoke(runner, "stylize", clip, "-s", style, "-s", style, "--style-blend", "0.5,0.3,0.2", "-o", tmp_path / "o.mp4")
    assert_one_line_error(result, 2, "--style-blend", "3", "2")


def test_image_output_for_a_video_is_usage_error(runner: CliRunner, tmp_path: Path, clip: Path, style: Path) -> None:
    result = invoke(runner, "stylize", clip, "-s", style, "-o", tmp_path / "frame.png")
    assert_one_line_error(result, 2, "frame.png")
    assert not (tmp_path / "frame.png").exists()


def test_unknown_output_extension_is_usage_error(runner: CliRunner, tmp_path: Path, clip: Path, style: Path) -> None:
    result = invoke(runner, "stylize", clip, "-s", style, "-o", tmp_path / "out.xyz")
    assert_one_line_error(result, 2, "out.xyz")


def test_existing_output_needs_overwrite(runner: CliRunner, tmp_path: Path, clip: Path, style: Path) -> None:
    out = tmp_path / "taken.mp4"
    out.write_bytes(b"someone's video")
    result = invoke(runner, "stylize", clip, "-s", style, "-o", out)
    assert_one_line_error(result, 1, "taken.mp4", "vidstyle did not write it")
    assert "--overwrite" not in result.output, "no flag replaces a file vidstyle did not write"
    assert out.read_bytes() == b"someone's video"


def test_debug_env_lets_the_exception_through(runner: CliRunner, tmp_path: Path, style: Path) -> None:
    result = runner.invoke(
        app,
        ["stylize", str(tmp_path / "nothing.mp4"), "-s", str(style), "-o", str(tmp_path / "out.mp4")],
        env={"VIDSTYLE_DEBUG": "1"},
    )
    assert isinstance(result.exception, InputError)
    assert result.exit_code != 0


def test_unexpected_exception_is_one_line_unless_debugging(
    runner: CliRunner, tmp_path: Path, clip: Path, style: Path, random_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug inside the run, through the fault seam (faults.py: the "bug" action raises a plain RuntimeError).
    monkeypatch.setenv(FAULT_ENV, "frame:0:bug")
    args = ["stylize", clip, "-s", style, "-o", tmp_path / "out.mp4", "--weights", random_weights, *FAST, "--quiet"]
    result = invoke(runner, *args)
    assert_one_line_error(result, 1, "RuntimeError", "failure injected by VIDSTYLE_FAULT=frame:0:bug", "VIDSTYLE_DEBUG=1")

    debug = runner.invoke(app, [str(a) for a in [*args, "--restart"]], env={"VIDSTYLE_DEBUG": "1"})
    assert isinstance(debug.exception, RuntimeError), debug.exception


# --------------------------------------------------------------------------- metrics


class _Copy:
    def stylize(self, content, *, init, budget, temporal=None, on_step=None, cold=False) -> StylizeResult:  # noqa: ANN001
        zero = LossBreakdown(content=0.0, style=0.0, tv=0.0, temporal=0.0, total=0.0)
        return StylizeResult(image=content.clone(), steps=1, stopped_early=False, initial=zero, final=zero, history=(0.0,))


class _Flicker(_Copy):
    """Every other frame inverted: as much flicker as a picture can have."""

    calls = 0

    def stylize(self, content, *, init, budget, temporal=None, on_step=None, cold=False) -> StylizeResult:  # noqa: ANN001
        result = super().stylize(content, init=init, budget=budget, temporal=temporal, on_step=on_step, cold=cold)
        self.calls += 1
        return replace(result, image=1.0 - result.image) if self.calls % 2 else result


def _copy_core(settings: Settings, size: tuple[int, int]) -> OptimizeMethod:
    return OptimizeMethod(_Copy(), settings=settings, working_size=size, device=torch.device("cpu"), identity="copy")


def _flicker_core(settings: Settings, size: tuple[int, int]) -> OptimizeMethod:
    return OptimizeMethod(_Flicker(), settings=settings, working_size=size, device=torch.device("cpu"), identity="flicker")


def test_metrics_json_on_a_clip_and_its_output(runner: CliRunner, tmp_path: Path, style: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    stylized = tmp_path / "out.mp4"
    settings = Settings(
        style=StyleConfig(images=(style,)),
        temporal=TemporalConfig(mode=TemporalMode.NONE),
        select=SelectConfig(max_size=None),
        encode=EncodeConfig(audio=False),
    )
    stylize(clip, stylized, settings=settings, method_factory=_copy_core)

    result = invoke(runner, "metrics", clip, stylized, "--json", "--flow-preset", "ultrafast")
    assert result.exit_code == 0, (result.stderr, result.exception)
    data = json.loads(result.stdout)
    assert data["frames"] == 12
    assert len(data["per_pair"]) == 11
    # A copy flickers as much as the input: its error is the input's own (the input measured against itself),
    # up to the copy's re-encode. Measured: 3.43e-4 for the copy against 4.09e-4 for the input (ratio 0.84; the
    # encode smooths a little), per pair within 0.2e-4 where the error is not near 0; the bounds are 0.6-1.4x.
    itself = invoke(runner, "metrics", clip, clip, "--json", "--flow-preset", "ultrafast")
    assert itself.exit_code == 0, (itself.stderr, itself.exception)
    own = json.loads(itself.stdout)
    assert own["frames"] == 12
    assert own["warping_error"] > 0  # the generated clip moves, so warping leaves an error to compare with
    assert 0.6 * own["warping_error"] <= data["warping_error"] <= 1.4 * own["warping_error"]
    # And the metric sees flicker: every other frame inverted gives an error hundreds of times the input's
    # (measured: 0.67 against 4.1e-4, 1600x).
    flickering = tmp_path / "flicker.mp4"
    stylize(clip, flickering, settings=settings, method_factory=_flicker_core)
    flicker = json.loads(invoke(runner, "metrics", clip, flickering, "--json", "--flow-preset", "ultrafast").stdout)
    assert flicker["warping_error"] > 100 * own["warping_error"]

    text = invoke(runner, "metrics", clip, stylized, "--flow-preset", "ultrafast")
    assert text.exit_code == 0 and "warping error" in text.stdout and "12 frames" in text.stdout


def test_metrics_refuses_different_lengths(runner: CliRunner, tmp_path: Path) -> None:
    long = make_clip(tmp_path / "long.mp4", frames=12, audio=False)
    short = make_clip(tmp_path / "short.mp4", frames=6, audio=False)
    result = invoke(runner, "metrics", long, short, "--json")
    assert_one_line_error(result, 1, "12", "6")
    assert result.stdout == ""


# --------------------------------------------------------------------------- entry points


def test_version(runner: CliRunner) -> None:
    result = invoke(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"vidstyle {__version__}"


def test_python_dash_m_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vidstyle", "--help"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("stylize", "resume", "metrics"):
        assert command in proc.stdout


def test_real_process_error_is_one_line(tmp_path: Path, style: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIDSTYLE_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "vidstyle", "stylize", str(tmp_path / "gone.mp4"), "-s", str(style), "-o", str(tmp_path / "o.mp4")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: Input not found: {tmp_path / 'gone.mp4'}; "), lines
    assert proc.stdout == ""
