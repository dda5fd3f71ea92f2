"""The newcomer's path (issue 14): what a first-time user copies, reads and waits for.

* the resume command printed after Ctrl-C runs as printed, however vidstyle was started;
* the ETA after the first frame is near the truth (cold starts and warm frames priced apart);
* a changed input says so and gives the one command that starts over, and that command works;
* messages name where a bad value came from (VIDSTYLE_WEIGHTS, a misspelled input);
* --help shows no ``<bool>`` on flags, docs/cli.md lists every option of every command, and the README
  stays short, agrees with it and links only to files that exist.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from tests.mediatools import REPO_ROOT, count_video_frames, frame_image, make_clip, make_frames_folder, optional_tool
from tests.pipeline.resume_worker import fake_method, make_settings
from vidstyle.cli import app
from vidstyle.errors import InputChanged
from vidstyle.faults import ENV as FAULT_ENV
from vidstyle.invocation import command_prefix
from vidstyle.model.weights import WEIGHTS_ENV
from vidstyle.pipeline.eta import EtaEstimator, WorkLeft, format_duration
from vidstyle.pipeline.events import FrameDone, RunFinished
from vidstyle.pipeline.run import resume, stylize

FAST = ["--max-size", "32", "--iterations", "2", "--iterations-next", "1", "--device", "cpu", "--cuts", "off"]


def _one_line(result, code: int) -> str:  # noqa: ANN001
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# ------------------------------------------------------------------ 1. the resume command, as pasted


def _user_env(tmp_path: Path) -> dict[str, str]:
    """A shell of a user whose environment is activated (its bin first on PATH), not inside `uv run`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV", "VIDSTYLE_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        VIDSTYLE_CACHE_DIR=str(tmp_path / "cache"),
        TORCH_HOME=str(tmp_path / "torch"),
        OMP_NUM_THREADS="1",
    )
    return env


def _uv() -> str | None:
    return os.environ.get("UV") or shutil.which("uv")


@pytest.mark.slow
@pytest.mark.parametrize("launch", ["python -m vidstyle", "vidstyle", "uv run vidstyle"])
def test_printed_resume_command_runs_as_printed(launch: str, tmp_path: Path, random_weights: Path) -> None:
    env = _user_env(tmp_path)
    if launch == "uv run vidstyle":
        uv = _uv()
        optional_tool(uv is not None, "uv is not on PATH (pip install uv)")
        assert uv is not None
        env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env['PATH']}"
        env.update(UV_OFFLINE="1", UV_NO_PROGRESS="1")
    start = shlex.split(launch)
    # Quotes, spaces and a non-ASCII letter in the output's folder: the printed command must quote them.
    folder = tmp_path / "it's my \"clip\" ü"
    folder.mkdir()
    clip = make_clip(folder / "in put.mp4", width=48, height=32, frames=3, audio=False)
    style = folder / "style ö.png"
    assert cv2.imwrite(str(style), frame_image(9, (40, 40)))
    output = folder / "out 'x'.mp4"
    stylize_args = ["stylize", str(clip), "-s", str(style), "-o", str(output), "--weights", str(random_weights), *FAST]

    stopped = subprocess.run(
        [*start, *stylize_args], cwd=REPO_ROOT, env={**env, FAULT_ENV: "frame:0:interrupt"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert stopped.returncode == 130, stopped.stderr
    printed = re.search(r"Resume with: (.+)$", stopped.stderr.strip().splitlines()[-1])
    assert printed, stopped.stderr
    command = printed.group(1)
    assert shlex.split(command)[: len(start) + 1] == [*start, "resume"], command

    resumed = subprocess.run(["bash", "-c", command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, (command, resumed.stderr)
    assert "Resuming: 1 of 3 frames were already done" in resumed.stderr
    assert count_video_frames(output) == 3


def test_prefix_follows_how_the_process_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("UV", raising=False)
    monkeypatch.setattr(sys, "argv", [str(REPO_ROOT / "vidstyle" / "__main__.py"), "stylize"])
    assert command_prefix()[1:] == ["-m", "vidstyle"]
    monkeypatch.setattr(sys, "argv", ["./bin/vidstyle"])
    assert command_prefix() == ["./bin/vidstyle"], "a script started by its path is named by that path"
    monkeypatch.setenv("UV", "/somewhere/uv")
    monkeypatch.setenv("VIRTUAL_ENV", str(REPO_ROOT / ".venv"))
    monkeypatch.chdir(REPO_ROOT)
    assert command_prefix() == ["uv", "run", "vidstyle"]
    monkeypatch.chdir(tmp_path)  # outside the project: uv must be told where it is
    assert command_prefix() == ["uv", "run", "--project", str(REPO_ROOT), "vidstyle"]


# ------------------------------------------------------------------ 2. a truthful ETA


def _replay(profile: list[tuple[bool, float, int]], left: WorkLeft, estimator: EtaEstimator) -> list[tuple[float, float]]:
    """(estimate, truth) after each frame of a recorded cost profile of (cold, seconds, steps)."""
    out = []
    for index, (cold, seconds, steps) in enumerate(profile):
        estimator.observe(cold=cold, seconds=seconds, steps=steps)
        left = WorkLeft(cold=left.cold - cold, warm=left.warm - (not cold))
        truth = sum(s for _, s, _ in profile[index + 1 :])
        estimate = estimator.seconds_left(left)
        assert estimate is not None
        out.append((estimate, truth))
    return out


def test_eta_after_the_first_frame_of_the_demo_profile() -> None:
    # The README demo on a 2-core CPU: a cold first frame of 60 s (144 steps, early stop), then 23
    # warm frames of about 7 s (20 steps). The rate-based estimate after the first frame said
    # 23 x 60 s = 1380 s against 161 s to go.
    profile = [(True, 60.0, 144)] + [(False, 7.0 + 0.3 * (i % 3), 20) for i in range(23)]
    estimates = _replay(profile, WorkLeft(cold=1, warm=23), EtaEstimator(cold_budget=300, warm_budget=20))
    first_estimate, truth = estimates[0]
    assert truth / 2 <= first_estimate <= truth * 2, (first_estimate, truth)
    rate_based = 23 * 60.0
    assert not truth / 2 <= rate_based <= truth * 2, "the old estimate fails this test"
    for estimate, truth in estimates[1:-1]:
        assert truth / 1.5 <= estimate <= truth * 1.5, (estimate, truth)


def test_eta_counts_the_cold_starts_of_the_shots_left() -> None:
    # Three shots of 8 frames: two more cold starts are ahead after the first frame.
    profile = []
    for _ in range(3):
        profile += [(True, 50.0, 130)] + [(False, 6.0, 20)] * 7
    estimates = _replay(profile, WorkLeft(cold=3, warm=21), EtaEstimator(cold_budget=300, warm_budget=20))
    estimate, truth = estimates[0]
    assert truth / 2 <= estimate <= truth * 2, (estimate, truth)
    # Right after the second shot's first frame the estimate is within 10%: both costs are known.
    estimate, truth = estimates[8]
    assert abs(estimate - truth) <= 0.1 * truth, (estimate, truth)
    assert truth == 134.0 and format_duration(truth) == "0:02:14" and format_duration(3725.4) == "1:02:05"


def test_eta_of_a_real_run_with_slow_cold_starts(style: Path, tmp_path: Path) -> None:
    # Fake steps that sleep: a cold start costs 12 steps, a warm frame 2, two shots of 6 frames.
    frames = tmp_path / "frames"
    make_frames_folder(frames, 12, size=(32, 24))
    settings = make_settings(style=style, max_size=None, iterations=12, iterations_next=2, cuts="6f")
    seen: list[tuple[float, FrameDone]] = []
    finished: list[float] = []

    def on_event(event) -> None:  # noqa: ANN001
        if isinstance(event, FrameDone):
            seen.append((time.perf_counter(), event))
        elif isinstance(event, RunFinished):
            finished.append(time.perf_counter())

    stylize(frames, tmp_path / "out", settings=settings, on_event=on_event, method_factory=fake_method(sleep=0.02))
    first_time, first = seen[0]
    truth = seen[-1][0] - first_time
    assert first.eta_seconds is not None
    assert truth / 2 <= first.eta_seconds <= truth * 2, (first.eta_seconds, truth)
    assert seen[-1][1].eta_seconds == 0.0


# ------------------------------------------------------------------ 3. a changed input: one way on, and it works


def _interrupted_folder_run(tmp_path: Path, style: Path) -> tuple[Path, Path, list[str]]:
    frames = tmp_path / "frames"
    make_frames_folder(frames, 4, size=(32, 24))
    output = tmp_path / "out.mp4"
    args = ["stylize", str(frames), "--style", str(style), "--output", str(output), "--max-size", "32"]
    with pytest.raises(RuntimeError):
        stylize(
            frames, output, settings=make_settings(style=style, max_size=32),
            on_event=_stop_after_first_frame, method_factory=fake_method(),
        )  # fmt: skip
    return frames, output, args


def _stop_after_first_frame(event) -> None:  # noqa: ANN001
    if isinstance(event, FrameDone):
        raise RuntimeError("stands in for a crash after the first frame")


def _pairs(words: list[str]) -> set[tuple[str, str]]:
    """Option/value pairs of a command line made only of `--option value` pairs."""
    assert len(words) % 2 == 0, words
    return set(zip(words[::2], words[1::2]))


def test_changed_input_says_so_and_its_command_starts_over(
    runner: CliRunner, tmp_path: Path, style: Path, random_weights: Path
) -> None:
    frames, output, args = _interrupted_folder_run(tmp_path, style)
    work = tmp_path / "out.mp4.vidstyle"
    # The user fixes a frame: the same names, other pixels.
    assert cv2.imwrite(str(sorted(frames.iterdir())[2]), frame_image(77, (32, 24)))

    args += ["--weights", str(random_weights), "--iterations", "2", "--iterations-next", "1", "--device", "cpu"]
    line = _one_line(runner.invoke(app, args), 1)
    assert f"The input {frames} (4 files" in line and f"changed since the interrupted run in {work} began" in line
    assert "finished frames cannot be reused" in line and "other settings" not in line
    suggested = line.split("Start over with: ", 1)[1]
    words = shlex.split(suggested)
    prefix = command_prefix()
    assert words[: len(prefix)] == prefix and words[-1] == "--restart"
    typed = words[len(prefix) :]
    assert typed[:2] == args[:2] and _pairs(typed[2:-1]) == _pairs(args[2:]), "the same command, plus --restart"

    done = runner.invoke(app, words[len(prefix) :])
    assert done.exit_code == 0, done.stderr
    assert count_video_frames(output) == 4


def test_changed_input_under_resume_gives_resume_restart(runner: CliRunner, tmp_path: Path, style: Path) -> None:
    frames, output, _ = _interrupted_folder_run(tmp_path, style)
    work = tmp_path / "out.mp4.vidstyle"
    make_frames_folder(frames, 5, size=(32, 24))  # a frame more
    with pytest.raises(InputChanged, match=r"4 files, \d+ bytes then, 5 files, \d+ bytes now"):
        resume(work, method_factory=fake_method())
    line = _one_line(runner.invoke(app, ["resume", str(work), "--device", "cpu"]), 1)
    suggested = shlex.split(line.split("Start over with: ", 1)[1])
    assert suggested[len(command_prefix()) :] == ["resume", str(work), "--device", "cpu", "--restart"]
    # --restart on resume: the stored settings, from the first frame (the fake method stands in for the CLI's).
    result = resume(work, method_factory=fake_method(), restart=True)
    assert result.stylized == 5 and count_video_frames(output) == 5


def test_changed_style_is_not_called_a_setting(tmp_path: Path, style: Path) -> None:
    _interrupted_folder_run(tmp_path, style)
    assert cv2.imwrite(str(style), frame_image(3, (40, 40)))
    with pytest.raises(InputChanged, match=f"The style image {re.escape(str(style))} changed"):
        resume(tmp_path / "out.mp4.vidstyle", method_factory=fake_method())


# ------------------------------------------------------------------ 4. messages name where a value came from


def test_missing_weights_from_the_variable_names_the_variable(
    runner: CliRunner, tmp_path: Path, style: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "photo.png"
    assert cv2.imwrite(str(image), frame_image(1, (48, 32)))
    gone = tmp_path / "old" / "vgg19.pth"
    monkeypatch.setenv(WEIGHTS_ENV, str(gone))
    line = _one_line(runner.invoke(app, ["stylize", str(image), "-s", str(style), "-o", str(tmp_path / "o.png"), *FAST]), 1)
    assert f"Weights file not found: {gone} (from VIDSTYLE_WEIGHTS)" in line
    assert "point VIDSTYLE_WEIGHTS at a VGG19 state dict" in line and "unset it" in line
    assert "--weights" not in line

    line = _one_line(
        runner.invoke(app, ["stylize", str(image), "-s", str(style), "-o", str(tmp_path / "o.png"), "--weights", str(gone), *FAST]), 1
    )
    assert f"Weights file not found: {gone}; pass --weights" in line and WEIGHTS_ENV not in line


def test_misspelled_input_says_what_is_nearby(runner: CliRunner, tmp_path: Path, style: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_clip(tmp_path / "holiday.mp4", frames=2, audio=False)
    (tmp_path / "frames").mkdir()
    monkeypatch.chdir(tmp_path)

    def error(name: str) -> str:
        return _one_line(runner.invoke(app, ["stylize", name, "-s", str(style), "-o", "out.mp4"]), 1)

    assert error("holliday.mp4") == "error: Input not found: holliday.mp4; did you mean holiday.mp4?"
    assert error("frams") == "error: Input not found: frams; did you mean frames?"
    listed = error("party.mp4")
    assert listed.startswith("error: Input not found: party.mp4; this folder holds ") and "holiday.mp4" in listed
    assert "frames/" in listed
    gone = error("nowhere/clip.mp4")
    assert "the folder nowhere does not exist" in gone and "a folder of frames or a pattern" in gone


# ------------------------------------------------------------------ 5. help, README and docs


COMMANDS = ("stylize", "preview", "resume", "metrics", "serve")


def test_help_shows_no_bool_metavar(runner: CliRunner) -> None:
    for args in ([], *([command] for command in COMMANDS)):
        result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.output, args
    assert "--soft-mask " in runner.invoke(app, ["stylize", "--help"], env={"COLUMNS": "200"}).output


def test_usage_errors_are_one_line_that_says_where_help_is(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["stylize", "in.mp4", "-s", "s.png", "-o", "o.mp4", "--soft-mask", "true"])
    line = _one_line(result, 2)
    assert "(true)" in line and re.search(r"See '\S+ stylize --help'\.$", line), line


def _command_options(command: str) -> set[str]:
    import typer.main

    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    names = set()
    for param in params:
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        names.add(next(o for o in param.opts if o.startswith("--")))
    return names


CLI_DOC = REPO_ROOT / "docs" / "cli.md"  # the one place the option tables live
README = REPO_ROOT / "README.md"


def _option_rows(text: str) -> dict[str, str]:
    """First cell -> default cell of every option row (``| `--x N` | default | ... |``) in ``text``."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0]] = cells[1]
    return rows


def _command_section(text: str, command: str) -> str:
    section = re.search(rf"^#+ `vidstyle {command}[^\n]*\n(.*?)(?=^#|\Z)", text, flags=re.M | re.S)
    assert section, f"docs/cli.md has no section for vidstyle {command}"
    return section.group(1)


def _documented_options(command: str) -> set[str]:
    found = set()
    for first_cell in _option_rows(_command_section(CLI_DOC.read_text(), command)):
        found.update(re.findall(r"--[a-z][a-z0-9-]*", first_cell))
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_docs_cli_lists_every_option_of_every_command(command: str) -> None:
    options, listed = _command_options(command), _documented_options(command)
    assert options - listed == set(), f"vidstyle {command} options missing from the docs/cli.md table"
    assert listed - options == set(), f"docs/cli.md lists options vidstyle {command} does not have"


def test_readme_options_exist_and_match_the_defaults_in_docs_cli() -> None:
    import typer.main

    group = typer.main.get_command(app)
    real = {opt for command in COMMANDS for param in group.commands[command].params for opt in (*param.opts, *param.secondary_opts)}  # type: ignore[attr-defined]
    readme = README.read_text()
    everyday = re.search(r"^## Everyday use\n(.*?)(?=^## )", readme, flags=re.M | re.S)
    assert everyday, "README has no Everyday use section"
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", everyday.group(1)))
    assert mentioned - real == set(), "README's Everyday use names options vidstyle does not have"
    documented = _option_rows(_command_section(CLI_DOC.read_text(), "stylize"))  # the README's table is stylize's
    rows = _option_rows(everyday.group(1))
    assert len(rows) >= 10, "README's table of everyday options is gone"
    for first_cell, default in rows.items():
        assert first_cell in documented, f"README row {first_cell} has no row of the same name in docs/cli.md"
        assert default == documented[first_cell], f"README says {first_cell} defaults to {default}, docs/cli.md {documented[first_cell]}"


def test_readme_reads_in_five_minutes() -> None:
    lines = len(README.read_text().splitlines())
    assert lines < 250, f"README.md has {lines} lines; move the detail to a page under docs/"


def test_every_relative_link_of_the_readme_and_docs_points_to_a_file() -> None:
    pages = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]
    assert len(pages) > 10, pages
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target}")
    assert broken == []


def test_library_snippet_filters_events(capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO_ROOT / "docs" / "library.md").read_text()
    snippet = re.search(r"^# Library\n\n```python\n(.*?)```", text, flags=re.S | re.M)
    assert snippet, "docs/library.md has no Library snippet"
    code = snippet.group(1)
    assert "ModelConfig(" in code and "weights=" in code and "on_event=print" not in code
    setup = code.split("result = stylize(")[0]  # everything but the run itself
    namespace: dict[str, object] = {}
    exec(compile(setup, "docs/library.md", "exec"), namespace)  # noqa: S102 - our own docs
    show = namespace["show"]
    from vidstyle.methods.base import FrameOutcome
    from vidstyle.pipeline.events import StepDone

    show(StepDone(frame=0, step=1, budget=300, loss=1.0))  # type: ignore[operator]
    record = FrameOutcome(position=0, steps=144, stopped_early=True, loss=0.5, terms={"style": 0.1, "content": 0.1}, seconds=60.0)
    show(FrameDone(record=record, total_frames=24, frames_done=1, frames_per_second=0.02, eta_seconds=190.0))  # type: ignore[operator]
    assert capsys.readouterr().out == "frame 1/24, loss 0.5, ETA 190 s\n", "one line per frame, none per step"
