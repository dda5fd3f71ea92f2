"""Coarse-to-fine cold starts: a long side of at most 512 first, then sizes growing by sqrt(2) to the working size.

The schedule is a pure function of the working size and --coarse-to-fine; the
stages run against style targets made for their sizes, the first with the
frame's budget and the later ones with a few steps each.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidstyle.config import CoarseToFine, ModelConfig, OptimizeConfig, StyleConfig
from vidstyle.model.build import build_core, load_extractor
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.stylizer import START_LONG_SIDE, START_SLACK, FrameProblem, StepReport, coarse_schedule, later_stage_budget
from vidstyle.video.pixels import bgr_to_tensor

CPU = torch.device("cpu")
SIZE = (128, 96)  # with --coarse-to-fine on: one stage at 91x68 (128/sqrt(2)), then 128x96


def textured(seed: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 2.0)


@pytest.fixture(scope="module")
def model(random_weights: Path) -> ModelConfig:
    return ModelConfig(weights=random_weights, device="cpu")


@pytest.fixture(scope="module")
def loaded(model: ModelConfig):  # noqa: ANN201
    return load_extractor(model, device=CPU)


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> StyleConfig:
    path = tmp_path_factory.mktemp("style") / "style.png"
    cv2.imwrite(str(path), textured(1, 64, 64))
    return StyleConfig(images=(path,))


@pytest.fixture(scope="module")
def content() -> torch.Tensor:
    return bgr_to_tensor(textured(2, SIZE[1], SIZE[0]))


def core(model, style, loaded, cache_dir=None, size=SIZE, **options):  # noqa: ANN001, ANN201
    options = {"coarse_to_fine": CoarseToFine.ON, **options}
    return build_core(model, style, OptimizeConfig(**options), content_size=size, cache_dir=cache_dir, device=CPU, loaded=loaded)


def test_the_schedule_starts_at_256_and_grows_by_sqrt2_to_the_working_size() -> None:
    auto, on, off = CoarseToFine.AUTO, CoarseToFine.ON, CoarseToFine.OFF
    # 1024 px: 256, 362, 512, 724, then the working size; the stages are the working size over sqrt(2)^k.
    assert coarse_schedule((1024, 435), auto) == [(256, 109), (362, 154), (512, 217), (724, 308)]
    assert coarse_schedule((435, 1024), auto) == [(109, 256), (154, 362), (217, 512), (308, 724)]  # portrait alike
    assert coarse_schedule((1280, 544), on) == coarse_schedule((1280, 544), auto) == [(226, 96), (320, 136), (453, 192), (640, 272), (905, 385)]
    assert coarse_schedule((512, 288), auto) == [(256, 144), (362, 204)]
    # A frame's canvas (8 px of margin every side) adds no stage: 1024 px on its 1040-px canvas starts at 260.
    assert coarse_schedule((1040, 451), auto) == [(260, 113), (368, 159), (520, 225), (735, 319)]
    for size in [(600, 400), (1024, 435), (1920, 1080), (3840, 2160)]:
        stages = coarse_schedule(size, auto)
        assert max(stages[0]) <= START_LONG_SIDE * START_SLACK and max(stages[0]) * 2**0.5 > START_LONG_SIDE * START_SLACK
    # auto: nothing changes up to 398 px (sqrt(2) x 256, and the slack): the CPU default, 256 px on its
    # 272-px canvas, included.
    assert coarse_schedule((272, 160), auto) == coarse_schedule((256, 144), auto) == coarse_schedule((128, 96), auto) == []
    assert coarse_schedule((398, 224), auto) == []
    assert coarse_schedule((400, 225), auto) == [(200, 112), (283, 159)]
    # on: at least one smaller stage, never a side under 32 px.
    assert coarse_schedule((256, 144), on) == [(181, 102)]
    assert coarse_schedule((128, 96), on) == [(91, 68)]
    assert coarse_schedule((48, 32), on) == []
    assert coarse_schedule((1024, 435), off) == coarse_schedule((256, 144), off) == []
    # Another start (benchmarks/resolution.py measures it): at most that long side first.
    assert coarse_schedule((1024, 435), auto, start=512) == [(512, 217), (724, 308)]


def test_later_stages_get_a_few_steps(model, style, loaded) -> None:  # noqa: ANN001
    assert [later_stage_budget(n) for n in (1, 6, 12, 200, 300)] == [1, 1, 2, 34, 50]
    stylizer = core(model, style, loaded, size=(64, 48)).stylizer
    assert stylizer.coarse_sizes((128, 96)) == [(91, 68)]
    assert core(model, style, loaded, size=(64, 48), coarse_to_fine=CoarseToFine.AUTO).stylizer.coarse_sizes((128, 96)) == []


def test_style_targets_of_every_size_are_made_once_before_the_first_frame(model, style, loaded, isolated_cache) -> None:  # noqa: ANN001
    extractor: FeatureExtractor = loaded[0]
    before = extractor.passes
    built = core(model, style, loaded, cache_dir=isolated_cache)
    assert extractor.passes - before == 2  # the style at the working size and at 64x48
    assert len(list((isolated_cache / "grams").glob("*.pt"))) == 2
    before = extractor.passes
    again = core(model, style, loaded, cache_dir=isolated_cache)
    assert extractor.passes == before and again.style.from_cache
    # The coarse stage reads the coarse targets: they differ from the full-size ones (the style image is
    # resized with the frame, so its brush strokes keep their size relative to the frame).
    coarse = built.stylizer.style_at((64, 48))
    assert not torch.allclose(coarse.grams["relu3_1"], built.style.grams["relu3_1"])


def test_a_cold_start_goes_through_the_stages_to_a_frame_of_the_working_size(model, style, loaded, content) -> None:  # noqa: ANN001
    stylizer = core(model, style, loaded, tolerance=0).stylizer
    reports: list[StepReport] = []
    cold = stylizer.stylize(content, init=content, budget=9, on_step=reports.append, cold=True)
    plain = stylizer.stylize(content, init=content, budget=9)
    # 9 steps at 91x68, then 2 (9/6, rounded up) at 128x96: the frame comes out at the working size.
    assert cold.image.shape == content.shape
    assert cold.coarse_steps == (9,) and cold.steps == 11 and len(cold.history) == 2
    assert plain.coarse_steps == () and plain.steps == 9
    # One count of steps across the stages, reported against the sum of the stages' budgets.
    assert [r.step for r in reports] == list(range(1, 12)) and {r.budget for r in reports} == {11}
    # The loss goes down: in the small stage from the content, and on at full size, which starts
    # from the upsampled small result, already far from the content in style.
    first = [r.loss for r in reports[:9]]
    assert min(first) < 0.5 * first[0]
    assert cold.final.total < cold.initial.total
    assert cold.initial.style < 0.5 * plain.initial.style
    assert cold.final.total < plain.initial.total


def test_a_coarse_to_fine_frame_is_the_same_every_time(model, style, loaded, content) -> None:  # noqa: ANN001
    stylizer = core(model, style, loaded, tolerance=0).stylizer
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(3))
    first = stylizer.stylize(content, init=noise, budget=4, cold=True)
    again = stylizer.stylize(content, init=noise, budget=4, cold=True)
    assert torch.equal(first.image, again.image) and first.history == again.history


def test_later_stages_keep_the_first_stages_picture_and_sharpen_it(model, style, loaded, content, monkeypatch) -> None:  # noqa: ANN001
    """The anchor (COARSE_WEIGHT): the full-size result, shrunk to the first stage's size, stays near that stage's result.

    Without it, the later stages' own style targets repaint the picture at their scale
    (docs/performance.md, "coarse to fine at high resolution").
    """
    import torch.nn.functional as F

    import vidstyle.model.stylizer as stylizer_module

    monkeypatch.setattr(stylizer_module, "LATER_STAGE_SHARE", 1.0)  # 8 steps at full size: room to drift

    def cold_start(weight: float, tile: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        monkeypatch.setattr(stylizer_module, "COARSE_WEIGHT", weight)
        options = OptimizeConfig(coarse_to_fine=CoarseToFine.ON, tolerance=0)
        stylizer = build_core(model, style, options, content_size=SIZE, cache_dir=None, device=CPU, loaded=loaded, tile=tile).stylizer
        problem = stylizer.coarse_start(FrameProblem(content=content, init=content, budget=8))
        batch = stylizer.batch(1, SIZE)
        batch.add(problem)
        finished: list = []
        while not finished:
            finished = batch.step()
        return finished[0][1].image, problem.anchor

    weight = stylizer_module.COARSE_WEIGHT
    anchored, first = cold_start(weight)
    free, none = cold_start(0.0)
    assert first is not None and none is None  # weight 0: no anchor
    assert first.shape[-2:] == (68, 91)

    def drift(image: torch.Tensor, start: torch.Tensor = first) -> float:
        return float((F.interpolate(image, size=start.shape[-2:], mode="area") - start).abs().mean())

    # Both started from the first stage's result upsampled; the anchored one stays nearer it at its size
    # (random weights, 8 steps: 0.59x the free one's drift, measured)...
    assert drift(anchored) < 0.8 * drift(free), (drift(anchored), drift(free))
    # ... and still sharpens: it adds detail finer than the first stage's pixels, which the upsampled start lacks
    # (random weights: 1.22x the start's, 0.95x what the free stage adds; measured).
    def detail(image: torch.Tensor) -> float:
        small = F.interpolate(image, size=first.shape[-2:], mode="area")
        return float((image - F.interpolate(small, size=image.shape[-2:], mode="bicubic", align_corners=False)).abs().mean())

    upsampled = F.interpolate(first, size=content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    assert detail(anchored) > 1.1 * detail(upsampled), (detail(anchored), detail(upsampled), detail(free))
    # A frame optimized in tiles (model/tiles.py) keeps to it alike: the anchor is taken on the whole image.
    # (tile 80: the first stage, 91x68, is tiled too, so its result differs a little; each is held to its own.)
    tiled, tiled_first = cold_start(weight, tile=80)
    assert tiled_first is not None
    assert drift(tiled, tiled_first) < 0.8 * drift(free), (drift(tiled, tiled_first), drift(free))
