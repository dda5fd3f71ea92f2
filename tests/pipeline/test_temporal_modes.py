"""The three temporal modes with the real core (random VGG19 weights) on real photos at a tiny size.

* a static clip does not drift over 40 frames in the default mode (flow);
* on a panning clip, `flow` has less than half the warping error of `none`
  and of `prev` at equal step budgets (Ruder et al. 2016's point: starting
  from the previous result without warping it is worse than independent
  frames; warping it along the flow and tying reliable pixels to it is much
  better);
* an interrupted and resumed run gives the same frames, bit for bit, as an
  uninterrupted one, in every mode, with and without --preserve-colors.

Each clip is a real photo from ../shared/data (skipped when absent).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.mediatools import panning, read_frames, shared_data, write_frames
from vidstyle.config import (
    DeviceChoice,
    ModelConfig,
    OptimizeConfig,
    RunConfig,
    SelectConfig,
    Settings,
    StyleConfig,
    TemporalConfig,
    TemporalMode,
)
from vidstyle.pipeline.events import Event, FrameDone
from vidstyle.pipeline.run import resume, stylize
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.masks import reliability_mask
from vidstyle.temporal.metric import warping_error
from vidstyle.temporal.warp import warp_image



@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return cv2.imread(str(shared_data("frames", "marple8", "marple8_01.ppm")))


@pytest.fixture(scope="module")
def style_image() -> Path:
    return shared_data("styles", "starry_night.jpg")


def settings(
    weights: Path,
    style: Path,
    work_dir: Path,
    *,
    mode: TemporalMode = TemporalMode.FLOW,
    iterations: int,
    iterations_next: int,
    preserve_colors: bool = False,
) -> Settings:
    return Settings(
        model=ModelConfig(weights=weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(style,), preserve_colors=preserve_colors),
        optimize=OptimizeConfig(iterations=iterations, iterations_next=iterations_next),
        temporal=TemporalConfig(mode=mode),  # default weight, preset and mask
        select=SelectConfig(max_size=None),  # the frames are already tiny
        run=RunConfig(work_dir=work_dir),
    )


# ------------------------------------------------------------------ the start of a frame


def test_flow_start_is_the_previous_result_moved_along_the_motion(photo: np.ndarray) -> None:
    """FrameStarter's flow init: the previous stylized frame lands where its content went."""
    from vidstyle.methods.optimize import FrameStarter

    clip = panning(photo, 2, (64, 48), 3)
    stylized_previous = cv2.applyColorMap(cv2.cvtColor(clip[0], cv2.COLOR_BGR2GRAY), cv2.COLORMAP_JET)
    starter = FrameStarter(
        OptimizeConfig(iterations=1, iterations_next=1), TemporalConfig(), working_size=(64, 48), device=torch.device("cpu")
    )
    begin = starter.start(1, clip[1], clip[0], stylized_previous)
    assert begin.temporal is not None and begin.flow_seconds > 0
    mask = begin.temporal.mask[0, 0].numpy()
    init_bgr = (begin.init[0].permute(1, 2, 0).numpy()[:, :, ::-1] * 255.0).astype(np.float32)
    # The window moved 3 px right: frame 1 at x shows frame 0 at x + 3, so the
    # last 3 columns are new (unreliable, started from the content) and the
    # rest is the previous result shifted left by 3.
    assert mask[:, -3:].max() == 0.0
    inner = (slice(4, -4), slice(4, -8))
    assert mask[inner].mean() > 0.9
    shifted = stylized_previous[:, 3:].astype(np.float32)
    reliable = mask[:, :-3][inner] > 0
    assert np.abs(init_bgr[:, :-3][inner] - shifted[inner])[reliable].mean() < 6.0
    np.testing.assert_allclose(init_bgr[:, -3:], clip[1][:, -3:].astype(np.float32), atol=0.5)
    # The temporal target is the warped previous result everywhere, trusted only where reliable.
    target = (begin.temporal.image[0].permute(1, 2, 0).numpy()[:, :, ::-1] * 255.0).astype(np.float32)
    flows = FlowEstimator().pair(clip[0], clip[1])
    # Sampled bicubically (sharp=True) so brush strokes carried along a pan do not blur.
    expected = np.clip(warp_image(stylized_previous.astype(np.float32), flows.backward, sharp=True), 0.0, 255.0)
    np.testing.assert_allclose(target, expected, atol=1e-3)
    np.testing.assert_array_equal(mask, reliability_mask(flows.backward, flows.forward))


def test_flow_does_not_depend_on_what_was_computed_before(photo: np.ndarray) -> None:
    """A reused cv2.DISOpticalFlow remembers its last call; resume needs flow to be a function of the frames."""
    clip = panning(photo, 3, (40, 30), 2)
    fresh = FlowEstimator().pair(clip[1], clip[2])
    used = FlowEstimator()
    used.pair(clip[0], clip[1])
    again = used.pair(clip[1], clip[2])
    np.testing.assert_array_equal(fresh.backward, again.backward)
    np.testing.assert_array_equal(fresh.forward, again.forward)


# ------------------------------------------------------------------ static clip


def test_static_clip_does_not_drift(tmp_path: Path, random_weights: Path, style_image: Path, photo: np.ndarray) -> None:
    frame = cv2.resize(photo, (40, 30), interpolation=cv2.INTER_AREA)
    folder = write_frames(tmp_path / "static", [frame] * 40)
    # With the default canvas (--edge-margin 8) and range penalty (--gamut-weight). Without the penalty the
    # optimizer's best iterate leaves [0, 1] (6% of the canvas's values), clamping it for the stored frame
    # raised its loss by 80%, and each warm frame climbed back towards the out-of-gamut optimum: these frames
    # drifted 2.0 levels by frame 5 and 3.4 by frame 59 (400 cold steps; 3.15 by frame 39 at 150). With it:
    # 0.01 levels at every frame from the fifth, at 150 cold steps as at 400 (`benchmarks/drift.py`,
    # docs/defaults.md). The first frame gets enough steps to
    # settle: after 20, the warm frames still finish its optimization and the picture moves 7-11 levels
    # with or without the penalty.
    run_settings = settings(random_weights, style_image, tmp_path / "work", iterations=150, iterations_next=5)
    result = stylize(folder, tmp_path / "out", settings=run_settings)
    assert result.frames == 40
    frames = read_frames(tmp_path / "out")
    first, last = (f.reshape(-1, 3).astype(np.float64) for f in (frames[0], frames[-1]))
    colour_change = np.abs(first.mean(axis=0) - last.mean(axis=0)).max()
    # Measured 0.01 levels of mean |difference| (3.15 without the penalty); the bounds leave room for another
    # CPU's rounding.
    assert colour_change <= 0.25, f"mean colour moved by {colour_change:.2f}/255 over 40 static frames"
    # Not only the average: the picture itself stays put.
    assert np.abs(first - last).mean() <= 0.5
    # And it is stylized at all (the first frame moved away from the content).
    assert np.abs(frames[0].astype(np.float64) - frame).mean() > 6.0


# ------------------------------------------------------------------ panning clip


def test_flow_beats_none_and_prev_on_a_pan(tmp_path: Path, random_weights: Path, style_image: Path, photo: np.ndarray) -> None:
    clip = panning(photo, 12, (48, 36), 2)
    folder = write_frames(tmp_path / "pan", clip)
    errors = {}
    for mode in TemporalMode:
        # Equal budgets: every frame of every mode gets the same number of steps.
        run_settings = settings(
            random_weights, style_image, tmp_path / f"work-{mode.value}", mode=mode, iterations=12, iterations_next=12
        )
        stylize(folder, tmp_path / f"out-{mode.value}", settings=run_settings)
        errors[mode] = warping_error(clip, read_frames(tmp_path / f"out-{mode.value}")).value
    summary = ", ".join(f"{mode.value} {value:.5f}" for mode, value in errors.items())
    assert errors[TemporalMode.FLOW] < 0.5 * errors[TemporalMode.NONE], summary
    assert errors[TemporalMode.FLOW] < 0.5 * errors[TemporalMode.PREV], summary


# ------------------------------------------------------------------ resume


class _Crash(Exception):
    pass


@pytest.mark.parametrize("preserve_colors", [False, True], ids=["colour", "preserve-colors"])
@pytest.mark.parametrize("mode", list(TemporalMode), ids=lambda m: m.value)
def test_resume_gives_the_same_frames_in_every_mode(
    mode: TemporalMode, preserve_colors: bool, tmp_path: Path, random_weights: Path, style_image: Path, photo: np.ndarray
) -> None:
    clip = panning(photo, 5, (40, 30), 2)
    folder = write_frames(tmp_path / "pan", clip)

    def run_settings(name: str) -> Settings:
        return settings(
            random_weights, style_image, tmp_path / name, mode=mode, iterations=4, iterations_next=3,
            preserve_colors=preserve_colors,
        )  # fmt: skip

    stylize(folder, tmp_path / "whole", settings=run_settings("work-whole"))

    done_before_crash = 2

    def crash_after_frame(event: Event) -> None:
        if isinstance(event, FrameDone) and event.frame == done_before_crash - 1:
            raise _Crash

    with pytest.raises(_Crash):
        stylize(folder, tmp_path / "split", settings=run_settings("work-split"), on_event=crash_after_frame)
    assert (tmp_path / "work-split").is_dir()
    assert len(read_frames(tmp_path / "split")) == done_before_crash

    # The work dir is not beside its output, so the output is named (a work dir alone never says where to write).
    result = resume(tmp_path / "work-split", output=tmp_path / "split")
    assert result.stylized == len(clip) - done_before_crash
    assert [r.position for r in result.records] == list(range(done_before_crash, len(clip)))
    whole, split = read_frames(tmp_path / "whole"), read_frames(tmp_path / "split")
    assert len(whole) == len(split) == len(clip)
    for index, (a, b) in enumerate(zip(whole, split)):
        assert np.array_equal(a, b), f"frame {index} differs after resume ({mode.value}, preserve_colors={preserve_colors})"
