"""Failures from outside vidstyle end cleanly, with nothing lost (issue 13).

* ffmpeg failing: the message shows the last lines of its stderr, the finished
  frames stay, and a resume (once ffmpeg works) finishes the same output;
* the disk filling up mid-run (a file size limit, RLIMIT_FSIZE, in a real
  process): a clear error, then a resume finishes the same frames;
* paths with spaces, quotes and non-ASCII letters in the input, style, output
  and work dir, end to end.

The input changing while a resume is pending is tests/test_newcomer.py
(refused by the fingerprint, with the one command that starts over).
"""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.mediatools import REPO_ROOT, count_video_frames, ffmpeg_exe, frame_image, make_clip, read_frames
from tests.pipeline.resume_worker import fake_method, make_settings
from vidstyle.cli import app
from vidstyle.errors import EncodeError
from vidstyle.pipeline.run import resume, stylize
from vidstyle.pipeline.workdir import WorkDir

WORKER = REPO_ROOT / "tests" / "pipeline" / "resume_worker.py"


# ------------------------------------------------------------------ ffmpeg failing


def _failing_ffmpeg(folder: Path, *, from_encode: int) -> Path:
    """An ffmpeg that works, except that its ``from_encode``-th H.264 encode and later ones fail as a broken encoder would."""
    counter = folder / "encodes"
    script = folder / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do\n'
        '  if [ "$arg" = libx264 ]; then\n'
        f'    n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 )); echo $n > "{counter}"\n'
        f'    if [ $n -ge {from_encode} ]; then\n'
        '      echo "[libx264 @ 0x55d0c1a2b3c0] malloc of size 2359296 failed" >&2\n'
        '      echo "[vost#0:0/libx264 @ 0x55d0c1a2b400] Error while opening encoder - maybe incorrect parameters" >&2\n'
        '      echo "Error while filtering: Cannot allocate memory" >&2\n'
        '      echo "Conversion failed!" >&2\n'
        "      exit 1\n"
        "    fi\n"
        "  fi\n"
        "done\n"
        f'exec "{ffmpeg_exe()}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_ffmpeg_failing_shows_its_last_lines_and_the_frames_stay(style: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=8, audio=False)
    settings = make_settings(style=style, max_size=None, segment_frames=3, cuts="off")
    reference = stylize(clip, tmp_path / "reference.mp4", settings=settings, method_factory=fake_method())

    output = tmp_path / "out.mp4"
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(_failing_ffmpeg(tmp_path, from_encode=2)))  # imageio-ffmpeg's own variable
    with pytest.raises(EncodeError) as caught:
        stylize(clip, output, settings=settings, method_factory=fake_method())
    message = str(caught.value)
    assert "ffmpeg failed (exit 1): [libx264] malloc of size 2359296 failed | [vost#0:0/libx264] Error while opening encoder" in message
    assert "Error while filtering: Cannot allocate memory" in message and "Conversion failed" not in message
    assert "The 6 finished frames are kept; fix what ffmpeg reports" in message and "resume with: " in message
    assert "\n" not in message and not output.exists()

    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")
    resumed = resume(tmp_path / "out.mp4.vidstyle", method_factory=fake_method())
    assert resumed.stylized == 2, "frames 0-5 were kept; the failed segment is encoded from their PNGs"
    assert output.read_bytes() == reference.output.read_bytes()


def test_ffmpeg_failing_in_the_cli_is_one_line(runner: CliRunner, style: Path, random_weights: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=3, audio=False)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(_failing_ffmpeg(tmp_path, from_encode=1)))
    args = ["stylize", str(clip), "-s", str(style), "-o", str(tmp_path / "out.mp4"), "--weights", str(random_weights),
            "--max-size", "32", "--iterations", "2", "--iterations-next", "1", "--device", "cpu", "--cuts", "off"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "malloc of size 2359296 failed" in errors[0] and "resume with:" in errors[0]
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ the disk filling up


def _limit_file_size(limit: int):  # noqa: ANN202
    def limit_it() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_it


def test_disk_full_mid_run_is_clear_and_resumes(style: Path, tmp_path: Path) -> None:
    # Flat frames make tiny PNGs; from frame 5 on, noise makes 37 kB ones, over the 20 kB limit.
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(3)
    for i in range(8):
        image = np.full((96, 128, 3), 40 + 10 * i, np.uint8) if i < 5 else (rng.random((96, 128, 3)) * 255).astype(np.uint8)
        assert cv2.imwrite(str(frames / f"f{i}.png"), image)
    settings = {"style": str(style), "max_size": 128, "segment_frames": 4, "cuts": "off"}
    reference = stylize(frames, tmp_path / "reference", settings=make_settings(**settings), method_factory=fake_method())

    output = tmp_path / "out"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"input": str(frames), "output": str(output), "core": "fake", "settings": settings}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSTYLE_")}
    env["VIDSTYLE_CACHE_DIR"] = str(tmp_path / "cache")
    full = subprocess.run(
        [sys.executable, str(WORKER), str(spec)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        preexec_fn=_limit_file_size(20_000),
    )  # fmt: skip
    assert full.returncode == 1, full.stderr
    line = full.stderr.strip()
    assert "\n" not in line and line.startswith("error: Could not write "), line
    assert "File too large; free some space (or raise the file size limit)." in line
    assert "The 5 finished frames are kept; free some space, then resume with: " in line
    work = WorkDir(tmp_path / "out.vidstyle")
    assert [r["position"] for r in work.records()] == [0, 1, 2, 3, 4]
    assert not [p for p in output.iterdir() if p.name.endswith(".tmp")], "no temporary file is left"
    assert (output / ".vidstyle-output.json").is_file(), "the folder's record of what vidstyle writes there"

    resumed = resume(work.root, method_factory=fake_method())
    assert resumed.stylized == 3
    for ours, theirs in zip(read_frames(output), read_frames(reference.output), strict=True):
        assert np.array_equal(ours, theirs)


# ------------------------------------------------------------------ odd paths, end to end

ODD = "it's a \"test\" ü 日本"


def test_paths_with_spaces_quotes_and_non_ascii(runner: CliRunner, random_weights: Path, tmp_path: Path) -> None:
    root = tmp_path / ODD
    root.mkdir()
    clip = make_clip(root / "my clip 'v2' é.mp4", width=48, height=32, frames=4)
    style = root / "stÿle \"1\".png"
    assert cv2.imwrite(str(style), frame_image(5, (40, 40)))  # OpenCV writes through Python here, so any name works
    frames = root / "frames 'x' ñ"
    frames.mkdir()
    for i in range(3):
        assert cv2.imwrite(str(frames / f"bild {i} ö.png"), frame_image(i, (40, 32)))
    fast = ["--weights", str(random_weights), "--max-size", "32", "--iterations", "2", "--iterations-next", "1",
            "--device", "cpu", "--segment-frames", "2", "--cuts", "off"]  # fmt: skip

    video = root / "out \"final\" ß.mp4"
    work = root / "work dir 'ä'"
    result = runner.invoke(app, ["stylize", str(clip), "-s", str(style), "-o", str(video), "--work-dir", str(work),
                                 "--keep-work", *fast])  # fmt: skip
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert count_video_frames(video) == 4
    assert stream_has_audio(video), "the audio came through the odd name too"
    assert sorted(p.name for p in (work / "segments").iterdir()) == ["00000.mp4", "00001.mp4"]

    folder_out = root / "frames out ü"
    result = runner.invoke(app, ["stylize", str(frames), "-s", str(style), "-o", str(folder_out), *fast])
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert len(read_frames(folder_out)) == 3

    pattern = str(frames / "bild * ö.png")
    image_out = root / "one 'frame'.png"
    result = runner.invoke(app, ["stylize", str(frames / "bild 1 ö.png"), "-s", str(style), "-o", str(image_out), *fast])
    assert result.exit_code == 0 and cv2.imread(str(image_out)) is not None
    result = runner.invoke(app, ["stylize", pattern, "-s", str(style), "-o", str(root / "from pattern.mp4"), *fast])
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert count_video_frames(root / "from pattern.mp4") == 3


def stream_has_audio(path: Path) -> bool:
    from tests.mediatools import stream_facts

    return bool(stream_facts(path).audio_streams)
