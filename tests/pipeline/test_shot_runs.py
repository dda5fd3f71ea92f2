"""Runs with shots: a cut starts a new chain, cold, as if the run began there.

The clip is two real photos from ../shared/data, each seen through a panning
window: marple8 (a video frame) for shot 1, Turner's Shipwreck for shot 2.
The real VGG19 core runs with random weights at a tiny size. Cut detection
itself (PySceneDetect, the photometric check) is tested in test_shots.py.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.mediatools import panning, read_frames, shared_data, write_frames
from tests.pipeline.resume_worker import fake_method, make_settings
from tests.pipeline.test_resume import assert_spy_matches, run_worker
from vidstyle.cli import app
from vidstyle.config import DeviceChoice, ModelConfig, OptimizeConfig, StyleConfig, TemporalConfig
from vidstyle.model.build import build_core
from vidstyle.model.stylizer import TemporalTarget
from vidstyle.pipeline.events import CutScan, FrameDone, ShotsPlanned
from vidstyle.pipeline.run import resume, stylize
from vidstyle.pipeline.workdir import Manifest, WorkDir
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.masks import reliability_mask
from vidstyle.temporal.warp import warp_image
from vidstyle.video.pixels import add_margin, bgr_to_tensor, crop_margin, tensor_to_bgr
from vidstyle.video.sources import read_image

SIZE = (40, 30)
FIRST = 5  # frames in shot 1; shot 2 starts at plan position 5 (0:00.2 at 24 fps)
SECOND = 5


def photo(*parts: str) -> np.ndarray:
    return cv2.imread(str(shared_data(*parts)), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("two-shots")
    car = panning(photo("frames", "marple8", "marple8_01.ppm"), FIRST, SIZE, 2)
    sea = panning(photo("styles", "shipwreck.jpg"), SECOND, SIZE, 2)
    scream = panning(photo("styles", "the_scream.jpg"), FIRST, SIZE, 2)
    return {
        "clip": write_frames(root / "clip", car + sea),
        "other_first_shot": write_frames(root / "other", scream + sea),
        "style": shared_data("styles", "starry_night.jpg"),
        "cache": root / "cache",
    }


@pytest.mark.parametrize("init", ["content", "noise"])
def test_a_later_shot_is_stylized_as_a_run_started_at_its_cut(shots, random_weights: Path, tmp_path: Path, init: str) -> None:
    def run(name: str, clip: Path, **select: str):  # noqa: ANN202
        settings = make_settings(style=shots["style"], weights=random_weights, max_size=None, iterations=6, iterations_next=3, init=init, **select)
        return stylize(clip, tmp_path / name, settings=settings)

    whole = run("whole", shots["clip"])
    assert whole.cuts == (FIRST,) and whole.shots == "2 shots; cuts at 0:00.2"
    # The cut's frame gets a first frame's budget (it starts cold); the frame after it starts warm.
    assert [r.steps for r in whole.records] == [6, 3, 3, 3, 3, 6, 3, 3, 3, 3]

    started_at_cut = run("from-cut", shots["clip"], start=f"#{FIRST}")
    assert started_at_cut.cuts == ()
    frames, from_cut = read_frames(tmp_path / "whole"), read_frames(tmp_path / "from-cut")
    assert len(frames) == FIRST + SECOND and len(from_cut) == SECOND
    for index, (a, b) in enumerate(zip(frames[FIRST:], from_cut)):
        assert np.array_equal(a, b), f"frame {FIRST + index} differs from the run started at the cut"

    # Another first shot changes nothing in the second: no pixel of shot 1's stylization reaches it.
    other = run("other", shots["other_first_shot"])
    assert other.cuts == (FIRST,)
    changed = read_frames(tmp_path / "other")
    assert not np.array_equal(changed[FIRST - 1], frames[FIRST - 1])
    for a, b in zip(changed[FIRST:], frames[FIRST:]):
        assert np.array_equal(a, b)


def test_killed_in_the_second_shot_then_resumed_gives_the_same_output(shots, random_weights: Path, tmp_path: Path) -> None:
    settings = {"style": str(shots["style"]), "weights": str(random_weights), "max_size": None, "segment_frames": 3}
    reference = {"input": str(shots["clip"]), "output": str(tmp_path / "reference.mp4"), "core": "real", "settings": settings}
    reference["spy"] = str(tmp_path / "reference-spy")
    done = run_worker(tmp_path, reference, cache=shots["cache"])
    assert done.returncode == 0, done.stderr

    output = tmp_path / "out.mp4"
    spec = {**reference, "output": str(output), "spy": str(tmp_path / "spy")}
    killed = run_worker(tmp_path, spec, cache=shots["cache"], fault=f"step:{FIRST + 2}:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    work = tmp_path / "out.mp4.vidstyle"
    manifest = json.loads((work / "manifest.json").read_text())
    assert [(s["start"], s["reason"]) for s in manifest["plan"]["shots"]] == [(0, None), (FIRST, "photometric")]
    # Segments end at the cut: 0-2, 3-4 | 5-7, 8-9.
    assert [(s["start"], s["stop"]) for c in manifest["plan"]["chains"] for s in c["segments"]] == [(0, 3), (3, 5), (5, 8), (8, 10)]
    assert [r["position"] for r in WorkDir(work).records()] == list(range(FIRST + 2))

    resumed = run_worker(tmp_path, {"resume": str(work), "core": "real", "spy": str(tmp_path / "spy")}, cache=shots["cache"])
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1]) == {"frames": FIRST + SECOND, "stylized": SECOND - 2}
    assert_spy_matches(tmp_path / "spy", tmp_path / "reference-spy", FIRST + SECOND)
    assert output.read_bytes() == Path(reference["output"]).read_bytes()


def test_resume_reuses_the_cuts_in_the_manifest(shots, tmp_path: Path) -> None:
    settings = make_settings(style=shots["style"], max_size=None)
    events: list[object] = []

    class Crash(Exception):
        pass

    def crash_in_shot_two(event: object) -> None:
        events.append(event)
        if isinstance(event, FrameDone) and event.frame == FIRST + 1:
            raise Crash

    with pytest.raises(Crash):
        stylize(shots["clip"], tmp_path / "out", settings=settings, on_event=crash_in_shot_two, method_factory=fake_method())
    planned = [e for e in events if isinstance(e, ShotsPlanned)]
    assert len(planned) == 1 and planned[0].detected and planned[0].cuts == (FIRST,)
    assert any(isinstance(e, CutScan) for e in events)

    events.clear()
    result = resume(tmp_path / "out.vidstyle", on_event=events.append, method_factory=fake_method())
    assert result.stylized == SECOND - 2 and result.cuts == (FIRST,)
    assert not any(isinstance(e, CutScan) for e in events), "no second detection pass"
    planned = [e for e in events if isinstance(e, ShotsPlanned)]
    assert len(planned) == 1 and not planned[0].detected and planned[0].summary == "2 shots; cuts at 0:00.2"


def test_cuts_off_gives_the_frames_of_a_plain_optimizer_loop(shots, random_weights: Path, tmp_path: Path) -> None:
    """--cuts off: one chain, no photometric check, frame for frame what the optimizer gave before shots existed.

    The reference is written out here: the first frame from its content with the
    first-frame budget, every later one from the previous result warped along
    the DIS flow of the input frames (unreliable pixels from the content), with
    the temporal loss on the reliable ones; every frame on its canvas (--edge-margin: its own edge pixels,
    the style scaled to the picture inside), cropped after.
    """
    settings = make_settings(style=shots["style"], weights=random_weights, max_size=None, iterations=5, iterations_next=3, cuts="off")
    result = stylize(shots["clip"], tmp_path / "out", settings=settings)
    assert result.cuts == () and result.shots == "1 shot"

    optimize = OptimizeConfig(iterations=5, iterations_next=3)
    margin = settings.select.edge_margin
    canvas = (SIZE[0] + 2 * margin, SIZE[1] + 2 * margin)
    core = build_core(
        ModelConfig(weights=random_weights, device=DeviceChoice.CPU),
        StyleConfig(images=(shots["style"],)),
        optimize,
        content_size=canvas,
        cache_dir=None,
        style_scale=1.0 * (max(canvas) - 2 * margin) / max(canvas),
    )
    temporal = TemporalConfig()
    inputs = [add_margin(read_image(p), margin) for p in sorted(shots["clip"].glob("*.png"))]
    expected: list[np.ndarray] = []
    for index, content in enumerate(inputs):
        if index == 0:
            init, budget, target = bgr_to_tensor(content), optimize.iterations, None
        else:
            flows = FlowEstimator(temporal.flow_preset).pair(inputs[index - 1], content)
            mask = reliability_mask(flows.backward, flows.forward)
            warped = np.clip(warp_image(expected[-1].astype(np.float32), flows.backward, sharp=True), 0.0, 255.0)
            start = mask[:, :, None] * warped + (1.0 - mask[:, :, None]) * content.astype(np.float32)
            init, budget = _tensor(start), optimize.iterations_next
            target = TemporalTarget(image=_tensor(warped), mask=torch.from_numpy(mask)[None, None], weight=temporal.weight)
        out = core.stylizer.stylize(bgr_to_tensor(content), init=init, budget=budget, temporal=target)
        expected.append(tensor_to_bgr(out.image))
    written = read_frames(tmp_path / "out")
    assert len(written) == len(expected)
    for index, (a, b) in enumerate(zip(written, expected)):
        assert np.array_equal(a, crop_margin(b, margin)), f"frame {index} differs from the plain loop"


def _tensor(bgr: np.ndarray) -> torch.Tensor:
    rgb = np.ascontiguousarray(bgr[:, :, ::-1], dtype=np.float32) / 255.0
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).contiguous()


def test_cli_lists_cuts_shows_the_shots_and_refuses_bad_ones(shots, random_weights: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    output = tmp_path / "out.mp4"
    common = ["--weights", str(random_weights), "--iterations", "2", "--iterations-next", "1", "--device", "cpu", "--max-size", "40"]
    done = runner.invoke(
        app,
        ["stylize", str(shots["clip"]), "-s", str(shots["style"]), "-o", str(output), *common, "--cuts", "3f,#7", "--cut-threshold", "5", "--keep-work"],
    )
    assert done.exit_code == 0, (done.stderr, done.exception)
    assert "3 shots; cuts at 0:00.1, 0:00.3" in done.stderr
    assert "Wrote " in done.stderr and "; 3 shots; cuts at 0:00.1, 0:00.3)" in done.stderr  # the closing line
    manifest = json.loads((tmp_path / "out.mp4.vidstyle" / "manifest.json").read_text())
    assert manifest["settings"]["shots"]["cuts"] == "3f,#7" and manifest["settings"]["shots"]["cut_threshold"] == 5.0
    assert [(s["start"], s["reason"]) for s in manifest["plan"]["shots"]] == [(0, None), (3, "listed"), (7, "listed")]
    # A manifest of an earlier version, whose --cuts read a bare "3" as frame 3, still loads, with the same cuts and
    # a fingerprint that still matches its settings (its run resumes; "3" alone would now be refused as ambiguous).
    manifest["settings"]["shots"]["cuts"] = manifest["fingerprint"]["settings"]["shots"]["cuts"] = "3,#7"
    older = Manifest.from_json(manifest, where=tmp_path / "out.mp4.vidstyle" / "manifest.json")
    assert older.settings.shots.cuts == "3f,#7" == older.fingerprint["settings"]["shots"]["cuts"]  # type: ignore[index]

    for bad, fragment in ((["--cuts", "3f,soon"], "is not a frame or a time"), (["--cut-threshold", "0"], "--cut-threshold must be > 0")):
        refused = runner.invoke(app, ["stylize", str(shots["clip"]), "-s", str(shots["style"]), "-o", str(tmp_path / "x.mp4"), *common, *bad])
        assert refused.exit_code == 2 and fragment in refused.stderr and "Traceback" not in refused.stderr
        assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "x.mp4.vidstyle").exists()
