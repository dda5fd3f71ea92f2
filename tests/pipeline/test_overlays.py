"""--protect-overlays auto in a run: the HUD found per shot is kept from the input, the moving scene is
stylized, the masks are in the work dir (and serve as --mask), a resume uses the same masks, and ordinary
footage (every shared clip) protects nothing.

The stand-in stylizer paints each frame as its negative (tests/pipeline/test_masks.py), so a kept pixel
is plain to see. The HUD frames are tests/video/test_overlays.py's: a textured world scrolling under
"SCORE 42" and a health bar, 128x96.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.mediatools import decode_all, ffmpeg_exe, read_frames, shared_data, write_frames
from tests.pipeline.test_masks import _crash_after_first_frame, negative
from tests.video.test_overlays import hud_scene
from vidstyle.cli import app
from vidstyle.config import (
    DeviceChoice,
    ModelConfig,
    OptimizeConfig,
    OutputSize,
    OverlayMode,
    RunConfig,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
    TemporalConfig,
    TemporalMode,
)
from vidstyle.errors import ResumeError
from vidstyle.pipeline.chains import make_run_plan
from vidstyle.pipeline.events import Notice
from vidstyle.pipeline.overlays import detect_for_plan
from vidstyle.pipeline.plan import input_times, make_plan
from vidstyle.pipeline.run import resume, stylize
from vidstyle.pipeline.shots import scan_for_cuts
from vidstyle.video.sources import open_source


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    y, x = np.mgrid[0:40, 0:40]
    assert cv2.imwrite(str(path), np.stack([(x * 6) % 256, (y * 6) % 256, ((x + y) * 3) % 256], axis=-1).astype(np.uint8))
    return path


def settings_for(style: Path, *, protect: OverlayMode = OverlayMode.AUTO, mask: Path | None = None, keep_work: bool = True) -> Settings:
    return Settings(
        model=ModelConfig(device=DeviceChoice.CPU),
        style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations=3, iterations_next=2),
        temporal=TemporalConfig(mode=TemporalMode.FLOW),
        select=SelectConfig(max_size=64, output_size=OutputSize.SOURCE, mask=mask, protect_overlays=protect),
        shots=ShotsConfig(cuts="off"),
        run=RunConfig(segment_frames=4, keep_work=keep_work),
    )


def kept(mask_png: Path) -> np.ndarray:
    """Where a written overlay mask keeps the input (black), bool."""
    image = cv2.imread(str(mask_png), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    return image == 0


def test_the_hud_is_the_input_and_the_scene_is_stylized(tmp_path: Path, style: Path) -> None:
    frames, boxes = hud_scene()
    source = write_frames(tmp_path / "in", frames)
    out = tmp_path / "out"
    notices: list[str] = []
    stylize(source, out, settings=settings_for(style), method_factory=negative(),
            on_event=lambda e: notices.append(e.message) if isinstance(e, Notice) else None)  # fmt: skip
    written = read_frames(out)
    assert len(written) == len(frames)
    work = tmp_path / "out.vidstyle" / "overlays"
    protected = kept(work / "shot-000.png")
    summary = json.loads((work / "shots.json").read_text())
    assert summary["shots"][0]["protected"] > 0.05
    assert any("an overlay is kept from the input" in text for text in notices)
    hud = boxes["text"] | boxes["bar"]
    for frame, result in zip(frames, written):
        assert np.array_equal(result[protected], frame[protected]), "a protected pixel is the input's"
        assert np.abs(result[~hud].astype(int) - frame[~hud].astype(int)).mean() > 40, "the scene is stylized"
    # The text itself (its white strokes) is all kept.
    strokes = boxes["text"] & (frames[0].min(axis=2) > 200)
    assert strokes.sum() > 20 and protected[strokes].all()


def test_the_written_mask_given_back_with_mask_makes_the_same_frames(tmp_path: Path, style: Path) -> None:
    source = write_frames(tmp_path / "in", hud_scene(count=8)[0])
    stylize(source, tmp_path / "auto", settings=settings_for(style), method_factory=negative())
    mask = tmp_path / "edited.png"
    mask.write_bytes((tmp_path / "auto.vidstyle" / "overlays" / "shot-000.png").read_bytes())
    stylize(source, tmp_path / "given", settings=settings_for(style, protect=OverlayMode.OFF, mask=mask), method_factory=negative())
    for a, b in zip(read_frames(tmp_path / "auto"), read_frames(tmp_path / "given")):
        assert np.array_equal(a, b)


def test_a_user_mask_and_the_detected_overlay_both_keep_the_input(tmp_path: Path, style: Path) -> None:
    frames, boxes = hud_scene(count=8, bar=False)
    source = write_frames(tmp_path / "in", frames)
    user = np.full((96, 128, 3), 255, np.uint8)
    user[48:] = 0  # the bottom half keeps the input
    mask = tmp_path / "bottom.png"
    assert cv2.imwrite(str(mask), user)
    stylize(source, tmp_path / "out", settings=settings_for(style, mask=mask), method_factory=negative())
    protected = kept(tmp_path / "out.vidstyle" / "overlays" / "shot-000.png")
    for frame, result in zip(frames, read_frames(tmp_path / "out")):
        assert np.array_equal(result[48:], frame[48:]), "--mask's black is kept"
        assert np.array_equal(result[protected], frame[protected]), "the HUD is kept where --mask stylizes"
        top = np.zeros(protected.shape, bool)
        top[:48] = True
        free = top & ~protected & ~boxes["text"]
        assert np.abs(result[free].astype(int) - frame[free].astype(int)).mean() > 40


def h264(folder: Path, path: Path) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-framerate", "12", "-i", str(folder / "in_%04d.png"),
         "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_a_video_keeps_the_hud_within_encoding(tmp_path: Path, style: Path) -> None:
    frames, boxes = hud_scene()
    clip = h264(write_frames(tmp_path / "frames", frames), tmp_path / "capture.mp4")
    out = tmp_path / "out.mp4"
    stylize(clip, out, settings=settings_for(style), method_factory=negative())
    # "Within encoding": against the input re-encoded by the same path (an all-black --mask).
    black = tmp_path / "black.png"
    assert cv2.imwrite(str(black), np.zeros((96, 128, 3), np.uint8))
    stylize(clip, tmp_path / "again.mp4", settings=settings_for(style, protect=OverlayMode.OFF, mask=black), method_factory=negative())
    inputs, written, again = decode_all(clip), decode_all(out), decode_all(tmp_path / "again.mp4")
    assert len(written) == len(inputs) == len(frames)
    protected = kept(tmp_path / "out.mp4.vidstyle" / "overlays" / "shot-000.png")
    hud = boxes["text"] | boxes["bar"]
    assert protected[hud].mean() > 0.8
    # Inside the kept area (2 px in from its edge, where yuv420p's half-size chroma mixes in the stylized
    # neighbour) the output is as close to the input as the input re-encoded is. Measured on these grainy
    # frames: 6.3 against 6.1 levels on average (the text strokes 5.6 against 5.7); the scene is the negative.
    core = cv2.erode(protected.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert core.sum() > 500
    for frame, result, reencoded in zip(inputs, written, again):
        error = np.abs(result[core].astype(int) - frame[core].astype(int)).mean()
        baseline = np.abs(reencoded[core].astype(int) - frame[core].astype(int)).mean()
        assert error <= 1.2 * baseline + 0.5, (error, baseline)
        assert np.abs(result[~hud].astype(int) - frame[~hud].astype(int)).mean() > 40


def test_a_still_clip_protects_nothing(tmp_path: Path, style: Path) -> None:
    frames, _ = hud_scene(count=6, step=(0, 0))
    source = write_frames(tmp_path / "in", frames)
    notices: list[str] = []
    stylize(source, tmp_path / "out", settings=settings_for(style), method_factory=negative(),
            on_event=lambda e: notices.append(e.message) if isinstance(e, Notice) else None)  # fmt: skip
    assert any("no still overlay found" in text for text in notices)
    assert not kept(tmp_path / "out.vidstyle" / "overlays" / "shot-000.png").any()
    stylize(source, tmp_path / "plain", settings=settings_for(style, protect=OverlayMode.OFF), method_factory=negative())
    for plain, result in zip(read_frames(tmp_path / "plain"), read_frames(tmp_path / "out")):
        assert np.array_equal(result, plain), "every pixel is stylized, as without the option"


def test_a_resume_uses_the_same_masks_and_refuses_another_setting(tmp_path: Path, style: Path) -> None:
    frames, _ = hud_scene(count=6)
    source = write_frames(tmp_path / "in", frames)
    stylize(source, tmp_path / "whole", settings=settings_for(style), method_factory=negative())
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="stands in for a crash"):
        stylize(source, out, settings=settings_for(style), on_event=_crash_after_first_frame, method_factory=negative())
    work = tmp_path / "out.vidstyle"
    written = (work / "overlays" / "shot-000.png").read_bytes()
    assert written == (tmp_path / "whole.vidstyle" / "overlays" / "shot-000.png").read_bytes(), "deterministic"
    off = dataclasses.replace(settings_for(style), select=dataclasses.replace(settings_for(style).select, protect_overlays=OverlayMode.OFF))
    with pytest.raises(ResumeError, match="protect_overlays"):
        stylize(source, out, settings=off, method_factory=negative())
    resume(work, method_factory=negative())
    assert (work / "overlays" / "shot-000.png").read_bytes() == written
    for a, b in zip(read_frames(tmp_path / "whole"), read_frames(out)):
        assert np.array_equal(a, b)


def test_the_option_on_the_command_line(tmp_path: Path, style: Path, random_weights: Path) -> None:
    source = write_frames(tmp_path / "in", hud_scene(count=3, size=(64, 48))[0])
    out = tmp_path / "out"
    args = ["stylize", str(source), "-s", str(style), "-o", str(out), "--max-size", "32", "--device", "cpu",
            "--weights", str(random_weights), "--iterations", "2", "--iterations-next", "1", "--keep-work"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--protect-overlays", "auto"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.vidstyle" / "overlays" / "shot-000.png").is_file()
    bad = CliRunner().invoke(app, [*args, "--protect-overlays", "maybe"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


@pytest.mark.parametrize("clip", ["videos/delayed_start.mp4", "videos/fades.mp4", "videos/issue-134-rotate.mp4", "frames/marple8"])
def test_ordinary_footage_protects_nothing(clip: str) -> None:
    """Every shared clip, planned and cut into shots as a run does: no shot protects a pixel
    (benchmarks/overlays.py prints the same per shot, with the HUD sample beside them)."""
    path = shared_data(*clip.split("/"))
    select = SelectConfig(max_size=256)
    with open_source(path) as source:
        frames = make_plan(source.info, select)
        stamps = input_times(source.info, select)
        cuts = scan_for_cuts(source, frames, [stamps[i] for i in frames.source_indices], config=ShotsConfig())
        plan = make_run_plan(frames, cuts, segment_frames=240)
        found = detect_for_plan(source, plan)
    assert len(found) == len(plan.shots)
    assert [d.protected for d in found] == [0.0] * len(found), [d.reason for d in found]


def magenta(image: np.ndarray) -> np.ndarray:
    return (image[:, :, 0] == 255) & (image[:, :, 1] == 0) & (image[:, :, 2] == 255)


@pytest.mark.parametrize("protect", [OverlayMode.AUTO, OverlayMode.OFF])
def test_the_preview_sheet_outlines_the_hud(tmp_path: Path, style: Path, protect: OverlayMode) -> None:
    from vidstyle.config import PreviewConfig
    from vidstyle.pipeline.preview import preview

    frames, boxes = hud_scene(count=8)
    source = write_frames(tmp_path / "in", frames)
    settings = dataclasses.replace(settings_for(style, protect=protect), select=SelectConfig(max_size=128, protect_overlays=protect))
    result = preview(source, tmp_path / "sheet.png", settings=settings, config=PreviewConfig(frames=2), method_factory=negative())
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    for box, stylized, frame in zip(result.inputs, result.results, result.frames):
        outlined = magenta(box.crop(sheet))
        if protect is OverlayMode.OFF:
            assert not outlined.any()
            continue
        near = cv2.dilate((boxes["text"] | boxes["bar"]).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert outlined.sum() > 50 and not (outlined & ~near).any(), "the outline runs around the HUD, nowhere else"
        # The stylized tile keeps the HUD from the input, as the run writes it.
        tile = stylized.crop(sheet)
        strokes = boxes["text"] & (frames[frame.source_index].min(axis=2) > 200)
        assert (tile[strokes].min(axis=1) > 200).mean() > 0.9, "the text stays white, not its negative"


def test_a_work_dir_from_before_the_option_resumes(tmp_path: Path, style: Path) -> None:
    """A manifest written before --protect-overlays existed has no such setting: its run had none."""
    source = write_frames(tmp_path / "in", hud_scene(count=4)[0])
    off = settings_for(style, protect=OverlayMode.OFF)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="stands in for a crash"):
        stylize(source, out, settings=off, on_event=_crash_after_first_frame, method_factory=negative())
    manifest_path = tmp_path / "out.vidstyle" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    text = json.dumps(manifest)
    assert text.count('"protect_overlays": "off"') == 2  # the settings, and their copy in the fingerprint
    manifest_path.write_text(text.replace('"protect_overlays": "off", ', "").replace(', "protect_overlays": "off"', ""))
    assert "protect_overlays" not in manifest_path.read_text()
    result = resume(tmp_path / "out.vidstyle", method_factory=negative())
    assert result.frames == 4
