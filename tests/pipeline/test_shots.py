"""Shots: cut detection, listed cuts, the photometric check in the temporal term.

Detection is checked on real footage: a clip assembled at test time from the
shared videos (hard cuts at known frames), fades.mp4, and a slow pan over a
real photo with and without a white flash. These read ../shared/data and are
skipped without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scenedetect import FrameTimecode
from scenedetect.output import write_scene_list

from tests.mediatools import assemble_clip, decode_all, shared_data
from vidstyle.config import (
    CutsMode,
    OptimizeConfig,
    Settings,
    ShotsConfig,
    TemporalConfig,
    settings_from_json,
    settings_to_json,
)
from vidstyle.errors import UsageError
from vidstyle.methods.optimize import FrameStarter
from vidstyle.pipeline.shots import (
    FADE_LEVEL,
    Cut,
    CutReason,
    describe_shots,
    find_cuts,
    parse_cut_list,
)
from vidstyle.temporal import FlowEstimator, photometric_mask, reliability_mask, reliable_fraction

FPS = 25.0


def times_of(n: int, fps: float = FPS, start: int = 0) -> list[float]:
    return [(start + i) / fps for i in range(n)]


def cuts_of(frames: list[np.ndarray], config: ShotsConfig | None = None) -> list[Cut]:
    n = len(frames)
    return find_cuts(iter(frames), config=config or ShotsConfig(), source_indices=range(n), times=times_of(n))


def pan(frames: int, step: float = 1.5) -> list[np.ndarray]:
    """A 256x192 window moving ``step`` px per frame over a real photo (Lanczos: sub-pixel shifts are real)."""
    photo = cv2.imread(str(shared_data("frames", "marple8", "marple8_01.ppm")), cv2.IMREAD_COLOR)
    return [
        cv2.warpAffine(photo, np.float32([[1, 0, -k * step], [0, 1, -60]]), (256, 192), flags=cv2.INTER_LANCZOS4)
        for k in range(frames)
    ]


def whiten(frame: np.ndarray, level: float) -> np.ndarray:
    image = frame.astype(np.float32)
    return np.clip(image + (255.0 - image) * level, 0, 255).astype(np.uint8)


def reliable(previous: np.ndarray, current: np.ndarray) -> float:
    """The reliable fraction the check computes for ``current`` (256x192 frames need no shrinking)."""
    pair = FlowEstimator().pair(previous, current)
    threshold = ShotsConfig().photometric_threshold
    mask = np.minimum(
        reliability_mask(pair.backward, pair.forward),
        photometric_mask(previous, current, pair.backward, threshold=threshold),
    )
    return reliable_fraction(mask)


class Untouchable:
    """An iterable of frames that fails the test if anyone reads it."""

    def __iter__(self) -> Iterator[np.ndarray]:
        raise AssertionError("the frames were read")


# ------------------------------------------------------------------ detection


@pytest.fixture(scope="module")
def assembled(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """1 s each of two shots of issue-134-rotate.mp4, a grey fade-up from fades.mp4, and delayed_start.mp4 (black fading in)."""
    videos = shared_data("videos")
    pieces = [
        (videos / "issue-134-rotate.mp4", 211, 236),
        (videos / "issue-134-rotate.mp4", 100, 125),
        (videos / "fades.mp4", 100, 125),
        (videos / "delayed_start.mp4", 0, 24),
    ]
    clip = assemble_clip(tmp_path_factory.mktemp("shots") / "assembled.mp4", pieces, size=(192, 256))
    frames = decode_all(clip)
    assert len(frames) == 99
    return frames


def test_finds_the_hard_cuts_of_an_assembled_clip(assembled):
    cuts = cuts_of(assembled)
    assert [c.reason for c in cuts] == [CutReason.DETECTED] * 3
    for cut, expected in zip(cuts, (25, 50, 75), strict=True):
        assert abs(cut.position - expected) <= 1
        assert cut.score >= ShotsConfig().cut_threshold
    assert describe_shots(cuts, times_of(99), 99) == "4 shots; cuts at 0:01.0, 0:02.0, 0:03.0"


def test_a_higher_cut_threshold_finds_fewer_cuts(assembled):
    scores = sorted(c.score for c in cuts_of(assembled))
    between = (scores[0] + scores[1]) / 2
    strict = cuts_of(assembled, ShotsConfig(cut_threshold=between, min_reliable_fraction=0.0))
    assert len(strict) == 2
    assert all(c.score >= between for c in strict)


def test_no_cut_in_a_slow_pan_over_a_real_photo():
    assert cuts_of(pan(40, step=1.5)) == []
    assert cuts_of(pan(20, step=1.0)) == []


def test_fades_cut_at_the_first_dark_frame_so_no_painting_crosses_the_black():
    frames = decode_all(shared_data("videos", "fades.mp4"))
    cuts = cuts_of(frames)
    # Measured: the two fades through black, nothing else (the per-frame
    # change of a fade, <= 0.075 in colour distance, stays under the
    # photometric threshold, so the fade frames are not cuts of their own).
    assert [(c.position, c.reason) for c in cuts] == [(78, CutReason.DETECTED), (161, CutReason.DETECTED)]
    for cut in cuts:
        level = [float(f.mean()) for f in frames]
        assert level[cut.position - 1] >= FADE_LEVEL > level[cut.position] == pytest.approx(cut.score)
        # Every dark frame after the cut, up to the fade-in, belongs to the new shot.
        after = cut.position
        while level[after] < FADE_LEVEL:
            after += 1
        assert after - cut.position >= 5
        assert not any(cut.position < other.position <= after for other in cuts)
    assert describe_shots(cuts, times_of(len(frames)), len(frames)) == "3 shots; cuts at 0:03.1, 0:06.4"


def test_a_white_flash_breaks_the_chain_through_the_photometric_check():
    frames = pan(30)
    frames[12], frames[13], frames[14] = whiten(frames[12], 0.5), whiten(frames[13], 1.0), whiten(frames[14], 0.5)
    fractions = {p: reliable(frames[p - 1], frames[p]) for p in range(1, 30)}
    # Frames 12-15 cannot be derived from the frame before them (into the
    # flash, within it, and back out); the pan around it can.
    assert all(fractions[p] < 0.05 for p in (12, 13, 14, 15))
    assert all(f > 0.95 for p, f in fractions.items() if p not in (12, 13, 14, 15))
    cuts = cuts_of(frames)
    # Of that run, the first frame (into the flash) and the last (back on the
    # pan) start cold; the flash frames in between stay warm-started.
    assert [(c.position, c.reason) for c in cuts] == [(12, CutReason.PHOTOMETRIC), (15, CutReason.PHOTOMETRIC)]
    assert all(c.score == pytest.approx(fractions[c.position]) for c in cuts)
    assert describe_shots(cuts, times_of(30), 30) == "3 shots; cuts at 0:00.5, 0:00.6"
    # min_reliable_fraction 0 turns photometric cuts off; the detectors do not see the flash.
    assert cuts_of(frames, ShotsConfig(min_reliable_fraction=0.0)) == []


def test_a_fade_through_black_between_two_real_pictures_breaks_the_chain():
    first = pan(15)
    second = cv2.resize(cv2.imread(str(shared_data("styles", "the_scream.jpg")), cv2.IMREAD_COLOR), (256, 192))
    ramp = [k / 10 for k in range(1, 11)]
    frames = first[:5] + [(f * (1 - r)).round().astype(np.uint8) for f, r in zip(first[5:], ramp, strict=True)]
    frames += [np.zeros_like(second)] * 4 + [(second * r).round().astype(np.uint8) for r in ramp] + [second] * 5
    cuts = cuts_of(frames)
    level = [float(f.mean()) for f in frames]
    first_dark = next(i for i, value in enumerate(level) if value < FADE_LEVEL)
    # A shot starts at the first dark frame of the fade-out, before the black
    # (frames 15-18) and the whole fade-in of the second picture: nothing
    # painted on the first picture can reach the second.
    assert (first_dark, CutReason.DETECTED) in [(c.position, c.reason) for c in cuts]
    assert first_dark <= 15
    assert all(math.isfinite(c.score) for c in cuts)


def test_a_cut_the_detector_window_cannot_reach_is_caught_photometrically(assembled):
    # AdaptiveDetector compares a frame with two neighbours on each side, so a
    # cut at the second frame of the selection is outside its reach.
    frames = assembled[24:40]
    cuts = cuts_of(frames)
    assert [(c.position, c.reason) for c in cuts] == [(1, CutReason.PHOTOMETRIC)]
    assert cuts[0].score < 0.1


def test_all_black_frames_give_no_cut_and_no_nan():
    black = [np.zeros((90, 160, 3), np.uint8) for _ in range(12)]
    assert cuts_of(black) == []
    grey = [np.full((90, 160, 3), 128, np.uint8) for _ in range(8)]
    cuts = cuts_of(black + grey + black)
    assert [c.position for c in cuts] == [12, 20]
    assert all(math.isfinite(c.score) for c in cuts)


def test_frames_are_shrunk_and_checked():
    big = [np.zeros((1080, 1920, 3), np.uint8)] * 3
    assert cuts_of(big) == []
    with pytest.raises(ValueError, match="BGR uint8"):
        cuts_of([np.zeros((8, 8), np.uint8)] * 2)
    with pytest.raises(ValueError, match="2 frames for 3"):
        find_cuts(iter(big[:2]), config=ShotsConfig(), source_indices=range(3), times=times_of(3))


# ------------------------------------------------------------------ off and listed


def test_off_returns_nothing_and_reads_no_frame():
    assert find_cuts(Untouchable(), config=ShotsConfig(cuts="off"), source_indices=range(10), times=times_of(10)) == []
    assert ShotsConfig(cuts="OFF").mode is CutsMode.OFF


def test_listed_frames_and_times_map_to_plan_positions():
    # Every 5th input frame of 0..99 from frame 10: source indices 10, 15, ..., 95.
    indices = list(range(10, 100, 5))
    times = [i / FPS for i in indices]

    def positions(cuts: str) -> list[int]:
        found = find_cuts(Untouchable(), config=ShotsConfig(cuts=cuts), source_indices=indices, times=times)
        assert all(c.reason is CutReason.LISTED and math.isnan(c.score) for c in found)
        return [c.position for c in found]

    assert positions("20f,35f") == [2, 5]  # input frames 20 and 35 are selected
    assert positions("#22, 23f") == [3]  # between 20 and 25: the next selected frame; duplicates merge
    assert positions("0:01.0,2.2s,1.6") == [3, 6, 9]  # seconds: 1.0 -> frame 25, 1.6 -> 40, 2.2 -> 55; sorted
    assert positions("5f,10f,0:00.2,97f,120f,9:00") == []  # before, at the start of, and after the selection
    assert positions("96f") == []  # after the last selected frame (95): nothing follows it


def test_listed_cuts_come_back_sorted_and_unique():
    found = find_cuts(Untouchable(), config=ShotsConfig(cuts="60f,20f,#20,0:00.8"), source_indices=range(100), times=times_of(100))
    assert [c.position for c in found] == [20, 60]


def test_a_pyscenedetect_scene_list_gives_its_scene_starts(tmp_path: Path):
    # Written by PySceneDetect itself: frame numbers in the file are 1-based.
    rate = 25.0
    bounds = [0, 30, 48, 90, 100]
    scenes = [(FrameTimecode(a, fps=rate), FrameTimecode(b, fps=rate)) for a, b in pairwise(bounds)]
    path = tmp_path / "scenes.csv"
    with path.open("w", newline="") as handle:
        write_scene_list(handle, scenes)
    assert "Start Frame" in path.read_text().splitlines()[1]  # the first row lists the cut timecodes
    found = find_cuts(Untouchable(), config=ShotsConfig(cuts=str(path)), source_indices=range(100), times=times_of(100))
    assert [c.position for c in found] == [30, 48, 90]
    # The same file without the cut-list row, over a selection that starts at input frame 40.
    with path.open("w", newline="") as handle:
        write_scene_list(handle, scenes, include_cut_list=False)
    found = find_cuts(Untouchable(), config=ShotsConfig(cuts=str(path)), source_indices=range(40, 100), times=times_of(60, start=40))
    assert [c.position for c in found] == [8, 50]  # input 48 and 90; 30 is before the selection


def test_a_scene_list_by_time_is_read_in_seconds(tmp_path: Path):
    path = tmp_path / "by_time.csv"
    path.write_text("Scene Number,Start Time (seconds)\n1,0.000\n2,1.200\n3,2.000\n")
    found = find_cuts(Untouchable(), config=ShotsConfig(cuts=str(path)), source_indices=range(100), times=times_of(100))
    assert [c.position for c in found] == [30, 50]


@pytest.mark.parametrize("cuts", ["abc", "48f,,120f", "1:2:3:4", "-5", "48;120", "12.5.3", "0x10"])
def test_garbage_lists_are_refused_with_an_example(cuts: str):
    with pytest.raises(UsageError, match=r"48f,120f") as error:
        ShotsConfig(cuts=cuts)
    assert "\n" not in str(error.value)
    with pytest.raises(UsageError):
        parse_cut_list(cuts)


def test_unusable_scene_lists_are_refused_when_the_cuts_are_found(tmp_path: Path):
    missing = tmp_path / "missing.csv"
    config = ShotsConfig(cuts=str(missing))  # a path is checked when it is read, at plan time
    with pytest.raises(UsageError, match="no such scene-list file"):
        find_cuts(Untouchable(), config=config, source_indices=range(10), times=times_of(10))
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match="not a PySceneDetect scene list"):
        find_cuts(Untouchable(), config=ShotsConfig(cuts=str(other)), source_indices=range(10), times=times_of(10))
    broken = tmp_path / "broken.csv"
    broken.write_text("Scene Number,Start Frame\n1,1\n2,twelve\n")
    with pytest.raises(UsageError, match="row 3"):
        find_cuts(Untouchable(), config=ShotsConfig(cuts=str(broken)), source_indices=range(10), times=times_of(10))


# ------------------------------------------------------------------ config and reporting


@pytest.mark.parametrize(
    ("field", "value"),
    [("cut_threshold", 0.0), ("photometric_threshold", 0.0), ("photometric_threshold", 3.0), ("min_reliable_fraction", 1.5)],
)
def test_shots_config_refuses_impossible_values(field: str, value: float):
    with pytest.raises(UsageError):
        ShotsConfig(**{field: value})


def test_settings_keep_the_shots_through_the_manifest_json():
    settings = Settings().replace(shots=ShotsConfig(cuts="48f,0:02.5", cut_threshold=5.0, min_reliable_fraction=0.25))
    data = settings_to_json(settings)
    assert data["shots"]["cuts"] == "48f,0:02.5"
    assert settings_from_json(data) == settings


def test_describe_shots():
    times = times_of(400)
    assert describe_shots([], times, 400) == "1 shot"
    cuts = [Cut(25, CutReason.DETECTED, 20.0), Cut(150, CutReason.LISTED, math.nan)]
    assert describe_shots(cuts, times, 400) == "3 shots; cuts at 0:01.0, 0:06.0"
    many = [Cut(p, CutReason.LISTED, math.nan) for p in range(20, 400, 25)]
    assert describe_shots(many, times, 400).endswith("0:08.8, 0:09.8 and 6 more")
    with pytest.raises(ValueError):
        describe_shots([Cut(0, CutReason.LISTED, math.nan)], times, 400)


# ------------------------------------------------------------------ the photometric check in the temporal term


def start_of(shots: ShotsConfig | None, previous: np.ndarray, current: np.ndarray, stylized: np.ndarray):
    starter = FrameStarter(
        OptimizeConfig(), TemporalConfig(), working_size=(current.shape[1], current.shape[0]), device=torch.device("cpu"), shots=shots
    )
    return starter.start(1, current, previous, stylized)


def test_cuts_off_leaves_the_temporal_term_as_it_was():
    frames = pan(2)
    frames[1] = whiten(frames[1], 0.5)
    stylized = np.ascontiguousarray(frames[0][:, ::-1])  # any picture
    before = start_of(None, frames[0], frames[1], stylized)
    off = start_of(ShotsConfig(cuts="off"), frames[0], frames[1], stylized)
    assert torch.equal(off.init, before.init)
    assert torch.equal(off.temporal.mask, before.temporal.mask)
    assert torch.equal(off.temporal.image, before.temporal.image)
    assert before.temporal.mask.mean() > 0.5  # the flow check alone trusts the flashed frame


def test_the_photometric_check_frees_changed_pixels_and_starts_them_from_content():
    frames = pan(2)
    frames[1] = whiten(frames[1], 0.5)
    stylized = np.ascontiguousarray(frames[0][:, ::-1])
    checked = start_of(ShotsConfig(), frames[0], frames[1], stylized)
    assert checked.temporal.mask.mean() < 0.05
    content = torch.from_numpy(np.ascontiguousarray(frames[1][:, :, ::-1])).permute(2, 0, 1)[None].float() / 255
    free = checked.temporal.mask[0, 0] == 0
    assert torch.allclose(checked.init[0][:, free], content[0][:, free], atol=1e-6)
    # On an ordinary pan the check changes next to nothing.
    still = pan(2)
    plain = start_of(ShotsConfig(cuts="off"), still[0], still[1], stylized).temporal.mask.mean()
    assert start_of(ShotsConfig(cuts="48f"), still[0], still[1], stylized).temporal.mask.mean() > plain - 0.01
