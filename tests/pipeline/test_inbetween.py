"""--inbetween N: key frames stylized as today, the frames between made from the two around them.

The real core (random VGG19 weights) at 48x32 on synthetic clips made here:
a textured square moving over a textured still background, and a clip with a
cut. Checked: the frame count and order, key frames equal to the optimizer's
frames for those inputs with the same warm start, an in-between that shows
the square where the input has it (no ghost of either key), shots respected
across a cut, a killed run resumed to the same frames, and N=1 is today's run.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.mediatools import decode_all, read_frames, write_frames
from vidstyle.config import (
    DeviceChoice,
    MethodConfig,
    MethodKind,
    ModelConfig,
    OptimizeConfig,
    RunConfig,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
    TemporalConfig,
)
from vidstyle.errors import UsageError
from vidstyle.pipeline.events import Event, FrameDone
from vidstyle.pipeline.run import resume, stylize
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal import inbetween as inbetween_module
from vidstyle.temporal.inbetween import Inbetween, key_positions, make_inbetween

SIZE = (96, 64)  # width, height: DIS flow smears a small square over the background of a smaller frame
SQUARE = 20
TOP = 22


def _texture(seed: int, size: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size[1] // 4 + 1, size[0] // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(noise, size, interpolation=cv2.INTER_CUBIC)


def square_x(index: int) -> int:
    return 12 + 5 * index


def moving_square(frames: int, seed: int = 1) -> list[np.ndarray]:
    """A bright textured square moving 5 px per frame to the right over a dim textured still background."""
    background = (_texture(seed, SIZE) // 2).astype(np.uint8)
    patch = (_texture(seed + 50, (SQUARE, SQUARE)) // 2 + 128).astype(np.uint8)
    clip = []
    for index in range(frames):
        frame = background.copy()
        x = square_x(index)
        frame[TOP : TOP + SQUARE, x : x + SQUARE] = patch
        clip.append(frame)
    return clip


def make_settings(weights: Path, style: Path, work: Path, *, inbetween: int, cuts: str = "off", every: int = 1) -> Settings:
    return Settings(
        model=ModelConfig(weights=weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations=4, iterations_next=3),
        temporal=TemporalConfig(inbetween=inbetween),
        shots=ShotsConfig(cuts=cuts),
        select=SelectConfig(max_size=None, every=every),
        run=RunConfig(work_dir=work, segment_frames=2),
    )


@pytest.fixture(autouse=True)
def keys_from_the_first_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests' clips are a few frames long: they check the key schedule without the dense start (every
    frame of a shot's first 8 are keys), which would leave them no in-between; its own test turns it back on."""
    monkeypatch.setattr(inbetween_module, "DENSE_START", 1)


def test_key_positions_step_from_the_shot_start_and_end_on_its_last_frame() -> None:
    assert key_positions(0, 10, 3) == [0, 3, 6, 9]
    assert key_positions(0, 9, 3) == [0, 3, 6, 8]
    assert key_positions(5, 7, 4) == [5, 6]
    assert key_positions(5, 6, 4) == [5]


def test_key_positions_are_dense_at_the_start_of_a_shot() -> None:
    assert key_positions(0, 14, 2, dense=8) == [0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 13]
    assert key_positions(10, 23, 3, dense=4) == [10, 11, 12, 13, 16, 19, 22]
    assert key_positions(0, 6, 2, dense=8) == [0, 1, 2, 3, 4, 5]  # a short shot: every frame


def test_frames_keep_count_and_order_and_key_frames_are_the_optimizers(tmp_path: Path, random_weights: Path, style: Path) -> None:
    clip = moving_square(10)
    folder = write_frames(tmp_path / "in", clip)
    result = stylize(folder, tmp_path / "n3", settings=make_settings(random_weights, style, tmp_path / "w3", inbetween=3))
    assert result.frames == 10
    assert [r.position for r in result.records] == list(range(10))
    ours = read_frames(tmp_path / "n3")
    assert len(ours) == 10
    # The optimizer alone on frames 0, 3, 6, 9: each started from the one before, warped over the 3-frame gap.
    stylize(folder, tmp_path / "keys", settings=make_settings(random_weights, style, tmp_path / "wk", inbetween=1, every=3))
    keys = read_frames(tmp_path / "keys")
    assert len(keys) == 4
    for key, image in zip([0, 3, 6, 9], keys):
        assert np.array_equal(ours[key], image), f"key frame {key} differs from the optimizer's"
    # In-betweens are made, not optimized for the full budget: steps are the short fill's or none.
    steps = {r.position: r.steps for r in result.records}
    assert all(steps[p] <= 5 for p in range(10) if p not in (0, 3, 6, 9))


def test_a_shots_first_frames_are_all_key_frames(tmp_path: Path, random_weights: Path, style: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dense start: the first frames of a shot are the optimizer's own, as without in-betweens; then every Nth."""
    monkeypatch.setattr(inbetween_module, "DENSE_START", 4)
    folder = write_frames(tmp_path / "in", moving_square(8))
    n2 = stylize(folder, tmp_path / "n2", settings=make_settings(random_weights, style, tmp_path / "w2", inbetween=2))
    stylize(folder, tmp_path / "n1", settings=make_settings(random_weights, style, tmp_path / "w1", inbetween=1))
    made, every = read_frames(tmp_path / "n2"), read_frames(tmp_path / "n1")
    assert len(made) == len(every) == 8
    for t in range(4):
        assert np.array_equal(made[t], every[t]), f"frame {t} of the dense start differs from the optimizer's"
    steps = {r.position: r.steps for r in n2.records}
    assert all(steps[t] <= 5 for t in (4, 6)), steps  # in-betweens: the short fill at most
    assert all(steps[t] > 0 for t in (5, 7)), steps  # keys: optimized


def test_an_inbetween_shows_the_square_where_the_input_has_it(tmp_path: Path, random_weights: Path, style: Path) -> None:
    """No ghost: where the square was at a key frame but is not at t, the in-between shows the background."""
    clip = moving_square(5)
    folder = write_frames(tmp_path / "in", clip)
    # --cuts auto: the photometric check too, as a user gets it (it catches flow that drags the still background along).
    stylize(folder, tmp_path / "n2", settings=make_settings(random_weights, style, tmp_path / "w2", inbetween=2, cuts="auto"))
    stylize(folder, tmp_path / "n1", settings=make_settings(random_weights, style, tmp_path / "w1", inbetween=1, cuts="auto"))
    made, every = read_frames(tmp_path / "n2"), read_frames(tmp_path / "n1")
    for t in (1, 3):
        vacated = np.zeros(clip[0].shape[:2], bool)
        for key in (t - 1, t + 1):
            vacated[TOP : TOP + SQUARE, square_x(key) : square_x(key) + SQUARE] = True
        vacated[TOP : TOP + SQUARE, square_x(t) : square_x(t) + SQUARE] = False
        square = np.zeros_like(vacated)
        square[TOP : TOP + SQUARE, square_x(t) : square_x(t) + SQUARE] = True

        def gap(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
            return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[where].mean())

        # What a ghost would look like: the key frame's picture at those pixels.
        stale = min(gap(every[t - 1], every[t], vacated), gap(every[t + 1], every[t], vacated))
        assert gap(made[t], every[t], vacated) < 0.5 * stale, f"frame {t}: the square's old places are not background"
        assert gap(made[t], every[t], square) < 0.5 * min(gap(every[t - 1], every[t], square), gap(every[t + 1], every[t], square))


def test_make_inbetween_takes_each_pixel_from_the_keys_that_vouch_for_it() -> None:
    """Pixels only one key vouches for come from that key alone; where neither does, from the input frame."""
    clip = moving_square(3)
    flow = FlowEstimator()
    stylized_a = np.full_like(clip[0], 40)
    stylized_b = np.full_like(clip[0], 200)
    made = make_inbetween(clip[1], (clip[0], stylized_a), (clip[2], stylized_b), 0.5, flow=flow)
    assert made.blend.shape == clip[1].shape
    held = made.reliable > 0.99
    values = made.blend[held][:, 0]
    # Each held pixel is key a alone, key b alone, or both by position (0.5 each): never anything else.
    assert np.all(np.min(np.abs(values[:, None] - np.array([40.0, 120.0, 200.0])[None]), axis=1) < 1.0)
    assert np.any(np.abs(values - 120.0) < 1.0)
    hole = made.reliable == 0
    assert np.allclose(made.blend[hole], clip[1][hole])  # neither key: the input frame, to be filled
    assert 0.0 <= made.reliable.min() and made.reliable.max() <= 1.0


def test_holes_only_in_the_cropped_edge_margin_need_no_fill() -> None:
    """The edge margin is cropped off when a frame is written: a hole there alone costs no fill steps."""
    reliable = np.ones((40, 56), np.float32)
    reliable[:, :8] = 0.0  # the left margin of an 8-px canvas
    image = np.zeros((40, 56, 3), np.float32)
    made = Inbetween(blend=image, reliable=reliable, init=image)
    assert made.has_holes and not made.holes_inside(8)
    reliable[20, 30] = 0.0  # one inside the picture
    assert made.holes_inside(8)


def test_a_cut_between_key_frames_starts_a_new_shot(tmp_path: Path, random_weights: Path, style: Path) -> None:
    first, second = moving_square(5, seed=1), moving_square(5, seed=9)
    clip = first + [np.ascontiguousarray(np.flip(f, 1)) for f in second]
    folder = write_frames(tmp_path / "in", clip)
    n3 = stylize(folder, tmp_path / "n3", settings=make_settings(random_weights, style, tmp_path / "w3", inbetween=3, cuts="5f"))
    assert n3.cuts == (5,)
    stylize(folder, tmp_path / "n1", settings=make_settings(random_weights, style, tmp_path / "w1", inbetween=1, cuts="5f"))
    made, every = read_frames(tmp_path / "n3"), read_frames(tmp_path / "n1")
    assert len(made) == len(clip)
    # The second shot starts cold at the cut, as without in-betweens; the first shot ends on a key frame.
    assert np.array_equal(made[5], every[5])
    for t in (6, 7):  # in-betweens of the second shot: nothing of the first shot in them
        assert np.abs(made[t].astype(int) - every[t].astype(int)).mean() < np.abs(made[t].astype(int) - every[4].astype(int)).mean()


class _Crash(Exception):
    pass


def test_a_killed_run_resumes_to_the_same_frames(tmp_path: Path, random_weights: Path, style: Path) -> None:
    """Video output with 2-frame segments: the key frame an in-between needs is long encoded when the run goes on."""
    clip = moving_square(10)
    folder = write_frames(tmp_path / "in", clip)
    stylize(folder, tmp_path / "whole.mp4", settings=make_settings(random_weights, style, tmp_path / "ww", inbetween=3))

    def crash(event: Event) -> None:
        if isinstance(event, FrameDone) and event.frame == 4:  # in-between after key 3, before key 6 is written
            raise _Crash

    with pytest.raises(_Crash):
        stylize(folder, tmp_path / "split.mp4", settings=make_settings(random_weights, style, tmp_path / "ws", inbetween=3), on_event=crash)
    result = resume(tmp_path / "ws", output=tmp_path / "split.mp4")
    assert [r.position for r in result.records] == list(range(5, 10))
    whole, split = decode_all(tmp_path / "whole.mp4"), decode_all(tmp_path / "split.mp4")
    assert len(whole) == len(split) == 10
    for index, (a, b) in enumerate(zip(whole, split)):
        assert np.array_equal(a, b), f"frame {index} differs after resume"
    assert not (tmp_path / "ws" / "keys").exists() or not any((tmp_path / "ws" / "keys").iterdir())


def test_inbetween_1_is_todays_run(tmp_path: Path, random_weights: Path, style: Path) -> None:
    folder = write_frames(tmp_path / "in", moving_square(4))
    stylize(folder, tmp_path / "one", settings=make_settings(random_weights, style, tmp_path / "w1", inbetween=1))
    base = make_settings(random_weights, style, tmp_path / "w0", inbetween=1)
    default = Settings(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "temporal": TemporalConfig()})
    stylize(folder, tmp_path / "today", settings=default)
    for a, b in zip(read_frames(tmp_path / "one"), read_frames(tmp_path / "today"), strict=True):
        assert np.array_equal(a, b)


def test_inbetween_is_refused_where_it_cannot_work(tmp_path: Path, random_weights: Path, style: Path) -> None:
    folder = write_frames(tmp_path / "in", moving_square(3))
    base = make_settings(random_weights, style, tmp_path / "w", inbetween=2)
    fast = Settings(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "method": MethodConfig(kind=MethodKind.FAST)})
    with pytest.raises(UsageError, match="--inbetween"):
        stylize(folder, tmp_path / "out", settings=fast)
    with pytest.raises(UsageError, match="--inbetween must be at least 1"):
        TemporalConfig(inbetween=0)


def test_a_work_dir_from_before_inbetween_resumes_as_every_frame() -> None:
    from vidstyle.config import settings_to_json
    from vidstyle.pipeline.fingerprint import differences

    new = {"settings": settings_to_json(Settings())}
    old = {"settings": {**new["settings"], "temporal": {k: v for k, v in new["settings"]["temporal"].items() if k != "inbetween"}}}
    assert differences(old, new) == []
    two = {"settings": settings_to_json(Settings(temporal=TemporalConfig(inbetween=2)))}
    assert differences(old, two) == ["temporal.inbetween: '(unset)' -> 2"]
